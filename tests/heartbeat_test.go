package etcdconf_test

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Heartbeats (WithHeartbeat, Heartbeat): liveness that a fleet pays for
// once, whatever its size.

// runHeartbeat runs etcdconf.Heartbeat until the returned stop is called
// (or the test ends); stop waits for it and fails t on an error.
func runHeartbeat(t *testing.T, cli *clientv3.Client, prefix string, opts ...etcdconf.HeartbeatOption) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- etcdconf.Heartbeat(ctx, cli, prefix, opts...) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Heartbeat: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// etcdRanges returns how many Range requests the etcd at endpoint has
// received, from its metrics. The tests of this package run one at a
// time, and the metrics of every embedded etcd of the process are one
// registry: compare two readings within a test.
func etcdRanges(t *testing.T, endpoint string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + endpoint + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var n float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "grpc_server_started_total{") && strings.Contains(line, `grpc_method="Range"`) {
			v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			if err != nil {
				t.Fatal(err)
			}
			n += v
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// heartbeatValue returns the heartbeat key's value, "" when there is none.
func heartbeatValue(t *testing.T, cli *clientv3.Client, prefix string) string {
	t.Helper()
	resp, err := cli.Get(context.Background(), etcdconf.HeartbeatKey(prefix))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}

func TestHeartbeatKey(t *testing.T) {
	for prefix, want := range map[string]string{"/app/": "/app0", "/app": "/apq", "": "", "\xff": "", "/a/b.yaml": "/a/b.yamm"} {
		if got := etcdconf.HeartbeatKey(prefix); got != want {
			t.Errorf("HeartbeatKey(%q) = %q, want %q", prefix, got, want)
		}
	}
}

// With a heartbeat, a fleet on a quiet prefix behind a grpc-proxy sends
// etcd no read at all: the heartbeat on the coalesced watch proves every
// watcher current.
func TestHeartbeatThroughGRPCProxy(t *testing.T) {
	srv := etcdtest.Start(t)
	direct := srv.Client(t)
	gp := etcdtest.StartGRPCProxy(t, srv.Endpoints())
	put(t, direct, "/hbp/a", "1")
	runHeartbeat(t, direct, "/hbp/", etcdconf.HeartbeatEvery(healthEvery/2))

	const n = 20
	ws := make([]*etcdconf.Watcher[map[string]string], n)
	var evs []<-chan etcdconf.Event[map[string]string]
	for i := range ws {
		ws[i] = newWatcher[map[string]string](t, gp.Client(t), "/hbp/", etcdconf.WithHeartbeat(), etcdconf.WithProgressInterval(healthEvery))
		evs = append(evs, ws[i].Subscribe(t.Context()))
	}
	time.Sleep(2 * healthEvery) // every watcher has heard a heartbeat
	ranges := etcdRanges(t, srv.Endpoints()[0])
	if _, err := direct.Get(t.Context(), "/hbp/a"); err != nil {
		t.Fatal(err)
	}
	if r := etcdRanges(t, srv.Endpoints()[0]); r != ranges+1 {
		t.Fatalf("etcd's metrics count %v Range requests after one, %v before", r, ranges)
	}
	ranges++
	probes := make([]int64, n)
	for i, w := range ws {
		probes[i] = w.Status().Probes
	}
	for _, w := range ws {
		healthy(t, w, healthEvery) // 12 intervals for the fleet in all
	}
	time.Sleep(2 * healthEvery)
	if d := etcdRanges(t, srv.Endpoints()[0]) - ranges; d != 0 {
		t.Errorf("%v Range requests reached etcd over %d quiet intervals with the heartbeat flowing; want 0", d, n+2)
	}
	for i, w := range ws {
		st := w.Status()
		if st.Probes != probes[i] || st.Reloads != 0 || st.Err != nil || !st.Connected {
			t.Errorf("watcher %d: %+v; want no read (had %d), no reload, no error, connected", i, st, probes[i])
		}
		if s := w.Current(); s.Generation != 1 {
			t.Errorf("watcher %d: heartbeats published snapshot %d", i, s.Generation)
		}
		select {
		case ev := <-evs[i]:
			t.Errorf("watcher %d: heartbeats sent an event: %+v", i, ev.Changes)
		default:
		}
	}

	// And the watch still delivers configuration.
	rev := put(t, direct, "/hbp/a", "2")
	for _, w := range ws {
		waitFor(t, w, "a write through the proxy", func(s *etcdconf.Snapshot[map[string]string]) bool {
			return s.Revision == rev && s.Value["a"] == "2"
		})
	}
}

// Heartbeat events are never configuration: no change, no snapshot, no
// key, no strict error; a watcher without the option does not see them.
func TestHeartbeatNeverSurfaces(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/hbs/name", "demo")
	type conf struct{ Name string }
	file := filepath.Join(t.TempDir(), "snap.json")
	w := newWatcher[conf](t, cli, "/hbs/", etcdconf.WithHeartbeat(), etcdconf.WithStrict(),
		etcdconf.WithProgressInterval(healthEvery), etcdconf.WithSnapshotFile(file))
	flat := newWatcher[map[string]string](t, cli, "/hbs/", etcdconf.WithHeartbeat(), etcdconf.WithProgressInterval(healthEvery))
	plain := newWatcher[map[string]string](t, cli, "/hbs/", etcdconf.WithProgressInterval(healthEvery))
	evs := w.Subscribe(t.Context())
	flatEvs := flat.Subscribe(t.Context())
	plainEvs := plain.Subscribe(t.Context())

	runHeartbeat(t, cli, "/hbs/", etcdconf.HeartbeatEvery(healthEvery/4), etcdconf.HeartbeatName("beater"))
	healthy(t, w, 10*healthEvery)
	if v := heartbeatValue(t, cli, "/hbs/"); !strings.HasPrefix(v, "beater ") {
		t.Fatalf("heartbeat value %q, want the writer's name and the time", v)
	}
	for name, w := range map[string]*etcdconf.Watcher[map[string]string]{"flat": flat, "plain": plain} {
		st := w.Status()
		if st.Reloads != 0 || st.Err != nil || st.Rejections != 0 || !st.Connected || w.Current().Generation != 1 {
			t.Errorf("%s watcher beside heartbeats: %+v, generation %d", name, st, w.Current().Generation)
		}
	}
	if st := w.Status(); st.Rejections != 0 || st.Probes != 0 {
		t.Errorf("strict watcher: %+v; want no rejection and no read", st)
	}
	if p := plain.Status().Probes; p == 0 {
		t.Errorf("the watcher without WithHeartbeat made no read: it took heartbeats for proofs")
	}
	if p := flat.Status().Probes; p != 0 {
		t.Errorf("the flat watcher with WithHeartbeat made %d reads", p)
	}

	rev := put(t, cli, "/hbs/name", "new")
	for name, ch := range map[string]<-chan etcdconf.Event[map[string]string]{"flat": flatEvs, "plain": plainEvs} {
		ev := <-ch
		if ev.New.Revision != rev || len(ev.Changes) != 1 || ev.Changes[0].Path != `["name"]` {
			t.Errorf("%s: first event at %d: %+v; want the write at %d alone", name, ev.New.Revision, ev.Changes, rev)
		}
		for _, kv := range ev.New.Keys() {
			if kv.Key == etcdconf.HeartbeatKey("/hbs/") {
				t.Errorf("%s: Snapshot.Keys has the heartbeat key", name)
			}
		}
		if _, ok := ev.New.Value[""]; ok || len(ev.New.Value) != 1 {
			t.Errorf("%s: value %v; want name only", name, ev.New.Value)
		}
	}
	ev := <-evs
	if ev.New.Revision != rev || len(ev.Changes) != 1 || ev.New.Value.Name != "new" {
		t.Errorf("strict watcher: first event at %d: %+v; want the write at %d alone", ev.New.Revision, ev.Changes, rev)
	}
	w.Close()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "beater") {
		t.Errorf("the snapshot file holds the heartbeat: %s", b)
	}
}

