// Command etcdconf-bench measures etcdconf against the floor: a
// hand-written clientv3 load and watch applying events to a map, on the
// same etcd, in the same run. etcd runs in a child process, so its CPU is
// not counted. Figures are medians over alternating runs; ratios are
// etcdconf / raw. Two kinds of row compare otherwise: the growth of a
// one-key change from 1k to 100k keys (100 puts at 100k), which compares
// each column with itself, and WithInitial's first update, which has no
// raw equivalent and is held to an absolute target.
//
//	go run ./internal/cmd/etcdconf-bench            # the full run (about a minute on 2 cores)
//	go run ./internal/cmd/etcdconf-bench -quick     # small sizes, one run
//	go run ./internal/cmd/etcdconf-bench -scaleout 1000   # 1000 instances, direct and through a grpc-proxy
//	go run ./internal/cmd/etcdconf-bench -scaleout 1000 -heartbeat   # liveness's cost to etcd through the proxy, without and with WithHeartbeat
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
	"github.com/etcdconf/etcdconf/internal/wide"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

const childEnv = "ETCDCONF_BENCH_SERVER"

// sizes are the workloads' dimensions.
type sizes struct {
	keys, latencyPuts, burstPuts, writers, loadKeys, wideChanges, runs int
	// bigPuts is the number of one-key changes timed at loadKeys keys.
	bigPuts int
	// regEntries is the number of map[string]Struct entries (two keys
	// each) whose WithInitial first update is timed.
	regEntries int
}

