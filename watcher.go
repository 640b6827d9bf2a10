package etcdconf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

var (
	errWatchClosed = errors.New("etcdconf: watch channel closed by the client")
	errStale       = errors.New("etcdconf: nothing proved the watch current for three progress intervals (no event, no progress answer, no successful read)")
	errBackwards   = errors.New("etcdconf: watch delivered a revision at or below one already applied")
	errClientGone  = errors.New("etcdconf: the etcd client was closed; the watcher stopped")
)

// A Watcher keeps a [Snapshot] of type T in step with a key prefix in etcd.
// Create one with [New]; its methods are safe for concurrent use.
type Watcher[T any] struct {
	cli    *clientv3.Client
	prefix string
	o      *options
	dec    *decoder[T]

	cur atomic.Pointer[Snapshot[T]]

	ctx    context.Context // canceled by Close, or when the client is closed
	cancel context.CancelFunc
	wg     sync.WaitGroup // the watch loop, the file writer and every subscriber

	file    *snapshotFile  // claimed until the watch loop returns; nil without WithSnapshotFile
	persist *filePersister // nil without WithSnapshotFile
	hmu     sync.Mutex     // serializes calls of Observer.Error and Observer.Connectivity
	// conn wakes the goroutine that calls Observer.Connectivity (one slot:
	// a pending change); nil without that hook.
	conn chan struct{}

	mu      sync.Mutex // guards the fields below
	closed  bool
	subs    map[*subscriber]struct{}
	status  Status
	advance chan struct{} // closed and replaced whenever status.Seen grows
	// seenKeys is how many keys the prefix held at status.Seen.
	seenKeys int
	// rejections are the revisions rejected since the current snapshot,
	// oldest first (at most maxRejections), for WaitRevision to name the
	// error that rejected the revision it waits for.
	rejections []rejection

	// Owned by the watch loop.
	state     *keySet // etcd's keys at seen, rejected revisions included
	shared    bool    // state belongs to a published snapshot: copy before changing it
	seen      int64
	lastHeard atomic.Int64 // unix nanoseconds of the last sign that the watch is live
}

// New loads every key under prefix at one revision into a [Snapshot] of type
// T, then watches the prefix from the next revision until [Watcher.Close].
//
// ctx bounds the initial load only, as [WithLoadTimeout] does; the watcher lives
// until Close. New fails when the prefix is empty, when T or an option is
// unusable, when etcd cannot be read (the error says whether it was
// unreachable or denied access), and with a [*DecodeError] when the keys
// present do not decode or validate: there is no good configuration yet.
//
// prefix is used as given: "/app/" watches keys under "/app/", while "/app"
// would also match "/apple". The client is the caller's; the watcher never
// closes it. If the client is closed first, the watcher stops and says so in
// [Watcher.Status].
//
// With [WithSnapshotFile], New starts from the file when etcd cannot be read
// and the file is usable: see there.
//
// A change decodes and diffs only what its keys feed: the map entries, the
// struct fields, and of a map field the entries under them. Each map in T
// that a change touches is copied for the new snapshot (snapshots are
// immutable, and a Go map shares nothing); the watcher makes that copy
// while it waits for etcd, so it holds a second copy of such maps between
// changes.
func New[T any](ctx context.Context, cli *clientv3.Client, prefix string, opts ...Option) (*Watcher[T], error) {
	o := newOptions(opts)
	dec, err := prepare[T](cli, prefix, o)
	if err != nil {
		return nil, err
	}
	file := newSnapshotFile(o)
	if file != nil {
		if err := file.check(); err != nil {
			return nil, err
		}
		if err := file.claim(prefix); err != nil {
			return nil, err
		}
	}
	snap, loadErr, err := initial(ctx, cli, prefix, o, file, dec)
	if err != nil {
		if file != nil {
			file.release()
		}
		return nil, err
	}
	rev, kvs := snap.Revision, snap.kvs
	wctx, cancel := context.WithCancel(context.Background())
	w := &Watcher[T]{
		cli: cli, prefix: prefix, o: o, dec: dec, file: file,
		ctx: wctx, cancel: cancel,
		subs:    make(map[*subscriber]struct{}),
		advance: make(chan struct{}),
		state:   kvs, shared: true, seen: rev,
	}
	now := time.Now()
	w.cur.Store(snap)
	w.seenKeys = kvs.len()
	if loadErr == nil {
		w.status = Status{Revision: rev, Seen: rev, Confirmed: now, Connected: true}
		w.lastHeard.Store(now.UnixNano())
		o.logger.Info("etcdconf: loaded", "prefix", prefix, "revision", rev, "keys", kvs.len())
	} else {
		w.status = Status{Revision: rev, Seen: rev, Confirmed: snap.written, FromSnapshotFile: snap.written, Err: loadErr, ErrTime: now}
		o.logger.Warn("etcdconf: etcd unreachable; serving the snapshot file", "prefix", prefix,
			"file", file.path, "written", snap.written, "revision", rev, "keys", kvs.len(), "err", loadErr)
	}
	if file != nil {
		w.persist = newFilePersister(file)
		if loadErr == nil {
			w.persist.offer(fileSnapshot{prefix: prefix, rev: rev, kvs: kvs})
		}
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			w.persist.run(func(err error) { w.report(err, "etcdconf: snapshot file not written") })
		}()
	}
	o.observer.started(w.Status)
	if o.observer.Connectivity != nil {
		w.conn = make(chan struct{}, 1)
		w.conn <- struct{}{} // the first state
		w.wg.Add(1)
		go w.notifyConnectivity()
	}
	w.wg.Add(1)
	go w.run(loadErr)
	return w, nil
}