// A stalled link is detected with heartbeats flowing on other
// connections: only heartbeats on the watcher's own watch prove it.
func TestHeartbeatStalledLink(t *testing.T) {
	srv := etcdtest.Start(t)
	direct := srv.Client(t)
	cli, proxy := proxiedClient(t, srv)
	put(t, direct, "/hbl/a", "1")
	runHeartbeat(t, direct, "/hbl/", etcdconf.HeartbeatEvery(healthEvery/4))
	w := newWatcher[map[string]string](t, cli, "/hbl/", etcdconf.WithHeartbeat(),
		etcdconf.WithProgressInterval(healthEvery), etcdconf.WithBackoff(50*time.Millisecond, 200*time.Millisecond))
	healthy(t, w, 5*healthEvery)

	proxy.Pause()
	paused := time.Now()
	for !w.Status().Stale(time.Now(), 3*healthEvery) || w.Status().Connected {
		if time.Since(paused) > 20*healthEvery {
			t.Fatalf("stalled link not detected in %v while heartbeats flow elsewhere: %+v", time.Since(paused), w.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("stalled link detected after %v", time.Since(paused))
	rev := put(t, direct, "/hbl/a", "2")
	proxy.Resume()
	waitFor(t, w, "the write made while the link stalled", func(s *etcdconf.Snapshot[map[string]string]) bool {
		return s.Revision >= rev && s.Value["a"] == "2"
	})
	for deadline := time.Now().Add(10 * time.Second); !w.Status().Connected; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not connected after the link came back: %+v", w.Status())
		}
	}
}

// When the writer stops, the watchers fall back to reads, each after a
// random delay, and stay connected.
func TestHeartbeatStopsFallbackJitter(t *testing.T) {
	srv := etcdtest.Start(t)
	direct := srv.Client(t)
	gp := etcdtest.StartGRPCProxy(t, srv.Endpoints())
	put(t, direct, "/hbj/a", "1")
	const every = 400 * time.Millisecond
	stop := runHeartbeat(t, direct, "/hbj/", etcdconf.HeartbeatEvery(every/4))
	const n = 8
	ws := make([]*etcdconf.Watcher[map[string]string], n)
	for i := range ws {
		ws[i] = newWatcher[map[string]string](t, gp.Client(t), "/hbj/", etcdconf.WithHeartbeat(), etcdconf.WithProgressInterval(every))
	}
	time.Sleep(3 * every)
	for i, w := range ws {
		if p := w.Status().Probes; p != 0 {
			t.Fatalf("watcher %d made %d reads while heartbeats flowed", i, p)
		}
	}

	stop()
	stopped := time.Now()
	first := make([]time.Duration, n)
	for end := stopped.Add(8 * every); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
		for i, w := range ws {
			st := w.Status()
			if first[i] == 0 && st.Probes > 0 {
				first[i] = time.Since(stopped)
			}
			if !st.Connected || st.Reloads != 0 || st.Err != nil || st.Stale(time.Now(), 3*every) {
				t.Fatalf("watcher %d after the heartbeat stopped: %+v", i, st)
			}
		}
	}
	lo, hi := first[0], first[0]
	for i, d := range first {
		if d == 0 || d > 3*every {
			t.Fatalf("watcher %d: first read %v after the heartbeat stopped; want within 3 intervals", i, d)
		}
		lo, hi = min(lo, d), max(hi, d)
	}
	t.Logf("first fallback reads %v after the heartbeat stopped, spread %v", first, hi-lo)
	if hi-lo < every/20 {
		t.Errorf("first fallback reads within %v of each other: %v; want them spread over the interval", hi-lo, first)
	}
}

