package etcdconf_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The fault suite runs a watcher against a 3-member cluster while writers
// change the prefix and faults hit the cluster and the watcher's links,
// and checks every snapshot the watcher publishes:
//
//   - revisions strictly increase (none is published twice);
//   - each snapshot equals etcd's state at its revision (a Get at that
//     revision, made before any compaction can remove it);
//   - after the faults, the snapshot equals a linearizable Get within 10s;
//   - goroutines return to the baseline after Close.
//
// ETCDCONF_SOAK=10m runs the faults for that long instead of the bounded
// run's 50 faults.

const faultPrefix = "/fault/"

type faultRun struct {
	t       *testing.T
	cluster *etcdtest.Cluster
	proxies []*etcdtest.Proxy
	direct  *clientv3.Client // writers and the checker: every member, no proxy
	// members, when set, are one client per member, which the writer and
	// the checker use in turn instead of direct, moving on when a call
	// fails: a paused member holds its connections open, so a client of
	// every member can wait on it fault after fault and write nothing.
	members []*clientv3.Client
	turn    atomic.Int64

	mu       sync.Mutex         // guards verified and acked
	verified int64              // highest snapshot revision checked against etcd
	acked    map[string]ackedAt // key -> the acknowledged write with the highest revision
	// uncertain holds writes that returned an error: etcd may still have
	// applied them, even after later acknowledged writes (a paused leader
	// commits the request it held when it resumes).
	uncertain map[string][]ackOp

	faults, snapshots, checked, nonmonotonic, mismatched atomic.Int64
	writes, failedWrites                                 atomic.Int64 // acknowledged, and failed (outcome unknown)

	gp      *etcdtest.GRPCProxy // the watcher's grpc-proxy, in the run through one
	windows []window            // when faults were in force; guarded by mu
	reloads reloadClock         // when the watcher reloaded
	slowest convergence         // guarded by mu
	// faultFrom is when the fault converge follows began; guarded by mu.
	faultFrom time.Time
}

// A window is a stretch of time in which a fault, or its healing, may
// have made the watcher reload.
type window struct{ from, to time.Time }

// faultGrace is how long after a fault heals a reload is still its doing:
// three progress intervals to notice a silent watch, the longest backoff,
// and a load that times out.
const faultGrace = 3*250*time.Millisecond + 500*time.Millisecond + 2*time.Second

// reloadClock notes when reloads happen, through an [etcdconf.Observer],
// and keeps a timed log of the watcher's recovery steps (lost watches and
// the backoff chosen, reloads, connectivity), from which converge names
// the phases of the slowest convergence.
type reloadClock struct {
	mu     sync.Mutex
	times  []time.Time
	events []watchEvent
}

// A watchEvent is one step of the watcher's recovery, as its Observer saw it.
type watchEvent struct {
	at   time.Time
	what string
}

func (c *reloadClock) note(what string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, watchEvent{time.Now(), what})
}

func (c *reloadClock) observer() etcdconf.Option {
	return etcdconf.WithObserver(etcdconf.Observer{
		Reloaded: func(rev int64) {
			c.mu.Lock()
			defer c.mu.Unlock()
			now := time.Now()
			c.times = append(c.times, now)
			c.events = append(c.events, watchEvent{now, fmt.Sprintf("reloaded at %d", rev)})
		},
		Retrying: func(err error, delay time.Duration) {
			msg := err.Error()
			if len(msg) > 90 {
				msg = msg[:90] + "…"
			}
			c.note(fmt.Sprintf("backoff %dms after %q", delay.Milliseconds(), msg))
		},
		Connectivity: func(cn etcdconf.Connectivity) { c.note(fmt.Sprint(cn)) },
	})
}

// phases returns the recovery steps logged from from to to, with their
// times relative to heal (negative: while the fault was in force).
func (c *reloadClock) phases(from, heal, to time.Time) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var steps []string
	for _, e := range c.events {
		if !e.at.Before(from) && !e.at.After(to) {
			steps = append(steps, fmt.Sprintf("%+dms %s", e.at.Sub(heal).Milliseconds(), e.what))
		}
	}
	if len(steps) > 16 {
		steps = append(steps[:4:4], append([]string{"…"}, steps[len(steps)-11:]...)...)
	}
	if len(steps) == 0 {
		return "no recovery step"
	}
	return strings.Join(steps, "; ")
}

