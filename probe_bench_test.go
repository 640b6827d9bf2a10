package etcdconf

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// BenchmarkProbe measures one liveness read (see etcdSource.prove): etcd's
// revision unchanged since the watcher's, and moved (writes elsewhere,
// since the watcher's revision and its last proof), over prefixes of 1k
// and 100k keys: etcd-cpu-µs/op is what one read costs the etcd process,
// cpu-µs/op what it costs the client.
func BenchmarkProbe(b *testing.B) {
	cli, member := etcdProcess(b)
	ctx := context.Background()
	for _, n := range []int{1000, 100000} {
		prefix := fmt.Sprintf("/probe%d/", n)
		for start := 0; start < n; start += 128 {
			var ops []clientv3.Op
			for i := start; i < min(start+128, n); i++ {
				ops = append(ops, clientv3.OpPut(fmt.Sprintf("%sk%06d", prefix, i), "0123456789abcdef"))
			}
			if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
				b.Fatal(err)
			}
		}
		for _, moved := range []bool{false, true} {
			name := fmt.Sprintf("%d keys/revision unchanged", n)
			if moved {
				name = fmt.Sprintf("%d keys/revision moved", n)
			}
			b.Run(name, func(b *testing.B) {
				resp, err := cli.Put(ctx, "/elsewhere", "x")
				if err != nil {
					b.Fatal(err)
				}
				seen := resp.Header.Revision
				if moved {
					seen-- // the put elsewhere came after the watcher's revision
				}
				w := &Watcher[map[string]string]{}
				src := &etcdSource{cli: cli, prefix: prefix, o: newOptions(nil), to: w}
				src.at.rev, src.at.keys = seen, n
				cpu0, etcd0 := cpuTime(), member.CPU()
				for b.Loop() {
					if _, ok := src.prove(ctx, 0); !ok {
						b.Fatal("the read did not prove a current watcher current")
					}
				}
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
				b.ReportMetric(float64((member.CPU()-etcd0).Microseconds())/float64(b.N), "etcd-cpu-µs/op")
			})
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
