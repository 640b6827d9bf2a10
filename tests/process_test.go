package etcdconf_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
	"github.com/etcdconf/etcdconf/internal/etcdproc"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// TestCompatEtcd34 runs the core features against a real etcd process of
// another version: Debian's etcd 3.4 where installed (.ci/install-etcd).
func TestCompatEtcd34(t *testing.T) {
	c := etcdproc.Start(t, etcdproc.Binary(t), 1)
	direct := c.Client(t)
	ctx := context.Background()
	st, err := direct.Status(ctx, c.Members[0].ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("etcd server %s", st.Version)

	// Through a proxy, so the watcher can be cut off while history is compacted.
	p, err := etcdtest.NewProxy(strings.TrimPrefix(c.Members[0].ClientURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cli, err := etcdconf.ClientConfig{Endpoints: []string{p.Addr()}}.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	put(t, direct, "/c/db/host", "h", "/c/db/port", "1")
	w := newWatcher[writable](t, cli, "/c/", fastRecovery...)
	if w.Current().Value.DB.Port != 1 {
		t.Fatalf("load: %+v", w.Current().Value)
	}
	rev := put(t, direct, "/c/db/port", "2")
	waitFor(t, w, "watched change", func(s *etcdconf.Snapshot[writable]) bool { return s.Revision == rev && s.Value.DB.Port == 2 })
	bad := put(t, direct, "/c/db/port", "-5") // fails Validate
	for w.Status().Seen < bad {
		time.Sleep(5 * time.Millisecond)
	}
	if w.Status().Rejected == nil || w.Current().Value.DB.Port != 2 {
		t.Fatalf("rejection: %+v", w.Status())
	}
	// Update guards on the last good snapshot; etcd holds the rejected value.
	_, err = w.Update(ctx, func(c *writable) error { c.DB.Port = 3; return nil })
	if !errors.Is(err, etcdconf.ErrInvalid) || errors.Is(err, etcdconf.ErrConflict) {
		t.Fatalf("Update over a rejected revision: %v, want the rejection", err)
	}
	if _, err := w.Set(ctx, "DB.Port", 3); err != nil { // Set fixes the key
		t.Fatal(err)
	}
	s, err := w.Update(ctx, func(c *writable) error { c.DB.Port = 4; c.DB.Host = "updated"; return nil })
	if err != nil || s.Value.DB.Port != 4 {
		t.Fatalf("Update: %v", err)
	}
	if _, err := w.Set(ctx, `Flags["tmp"]`, true, etcdconf.WithTTL(time.Second)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, w, "TTL expiry", func(s *etcdconf.Snapshot[writable]) bool { _, on := s.Value.Flags["tmp"]; return !on })

	p.Pause()
	for i := range 5 {
		put(t, direct, "/c/db/host", fmt.Sprint("h", i))
	}
	last := put(t, direct, "/c/db/port", "9")
	if _, err := direct.Compact(ctx, last, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	p.Reset()
	p.Resume()
	waitFor(t, w, "recovery from compaction", func(s *etcdconf.Snapshot[writable]) bool { return s.Revision == last && s.Value.DB.Host == "h4" })

	reg, err := etcdconf.Register(ctx, cli, "/c/services/api-1", `{"addr":"a"}`, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, w, "registration", func(s *etcdconf.Snapshot[writable]) bool { return s.Value.Services["api-1"].Addr == "a" })
	reg.Close()
	waitFor(t, w, "deregistration", func(s *etcdconf.Snapshot[writable]) bool { return len(s.Value.Services) == 0 })
}

// TestFaultProcesses injects faults only separate processes allow —
// SIGSTOP of one member and of two (leader loss), SIGKILL of the leader and
// of the member the watcher is pinned to — while writers run, and checks
// every snapshot against etcd as TestFaultSuite does.
func TestFaultProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("fault suite skipped in -short mode")
	}
	t.Run("etcd-3.7", func(t *testing.T) { faultProcesses(t, etcdproc.Built(t)) })
	t.Run("etcd-installed", func(t *testing.T) { faultProcesses(t, etcdproc.Binary(t)) })
}

func faultProcesses(t *testing.T, binary string) {
	c := etcdproc.Start(t, binary, 3)
	r := &faultRun{t: t, direct: c.Client(t), acked: map[string]ackedAt{}, uncertain: map[string][]ackOp{}}
	for _, m := range c.Members {
		cli, err := clientv3.New(clientv3.Config{
			Endpoints: []string{m.ClientURL}, DialTimeout: 2 * time.Second, Logger: zap.NewNop(),
			DialKeepAliveTime: time.Second, DialKeepAliveTimeout: time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		r.members = append(r.members, cli)
	}
	pinned := c.Members[0] // the watcher talks to this member only
	wcli, err := etcdconf.ClientConfig{Endpoints: []string{pinned.ClientURL}, DialTimeout: 2 * time.Second}.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer wcli.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := etcdconf.New[map[string]string](ctx, wcli, faultPrefix, append(fastRecovery, r.reloads.observer())...)
	if err != nil {
		t.Fatal(err)
	}
	var checkers sync.WaitGroup
	checkers.Add(1)
	go func() {
		defer checkers.Done()
		r.check(ctx, w.Subscribe(ctx))
	}()
	var pause sync.RWMutex
	stop := make(chan struct{})
	var writers sync.WaitGroup
	for i := range 2 { // as the in-process suite: one writer alone waits out every fault
		writers.Add(1)
		go func() {
			defer writers.Done()
			r.write(i, stop, &pause)
		}()
	}

	from := time.Now()
	r.faultFrom = from
	fault := func() { // the fault just healed: reloads since from are its doing
		r.mu.Lock()
		r.windows = append(r.windows, window{from, time.Now()})
		r.mu.Unlock()
		r.faults.Add(1)
		from = time.Now()
	}
	for round := range 3 {
		follower := c.Members[1+round%2]
		must(t, follower.Pause()) // one member frozen: the cluster keeps quorum
		time.Sleep(1500 * time.Millisecond)
		must(t, follower.Resume())
		fault()

		a, b := c.Members[1], c.Members[2] // two frozen: the pinned member has no leader
		must(t, a.Pause())
		must(t, b.Pause())
		time.Sleep(2 * time.Second)
		must(t, a.Resume())
		must(t, b.Resume())
		fault()

		leader, err := c.Leader(r.direct)
		must(t, err)
		leader.Kill()
		time.Sleep(500 * time.Millisecond)
		must(t, leader.Restart())
		fault()

		r.mu.Lock()
		r.faultFrom = time.Now()
		r.mu.Unlock()
		pinned.Kill() // the watcher's only endpoint
		time.Sleep(500 * time.Millisecond)
		must(t, pinned.Restart())
		fault()

		pause.Lock()
		r.converge(w, "kill and restart the watcher's member")
		pause.Unlock()
		from = time.Now()
	}
	// On a loaded machine the faults may leave the writers, or the checker,
	// waiting for most of the run (a run in a full CI verified 9
	// snapshots): with no fault, let the writers go on until the run has
	// verified enough to judge, for 30 s at most.
	for deadline := time.Now().Add(30 * time.Second); r.snapshots.Load() < minProcessSnapshots && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	writers.Wait()
	r.converge(w, "the end of the writes")
	lost := r.lost(w.Current().Value)
	w.Close() // closes the subscription: the checker verifies what it has, then returns
	checkers.Wait()
	cancel()
	r.verdict("fault-processes/"+t.Name()[strings.LastIndex(t.Name(), "/")+1:], lost)
	// Alone, a run publishes 180 to 370 snapshots; a writer stuck on a
	// paused member once left a run with 3, verifying almost nothing.
	if r.snapshots.Load() < minProcessSnapshots {
		t.Fatalf("too little happened to judge: %d snapshots, want at least %d", r.snapshots.Load(), minProcessSnapshots)
	}
}

// minProcessSnapshots is the fewest snapshots a process fault run must
// verify to mean anything.
const minProcessSnapshots = 50