// unexplained counts reloads outside every fault's window: a healthy
// watcher reloads only to recover from a fault.
func (r *faultRun) unexplained() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reloads.mu.Lock()
	defer r.reloads.mu.Unlock()
	n := 0
	for _, at := range r.reloads.times {
		if !slices.ContainsFunc(r.windows, func(w window) bool { return !at.Before(w.from) && !at.After(w.to.Add(faultGrace)) }) {
			r.t.Logf("reload at %s with no fault in force", at.Format("15:04:05.000"))
			n++
		}
	}
	return n
}

// ackOp is an acknowledged write to one key.
type ackOp struct {
	key, value string
	deleted    bool
}

// ack records writes acknowledged at rev, keeping per key the latest.
func (r *faultRun) ack(rev int64, ops ...ackOp) {
	r.writes.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, op := range ops {
		if r.acked[op.key].rev < rev {
			r.acked[op.key] = ackedAt{op, rev}
		}
	}
}

type ackedAt struct {
	ackOp
	rev int64
}

// unsure records writes whose outcome is unknown.
func (r *faultRun) unsure(ops ...ackOp) {
	r.failedWrites.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, op := range ops {
		r.uncertain[op.key] = append(r.uncertain[op.key], op)
	}
}

// lost counts acknowledged writes that the final snapshot does not show,
// unless a write of unknown outcome to the same key explains it.
func (r *faultRun) lost(final map[string]string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for key, op := range r.acked {
		v, ok := final[strings.TrimPrefix(key, faultPrefix)]
		shows := func(op ackOp) bool { return op.deleted && !ok || !op.deleted && ok && v == op.value }
		if shows(op.ackOp) || slices.ContainsFunc(r.uncertain[key], shows) {
			continue
		}
		n++
	}
	return n
}

func TestFaultSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("fault suite skipped in -short mode")
	}
	runFaultSuite(t, "fault-suite", false)
}

// TestFaultSuiteGRPCProxy runs the fault suite with the watcher behind
// etcd's grpc-proxy, which answers no progress request and passes no
// WithRequireLeader on, and adds killing and restarting the proxy.
func TestFaultSuiteGRPCProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("fault suite skipped in -short mode")
	}
	runFaultSuite(t, "fault-suite-grpc-proxy", true)
}