// Current returns the current snapshot. It never blocks and never returns
// nil; after Close it returns the last snapshot. The snapshot is shared:
// do not modify it.
func (w *Watcher[T]) Current() *Snapshot[T] { return w.cur.Load() }

// Status returns the watcher's health: revisions, liveness, last error and
// counters. After Close it describes the watcher as it stopped, with
// Connected false: a closed watcher watches nothing.
func (w *Watcher[T]) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.status
	switch {
	case w.closed:
		st.Connected = false
	case w.cli == nil: // a static watcher is always current
		st.Confirmed = time.Now()
	}
	return st
}

// Done returns a channel closed when the watcher stops: after Close, or when
// the etcd client it uses was closed.
func (w *Watcher[T]) Done() <-chan struct{} { return w.ctx.Done() }

// Close stops the watch, waits for every goroutine of the watcher to return,
// and closes every channel returned by Subscribe. With [WithSnapshotFile], it
// first writes the last snapshot applied to the file, if not written yet,
// then releases the file for another watcher. It is idempotent and always
// returns nil; it does not close the etcd client.
//
// Close may be called from the hooks [Observer].Error and
// [Observer].Connectivity: it cannot wait for the goroutine that runs the
// hook, so while a call of either is in progress Close stops the watcher
// and returns at once, and the watcher's goroutines end, the channels close
// and the file is released when the hook returns. Neither hook is called
// once Close has begun.
func (w *Watcher[T]) Close() error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.cancel()
	// A hook call in progress may be the caller: waiting for the
	// goroutine that runs it would never end.
	if !w.hmu.TryLock() {
		return nil
	}
	w.hmu.Unlock()
	w.wg.Wait()
	return nil
}

// run is the watch loop: watch, and on any failure back off, reload and
// watch again, until Close. A watcher started from the snapshot file starts
// in the recovery, with err the reason etcd could not be read.
func (w *Watcher[T]) run(err error) {
	defer w.wg.Done()
	if w.file != nil {
		defer w.file.release() // after the writer's last write
	}
	if w.persist != nil {
		defer w.persist.stop() // after the last apply: the writer writes it, then returns
	}
	b := backoff{min: w.o.backoffMin, max: w.o.backoffMax}
	for {
		if err == nil {
			err = w.watch(&b)
		}
		for w.ctx.Err() == nil {
			w.setConnected(false)
			if w.cli.Ctx().Err() != nil {
				w.report(errClientGone, "etcdconf: stopped")
				w.cancel()
				return
			}
			delay := b.next()
			w.o.observer.retrying(err, delay)
			w.report(err, "etcdconf: watch lost; reloading", "backoff", delay)
			if !sleep(w.ctx, delay) {
				break
			}
			if err = w.reload(); err == nil {
				break
			}
			w.mu.Lock()
			w.status.Retries++
			w.mu.Unlock()
		}
		if w.ctx.Err() != nil {
			return
		}
		err = nil
	}
}

