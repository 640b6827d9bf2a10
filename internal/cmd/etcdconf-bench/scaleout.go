package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// proxyEnv makes the executable a grpc-proxy child in front of the etcd
// endpoint it names.
const proxyEnv = "ETCDCONF_BENCH_PROXY"

// serveProxy is the proxy child: it prints its address and runs until
// stdin closes.
func serveProxy(endpoint string) {
	p, err := etcdtest.NewGRPCProxy([]string{endpoint})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(p.Endpoints()[0])
	io.Copy(io.Discard, os.Stdin)
	p.Close()
}

// child runs this executable with env set, as etcd or a grpc-proxy, and
// returns the address it printed, its pid and a stop function.
func child(env string) (string, int, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return "", 0, nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), env)
	cmd.Stderr = io.Discard
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", 0, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", 0, nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
	}
	stop := func() { stdin.Close(); cmd.Wait() }
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stop()
		return "", 0, nil, fmt.Errorf("child %s: %w", env, err)
	}
	return strings.TrimSpace(line), cmd.Process.Pid, stop, nil
}

// rssMB returns a process's resident set in MB, from /proc.
func rssMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// etcdWatchers reads how many watchers etcd holds from its metrics.
func etcdWatchers(endpoint string) (int, error) {
	resp, err := http.Get("http://" + endpoint + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "etcd_debugging_mvcc_watcher_total "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return int(f), err
		}
	}
	return 0, fmt.Errorf("no etcd_debugging_mvcc_watcher_total in %s/metrics", endpoint)
}

// scaleFigures are one scale-out run's results.
type scaleFigures struct {
	watchers          int
	etcdRSS, proxyRSS float64
	p50, p99          float64 // ms, put until every instance applied it
	reloads, probes   int64   // during the quiet period, all instances
	disconnected      int     // instances not connected at the end of the quiet period
	// requests are etcd's requests during the quiet period, by method (see
	// etcdRequests).
	requests map[string]float64
}

// A scaleSetup is how the instances of a scale-out run reach etcd and
// prove themselves current.
type scaleSetup struct {
	name     string // in scaleOutHeartbeat's table
	viaProxy bool
	// writers is the number of heartbeat writers (etcdconf.Heartbeat, each
	// its own client, straight to etcd) and the instances use
	// WithHeartbeat; with more than one they are elected candidates.
	writers  int
	instance bool // the instances use WithInstance
}

// scaleOut prints n instances, each with its own client and watcher as n
// service processes would have, against one etcd directly and through
// one grpc-proxy: what etcd holds, latency to all, and health over a
// quiet period with no write anywhere.
func scaleOut(out io.Writer, n, puts int, quiet time.Duration) error {
	fmt.Fprintf(out, "%d instances, each its own client and watcher (default options); etcd and the proxy in child processes.\n\n", n)
	fmt.Fprintf(out, "| | etcd watchers | etcd RSS | proxy RSS | put → all applied p50 | p99 | reloads in %s quiet | liveness reads per watcher per minute | not connected after quiet |\n|---|---|---|---|---|---|---|---|---|\n", quiet)
	for _, viaProxy := range []bool{false, true} {
		f, err := scaleOutRun(n, puts, quiet, scaleSetup{viaProxy: viaProxy})
		if err != nil {
			return err
		}
		name, proxyRSS := "direct", "-"
		if viaProxy {
			name, proxyRSS = "one grpc-proxy", fmt.Sprintf("%.0f MB", f.proxyRSS)
		}
		fmt.Fprintf(out, "| %s | %d | %.0f MB | %s | %.1f ms | %.1f ms | %d | %.1f | %d |\n", name, f.watchers, f.etcdRSS, proxyRSS,
			f.p50, f.p99, f.reloads, float64(f.probes)/float64(n)/quiet.Minutes(), f.disconnected)
	}
	return nil
}

// scaleOutHeartbeat prints what liveness costs etcd for n instances
// through one grpc-proxy: all requests etcd receives over a quiet period,
// without a heartbeat (each instance proves itself by reads), with one
// heartbeat writer, with two elected writers, and, with instance, with
// the fleet view on top.
func scaleOutHeartbeat(out io.Writer, n, puts int, quiet time.Duration, instance bool) error {
	const every = 5 * time.Second // the default progress interval
	fmt.Fprintf(out, "%d instances through one grpc-proxy, each its own client and watcher (progress interval %v; heartbeat writers every 4s, each its own client straight to etcd); all requests etcd received in %s quiet (unary calls and stream messages, from its metrics).\n\n", n, every, quiet)
	fmt.Fprintf(out, "| liveness | etcd requests per %v interval | by method, in %s | liveness reads, all watchers | reloads | not connected after quiet | put → all applied p50 | p99 | etcd watchers | etcd RSS | proxy RSS |\n|---|---|---|---|---|---|---|---|---|---|---|\n", every, quiet)
	setups := []scaleSetup{
		{name: "reads (no heartbeat)", viaProxy: true},
		{name: "WithHeartbeat, one writer", viaProxy: true, writers: 1},
		{name: "WithHeartbeat, two elected writers", viaProxy: true, writers: 2},
	}
	if instance {
		setups = append(setups, scaleSetup{name: "WithHeartbeat, one writer, WithInstance", viaProxy: true, writers: 1, instance: true})
	}
	for _, s := range setups {
		f, err := scaleOutRun(n, puts, quiet, s)
		if err != nil {
			return err
		}
		var total float64
		var parts []string
		for _, m := range slices.Sorted(maps.Keys(f.requests)) {
			if v := f.requests[m]; v > 0 {
				total += v
				parts = append(parts, fmt.Sprintf("%s %.0f", m, v))
			}
		}
		fmt.Fprintf(out, "| %s | %.2f | %s | %d | %d | %d | %.1f ms | %.1f ms | %d | %.0f MB | %.0f MB |\n", s.name, total/(quiet.Seconds()/every.Seconds()),
			strings.Join(parts, ", "), f.probes, f.reloads, f.disconnected, f.p50, f.p99, f.watchers, f.etcdRSS, f.proxyRSS)
	}
	return nil
}

