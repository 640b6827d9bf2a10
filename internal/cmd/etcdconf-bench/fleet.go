package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/etcdconf/etcdconf"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// etcdRequests reads from etcd's metrics how many requests it has received:
// unary calls, and the messages of streams (watch requests, lease
// keep-alives), by method.
func etcdRequests(endpoint string) (map[string]float64, error) {
	resp, err := http.Get("http://" + endpoint + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		unary := strings.HasPrefix(line, "grpc_server_started_total{") && strings.Contains(line, `grpc_type="unary"`)
		stream := strings.HasPrefix(line, "grpc_server_msg_received_total{") && !strings.Contains(line, `grpc_type="unary"`)
		if !unary && !stream {
			continue
		}
		i := strings.Index(line, `grpc_method="`)
		j := strings.LastIndexByte(line, ' ')
		if i < 0 || j < 0 {
			continue
		}
		method := line[i+len(`grpc_method="`):]
		method = method[:strings.IndexByte(method, '"')]
		v, err := strconv.ParseFloat(line[j+1:], 64)
		if err != nil {
			return nil, err
		}
		out[method] += v
	}
	return out, sc.Err()
}

// fleetCost prints what WithInstance costs etcd: n instances (each its own
// client and watcher with a status record), all requests etcd receives per
// instance per minute over a quiet period, then under a burst of 10
// changes a second, and how many status writes the burst made.
func fleetCost(out io.Writer, n int, period time.Duration) error {
	etcdAddr, _, stopEtcd, err := child(childEnv + "=1")
	if err != nil {
		return err
	}
	defer stopEtcd()
	admin, err := clientv3.New(clientv3.Config{Endpoints: []string{etcdAddr}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer admin.Close()
	ctx := context.Background()
	const prefix = "/bench/fleet/"
	if err := seed(ctx, admin, prefix, 10, func(int) string { return "0" }); err != nil {
		return err
	}
	measure := func(instance bool) (quiet, burst map[string]float64, err error) {
		var ws []*etcdconf.Watcher[map[string]string]
		defer func() {
			for _, w := range ws {
				w.Close()
			}
		}()
		for i := range n {
			cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcdAddr}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
			if err != nil {
				return nil, nil, err
			}
			defer cli.Close()
			var opts []etcdconf.Option
			if instance {
				opts = append(opts, etcdconf.WithInstance(fmt.Sprintf("i%04d", i)))
			}
			w, err := etcdconf.New[map[string]string](ctx, cli, prefix, opts...)
			if err != nil {
				return nil, nil, err
			}
			ws = append(ws, w)
		}
		time.Sleep(2 * time.Second) // the records written
		before, err := etcdRequests(etcdAddr)
		if err != nil {
			return nil, nil, err
		}
		time.Sleep(period)
		mid, err := etcdRequests(etcdAddr)
		if err != nil {
			return nil, nil, err
		}
		for end := time.Now().Add(period); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			if _, err := admin.Put(ctx, prefix+key(0), fresh()); err != nil {
				return nil, nil, err
			}
		}
		after, err := etcdRequests(etcdAddr)
		if err != nil {
			return nil, nil, err
		}
		quiet, burst = map[string]float64{}, map[string]float64{}
		for m := range after {
			quiet[m] = mid[m] - before[m]
			burst[m] = after[m] - mid[m]
		}
		return quiet, burst, nil
	}
	perMin := func(m map[string]float64) string {
		var total float64
		var parts []string
		for _, k := range []string{"Range", "Txn", "Put", "Watch", "LeaseKeepAlive", "LeaseGrant"} {
			if m[k] > 0 {
				parts = append(parts, fmt.Sprintf("%s %.1f", k, m[k]/float64(n)/period.Minutes()))
			}
		}
		for _, v := range m {
			total += v
		}
		return fmt.Sprintf("%.1f (%s)", total/float64(n)/period.Minutes(), strings.Join(parts, ", "))
	}
	fmt.Fprintf(out, "%d instances, each its own client and watcher; all requests etcd received (unary calls and stream messages), per instance per minute over %s. In the burst, Put is the burst's own puts (600 a minute, divided among the instances).\n\n", n, period)
	fmt.Fprintf(out, "| | quiet | 10 changes/s burst | status writes per instance per second in the burst |\n|---|---|---|---|\n")
	for _, instance := range []bool{false, true} {
		q, b, err := measure(instance)
		if err != nil {
			return err
		}
		name, writes := "without WithInstance", "-"
		if instance {
			name = "WithInstance"
			writes = fmt.Sprintf("%.2f", b["Txn"]/float64(n)/period.Seconds())
		}
		fmt.Fprintf(out, "| %s | %s | %s | %s |\n", name, perMin(q), perMin(b), writes)
	}
	return nil
}