func runFaultSuite(t *testing.T, name string, viaGRPCProxy bool) {
	soak := time.Duration(0)
	if s := os.Getenv("ETCDCONF_SOAK"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("ETCDCONF_SOAK=%q: %v", s, err)
		}
		soak = d
	}
	baseline := runtime.NumGoroutine()
	r := &faultRun{t: t, cluster: etcdtest.StartCluster(t, 3), acked: map[string]ackedAt{}, uncertain: map[string][]ackOp{}}
	r.direct = r.cluster.Client(t)
	var eps []string
	for _, m := range r.cluster.Members() {
		p, err := etcdtest.NewProxy(m.Endpoints()[0])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		r.proxies = append(r.proxies, p)
		eps = append(eps, p.Addr())
	}
	if viaGRPCProxy {
		r.gp = etcdtest.StartGRPCProxy(t, eps)
		eps = r.gp.Endpoints()
	}
	wcli, err := clientv3.New(clientv3.Config{
		Endpoints: eps, DialTimeout: 2 * time.Second,
		DialKeepAliveTime: time.Second, DialKeepAliveTimeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer wcli.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := etcdconf.New[map[string]string](ctx, wcli, faultPrefix,
		etcdconf.WithBackoff(20*time.Millisecond, 500*time.Millisecond),
		etcdconf.WithProgressInterval(250*time.Millisecond),
		etcdconf.WithLoadTimeout(2*time.Second),
		r.reloads.observer())
	if err != nil {
		t.Fatal(err)
	}
	var checkers sync.WaitGroup
	checkers.Add(2)
	go func() {
		defer checkers.Done()
		r.check(ctx, w.Subscribe(ctx))
	}()
	go func() { // a slow subscriber: merged updates, never a step back
		defer checkers.Done()
		var last *etcdconf.Snapshot[map[string]string]
		for u := range w.Subscribe(ctx) {
			if last != nil && (u.Old != last || u.New.Revision <= last.Revision) {
				t.Errorf("slow subscriber: update from revision %d after %d, to %d", u.Old.Revision, last.Revision, u.New.Revision)
			}
			last = u.New
			time.Sleep(50 * time.Millisecond)
		}
	}()

	var pause sync.RWMutex // writers hold it shared; convergence checks take it
	stopWriters := make(chan struct{})
	var writers sync.WaitGroup
	for i := range 2 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			r.write(i, stopWriters, &pause)
		}()
	}

	deadline := time.Now().Add(soak)
	for n := 0; soak > 0 && time.Now().Before(deadline) || soak == 0 && n < 50; n++ {
		from := time.Now()
		r.mu.Lock()
		r.faultFrom = from
		r.mu.Unlock()
		if r.inject(n) {
			r.mu.Lock()
			r.windows = append(r.windows, window{from, time.Now()})
			r.mu.Unlock()
		}
		r.faults.Add(1)
		if n%10 == 9 {
			pause.Lock()
			r.converge(w, faultNames[n%7])
			pause.Unlock()
		}
	}
	close(stopWriters)
	writers.Wait()
	r.converge(w, "the end of the writes")
	// A quiet phase: no write anywhere in etcd and no fault for ten progress
	// intervals, after the last fault's grace. The watcher must stay
	// connected and current throughout, and reload not once.
	time.Sleep(faultGrace)
	for end := time.Now().Add(10 * 250 * time.Millisecond); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if st := w.Status(); !st.Connected || st.Stale(time.Now(), time.Second) {
			t.Errorf("quiet phase: watcher not connected and current: %+v", st)
			break
		}
	}
	lost := r.lost(w.Current().Value)
	if err := w.Close(); err != nil { // closes the subscription the checker reads
		t.Fatal(err)
	}
	checkers.Wait()
	cancel()

	wcli.Close()
	var goroutines int
	for range 100 { // clients and servers wind down asynchronously
		if goroutines = runtime.NumGoroutine(); goroutines <= baseline+goroutineSlack {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.verdict(name, lost)
	if r.faults.Load() < 50 || r.snapshots.Load() < 50 {
		t.Fatalf("too little happened to judge: %d faults, %d snapshots", r.faults.Load(), r.snapshots.Load())
	}
	if goroutines > baseline+goroutineSlack {
		t.Fatalf("%d goroutines after Close, baseline %d", goroutines, baseline)
	}
}

// verdict prints the run's summary line and fails the test on any
// violation of the watch semantics.
func (r *faultRun) verdict(name string, lost int) {
	unexplained := r.unexplained()
	r.mu.Lock()
	slowest := r.slowest
	r.mu.Unlock()
	r.reloads.mu.Lock()
	reloads := len(r.reloads.times)
	r.reloads.mu.Unlock()
	summary := fmt.Sprintf("%s: faults=%d snapshots=%d verified=%d lost=%d nonmonotonic=%d mismatched=%d converge_max_ms=%d reloads=%d reloads_unexplained=%d",
		name, r.faults.Load(), r.snapshots.Load(), r.checked.Load(), lost, r.nonmonotonic.Load(), r.mismatched.Load(), slowest.took.Milliseconds(),
		reloads, unexplained)
	summary += fmt.Sprintf("\n  writes acknowledged=%d failed=%d; slowest convergence: %v", r.writes.Load(), r.failedWrites.Load(), slowest)
	summary += "\n  its phases (ms from the heal): " + slowest.phases
	r.t.Log(summary)
	if path := os.Getenv("ETCDCONF_FAULT_SUMMARY"); path != "" { // CI prints them after the run
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintln(f, summary)
			f.Close()
		}
	}
	if lost != 0 || r.nonmonotonic.Load() != 0 || r.mismatched.Load() != 0 || r.checked.Load() != r.snapshots.Load() || unexplained != 0 {
		r.t.Fatal("watch semantics violated")
	}
}

