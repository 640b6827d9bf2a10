package etcdconf

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdconf/etcdconf/internal/codec"
)

// A Watcher keeps a [Snapshot] of type T in step with a key prefix in etcd.
// Create one with [New]; its methods are safe for concurrent use.
type Watcher[T any] struct {
	src    source // where the keys come from: etcd, or NewStatic's values
	prefix string
	o      *options
	dec    *codec.Decoder[T]

	cur atomic.Pointer[Snapshot[T]]

	ctx    context.Context // canceled by Close, or when the client is closed
	cancel context.CancelFunc
	wg     sync.WaitGroup // the source's loop, the file writer and every subscriber

	layers   *layered[T]       // the files, environment and defaults merged with etcd's keys; nil without any
	instance *instanceReporter // nil without WithInstance
	// pmu serializes publishing: the source's, and a file layer's change;
	// it guards gen and rev.
	pmu sync.Mutex
	gen uint64 // of the current snapshot
	rev int64  // the source's last revision, published or not

	file     *snapshotFile  // claimed until the watch loop returns; nil without WithSnapshotFile
	persist  *filePersister // nil without WithSnapshotFile
	hmu      sync.Mutex     // serializes calls of Observer.Error and Observer.Connectivity
	detached sync.Once      // Observer.Detach, once Close has stopped every goroutine
	// conn wakes the goroutine that calls Observer.Connectivity (one slot:
	// a pending change); nil without that hook.
	conn chan struct{}

	mu      sync.Mutex // guards the fields below
	closed  bool
	subs    map[*subscriber]struct{}
	status  Status
	advance chan struct{} // closed and replaced whenever status.Seen grows
	// rejections are the revisions rejected since the current snapshot,
	// oldest first (at most maxRejections), for WaitRevision to name the
	// error that rejected the revision it waits for.
	rejections []rejection
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
func New[T any](ctx context.Context, cli *clientv3.Client, prefix string, opts ...Option) (_ *Watcher[T], err error) {
	o := newOptions(opts)
	if err := o.observer.attach(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			o.observer.detach()
		}
	}()
	dec, lay, err := prepare[T](cli, prefix, o)
	if err != nil {
		return nil, err
	}
	inst, err := newInstanceReporter(cli, prefix, o)
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
	snap, loadErr, err := initial(ctx, cli, prefix, o, file, dec, lay)
	if err == nil && loadErr == nil && o.heartbeat {
		err = mayReadHeartbeat(ctx, cli, prefix)
	}
	if err != nil {
		if file != nil {
			file.release()
		}
		return nil, err
	}
	rev, kvs := snap.Revision, snap.etcdKeys()
	wctx, cancel := context.WithCancel(context.Background())
	w := &Watcher[T]{
		prefix: prefix, o: o, dec: dec, file: file, layers: lay, instance: inst, gen: 1, rev: rev,
		ctx: wctx, cancel: cancel,
		subs:    make(map[*subscriber]struct{}),
		advance: make(chan struct{}),
	}
	w.src = newEtcdSource(cli, prefix, o, w, kvs, rev, loadErr)
	now := time.Now()
	w.cur.Store(snap)
	if loadErr == nil {
		w.status = Status{Revision: rev, Seen: rev, Confirmed: now, Connected: true}
		o.logger.Info("etcdconf: loaded", "prefix", prefix, "revision", rev, "keys", kvs.Len())
	} else {
		w.status = Status{Revision: rev, Seen: rev, Confirmed: snap.written, FromSnapshotFile: snap.written, Err: loadErr, ErrTime: now}
		o.logger.Warn("etcdconf: etcd unreachable; serving the snapshot file", "prefix", prefix,
			"file", file.path, "written", snap.written, "revision", rev, "keys", kvs.Len(), "err", loadErr)
	}
	if file != nil {
		w.persist = newFilePersister(file)
		if loadErr == nil {
			w.persist.offer(fileSnapshot{prefix: prefix, rev: rev, kvs: kvs}) // etcd's keys only
		}
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			w.persist.run(func(err error) { w.report(err, "etcdconf: snapshot file not written") })
		}()
	}
	o.observer.started(w.Status)
	w.start()
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
	case w.src.alwaysCurrent():
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
		go w.stopped()
		return nil
	}
	w.hmu.Unlock()
	w.stopped()
	return nil
}

// stopped waits for the watcher's goroutines to end, then frees its
// observers for another New (Observer.Detach), once.
func (w *Watcher[T]) stopped() {
	w.wg.Wait()
	w.detached.Do(w.o.observer.detach)
}

// start runs the source's loop (see source.run) on a goroutine of the
// watcher's, which Close ends.
func (w *Watcher[T]) start() {
	if w.o.observer.Connectivity != nil {
		w.conn = make(chan struct{}, 1)
		w.conn <- struct{}{} // the first state
		w.wg.Add(1)
		go w.notifyConnectivity()
	}
	w.wg.Add(1)
	go w.run()
	if w.layers != nil && len(w.layers.files) > 0 {
		w.wg.Add(1)
		go w.pollFiles()
	}
	if w.instance != nil {
		w.wg.Add(1)
		go w.reportInstance()
	}
}

// run runs the source until Close, or until the source stops for good,
// which stops the watcher.
func (w *Watcher[T]) run() {
	defer w.wg.Done()
	if w.file != nil {
		defer w.file.release() // after the writer's last write
	}
	if w.persist != nil {
		defer w.persist.stop() // after the last apply: the writer writes it, then returns
	}
	if err := w.src.run(w.ctx); err != nil {
		w.report(err, "etcdconf: stopped")
		w.cancel()
	}
}

