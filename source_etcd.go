package etcdconf

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdconf/etcdconf/internal/codec"
	"github.com/etcdconf/etcdconf/internal/txn"
)

var (
	errWatchClosed = errors.New("etcdconf: watch channel closed by the client")
	errStale       = errors.New("etcdconf: nothing proved the watch current for three progress intervals (no event, no progress answer, no successful read)")
	errBackwards   = errors.New("etcdconf: watch delivered a revision at or below one already applied")
	errClientGone  = errors.New("etcdconf: the etcd client was closed; the watcher stopped")
)

// An etcdSource is a watcher's keys under a prefix in etcd. New loads them
// at one revision (loader.go); run watches from the next revision (see
// watchQueue), proves the watch current (liveness.go), and on any failure
// backs off, reloads at a fresh revision and watches again. It is also
// where writes go (keyWriter).
type etcdSource struct {
	cli    *clientv3.Client
	prefix string
	o      *options
	to     sink
	// hb is the heartbeat key the watch also covers (WithHeartbeat), or "".
	hb string

	// from is why the first load failed when the watcher started from its
	// snapshot file: run starts in the recovery. nil else.
	from error

	// Owned by run.
	state  *codec.KeySet // etcd's keys at seen, rejected revisions included
	shared bool          // state belongs to a published snapshot: copy before changing it
	seen   int64

	mu sync.Mutex // guards at: current runs outside run's goroutine
	// at is the last revision delivered and the number of keys then, what
	// a proof of currency compares etcd with. It is set after the watcher
	// has published, so no proof gets ahead of Current.
	at struct {
		rev  int64
		keys int
	}
	lastHeard atomic.Int64 // unix nanoseconds of the last sign that the watch is live
}

// newEtcdSource returns the source of a watcher that loaded kvs at rev
// (from its snapshot file when from, the reason etcd was not read, is not
// nil); to is the watcher.
func newEtcdSource(cli *clientv3.Client, prefix string, o *options, to sink, kvs *codec.KeySet, rev int64, from error) *etcdSource {
	s := &etcdSource{cli: cli, prefix: prefix, o: o, to: to, from: from, state: kvs, shared: true, seen: rev}
	if o.heartbeat {
		s.hb = HeartbeatKey(prefix)
	}
	s.at.rev, s.at.keys = rev, kvs.Len()
	if from == nil {
		s.lastHeard.Store(time.Now().UnixNano())
	}
	return s
}

func (s *etcdSource) alwaysCurrent() bool { return false }

func (s *etcdSource) current(ctx context.Context) (int64, bool) { return s.prove(ctx, 0) }

func (s *etcdSource) writer() (keyWriter, error) { return s, nil }

// run is the watch loop: watch, and on any failure back off, reload and
// watch again, until ctx ends or the client is closed.
func (s *etcdSource) run(ctx context.Context) error {
	err := s.from
	b := backoff{min: s.o.backoffMin, max: s.o.backoffMax}
	for {
		if err == nil {
			err = s.watch(ctx, &b)
		}
		for ctx.Err() == nil {
			s.to.disconnected()
			if s.cli.Ctx().Err() != nil {
				return errClientGone
			}
			delay := b.next()
			s.o.observer.retrying(err, delay)
			s.to.report(err, "etcdconf: watch lost; reloading", "backoff", delay)
			if !sleep(ctx, delay) {
				break
			}
			if err = s.reload(ctx); err == nil {
				break
			}
			s.to.updateStatus(func(st *Status) { st.Retries++ })
		}
		if ctx.Err() != nil {
			return nil
		}
		err = nil
	}
}