func main() {
	if serveChild() {
		return
	}
	quick := flag.Bool("quick", false, "small sizes and one run, for a smoke test")
	runs := flag.Int("runs", 5, "alternating runs per figure (medians are reported)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the etcdconf runs to this file")
	scale := flag.Bool("scale", false, "instead: how cost grows with keys (1k-100k) and subscribers (1-100)")
	scaleout := flag.Int("scaleout", 0, "instead: this many instances against one etcd, direct and through one grpc-proxy")
	quiet := flag.Duration("quiet", time.Minute, "with -scaleout: the quiet period with no write anywhere")
	heartbeat := flag.Bool("heartbeat", false, "with -scaleout: through the grpc-proxy only, what liveness costs etcd without and with WithHeartbeat")
	instance := flag.Bool("instance", false, "with -scaleout -heartbeat: also with WithInstance (the fleet view)")
	fleetN := flag.Int("fleet", 0, "instead: what WithInstance costs etcd, with this many instances (quiet, then 10 changes a second, each -quiet long)")
	flag.Parse()
	if *fleetN > 0 {
		if err := fleetCost(os.Stdout, *fleetN, *quiet); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if *scaleout > 0 && *heartbeat {
		if err := scaleOutHeartbeat(os.Stdout, *scaleout, 50, *quiet, *instance); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *scaleout > 0 {
		if err := scaleOut(os.Stdout, *scaleout, 50, *quiet); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *scale {
		if err := scaling(os.Stdout, []int{1000, 10000, 100000}, []int{1, 10, 100}, 100); err != nil {
			log.Fatal(err)
		}
		return
	}
	sz := sizes{keys: 1000, latencyPuts: 500, burstPuts: 10000, writers: 4, loadKeys: 100000, wideChanges: 200, runs: *runs, bigPuts: 100, regEntries: 10000}
	if *quick {
		sz = sizes{keys: 100, latencyPuts: 50, burstPuts: 500, writers: 4, loadKeys: 2000, wideChanges: 20, runs: 1, bigPuts: 20, regEntries: 500}
	}
	if err := bench(os.Stdout, sz, *cpuprofile); err != nil {
		log.Fatal(err)
	}
}

// serveChild serves as etcd or as a grpc-proxy when this executable is the
// benchmark's child, and reports whether it was.
func serveChild() bool {
	if os.Getenv(childEnv) != "" {
		serve()
		return true
	}
	if ep := os.Getenv(proxyEnv); ep != "" {
		serveProxy(ep)
		return true
	}
	return false
}

// serve is the child: an etcd that prints its endpoint and runs until
// stdin closes.
func serve() {
	srv, err := etcdtest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(srv.Endpoints()[0])
	io.Copy(io.Discard, os.Stdin)
	srv.Close()
}

// startEtcd runs the child and returns a client of it and a stop function.
func startEtcd() (*clientv3.Client, func(), error) {
	if os.Getenv(childEnv) != "" {
		return nil, nil, fmt.Errorf("%s is set: the etcd child must serve, not start another", childEnv)
	}
	endpoint, _, stop, err := child(childEnv + "=1")
	if err != nil {
		return nil, nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		MaxCallRecvMsgSize: 1 << 30,
	})
	if err != nil {
		stop()
		return nil, nil, err
	}
	return cli, func() { cli.Close(); stop() }, nil
}

// A follower applies the prefix's changes and reports each applied
// revision; raw and etcdconf implement it.
type follower interface {
	applied() <-chan int64 // revisions as they are applied
	close()
}

// raw is the floor: Get, then Watch from the next revision into a map.
type raw struct {
	cancel context.CancelFunc
	done   chan struct{}
	revs   chan int64
	mu     sync.Mutex
	m      map[string]string
}

func newRaw(cli *clientv3.Client, prefix string) (*raw, error) {
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		cancel()
		return nil, err
	}
	r := &raw{cancel: cancel, done: make(chan struct{}), revs: make(chan int64, 1<<16), m: make(map[string]string, len(resp.Kvs))}
	for _, kv := range resp.Kvs {
		r.m[string(kv.Key)] = string(kv.Value)
	}
	wch := cli.Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
	go func() {
		defer close(r.done)
		for wr := range wch {
			r.mu.Lock()
			for _, ev := range wr.Events {
				if ev.Type == mvccpb.DELETE {
					delete(r.m, string(ev.Kv.Key))
				} else {
					r.m[string(ev.Kv.Key)] = string(ev.Kv.Value)
				}
			}
			r.mu.Unlock()
			if n := len(wr.Events); n > 0 {
				publish(r.revs, wr.Events[n-1].Kv.ModRevision)
			}
		}
	}()
	return r, nil
}

func (r *raw) applied() <-chan int64 { return r.revs }
func (r *raw) close()                { r.cancel(); <-r.done }

// publish reports rev without ever blocking the applier: a full channel
// drops its oldest revision, which waiters skip past anyway.
func publish(ch chan int64, rev int64) {
	for {
		select {
		case ch <- rev:
			return
		default:
			select {
			case <-ch:
			default:
			}
		}
	}
}

// conf follows the prefix with etcdconf: a Watcher and a subscriber.
type conf[T any] struct {
	w      *etcdconf.Watcher[T]
	cancel context.CancelFunc
	done   chan struct{}
	revs   chan int64
}

func newConf[T any](cli *clientv3.Client, prefix string) (*conf[T], error) {
	ctx, cancel := context.WithCancel(context.Background())
	w, err := etcdconf.New[T](ctx, cli, prefix)
	if err != nil {
		cancel()
		return nil, err
	}
	c := &conf[T]{w: w, cancel: cancel, done: make(chan struct{}), revs: make(chan int64, 1<<16)}
	updates := w.Subscribe(ctx)
	go func() {
		defer close(c.done)
		for u := range updates {
			publish(c.revs, u.New.Revision)
		}
	}()
	return c, nil
}

func (c *conf[T]) applied() <-chan int64 { return c.revs }
func (c *conf[T]) close()                { c.cancel(); c.w.Close(); <-c.done }

// waitRev waits until f has applied rev.
func waitRev(f follower, rev int64) error {
	timeout := time.After(60 * time.Second)
	for {
		select {
		case r := <-f.applied():
			if r >= rev {
				return nil
			}
		case <-timeout:
			return fmt.Errorf("revision %d not applied within 60s", rev)
		}
	}
}

// seed writes n keys under prefix in transactions of 128 puts.
func seed(ctx context.Context, cli *clientv3.Client, prefix string, n int, value func(i int) string, keyOf ...func(int) string) error {
	name := key
	if len(keyOf) > 0 {
		name = keyOf[0]
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	sem := make(chan struct{}, 8)
	for start := 0; start < n; start += 128 {
		wg.Add(1)
		sem <- struct{}{}
		go func(start int) {
			defer wg.Done()
			defer func() { <-sem }()
			var ops []clientv3.Op
			for i := start; i < min(start+128, n); i++ {
				ops = append(ops, clientv3.OpPut(prefix+name(i), value(i)))
			}
			if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		}(start)
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func key(i int) string { return fmt.Sprintf("k%06d", i) }

// serial makes every written value new: a put that leaves a value as it
// was changes nothing a subscriber would be told about.
var serial atomic.Int64

func fresh() string { return strconv.FormatInt(serial.Add(1), 10) }

// latency measures a write issued -> follower applied, for each write: a
// put of one key, or with keysPerTxn, a transaction putting that many
// consecutive keys.
func latency(ctx context.Context, cli *clientv3.Client, f follower, prefix string, keys, puts int, keyOf func(int) string, keysPerTxn ...int) ([]time.Duration, error) {
	n := 1
	if len(keysPerTxn) > 0 {
		n = keysPerTxn[0]
	}
	out := make([]time.Duration, 0, puts)
	for i := range puts {
		start := time.Now()
		ops := make([]clientv3.Op, n)
		for j := range ops {
			ops[j] = clientv3.OpPut(prefix+keyOf((i*n+j)%keys), fresh())
		}
		resp, err := cli.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return nil, err
		}
		if err := waitRev(f, resp.Header.Revision); err != nil {
			return nil, err
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

// burst runs puts across writers and returns the time and client CPU from
// the first put until f has applied the last.
func burst(ctx context.Context, cli *clientv3.Client, f follower, prefix string, keys, puts, writers int) (time.Duration, time.Duration, error) {
	cpu0, start := cpuTime(), time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var last int64
	var firstErr error
	for wi := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := wi; i < puts; i += writers {
				resp, err := cli.Put(ctx, prefix+key(i%keys), fresh())
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if err == nil {
					last = max(last, resp.Header.Revision)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, 0, firstErr
	}
	if err := waitRev(f, last); err != nil {
		return 0, 0, err
	}
	return time.Since(start), cpuTime() - cpu0, nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// heapAfter returns the live heap after a GC, keeping v alive until then.
func heapAfter(v any) uint64 {
	// Twice: the first GC moves sync.Pool's contents (gRPC's buffers) to
	// its victim cache, the second frees them, so neither side of a
	// difference counts a pool the other does not.
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(v)
	return ms.HeapAlloc
}

func liveHeap() uint64 { return heapAfter(nil) }

// A row is one figure: raw and etcdconf medians and the target ratio.
type row struct {
	name      string
	unit      string
	raw, conf []float64
	target    float64
	kind      rowKind
}

// A rowKind says what a row's target applies to.
type rowKind int

const (
	vsRaw    rowKind = iota // the ratio etcdconf / raw
	own                     // raw and conf are already ratios, each of its own figures; the target is etcdconf's
	absolute                // etcdconf alone (no raw equivalent), against a target in unit
	info                    // a ratio to know, with no target (what a choice costs)
)

func verdict(x, target float64) string {
	if x > target {
		return "MISSED"
	}
	return "met"
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func percentile(ds []time.Duration, p float64) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[min(len(s)-1, int(float64(len(s))*p))].Microseconds()) / 1000
}

func bench(out io.Writer, sz sizes, cpuprofile string) error {
	cli, stop, err := startEtcd()
	if err != nil {
		return err
	}
	defer stop()
	ctx := context.Background()
	rows := []*row{
		{name: "reload latency p50", unit: "ms", target: 1.2},
		{name: "reload latency p99", unit: "ms", target: 1.5},
		{name: fmt.Sprintf("burst of %d puts by %d writers: time", sz.burstPuts, sz.writers), unit: "ms", target: 1.2},
		{name: "burst: client CPU", unit: "ms", target: 1.5},
		{name: fmt.Sprintf("load %d keys into map[string]string: time", sz.loadKeys), unit: "ms", target: 1.5},
		{name: "load: live heap", unit: "MB", target: 2},
		{name: "1000-field struct, one-key change: p50", unit: "ms", target: 1.5},
		{name: fmt.Sprintf("typed map[string]Entry, %d keys: reload p50", sz.keys), unit: "ms", target: 1.3},
		{name: "typed: reload p99", unit: "ms", target: 1.6},
		{name: fmt.Sprintf("typed: burst of %d puts by %d writers: time", sz.burstPuts/2, sz.writers), unit: "ms", target: 1.3},
		{name: "typed: burst client CPU", unit: "ms", target: 2},
		{name: "3-key transaction: reload p50", unit: "ms", target: 1.3},
		{name: "3-key transaction: reload p99", unit: "ms", target: 1.6},
	}
	typedLoad := &row{name: fmt.Sprintf("typed: load %d keys into map[string]Entry: time", sz.loadKeys), unit: "ms", target: 2}
	typedHeap := &row{name: "typed load: live heap", unit: "MB", target: 2}
	bigMap := &row{name: fmt.Sprintf("one change at %d keys, map[string]string: p50 of %d puts", sz.loadKeys, sz.bigPuts), unit: "ms", target: 1.2}
	bigTyped := &row{name: fmt.Sprintf("typed: one change at %d keys: p50 of %d puts", sz.loadKeys, sz.bigPuts), unit: "ms", target: 1.3}
	// The same with room between changes, as config changes come: the
	// watcher copies its map while it waits (decoder.makeSpares).
	bigSpaced := &row{name: fmt.Sprintf("typed: one change at %d keys, %d puts %v apart: p50", sz.loadKeys, sz.bigPuts/2, spacing), unit: "ms", target: 1.3}
	// Filled in from bigTyped and rows[7] once every run is done.
	growth := &row{name: fmt.Sprintf("typed: one change at %d vs %d keys (etcdconf's own p50s)", sz.loadKeys, sz.keys), kind: own, target: 1.5}
	initial := &row{name: fmt.Sprintf("WithInitial first update, %d-entry map[string]Struct", sz.regEntries), unit: "ms", kind: absolute, target: 50}
	// A registry inside a struct: applied by its entries.
	inStruct := &row{name: fmt.Sprintf("registry of %d entries inside a struct: one change p50 of %d puts", sz.regEntries, sz.bigPuts), unit: "ms", target: 1.3}
	inStructSpaced := &row{name: fmt.Sprintf("same, %d puts %v apart: p50", sz.bigPuts/2, spacing), unit: "ms", target: 1.3}
	rows = append(rows, typedLoad, typedHeap, bigMap, bigTyped, bigSpaced, growth, inStruct, inStructSpaced, initial)
	mr := newMapRows(sz)
	rows = append(rows, mr.all()...)
	if err := seed(ctx, cli, "/bench/map/", sz.keys, func(int) string { return "0" }); err != nil {
		return err
	}
	if err := seed(ctx, cli, "/bench/typed/", sz.keys, func(int) string { return "0" }); err != nil {
		return err
	}
	if err := seed(ctx, cli, "/bench/load/", sz.loadKeys, func(i int) string { return strings.Repeat("v", 32) }); err != nil {
		return err
	}
	// Decimal values, so that every key decodes into an entry.
	if err := seed(ctx, cli, "/bench/big/", sz.loadKeys, strconv.Itoa); err != nil {
		return err
	}
	if err := seed(ctx, cli, "/bench/app/", 2*sz.regEntries, regValue, appKey); err != nil {
		return err
	}
	if err := seed(ctx, cli, "/bench/reg/", 2*sz.regEntries, regValue, regKey); err != nil {
		return err
	}
	if err := seed(ctx, cli, "/bench/wide/", 1000, func(int) string { return "0" }, wideKey); err != nil {
		return err
	}
	var prof *os.File
	if cpuprofile != "" {
		if prof, err = os.Create(cpuprofile); err != nil {
			return err
		}
		defer prof.Close()
	}
	for run := range sz.runs {
		for _, useConf := range []bool{run%2 == 1, run%2 == 0} { // alternate which goes first
			add := func(r *row, v float64) {
				if useConf {
					r.conf = append(r.conf, v)
				} else {
					r.raw = append(r.raw, v)
				}
			}
			if useConf && prof != nil && run == 0 {
				pprof.StartCPUProfile(prof)
			}
			var f follower
			if useConf {
				f, err = newConf[map[string]string](cli, "/bench/map/")
			} else {
				f, err = newRaw(cli, "/bench/map/")
			}
			if err != nil {
				return err
			}
			lat, err := latency(ctx, cli, f, "/bench/map/", sz.keys, sz.latencyPuts, key)
			if err != nil {
				return err
			}
			add(rows[0], percentile(lat, 0.5))
			add(rows[1], percentile(lat, 0.99))
			d, cpu, err := burst(ctx, cli, f, "/bench/map/", sz.keys, sz.burstPuts, sz.writers)
			if err != nil {
				return err
			}
			add(rows[2], float64(d.Milliseconds()))
			add(rows[3], float64(cpu.Milliseconds()))
			f.close()

			ms, mb, err := timeLoad(func() (any, error) {
				if useConf {
					return etcdconf.Load[map[string]string](ctx, cli, "/bench/load/")
				}
				return rawLoad(ctx, cli, "/bench/load/", func(b []byte) (string, error) { return string(b), nil })
			})
			if err != nil {
				return err
			}
			add(rows[4], ms)
			add(rows[5], mb)

			if useConf {
				f, err = newConf[wide.Struct](cli, "/bench/wide/")
			} else {
				f, err = newRaw(cli, "/bench/wide/")
			}
			if err != nil {
				return err
			}
			lat, err = latency(ctx, cli, f, "/bench/wide/", 1000, sz.wideChanges, wideKey)
			if err != nil {
				return err
			}
			add(rows[6], percentile(lat, 0.5))
			f.close()

			if useConf {
				f, err = newConf[map[string]entry](cli, "/bench/typed/")
			} else {
				f, err = newRaw(cli, "/bench/typed/")
			}
			if err != nil {
				return err
			}
			if lat, err = latency(ctx, cli, f, "/bench/typed/", sz.keys, sz.latencyPuts, key); err != nil {
				return err
			}
			add(rows[7], percentile(lat, 0.5))
			add(rows[8], percentile(lat, 0.99))
			if d, cpu, err = burst(ctx, cli, f, "/bench/typed/", sz.keys, sz.burstPuts/2, sz.writers); err != nil {
				return err
			}
			add(rows[9], float64(d.Milliseconds()))
			add(rows[10], float64(cpu.Milliseconds()))
			// Three keys in one transaction, as Update and etcdconf apply write.
			if lat, err = latency(ctx, cli, f, "/bench/typed/", sz.keys, sz.latencyPuts, key, 3); err != nil {
				return err
			}
			add(rows[11], percentile(lat, 0.5))
			add(rows[12], percentile(lat, 0.99))
			f.close()
			if err := mr.reload(ctx, cli, sz, useConf, add); err != nil {
				return err
			}

			if ms, mb, err = timeLoad(func() (any, error) {
				if useConf {
					return etcdconf.Load[map[string]entry](ctx, cli, "/bench/big/")
				}
				return rawLoad(ctx, cli, "/bench/big/", decodeEntry)
			}); err != nil {
				return err
			}
			add(typedLoad, ms)
			add(typedHeap, mb)
			if useConf {
				if err := mr.load(ctx, cli); err != nil {
					return err
				}
			}

			// One-key changes at 100k keys: the raw follower is the same
			// for both Ts.
			if useConf {
				for _, c := range []struct {
					r    *row
					st   starter
					puts int
					gap  time.Duration
				}{
					{bigMap, startConf[map[string]string], sz.bigPuts, 0},
					{bigTyped, startConf[map[string]entry], sz.bigPuts, 0},
					{bigSpaced, startConf[map[string]entry], sz.bigPuts / 2, spacing},
					{mr.big, startConf[etcdconf.Map[string, entry]], sz.bigPuts, 0},
				} {
					_, lat, err := oneChange(ctx, cli, c.st, "/bench/big/", sz.loadKeys, c.puts, c.gap)
					if err != nil {
						return err
					}
					add(c.r, percentile(lat, 0.5))
				}
			} else {
				_, lat, err := oneChange(ctx, cli, startRaw, "/bench/big/", sz.loadKeys, sz.bigPuts, 0)
				if err != nil {
					return err
				}
				add(bigMap, percentile(lat, 0.5))
				add(bigTyped, percentile(lat, 0.5))
				if _, lat, err = oneChange(ctx, cli, startRaw, "/bench/big/", sz.loadKeys, sz.bigPuts/2, spacing); err != nil {
					return err
				}
				add(bigSpaced, percentile(lat, 0.5))
			}
			st := startRaw
			if useConf {
				st = startConf[appConfig]
			}
			for _, c := range []struct {
				r    *row
				puts int
				gap  time.Duration
			}{{inStruct, sz.bigPuts, 0}, {inStructSpaced, sz.bigPuts / 2, spacing}} {
				_, lat, err := oneChange(ctx, cli, st, "/bench/app/", 2*sz.regEntries, c.puts, c.gap, appKey)
				if err != nil {
					return err
				}
				add(c.r, percentile(lat, 0.5))
			}
			if useConf {
				_, lat, err := oneChange(ctx, cli, startConf[appConfigMap], "/bench/app/", 2*sz.regEntries, sz.bigPuts, 0, appKey)
				if err != nil {
					return err
				}
				add(mr.inStruct, percentile(lat, 0.5))
			}
			if useConf { // no raw equivalent
				d, err := firstInitial(ctx, cli, "/bench/reg/", sz.regEntries)
				if err != nil {
					return err
				}
				add(initial, float64(d.Microseconds())/1000)
				if err := mr.idle(ctx, cli); err != nil {
					return err
				}
			}
			if useConf && prof != nil && run == 0 {
				pprof.StopCPUProfile()
			}
		}
	}
	growth.raw = []float64{median(bigTyped.raw) / median(rows[7].raw)}
	growth.conf = []float64{median(bigTyped.conf) / median(rows[7].conf)}
	mr.floor(bigTyped, inStruct, typedHeap)
	fmt.Fprintf(out, "etcdconf-bench: %d cores, %s, %d runs (medians), etcd in a child process\n\n", runtime.NumCPU(), runtime.Version(), sz.runs)
	fmt.Fprintf(out, "| figure | raw clientv3 | etcdconf | ratio | target | |\n|---|---|---|---|---|---|\n")
	for _, r := range rows {
		rw, cf := median(r.raw), median(r.conf)
		switch r.kind {
		case absolute:
			fmt.Fprintf(out, "| %s | - | %.2f %s | %.2f %s | ≤ %.0f %s | %s |\n", r.name, cf, r.unit, cf, r.unit, r.target, r.unit, verdict(cf, r.target))
		case info:
			fmt.Fprintf(out, "| %s | %.2f %s | %.2f %s | %.2fx | - | to know |\n", r.name, rw, r.unit, cf, r.unit, cf/rw)
		case own:
			fmt.Fprintf(out, "| %s | %.2fx | %.2fx | %.2fx | ≤ %.1fx | %s |\n", r.name, rw, cf, cf, r.target, verdict(cf, r.target))
		default:
			ratio := cf / rw
			fmt.Fprintf(out, "| %s | %.2f %s | %.2f %s | %.2fx | ≤ %.1fx | %s |\n", r.name, rw, r.unit, cf, r.unit, ratio, r.target, verdict(ratio, r.target))
		}
	}
	return nil
}

// An entry is the typed workload's map value: it decodes itself from text
// (the decimal numbers the workloads write), as a typed user's value would.
type entry struct {
	N    int64
	Text string
}

func (e *entry) UnmarshalText(b []byte) error {
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return err
	}
	e.N, e.Text = n, string(b)
	return nil
}

// An instance is the WithInitial workload's map value: a registry's
// service instance, from two keys.
type instance struct {
	Addr string
	Port int
}

// appConfig is a service's configuration with its registry inside:
// services/svc-00000/addr, ... under /bench/app/.
type appConfig struct {
	Name     string
	Services map[string]instance
}

// appKey is key i of appConfig's registry.
func appKey(i int) string { return "services/" + regKey(i) }

// regKey and regValue are key i of the registry: svc-00000/addr,
// svc-00000/port, svc-00001/addr, ...
func regKey(i int) string {
	if i%2 == 0 {
		return fmt.Sprintf("svc-%05d/addr", i/2)
	}
	return fmt.Sprintf("svc-%05d/port", i/2)
}

func regValue(i int) string {
	if i%2 == 0 {
		return "127.0.0.1"
	}
	return strconv.Itoa(1024 + i/2%60000)
}

// firstInitial starts a watcher of the registry of entries instances under
// prefix and times Subscribe(WithInitial) until its first update.
func firstInitial(ctx context.Context, cli *clientv3.Client, prefix string, entries int) (time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := etcdconf.New[map[string]instance](ctx, cli, prefix)
	if err != nil {
		return 0, err
	}
	defer w.Close()
	start := time.Now()
	select {
	case ev, ok := <-w.Subscribe(ctx, etcdconf.WithInitial()):
		d := time.Since(start)
		if !ok {
			return 0, fmt.Errorf("WithInitial: subscription closed before its first update")
		}
		if ev.Old != nil || len(ev.New.Value) != entries {
			return 0, fmt.Errorf("WithInitial: first update has %d entries (Old %v), want %d and no Old", len(ev.New.Value), ev.Old != nil, entries)
		}
		return d, nil
	case <-time.After(60 * time.Second):
		return 0, fmt.Errorf("WithInitial: no first update within 60s")
	}
}

// wideKey names field i of the wide struct.
func wideKey(i int) string { return "f" + strconv.Itoa(i) }

func decodeEntry(b []byte) (entry, error) {
	var e entry
	err := e.UnmarshalText(b)
	return e, err
}

// rawLoad is the floor for a load: one Get, each value decoded into a map.
func rawLoad[V any](ctx context.Context, cli *clientv3.Client, prefix string, decode func([]byte) (V, error)) (map[string]V, error) {
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	m := make(map[string]V, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		v, err := decode(kv.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kv.Key, err)
		}
		m[string(kv.Key)[len(prefix):]] = v
	}
	return m, nil
}

// timeLoad times load and returns its time in ms and the live heap, in
// MB, that the value it loaded holds: what the heap loses when the value
// is dropped, which nothing else running in between blurs, as it does a
// difference from before the load at small sizes.
func timeLoad(load func() (any, error)) (ms, mb float64, err error) {
	start := time.Now()
	v, err := load()
	if err != nil {
		return 0, 0, err
	}
	ms = float64(time.Since(start).Microseconds()) / 1000
	return ms, heldBy(v, nil), nil
}

// heldBy returns the live heap, in MB, that v holds: the heap with v,
// less the heap once release (if any) has run and v is dropped.
func heldBy(v any, release func()) float64 {
	with := heapAfter(v)
	if release != nil {
		release()
	}
	without := liveHeap()
	return float64(with-min(with, without)) / (1 << 20)
}

// scaling prints how a one-key change's latency and a load's time grow
// with the number of keys, and how the latency grows with subscribers
// (until every subscriber has the change).
func scaling(out io.Writer, keyCounts, subCounts []int, puts int) error {
	cli, stop, err := startEtcd()
	if err != nil {
		return err
	}
	defer stop()
	ctx := context.Background()
	fmt.Fprintf(out, "| keys | raw change p50 | etcdconf change p50 | ratio | typed map[string]Entry change p50 | ratio | raw load | etcdconf load | ratio |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, n := range keyCounts {
		prefix := fmt.Sprintf("/bench/scale%d/", n)
		if err := seed(ctx, cli, prefix, n, func(int) string { return "0" }); err != nil {
			return err
		}
		var p50 [3]float64
		var load [3]float64
		for i, st := range []starter{startRaw, startConf[map[string]string], startConf[map[string]entry]} {
			d, lat, err := oneChange(ctx, cli, st, prefix, n, puts, 0)
			if err != nil {
				return err
			}
			load[i] = float64(d.Microseconds()) / 1000
			p50[i] = percentile(lat, 0.5)
		}
		fmt.Fprintf(out, "| %d | %.2f ms | %.2f ms | %.2fx | %.2f ms | %.2fx | %.1f ms | %.1f ms | %.2fx |\n",
			n, p50[0], p50[1], p50[1]/p50[0], p50[2], p50[2]/p50[0], load[0], load[1], load[1]/load[0])
	}
	fmt.Fprintf(out, "\n| subscribers (1000 keys) | change p50, all subscribers | vs raw |\n|---|---|---|\n")
	prefix := "/bench/scale1000/"
	rf, err := newRaw(cli, prefix)
	if err != nil {
		return err
	}
	rawLat, err := latency(ctx, cli, rf, prefix, 1000, puts, key)
	rf.close()
	if err != nil {
		return err
	}
	for _, n := range subCounts {
		lat, err := fanOut(ctx, cli, prefix, n, puts)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "| %d | %.2f ms | %.2fx |\n", n, percentile(lat, 0.5), percentile(lat, 0.5)/percentile(rawLat, 0.5))
	}
	return nil
}

// A starter begins following a prefix: the raw floor, or etcdconf with
// one T.
type starter func(cli *clientv3.Client, prefix string) (follower, error)

func startRaw(cli *clientv3.Client, prefix string) (follower, error) {
	r, err := newRaw(cli, prefix)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func startConf[T any](cli *clientv3.Client, prefix string) (follower, error) {
	c, err := newConf[T](cli, prefix)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// spacing is the pause before each change of the spaced one-change row.
const spacing = 30 * time.Millisecond

// oneChange starts following the n keys under prefix and makes puts
// one-key changes, one after another, each gap after the last was
// applied: it returns the time the follower took to start (its load) and
// each change's latency.
func oneChange(ctx context.Context, cli *clientv3.Client, start starter, prefix string, n, puts int, gap time.Duration, keyOf ...func(int) string) (time.Duration, []time.Duration, error) {
	name := key
	if len(keyOf) > 0 {
		name = keyOf[0]
	}
	t0 := time.Now()
	f, err := start(cli, prefix)
	if err != nil {
		return 0, nil, err
	}
	defer f.close()
	load := time.Since(t0)
	if gap == 0 {
		lat, err := latency(ctx, cli, f, prefix, n, puts, name)
		return load, lat, err
	}
	var lat []time.Duration
	for i := range puts {
		time.Sleep(gap)
		l, err := latency(ctx, cli, f, prefix, n, 1, func(int) string { return name(i % n) })
		if err != nil {
			return 0, nil, err
		}
		lat = append(lat, l...)
	}
	return load, lat, nil
}

// fanOut times puts until all of subs subscribers of one watcher see each.
func fanOut(ctx context.Context, cli *clientv3.Client, prefix string, subs, puts int) ([]time.Duration, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := etcdconf.New[map[string]string](sctx, cli, prefix)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	seen := make([]chan int64, subs)
	for i := range seen {
		seen[i] = make(chan int64, 1<<12)
		updates := w.Subscribe(sctx)
		go func(ch chan int64) {
			for u := range updates {
				publish(ch, u.New.Revision)
			}
		}(seen[i])
	}
	var out []time.Duration
	for i := range puts {
		start := time.Now()
		resp, err := cli.Put(ctx, prefix+key(i%1000), fresh())
		if err != nil {
			return nil, err
		}
		for _, ch := range seen {
			for r := range ch {
				if r >= resp.Header.Revision {
					break
				}
			}
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}