// watch watches the prefix from the revision after seen and applies what it
// receives until the watch fails, which it returns. Responses are queued as
// they arrive (see watchQueue), and each apply takes all that are queued.
func (w *Watcher[T]) watch(b *backoff) error {
	ctx, cancel := context.WithCancelCause(clientv3.WithRequireLeader(w.ctx))
	var helpers sync.WaitGroup
	defer func() {
		cancel(nil)
		helpers.Wait()
	}()
	// The checker starts first: Watch itself blocks until etcd confirms the
	// watch, which over a stalled link is never.
	helpers.Add(1)
	go func() {
		defer helpers.Done()
		w.checkProgress(ctx, cancel)
	}()
	start := time.Now()
	wch := w.cli.Watch(ctx, w.prefix, clientv3.WithPrefix(), clientv3.WithRev(w.seen+1), clientv3.WithProgressNotify())
	q := newWatchQueue()
	helpers.Add(1)
	go func() {
		defer helpers.Done()
		q.pump(ctx, wch)
	}()
	var recheck <-chan time.Time
	if w.o.recheck > 0 {
		t := time.NewTicker(w.o.recheck)
		defer t.Stop()
		recheck = t.C
	}
	for {
		w.dec.makeSpares(w.cur.Load())
		select {
		case <-recheck:
			if err := w.mayRead(ctx); err != nil {
				return err
			}
		case <-ctx.Done():
			if cause := context.Cause(ctx); w.ctx.Err() == nil {
				return cause
			}
			return nil
		case <-q.ready:
			resps, closed := q.take()
			if len(resps) > 0 {
				if err := w.handle(resps); err != nil {
					return err
				}
				b.settle(time.Since(start))
			}
			if closed {
				if cause := context.Cause(ctx); cause != nil && w.ctx.Err() == nil {
					return cause
				}
				return errWatchClosed
			}
		}
	}
}

// handle applies watch responses, in order, as one snapshot. It returns an
// error when the watch must be recovered; the responses before the failed
// one are applied first.
func (w *Watcher[T]) handle(resps []clientv3.WatchResponse) error {
	var next *keySet
	rev := w.seen
	var err error
	for _, resp := range resps {
		if err = resp.Err(); err != nil {
			break
		}
		for _, ev := range resp.Events {
			// A transaction's events share its revision: only an event
			// below the revision being applied, or of one applied before
			// this batch, goes backwards.
			if m := ev.Kv.ModRevision; m < rev || m == w.seen {
				return fmt.Errorf("%w: %d after %d", errBackwards, m, rev)
			}
			if next == nil {
				next = w.mutableState()
			}
			key := string(ev.Kv.Key)
			if ev.Type == mvccpb.DELETE {
				next.delete(key)
			} else {
				next.set(newKeyValue(ev.Kv))
			}
			rev = ev.Kv.ModRevision
		}
	}
	if next != nil {
		w.apply(next, rev)
	}
	if err == nil {
		w.heard()
	}
	return err
}

// mutableState returns the loop's state, cloned first if a snapshot holds
// it; the clone shares every node the batch does not change.
func (w *Watcher[T]) mutableState() *keySet {
	if w.shared {
		w.state, w.shared = w.state.clone(), false
	}
	return w.state
}