// goroutineSlack allows for the cluster's own goroutines, which the test's
// cleanup stops after this check; goleak in TestMain checks the rest.
const goroutineSlack = 400

// write changes the prefix until stop: puts, deletes, multi-key
// transactions, and writes outside the prefix that the watcher must ignore.
// client returns the client to write and check through: direct, or the
// member client whose turn it is (see faultRun.members).
func (r *faultRun) client() *clientv3.Client {
	if len(r.members) == 0 {
		return r.direct
	}
	return r.members[r.turn.Load()%int64(len(r.members))]
}

// failed moves the turn past cli, if it still has it.
func (r *faultRun) failed(cli *clientv3.Client) {
	if n := int64(len(r.members)); n > 0 {
		t := r.turn.Load()
		if r.members[t%n] == cli {
			r.turn.CompareAndSwap(t, t+1)
		}
	}
}

func (r *faultRun) write(id int, stop <-chan struct{}, pause *sync.RWMutex) {
	rng := rand.New(rand.NewPCG(uint64(id), 42))
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		pause.RLock()
		cli := r.client()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		key := faultPrefix + "k" + strconv.Itoa(rng.IntN(20))
		val := fmt.Sprintf("w%d-%d", id, i)
		switch rng.IntN(5) {
		case 0:
			if resp, err := cli.Delete(ctx, key); err == nil {
				r.ack(resp.Header.Revision, ackOp{key: key, deleted: true})
			} else {
				r.unsure(ackOp{key: key, deleted: true})
				r.failed(cli)
			}
		case 1:
			other, gone := faultPrefix+"t"+strconv.Itoa(rng.IntN(5)), faultPrefix+"k"+strconv.Itoa(rng.IntN(20))
			if gone == key {
				break
			}
			resp, err := cli.Txn(ctx).Then(
				clientv3.OpPut(key, val), clientv3.OpPut(other, val), clientv3.OpDelete(gone),
			).Commit()
			ops := []ackOp{{key: key, value: val}, {key: other, value: val}, {key: gone, deleted: true}}
			if err == nil {
				r.ack(resp.Header.Revision, ops...)
			} else {
				r.unsure(ops...)
				r.failed(cli)
			}
		case 2:
			if _, err := cli.Put(ctx, "/outside"+key, val); err != nil {
				r.failed(cli)
			}
		default:
			if resp, err := cli.Put(ctx, key, val); err == nil {
				r.ack(resp.Header.Revision, ackOp{key: key, value: val})
			} else {
				r.unsure(ackOp{key: key, value: val})
				r.failed(cli)
			}
		}
		cancel()
		pause.RUnlock()
		time.Sleep(time.Duration(rng.IntN(5)) * time.Millisecond)
	}
}

// check verifies every update the subscriber receives against etcd.
func (r *faultRun) check(ctx context.Context, updates <-chan etcdconf.Event[map[string]string]) {
	var last int64
	for u := range updates {
		r.snapshots.Add(1)
		s := u.New
		if s.Revision <= last {
			r.nonmonotonic.Add(1)
			r.t.Errorf("snapshot revision %d after %d", s.Revision, last)
		}
		last = s.Revision
		var resp *clientv3.GetResponse
		var err error
		for range 50 { // etcd may be mid-fault: retry until it answers
			gctx, cancel := context.WithTimeout(ctx, time.Second)
			cli := r.client()
			resp, err = cli.Get(gctx, faultPrefix, clientv3.WithPrefix(), clientv3.WithRev(s.Revision))
			cancel()
			if err != nil {
				r.failed(cli)
			}
			if err == nil || ctx.Err() != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			r.t.Errorf("verify revision %d: %v", s.Revision, err)
			continue
		}
		if diff := compareState(s.Value, resp.Kvs); diff != "" {
			r.mismatched.Add(1)
			r.t.Errorf("snapshot at revision %d differs from etcd: %s", s.Revision, diff)
		}
		r.checked.Add(1)
		r.mu.Lock()
		r.verified = s.Revision
		r.mu.Unlock()
	}
}