// publish publishes kvs, the source's keys at rev, merged with the layers,
// if it decodes and validates; otherwise the revision is rejected and the
// current snapshot stays. It reports whether the snapshot published holds
// kvs; with layers, always (they hold it to compare the next keys with).
// Only what the keys changed since the current snapshot feed is decoded
// (see decoder.next).
func (w *Watcher[T]) publish(kvs *codec.KeySet, rev int64) (held bool) {
	w.pmu.Lock()
	defer w.pmu.Unlock()
	w.rev = rev
	if w.layers == nil {
		return w.publishLocked(kvs, nil, rev)
	}
	w.publishLocked(w.layers.mergeEtcd(kvs), kvs, rev)
	return true
}

// publishLocked publishes merged, the keys of all layers (etcd's alone are
// etcd, nil without layers), at etcd revision rev.
func (w *Watcher[T]) publishLocked(merged, etcd *codec.KeySet, rev int64) (held bool) {
	start := time.Now()
	prev := w.cur.Load()
	v, delta, patched, err := w.dec.Next(prev.decoded(), merged, rev)
	took := time.Since(start)
	if err != nil {
		var de *DecodeError
		if !errors.As(err, &de) {
			de = &DecodeError{Revision: rev, Err: err}
		}
		w.mu.Lock()
		from := w.status.Seen
		w.status.Seen = max(w.status.Seen, rev)
		w.status.Rejections++
		w.status.Rejected = de
		if len(w.rejections) == maxRejections {
			w.rejections = slices.Delete(w.rejections, 0, 1)
		}
		w.rejections = append(w.rejections, rejection{from: from, err: de})
		w.signalLocked()
		w.mu.Unlock()
		w.o.observer.decoded(rev, took, de) // once Status says so
		w.report(de, "etcdconf: revision rejected; keeping the last good snapshot",
			"key", de.Key, "revision", rev, "current", w.cur.Load().Revision)
		w.instance.changed()
		return false
	}
	w.gen++
	snap := &Snapshot[T]{Value: v, Revision: rev, Generation: w.gen, prefix: w.prefix, kvs: merged, etcd: etcd}
	if patched && delta != nil {
		snap.delta, snap.deltaFrom = changesOf(delta), prev.Generation
	}
	w.cur.Store(snap)
	if w.persist != nil {
		w.persist.offer(fileSnapshot{prefix: w.prefix, rev: rev, kvs: snap.etcdKeys()})
	}
	w.mu.Lock()
	w.status.Revision, w.status.Seen = rev, max(w.status.Seen, rev)
	w.status.FromSnapshotFile = time.Time{}
	w.rejections = nil
	for s := range w.subs {
		s.notify()
	}
	w.signalLocked()
	w.mu.Unlock()
	w.o.observer.decoded(rev, took, nil) // once Current returns the snapshot
	w.o.logger.Debug("etcdconf: applied", "prefix", w.prefix, "revision", rev, "generation", snap.Generation)
	w.instance.changed()
	return true
}

// pollFiles checks the file layers every WithFileInterval until Close, and
// publishes what a change makes of the value, at the source's last
// revision. A file that does not read or decode is reported, as is a
// merged value that does not decode or validate; the last good snapshot
// stays.
func (w *Watcher[T]) pollFiles() {
	defer w.wg.Done()
	t := time.NewTicker(w.o.fileInterval)
	defer t.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-t.C:
		}
		below, changed := w.layers.poll(func(err error) { w.report(err, "etcdconf: file layer rejected; keeping its last good values") })
		if !changed {
			continue
		}
		w.pmu.Lock()
		merged := w.layers.merge.SetBelow(below)
		w.publishLocked(merged, w.layers.merge.Etcd(), w.rev)
		w.pmu.Unlock()
	}
}

// unchanged records rev as seen, the source's keys being kvs as before.
// A snapshot from the snapshot file is replaced even by the same keys, so
// Current and Status stop saying it came from the file.
func (w *Watcher[T]) unchanged(kvs *codec.KeySet, rev int64) bool {
	if !w.cur.Load().written.IsZero() {
		return w.publish(kvs, rev)
	}
	w.pmu.Lock()
	w.rev = rev
	w.pmu.Unlock()
	w.mu.Lock()
	w.status.Seen = rev
	w.signalLocked()
	w.mu.Unlock()
	return false
}

// idle makes the copies the next incremental apply changes (see
// decoder.makeSpares) while the source waits.
func (w *Watcher[T]) idle() {
	w.pmu.Lock()
	defer w.pmu.Unlock()
	w.dec.MakeSpares(w.cur.Load().decoded())
}

// confirmed records that the watcher was current at t.
func (w *Watcher[T]) confirmed(t time.Time) {
	w.mu.Lock()
	was := w.status.Connectivity()
	w.status.Confirmed, w.status.Connected = t, true
	w.mu.Unlock()
	if was != Connected {
		w.connectivityChanged()
	}
}

func (w *Watcher[T]) disconnected() {
	w.mu.Lock()
	was := w.status.Connected
	w.status.Connected = false
	w.mu.Unlock()
	if was {
		w.connectivityChanged()
	}
}

func (w *Watcher[T]) updateStatus(fn func(*Status)) {
	w.mu.Lock()
	fn(&w.status)
	w.mu.Unlock()
}

// connectivityChanged wakes notifyConnectivity; it never blocks.
func (w *Watcher[T]) connectivityChanged() {
	w.instance.changed()
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
		// Not seen yet: the revision may lie outside the prefix, which the
		// source may prove (a static one cannot: only its set moves it).
		if proved, ok := w.src.current(ctx); ok && proved >= rev {
			return w.cur.Load(), nil
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