// apply makes kvs, etcd's keys at rev, the loop's state, and publishes it if
// it decodes and validates; otherwise the revision is rejected and the
// current snapshot stays.
// Only what the keys changed since the current snapshot feed is decoded
// (see decoder.next).
func (w *Watcher[T]) apply(kvs *keySet, rev int64) {
	from := w.seen
	w.state, w.shared, w.seen = kvs, false, rev
	start := time.Now()
	prev := w.cur.Load()
	v, delta, patched, err := w.dec.next(prev, kvs, rev)
	w.o.observer.decoded(rev, time.Since(start), err)
	if err != nil {
		var de *DecodeError
		if !errors.As(err, &de) {
			de = &DecodeError{Revision: rev, Err: err}
		}
		w.mu.Lock()
		w.status.Seen, w.seenKeys = rev, kvs.len()
		w.status.Rejections++
		w.status.Rejected = de
		if len(w.rejections) == maxRejections {
			w.rejections = slices.Delete(w.rejections, 0, 1)
		}
		w.rejections = append(w.rejections, rejection{from: from, err: de})
		w.signalLocked()
		w.mu.Unlock()
		w.report(de, "etcdconf: revision rejected; keeping the last good snapshot",
			"key", de.Key, "revision", rev, "current", w.cur.Load().Revision)
		return
	}
	w.shared = true
	snap := &Snapshot[T]{Value: v, Revision: rev, prefix: w.prefix, kvs: kvs}
	if patched && delta != nil {
		snap.delta, snap.deltaFrom = delta, prev.Revision
	}
	w.cur.Store(snap)
	if w.persist != nil {
		w.persist.offer(fileSnapshot{prefix: w.prefix, rev: rev, kvs: kvs})
	}
	w.mu.Lock()
	w.status.Revision, w.status.Seen, w.seenKeys = rev, rev, kvs.len()
	w.status.FromSnapshotFile = time.Time{}
	w.rejections = nil
	for s := range w.subs {
		s.notify()
	}
	w.signalLocked()
	w.mu.Unlock()
	w.o.logger.Debug("etcdconf: applied", "prefix", w.prefix, "revision", rev)
}

// reload reads the whole prefix at a fresh revision and applies it if any
// key differs from the loop's state.
func (w *Watcher[T]) reload() error {
	kvs, rev, err := reloadKeys(w.ctx, w.cli, w.prefix, w.o.loadTimeout, w.o.progress)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.status.Reloads++
	w.mu.Unlock()
	w.o.observer.reloaded(rev)
	if rev < w.seen {
		w.o.logger.Warn("etcdconf: etcd's revision went backwards (restored from a backup?)",
			"prefix", w.prefix, "revision", rev, "seen", w.seen)
	}
	// A snapshot from the file is replaced even by the same keys, so
	// Current and Status stop saying it came from the file.
	if sameKeys(w.state, kvs) && w.cur.Load().written.IsZero() {
		w.seen = rev
		w.mu.Lock()
		w.status.Seen, w.seenKeys = rev, kvs.len()
		w.signalLocked()
		w.mu.Unlock()
	} else {
		w.apply(kvs, rev)
	}
	w.heard()
	w.o.logger.Info("etcdconf: reloaded", "prefix", w.prefix, "revision", rev, "keys", kvs.len())
	return nil
}

// sameKeys reports whether a and b hold the same keys at the same revisions
// with the same values.
func sameKeys(a, b *keySet) bool {
	if a.len() != b.len() {
		return false
	}
	for x := range a.all() {
		y, ok := b.get(x.Key)
		if !ok || x.ModRevision != y.ModRevision || !bytes.Equal(x.Value, y.Value) {
			return false
		}
	}
	return true
}

// heard records that the watch is live and current.
func (w *Watcher[T]) heard() {
	now := time.Now()
	w.lastHeard.Store(now.UnixNano())
	w.mu.Lock()
	was := w.status.Connectivity()
	w.status.Confirmed, w.status.Connected = now, true
	w.mu.Unlock()
	if was != Connected {
		w.connectivityChanged()
	}
}

func (w *Watcher[T]) setConnected(c bool) {
	w.mu.Lock()
	was := w.status.Connected
	w.status.Connected = c
	w.mu.Unlock()
	if was != c {
		w.connectivityChanged()
	}
}

// connectivityChanged wakes notifyConnectivity; it never blocks.
func (w *Watcher[T]) connectivityChanged() {
	select {
	case w.conn <- struct{}{}:
	default: // a wake-up is pending, or there is no hook (w.conn nil)
	}
}