func scaleOutRun(n, puts int, quiet time.Duration, setup scaleSetup) (scaleFigures, error) {
	var f scaleFigures
	viaProxy := setup.viaProxy
	etcdAddr, etcdPid, stopEtcd, err := child(childEnv + "=1")
	if err != nil {
		return f, err
	}
	defer stopEtcd()
	endpoint, proxyPid := etcdAddr, 0
	if viaProxy {
		addr, pid, stopProxy, err := child(proxyEnv + "=" + etcdAddr)
		if err != nil {
			return f, err
		}
		defer stopProxy()
		endpoint, proxyPid = addr, pid
	}
	admin, err := clientv3.New(clientv3.Config{Endpoints: []string{etcdAddr}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return f, err
	}
	defer admin.Close()
	ctx := context.Background()
	const prefix = "/bench/scaleout/"
	if err := seed(ctx, admin, prefix, 10, func(int) string { return "0" }); err != nil {
		return f, err
	}

	var writers sync.WaitGroup
	wctx, stopWriters := context.WithCancel(ctx)
	defer func() {
		stopWriters()
		writers.Wait()
	}()
	for i := range setup.writers {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcdAddr}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			return f, err
		}
		defer cli.Close()
		opts := []etcdconf.HeartbeatOption{etcdconf.HeartbeatName(fmt.Sprintf("writer-%d", i))}
		if setup.writers > 1 {
			opts = append(opts, etcdconf.HeartbeatElect("", 0))
		}
		writers.Add(1)
		go func() {
			defer writers.Done()
			if err := etcdconf.Heartbeat(wctx, cli, prefix, opts...); err != nil {
				fmt.Fprintln(os.Stderr, "heartbeat:", err)
			}
		}()
	}

	// Every instance stamps the revisions it applies; latencies are
	// computed afterwards, so measuring costs the instances nothing.
	type stamp struct {
		rev int64
		at  time.Time
	}
	stamps := make([][]stamp, n)
	var mu sync.Mutex // guards stamps
	ws := make([]*etcdconf.Watcher[map[string]string], n)
	var subs sync.WaitGroup
	sctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		for _, w := range ws {
			if w != nil {
				w.Close()
			}
		}
		subs.Wait()
	}()
	for i := range ws {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			return f, err
		}
		defer cli.Close()
		var opts []etcdconf.Option
		if setup.writers > 0 {
			opts = append(opts, etcdconf.WithHeartbeat())
		}
		if setup.instance {
			opts = append(opts, etcdconf.WithInstance(fmt.Sprintf("i%04d", i)))
		}
		if ws[i], err = etcdconf.New[map[string]string](ctx, cli, prefix, opts...); err != nil {
			return f, err
		}
		updates := ws[i].Subscribe(sctx)
		subs.Add(1)
		go func() {
			defer subs.Done()
			for u := range updates {
				now := time.Now()
				mu.Lock()
				stamps[i] = append(stamps[i], stamp{u.New.Revision, now})
				mu.Unlock()
			}
		}()
	}

	// Quiet: no write anywhere in etcd (but the heartbeat). New returns
	// before its watch is created, and through the proxy each creation
	// costs etcd a Range (the proxy checks the client's permission with
	// one): let the last ones settle first.
	time.Sleep(2 * time.Second)
	var reloads0, probes0 int64
	for _, w := range ws {
		st := w.Status()
		reloads0, probes0 = reloads0+st.Reloads, probes0+st.Probes
	}
	req0, err := etcdRequests(etcdAddr)
	if err != nil {
		return f, err
	}
	time.Sleep(quiet)
	req1, err := etcdRequests(etcdAddr)
	if err != nil {
		return f, err
	}
	f.requests = map[string]float64{}
	for m, v := range req1 {
		f.requests[m] = v - req0[m]
	}
	for _, w := range ws {
		st := w.Status()
		f.reloads += st.Reloads
		f.probes += st.Probes
		if !st.Connected {
			f.disconnected++
		}
	}
	f.reloads -= reloads0
	f.probes -= probes0
	if f.watchers, err = etcdWatchers(etcdAddr); err != nil {
		return f, err
	}
	f.etcdRSS = rssMB(etcdPid)
	if viaProxy {
		f.proxyRSS = rssMB(proxyPid)
	}

	// Puts, spaced so that each reaches every instance before the next.
	var lat []time.Duration
	for i := range puts {
		start := time.Now()
		resp, err := admin.Put(ctx, prefix+key(i%10), fresh())
		if err != nil {
			return f, err
		}
		rev := resp.Header.Revision
		var last time.Duration
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			all := true
			mu.Lock()
			last = 0
			for _, ss := range stamps {
				j := slices.IndexFunc(ss, func(s stamp) bool { return s.rev >= rev })
				if j < 0 {
					all = false
					break
				}
				last = max(last, ss[j].at.Sub(start))
			}
			mu.Unlock()
			if all {
				break
			}
			if time.Now().After(deadline) {
				return f, fmt.Errorf("revision %d not applied by all %d instances within 30s", rev, n)
			}
		}
		lat = append(lat, last)
	}
	f.p50, f.p99 = percentile(lat, 0.5), percentile(lat, 0.99)
	return f, nil
}
