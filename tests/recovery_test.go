package etcdconf_test

import (
	"context"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// fastRecovery makes recovery quick enough for tests.
var fastRecovery = []etcdconf.Option{
	etcdconf.WithBackoff(20*time.Millisecond, 200*time.Millisecond),
	etcdconf.WithProgressInterval(200 * time.Millisecond),
	etcdconf.WithLoadTimeout(time.Second),
}

// proxiedClient returns a client that reaches srv only through a Proxy.
func proxiedClient(t *testing.T, srv *etcdtest.Server) (*clientv3.Client, *etcdtest.Proxy) {
	t.Helper()
	p, err := etcdtest.NewProxy(srv.Endpoints()[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            []string{p.Addr()},
		DialTimeout:          2 * time.Second,
		DialKeepAliveTime:    time.Second,
		DialKeepAliveTimeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli, p
}

// converged waits until the watcher's snapshot equals etcd's prefix now.
func converged(t *testing.T, w *etcdconf.Watcher[map[string]string], cli *clientv3.Client, prefix string) *etcdconf.Snapshot[map[string]string] {
	t.Helper()
	resp, err := cli.Get(context.Background(), prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	want := make(map[string]string, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		want[string(kv.Key)[len(prefix):]] = string(kv.Value)
	}
	return waitFor(t, w, "etcd's state", func(s *etcdconf.Snapshot[map[string]string]) bool {
		if len(s.Value) != len(want) {
			return false
		}
		for k, v := range want {
			if s.Value[k] != v {
				return false
			}
		}
		return true
	})
}

func TestRecoversFromCompactionWhileDisconnected(t *testing.T) {
	srv := etcdtest.Start(t)
	direct := srv.Client(t)
	cli, proxy := proxiedClient(t, srv)
	put(t, direct, "/c/a", "1", "/c/b", "1")
	w := newWatcher[map[string]string](t, cli, "/c/", fastRecovery...)

	proxy.Pause()
	for i := range 20 {
		put(t, direct, "/c/a", strconv.Itoa(i))
	}
	del(t, direct, "/c/b")
	rev := put(t, direct, "/c/new", "x")
	if err := srv.Compact(context.Background(), rev); err != nil {
		t.Fatal(err)
	}
	proxy.Reset() // what was in flight is gone: the watch must resume from a compacted revision
	proxy.Resume()

	s := converged(t, w, direct, "/c/")
	if s.Revision != rev {
		t.Fatalf("revision %d after recovery, want %d", s.Revision, rev)
	}
	if st := w.Status(); st.Reloads < 1 {
		t.Fatalf("no reload after compaction: %+v", st)
	}
}

func TestRecoversFromServerRestart(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/r/a", "1")
	w := newWatcher[map[string]string](t, cli, "/r/", fastRecovery...)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for w.Status().Connected && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if w.Status().Connected {
		t.Fatal("still reported connected with etcd stopped")
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	put(t, cli, "/r/a", "2", "/r/b", "3")
	converged(t, w, cli, "/r/")
	waitConnected(t, w)
}

func waitConnected[T any](t *testing.T, w *etcdconf.Watcher[T]) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !w.Status().Connected {
		if time.Now().After(deadline) {
			t.Fatalf("not connected again: %+v", w.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRecoversFromLinkResets(t *testing.T) {
	srv := etcdtest.Start(t)
	direct := srv.Client(t)
	cli, proxy := proxiedClient(t, srv)
	w := newWatcher[map[string]string](t, cli, "/l/", fastRecovery...)
	for i := range 10 {
		put(t, direct, "/l/k"+strconv.Itoa(i%3), strconv.Itoa(i))
		proxy.Reset()
		time.Sleep(20 * time.Millisecond)
	}
	converged(t, w, direct, "/l/")
}

func TestStalledLinkIsDetectedAndRecovered(t *testing.T) {
	srv := etcdtest.Start(t)
	direct := srv.Client(t)
	cli, proxy := proxiedClient(t, srv)
	w := newWatcher[map[string]string](t, cli, "/s/", fastRecovery...)
	proxy.Pause()
	put(t, direct, "/s/a", "during the stall")
	deadline := time.Now().Add(10 * time.Second)
	for w.Status().Connected {
		if time.Now().After(deadline) {
			t.Fatal("a stalled link was never noticed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	proxy.Resume()
	converged(t, w, direct, "/s/")
	waitConnected(t, w)
}

// TestReloadBegunDuringAFaultIsRetriedOnceEtcdAnswers: a reload that
// began while etcd did not answer must not wait out the load timeout once
// etcd answers again (issue 18: the slowest convergences after a fault were
// such a reload, held by a link that had died or by a member that had
// dropped its read, while etcd already answered new requests). The load
// timeout here is an hour; the reload's request is held by a paused link
// that stays paused, and a second link to the same etcd is added.
func TestReloadBegunDuringAFaultIsRetriedOnceEtcdAnswers(t *testing.T) {
	srv := etcdtest.Start(t)
	direct := srv.Client(t)
	held, err := etcdtest.NewProxy(srv.Endpoints()[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { held.Close() })
	open, err := etcdtest.NewProxy(srv.Endpoints()[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { open.Close() })
	// No keepalive: the held connection stays open, as a partitioned one
	// does until a keepalive gives up on it.
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{held.Addr()}, DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	put(t, direct, "/h/a", "1")
	retrying := make(chan struct{}, 1)
	w := newWatcher[map[string]string](t, cli, "/h/",
		etcdconf.WithBackoff(20*time.Millisecond, 200*time.Millisecond),
		etcdconf.WithProgressInterval(100*time.Millisecond),
		etcdconf.WithLoadTimeout(time.Hour),
		etcdconf.WithObserver(etcdconf.Observer{Retrying: func(error, time.Duration) {
			select {
			case retrying <- struct{}{}:
			default:
			}
		}}))
	held.Pause()
	t.Cleanup(held.Resume) // before the watcher closes
	// The watch goes stale; a reload begins, held by the link.
	select {
	case <-retrying:
	case <-time.After(10 * time.Second):
		t.Fatalf("the stalled link was never noticed: %+v", w.Status())
	}
	time.Sleep(300 * time.Millisecond) // the reload's request is on its way, and held
	put(t, direct, "/h/a", "2")
	// etcd answers again, through the second link; the first stays held.
	cli.SetEndpoints(held.Addr(), open.Addr())
	converged(t, w, direct, "/h/")
	if st := w.Status(); st.Reloads < 1 {
		t.Fatalf("converged without a reload: %+v", st)
	}
}

func TestLeaderLossIsRecovered(t *testing.T) {
	c := etcdtest.StartCluster(t, 3)
	ms := c.Members()
	cli := ms[0].Client(t)
	put(t, cli, "/q/a", "1")
	w := newWatcher[map[string]string](t, cli, "/q/", fastRecovery...)
	// Stop the other two: member 0 has no quorum, so no leader.
	for _, m := range ms[1:] {
		if err := m.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for w.Status().Connected {
		if time.Now().After(deadline) {
			t.Fatalf("leader loss not noticed: %+v", w.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, m := range ms[1:] {
		if err := m.Restart(); err != nil {
			t.Fatal(err)
		}
	}
	put(t, ms[1].Client(t), "/q/a", "2")
	converged(t, w, cli, "/q/")
	waitConnected(t, w)
}

func TestNoSpinWhileEtcdIsDown(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	w := newWatcher[map[string]string](t, cli, "/d/",
		etcdconf.WithBackoff(10*time.Millisecond, 100*time.Millisecond),
		etcdconf.WithProgressInterval(100*time.Millisecond),
		etcdconf.WithLoadTimeout(50*time.Millisecond))
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // let the watcher notice and settle into backoff
	before, cpuBefore := w.Status(), cpuTime()
	const window = 2 * time.Second
	time.Sleep(window)
	after, cpuAfter := w.Status(), cpuTime()
	if after.Connected {
		t.Fatal("connected with etcd down")
	}
	// Each attempt costs at least the load timeout plus the backoff floor.
	if n := after.Retries - before.Retries; n < 1 || n > int64(window/(50*time.Millisecond)) {
		t.Fatalf("%d recovery attempts in %v: want a few, bounded by the backoff", n, window)
	}
	// A spinning loop burns a whole core; an idle one almost nothing.
	if used := cpuAfter - cpuBefore; used > window/4 {
		t.Fatalf("process used %v of CPU in %v with etcd down", used, window)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	put(t, cli, "/d/x", "1")
	converged(t, w, cli, "/d/")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