// watch watches the prefix from the revision after seen and delivers what
// it receives until the watch fails, which it returns. Responses are queued
// as they arrive (see watchQueue), and each delivery takes all that are
// queued.
func (s *etcdSource) watch(parent context.Context, b *backoff) error {
	ctx, cancel := context.WithCancelCause(clientv3.WithRequireLeader(parent))
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
		s.checkProgress(ctx, cancel)
	}()
	start := time.Now()
	// With a heartbeat, one watch covers the prefix and the heartbeat key
	// just past it, so heartbeats arrive in order with the prefix's events.
	span := clientv3.WithPrefix()
	if s.hb != "" {
		span = clientv3.WithRange(s.hb + "\x00")
	}
	wch := s.cli.Watch(ctx, s.prefix, span, clientv3.WithRev(s.seen+1), clientv3.WithProgressNotify())
	q := newWatchQueue()
	helpers.Add(1)
	go func() {
		defer helpers.Done()
		q.pump(ctx, wch)
	}()
	var recheck <-chan time.Time
	if s.o.recheck > 0 {
		t := time.NewTicker(s.o.recheck)
		defer t.Stop()
		recheck = t.C
	}
	for {
		s.to.idle()
		select {
		case <-recheck:
			if err := s.mayRead(ctx); err != nil {
				return err
			}
		case <-ctx.Done():
			if cause := context.Cause(ctx); parent.Err() == nil {
				return cause
			}
			return nil
		case <-q.ready:
			resps, closed := q.take()
			if len(resps) > 0 {
				if err := s.handle(resps); err != nil {
					return err
				}
				b.settle(time.Since(start))
			}
			if closed {
				if cause := context.Cause(ctx); cause != nil && parent.Err() == nil {
					return cause
				}
				return errWatchClosed
			}
		}
	}
}

// handle delivers watch responses, in order, as one key set. It returns an
// error when the watch must be recovered; the responses before the failed
// one are delivered first. Heartbeat events change no key: the latest one
// moves the watch past its revision once the keys before it are delivered.
func (s *etcdSource) handle(resps []clientv3.WatchResponse) error {
	var next *codec.KeySet
	rev, top, beat := s.seen, s.seen, int64(0)
	var err error
	for _, resp := range resps {
		if err = resp.Err(); err != nil {
			break
		}
		for _, ev := range resp.Events {
			// A transaction's events share its revision: only an event
			// below the revision being applied, or of one applied before
			// this batch, goes backwards.
			m := ev.Kv.ModRevision
			if m < top || m == s.seen {
				return fmt.Errorf("%w: %d after %d", errBackwards, m, top)
			}
			top = m
			if s.hb != "" && string(ev.Kv.Key) == s.hb {
				beat = m // never configuration, decoded by no one
				continue
			}
			if next == nil {
				next = s.mutableState()
			}
			if ev.Type == mvccpb.DELETE {
				next.Delete(string(ev.Kv.Key[len(s.prefix):])) // relative from here on
			} else {
				kv := newKeyValue(ev.Kv, s.prefix)
				next.Set(&kv)
			}
			rev = m
		}
	}
	if next != nil {
		s.deliver(next, rev)
	}
	if beat > s.seen {
		// The watch delivered every change of the prefix up to beat, and
		// the watcher has published them: etcd held these keys at beat,
		// which is where a restarted watch resumes and what a proof by a
		// read compares etcd with.
		s.seen = beat
		s.setAt(beat, s.state.Len())
	}
	if err == nil {
		s.heard()
	}
	return err
}

// mutableState returns the loop's state, cloned first if a snapshot holds
// it; the clone shares every node the batch does not change.
func (s *etcdSource) mutableState() *codec.KeySet {
	if s.shared {
		s.state, s.shared = s.state.Clone(), false
	}
	return s.state
}

// deliver makes kvs, etcd's keys at rev, the loop's state, and hands it to
// the watcher to publish or reject.
func (s *etcdSource) deliver(kvs *codec.KeySet, rev int64) {
	s.state, s.shared, s.seen = kvs, false, rev
	s.shared = s.to.publish(kvs, rev)
	s.setAt(rev, kvs.Len())
}