// Of several elected writers one writes; when it resigns or vanishes,
// another takes over.
func TestHeartbeatElection(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	const ttl = time.Second
	writer := func(name string) (*clientv3.Client, func()) {
		c, err := srv.NewClient()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, runHeartbeat(t, c, "/hbe/", etcdconf.HeartbeatEvery(50*time.Millisecond),
			etcdconf.HeartbeatName(name), etcdconf.HeartbeatElect("", ttl))
	}
	writing := func(name string, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for !strings.HasPrefix(heartbeatValue(t, cli, "/hbe/"), name+" ") {
			if time.Since(start) > within {
				t.Fatalf("%s not writing the heartbeat after %v: %q", name, within, heartbeatValue(t, cli, "/hbe/"))
			}
			time.Sleep(10 * time.Millisecond)
		}
		return time.Since(start)
	}
	_, stopA := writer("a")
	writing("a", 5*time.Second)
	clients := map[string]*clientv3.Client{}
	clients["b"], _ = writer("b")
	clients["c"], _ = writer("c")
	for range 10 { // only the leader writes
		time.Sleep(30 * time.Millisecond)
		if v := heartbeatValue(t, cli, "/hbe/"); !strings.HasPrefix(v, "a ") {
			t.Fatalf("heartbeat %q while a leads", v)
		}
	}

	stopA() // resigns: the next candidate, b or c, takes over at once
	start := time.Now()
	var next string
	for next == "" {
		if v := heartbeatValue(t, cli, "/hbe/"); strings.HasPrefix(v, "b ") || strings.HasPrefix(v, "c ") {
			next = v[:1]
		} else if time.Since(start) > 2*time.Second {
			t.Fatalf("no takeover 2s after a resigned: %q", v)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("%s took over %v after a resigned", next, time.Since(start))

	// The new leader vanishes without resigning (its client closes, as
	// when its process dies): the last takes over once its lease expires.
	last := "c"
	if next == "c" {
		last = "b"
	}
	clients[next].Close()
	d := writing(last, 2*ttl+2*time.Second)
	t.Logf("%s took over %v after the leader vanished", last, d)
}

// Heartbeat and WithHeartbeat refuse what cannot work.
func TestHeartbeatArguments(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	for _, prefix := range []string{"", "\xff"} {
		if err := etcdconf.Heartbeat(t.Context(), cli, prefix); err == nil {
			t.Errorf("Heartbeat(%q): no error", prefix)
		}
	}
	if err := etcdconf.Heartbeat(t.Context(), cli, "/x/", etcdconf.HeartbeatEvery(0)); err == nil {
		t.Error("HeartbeatEvery(0): no error")
	}
	for _, meta := range []string{"/x/meta/", "/_etcdconf"} {
		if err := etcdconf.Heartbeat(t.Context(), cli, "/x/", etcdconf.HeartbeatElect(meta, 0)); err == nil {
			t.Errorf("HeartbeatElect(%q): no error", meta)
		}
	}
	if _, err := etcdconf.New[map[string]string](t.Context(), cli, "\xff", etcdconf.WithHeartbeat()); err == nil {
		t.Error("New with WithHeartbeat on a prefix with no range end: no error")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := etcdconf.Heartbeat(ctx, cli, "/x/", etcdconf.HeartbeatEvery(20*time.Millisecond)); err != nil {
		t.Errorf("Heartbeat until ctx ends: %v", err)
	}
}

// A prefix that does not end in "/" is refused by the writer and by
// WithHeartbeat: its heartbeat key is a sibling key, another application's
// single key here, which every heartbeat would overwrite.
func TestHeartbeatPrefixWithoutSlash(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/cfg/app1", "name: one", "/cfg/app2", "name: two", "/cfg/a.yaml", "name: a")
	other := newWatcher[map[string]string](t, cli, "/cfg/")
	for _, prefix := range []string{"/cfg/app1", "/cfg/a.yaml", "app"} {
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		err := etcdconf.Heartbeat(ctx, cli, prefix, etcdconf.HeartbeatEvery(20*time.Millisecond))
		cancel()
		if err == nil || !strings.Contains(err.Error(), strconv.Quote(prefix)) || !strings.Contains(err.Error(), `does not end in "/"`) {
			t.Errorf("Heartbeat(%q): %v; want an error naming the prefix", prefix, err)
		}
		w, err := etcdconf.New[map[string]string](t.Context(), cli, prefix, etcdconf.WithHeartbeat())
		if err == nil {
			w.Close()
		}
		if err == nil || !strings.Contains(err.Error(), strconv.Quote(prefix)) || !strings.Contains(err.Error(), "WithHeartbeat") {
			t.Errorf("New(%q, WithHeartbeat()): %v; want an error naming the prefix", prefix, err)
		}
		if _, err := etcdconf.Load[map[string]string](t.Context(), cli, prefix, etcdconf.WithHeartbeat()); err == nil {
			t.Errorf("Load(%q, WithHeartbeat()): no error, unlike New", prefix)
		}
	}
	if got := heartbeatValue(t, cli, "/cfg/app1"); got != "name: two" {
		t.Errorf("/cfg/app2 = %q: the heartbeat of /cfg/app1 overwrote it", got)
	}
	if got := other.Current().Value; len(got) != 3 || got["app2"] != "name: two" {
		t.Errorf("a watcher of /cfg/ sees %v", got)
	}
}

// The roles the README asks for suffice: watchers read the prefix and the
// heartbeat key (two grants), the writer writes the heartbeat key only.
func TestHeartbeatPermissions(t *testing.T) {
	srv := etcdtest.Start(t, etcdtest.WithAuth("rootpw"))
	ctx := context.Background()
	root := srv.Client(t)
	put(t, root, "/hba/a", "1")
	if err := srv.AddUser(ctx, "app", "apppw", "/hba/", true); err != nil {
		t.Fatal(err)
	}
	if _, err := root.RoleGrantPermission(ctx, "app-role", "/hba0", "", clientv3.PermissionType(clientv3.PermRead)); err != nil {
		t.Fatal(err)
	}
	if _, err := root.RoleAdd(ctx, "beat-role"); err != nil {
		t.Fatal(err)
	}
	if _, err := root.RoleGrantPermission(ctx, "beat-role", "/hba0", "", clientv3.PermissionType(clientv3.PermWrite)); err != nil {
		t.Fatal(err)
	}
	if _, err := root.UserAdd(ctx, "beat", "beatpw"); err != nil {
		t.Fatal(err)
	}
	if _, err := root.UserGrantRole(ctx, "beat", "beat-role"); err != nil {
		t.Fatal(err)
	}
	client := func(user, password string) *clientv3.Client {
		c, err := etcdconf.ClientConfig{Endpoints: srv.Endpoints(), Username: user, Password: password}.Client()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	app, beat := client("app", "apppw"), client("beat", "beatpw")

	// Without the grant on the heartbeat key, New says so.
	if err := srv.AddUser(ctx, "nohb", "nohbpw", "/hba/", true); err != nil {
		t.Fatal(err)
	}
	_, err := etcdconf.New[map[string]string](ctx, client("nohb", "nohbpw"), "/hba/", etcdconf.WithHeartbeat())
	if !errors.Is(err, etcdconf.ErrPermission) || !strings.Contains(err.Error(), `"/hba0"`) {
		t.Errorf("New WithHeartbeat without read on the heartbeat key: %v; want ErrPermission naming it", err)
	}

	if err := etcdconf.Heartbeat(ctx, app, "/hba/"); !errors.Is(err, etcdconf.ErrPermission) {
		t.Errorf("Heartbeat by a read-only user: %v, want ErrPermission", err)
	}
	runHeartbeat(t, beat, "/hba/", etcdconf.HeartbeatEvery(healthEvery/4))
	w := newWatcher[map[string]string](t, app, "/hba/", etcdconf.WithHeartbeat(), etcdconf.WithProgressInterval(healthEvery))
	healthy(t, w, 10*healthEvery)
	if p := w.Status().Probes; p != 0 {
		t.Errorf("%d reads with the heartbeat flowing", p)
	}
	rev := put(t, root, "/hba/a", "2")
	waitFor(t, w, "a write", func(s *etcdconf.Snapshot[map[string]string]) bool { return s.Revision == rev })
}

// Without an etcd leader no heartbeat can be written: a watcher behind a
// grpc-proxy (which passes no WithRequireLeader on) still notices within
// a few intervals, and goes back to heartbeats once etcd has a leader.
func TestHeartbeatLeaderLossThroughGRPCProxy(t *testing.T) {
	c := etcdtest.StartCluster(t, 3)
	ms := c.Members()
	direct := c.Client(t)
	gp := etcdtest.StartGRPCProxy(t, ms[0].Endpoints())
	put(t, direct, "/hbq/a", "1")
	runHeartbeat(t, direct, "/hbq/", etcdconf.HeartbeatEvery(50*time.Millisecond))
	w := newWatcher[map[string]string](t, gp.Client(t), "/hbq/", append([]etcdconf.Option{etcdconf.WithHeartbeat()}, fastRecovery...)...)
	time.Sleep(time.Second)
	if st := w.Status(); st.Probes != 0 || !st.Connected {
		t.Fatalf("before the fault: %+v; want connected by heartbeats alone", st)
	}

	lost := time.Now()
	must(t, ms[1].Stop())
	must(t, ms[2].Stop())
	t.Logf("quorum lost in %v", time.Since(lost))
	for w.Status().Connected {
		if time.Since(lost) > 10*time.Second {
			t.Fatalf("still connected 10s after quorum loss: %+v", w.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("leader loss noticed %v after the first Stop (progress interval 200ms)", time.Since(lost))
	must(t, ms[1].Restart())
	must(t, ms[2].Restart())
	put(t, direct, "/hbq/a", "2")
	converged(t, w, direct, "/hbq/")
	waitConnected(t, w)
	time.Sleep(time.Second) // the writer retries; heartbeats flow again
	probes := w.Status().Probes
	time.Sleep(time.Second)
	if st := w.Status(); st.Probes != probes || !st.Connected {
		t.Errorf("after recovery: %+v, %d reads before the last second; want heartbeats to prove it again", st, probes)
	}
}