// notifyConnectivity passes the watcher's connectivity to
// Observer.Connectivity whenever it differs from the one last passed,
// until Close. The hook runs on this goroutine of its own, not on those
// that change the status (among them a caller of WaitRevision, which may
// be an Error hook: taking hmu there would deadlock).
func (w *Watcher[T]) notifyConnectivity() {
	defer w.wg.Done()
	reported := Connectivity(-1)
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-w.conn:
		}
		w.mu.Lock()
		c := w.status.Connectivity()
		w.mu.Unlock()
		if c == reported {
			continue
		}
		reported = c
		w.hmu.Lock()
		if w.ctx.Err() == nil { // never after Close has begun: see Close
			w.o.observer.connectivity(c, w.o.logger)
		}
		w.hmu.Unlock()
	}
}

// signalLocked wakes everyone waiting for status.Seen to grow. w.mu is held.
func (w *Watcher[T]) signalLocked() {
	close(w.advance)
	w.advance = make(chan struct{})
}

// WaitRevision blocks until the watcher reflects etcd at revision rev or
// later — the revision a write returned, say — and returns the snapshot
// then current. If rev itself was rejected, it returns the snapshot that
// stayed and the [*DecodeError] that rejected rev. A revision that did not
// touch the prefix is reached as soon as a read proves that nothing under
// the prefix changed up to it. It returns ctx's error when ctx ends first,
// and [ErrClosed] once the watcher is closed.
func (w *Watcher[T]) WaitRevision(ctx context.Context, rev int64) (*Snapshot[T], error) {
	wait := time.Millisecond
	for {
		if w.ctx.Err() != nil {
			return nil, ErrClosed
		}
		wctx, cancel := context.WithTimeout(ctx, wait)
		snap, err := w.waitSeen(wctx, rev)
		cancel()
		if err == nil || !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return snap, err
		}
		// Not seen yet: the revision may lie outside the prefix (a static
		// watcher has no etcd to ask: only its set moves it).
		if w.cli != nil {
			if proved, ok := w.prove(ctx, 0); ok && proved >= rev {
				return w.cur.Load(), nil
			}
		}
		wait = min(2*wait, w.o.progress)
	}
}

// waitSeen blocks until the watcher has processed revision rev and returns
// the current snapshot, or the error that rejected rev.
func (w *Watcher[T]) waitSeen(ctx context.Context, rev int64) (*Snapshot[T], error) {
	for {
		w.mu.Lock()
		seen, advance := w.status.Seen, w.advance
		snap, rejected := w.cur.Load(), w.rejectedAtLocked(rev)
		w.mu.Unlock()
		if seen >= rev {
			if snap.Revision < rev && rejected != nil {
				return snap, rejected
			}
			return snap, nil
		}
		select {
		case <-advance:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-w.ctx.Done():
			return nil, ErrClosed
		}
	}
}

// maxRejections bounds Watcher.rejections.
const maxRejections = 64

// A rejection is a rejected revision: err.Revision, applied (as one batch)
// after the revision from.
type rejection struct {
	from int64
	err  *DecodeError
}

// rejectedAtLocked returns the error that rejected revision rev, if a
// revision rejected since the current snapshot covers it: the batch that
// ended at the first rejected revision at or past rev. w.mu is held.
func (w *Watcher[T]) rejectedAtLocked(rev int64) *DecodeError {
	for _, r := range w.rejections {
		if r.from < rev && rev <= r.err.Revision {
			return r.err
		}
	}
	if len(w.rejections) > 0 && rev <= w.rejections[0].from {
		return w.rejections[0].err // older than those kept: the oldest kept
	}
	return nil
}

// report records err in Status, logs it, and passes it to Observer.Error.
func (w *Watcher[T]) report(err error, msg string, attrs ...any) {
	if err == nil {
		return
	}
	w.mu.Lock()
	w.status.Err, w.status.ErrTime = err, time.Now()
	w.mu.Unlock()
	w.o.logger.Warn(msg, append([]any{"prefix", w.prefix, "err", err}, attrs...)...)
	if w.o.observer.Error != nil {
		w.hmu.Lock() // the watch loop and the file writer both report
		defer w.hmu.Unlock()
		if w.ctx.Err() == nil { // never after Close has begun: see Close
			w.o.observer.error(err, w.o.logger)
		}
	}
}