func compareState(got map[string]string, kvs []*mvccpb.KeyValue) string {
	if len(got) != len(kvs) {
		return fmt.Sprintf("%d keys, etcd has %d", len(got), len(kvs))
	}
	for _, kv := range kvs {
		k := string(kv.Key)[len(faultPrefix):]
		if got[k] != string(kv.Value) {
			return fmt.Sprintf("%s = %q, etcd has %q", k, got[k], kv.Value)
		}
	}
	return ""
}

// converge waits until the watcher equals a linearizable read and returns
// how long that took, after fault (the one that healed last). The slowest
// convergence of the run is kept with its phases, for the summary.
func (r *faultRun) converge(w *etcdconf.Watcher[map[string]string], fault string) time.Duration {
	start := time.Now()
	st0 := w.Status()
	reloads := st0.Reloads
	r.mu.Lock()
	from := r.faultFrom
	r.faultFrom = time.Time{} // a later convergence with no fault between is measured from its start
	r.mu.Unlock()
	if from.IsZero() {
		from = start
	}
	var etcdUp time.Duration = -1 // until a linearizable read first succeeds
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		cli := r.client()
		resp, err := cli.Get(ctx, faultPrefix, clientv3.WithPrefix())
		cancel()
		if err != nil {
			r.failed(cli)
		} else if etcdUp < 0 {
			etcdUp = time.Since(start)
		}
		if err == nil && compareState(w.Current().Value, resp.Kvs) == "" {
			end := time.Now()
			took := end.Sub(start)
			st := w.Status()
			phases := fmt.Sprintf("at the heal connected=%v; ", st0.Connected) + r.reloads.phases(from, start, end)
			r.mu.Lock()
			if took > r.slowest.took {
				r.slowest = convergence{took: took, fault: fault, etcdUp: etcdUp, reloads: st.Reloads - reloads, phases: phases}
			}
			r.mu.Unlock()
			return took
		}
		if time.Since(start) > 10*time.Second {
			r.t.Fatalf("no convergence within 10s after %s: status %+v, err %v", fault, w.Status(), err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A convergence is how long the watcher took to equal etcd after a fault
// healed, and its phases: when etcd first answered a linearizable read,
// and how many reloads the watcher made meanwhile.
type convergence struct {
	took, etcdUp time.Duration
	fault        string
	reloads      int64
	phases       string // the watcher's recovery steps, from the fault to convergence
}

func (c convergence) String() string {
	return fmt.Sprintf("%dms after %q (etcd answered after %dms; %d reloads meanwhile)",
		c.took.Milliseconds(), c.fault, c.etcdUp.Milliseconds(), c.reloads)
}

// faultNames names inject's faults, by n%7.
var faultNames = [...]string{
	"restart a member", "stall a watcher link", "reset every watcher link", "compact and defragment",
	"leader loss", "cut off, compact, reconnect", "kill and restart the grpc-proxy",
}

// inject runs fault n, healing it before returning. It reports false
// when step n was no fault at all.
func (r *faultRun) inject(n int) bool {
	t := r.t
	ms := r.cluster.Members()
	pick := n / 7 % len(ms)
	switch n % 7 {
	case 0: // restart a member (the leader every third time round)
		m := ms[pick]
		if n%3 == 0 {
			m = r.leader()
		}
		must(t, m.Stop())
		time.Sleep(200 * time.Millisecond)
		must(t, m.Restart())
	case 1: // stall the watcher's link to one member
		r.proxies[pick].Pause()
		time.Sleep(time.Second)
		r.proxies[pick].Resume()
	case 2: // reset every watcher link
		for _, p := range r.proxies {
			p.Reset()
		}
	case 3: // compact what has been verified, physically, and defragment
		r.mu.Lock()
		rev := r.verified
		r.mu.Unlock()
		if rev > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			r.direct.Compact(ctx, rev, clientv3.WithCompactPhysical())
			for _, m := range ms {
				r.direct.Defragment(ctx, m.Endpoints()[0])
			}
			cancel()
		}
	case 4: // leader loss: stop two members, so the third has no quorum
		a, b := ms[pick], ms[(pick+1)%len(ms)]
		must(t, a.Stop())
		must(t, b.Stop())
		time.Sleep(500 * time.Millisecond)
		must(t, a.Restart())
		must(t, b.Restart())
	case 5: // cut the watcher off, compact behind its back, reconnect
		for _, p := range r.proxies {
			p.Pause()
		}
		time.Sleep(300 * time.Millisecond)
		r.mu.Lock()
		rev := r.verified
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if rev > 0 {
			r.direct.Compact(ctx, rev, clientv3.WithCompactPhysical())
		}
		cancel()
		for _, p := range r.proxies {
			p.Reset()
			p.Resume()
		}
	case 6: // kill and restart the grpc-proxy, or a quiet moment without one
		if r.gp == nil {
			time.Sleep(100 * time.Millisecond)
			return false
		}
		r.gp.Kill()
		time.Sleep(200 * time.Millisecond)
		must(t, r.gp.Restart())
	}
	return true
}

func (r *faultRun) leader() *etcdtest.Server {
	for range 50 {
		for _, m := range r.cluster.Members() {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			st, err := r.direct.Status(ctx, m.Endpoints()[0])
			cancel()
			if err == nil && st.Leader == st.Header.MemberId {
				return m
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.t.Fatal("no leader")
	return nil
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestFaultWatcherChurn creates and closes 100 watchers with subscribers
// while the prefix changes: goroutines must return to the baseline and
// the heap must not grow with the number of watchers created.
func TestFaultWatcherChurn(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	ctx := context.Background()
	for i := range 100 {
		put(t, cli, fmt.Sprintf("/churn/k%d", i), strings.Repeat("v", 100))
	}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	baseline, heap0 := runtime.NumGoroutine(), heap()
	for round := range 100 {
		w, err := etcdconf.New[map[string]string](ctx, cli, "/churn/")
		if err != nil {
			t.Fatal(err)
		}
		sctx, cancel := context.WithCancel(ctx)
		updates := w.Subscribe(sctx)
		rev := put(t, cli, fmt.Sprintf("/churn/k%d", round), strconv.Itoa(round))
		for u := range updates {
			if u.New.Revision >= rev {
				break
			}
		}
		if round%2 == 0 {
			cancel() // half end their subscription first, half leave it to Close
		}
		w.Close()
		cancel()
	}
	var goroutines int
	for range 100 {
		if goroutines = runtime.NumGoroutine(); goroutines <= baseline+5 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if goroutines > baseline+5 {
		t.Fatalf("%d goroutines after 100 watchers closed, baseline %d", goroutines, baseline)
	}
	// 100 watchers each held a snapshot of 100 keys; none may be retained.
	if grown := int64(heap()) - int64(heap0); grown > 4<<20 {
		t.Fatalf("heap grew by %d bytes over 100 closed watchers", grown)
	}

	// 100 open at once: each costs its snapshot and a few goroutines,
	// bounded here at 256 KiB for 100 keys of 100 bytes (the keys alone are
	// about 20 KiB per watcher, held twice: raw and decoded).
	heap0 = heap()
	var open []*etcdconf.Watcher[map[string]string]
	for range 100 {
		w, err := etcdconf.New[map[string]string](ctx, cli, "/churn/")
		if err != nil {
			t.Fatal(err)
		}
		w.Subscribe(ctx)
		open = append(open, w)
	}
	perWatcher := (int64(heap()) - int64(heap0)) / 100
	for _, w := range open {
		w.Close()
	}
	t.Logf("100 open watchers: %d bytes each", perWatcher)
	if perWatcher > 256<<10 {
		t.Fatalf("%d bytes per open watcher of 100 keys", perWatcher)
	}
}