func (s *etcdSource) setAt(rev int64, keys int) {
	s.mu.Lock()
	s.at.rev, s.at.keys = rev, keys
	s.mu.Unlock()
}

// reload reads the whole prefix at a fresh revision and delivers it if any
// key differs from the loop's state.
func (s *etcdSource) reload(ctx context.Context) error {
	kvs, rev, err := reloadKeys(ctx, s.cli, s.prefix, s.o.loadTimeout, s.o.progress)
	if err != nil {
		return err
	}
	s.to.updateStatus(func(st *Status) { st.Reloads++ })
	s.o.observer.reloaded(rev)
	if rev < s.seen {
		s.o.logger.Warn("etcdconf: etcd's revision went backwards (restored from a backup?)",
			"prefix", s.prefix, "revision", rev, "seen", s.seen)
	}
	if sameKeys(s.state, kvs) {
		// The state stays, sharing its nodes with the current snapshot's,
		// unless the watcher published kvs in its place.
		if s.to.unchanged(kvs, rev) {
			s.state, s.shared = kvs, true
		}
		s.seen = rev
		s.setAt(rev, kvs.Len())
	} else {
		s.deliver(kvs, rev)
	}
	s.heard()
	s.o.logger.Info("etcdconf: reloaded", "prefix", s.prefix, "revision", rev, "keys", kvs.Len())
	return nil
}

// sameKeys reports whether a and b hold the same keys at the same revisions
// with the same values.
func sameKeys(a, b *codec.KeySet) bool {
	if a.Len() != b.Len() {
		return false
	}
	for x := range a.All() {
		y, ok := b.Get(x.Key)
		if !ok || x.ModRevision != y.ModRevision || x.Value != y.Value {
			return false
		}
	}
	return true
}

// heard records that the watch is live and current.
func (s *etcdSource) heard() {
	now := time.Now()
	s.lastHeard.Store(now.UnixNano())
	s.to.confirmed(now)
}

func (s *etcdSource) commit(ctx context.Context, guards []clientv3.Cmp, ops []clientv3.Op) (*clientv3.TxnResponse, error) {
	return s.cli.Txn(ctx).If(guards...).Then(ops...).Commit()
}

// commitPlan checks the plan's size and runs it as one transaction, keys
// in order, each with the prefix added, followed by more; Succeeded is
// false when a guard failed, and then nothing was written.
func (s *etcdSource) commitPlan(ctx context.Context, p *codec.WritePlan, guards []clientv3.Cmp, more []clientv3.Op) (*clientv3.TxnResponse, error) {
	if err := txn.CheckOps(p.Len() + len(more)); err != nil {
		return nil, err
	}
	guards = slices.Clone(guards)
	for _, k := range slices.Sorted(maps.Keys(p.Guards)) {
		if rev := p.Guards[k]; rev == 0 {
			guards = append(guards, clientv3.Compare(clientv3.CreateRevision(s.prefix+k), "=", 0))
		} else {
			guards = append(guards, clientv3.Compare(clientv3.ModRevision(s.prefix+k), "=", rev))
		}
	}
	var ops []clientv3.Op
	for _, k := range slices.Sorted(maps.Keys(p.Puts)) {
		ops = append(ops, clientv3.OpPut(s.prefix+k, p.Puts[k]))
	}
	for _, k := range slices.Sorted(maps.Keys(p.Deletes)) {
		ops = append(ops, clientv3.OpDelete(s.prefix+k))
	}
	return s.cli.Txn(ctx).If(guards...).Then(append(ops, more...)...).Commit()
}

func (s *etcdSource) kv() clientv3.KV { return s.cli }

func (s *etcdSource) grant(ctx context.Context, ttl int64) (clientv3.LeaseID, error) {
	lease, err := s.cli.Grant(ctx, ttl)
	if err != nil {
		return 0, err
	}
	return lease.ID, nil
}
