package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
	"github.com/etcdconf/etcdconf/release"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// BenchmarkStatus1000 times `etcdconf status` over 1000 instance records
// (all applied: one read of the prefix and the records, no wait), against
// an embedded etcd, connection included.
func BenchmarkStatus1000(b *testing.B) {
	srv, err := etcdtest.NewServer()
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	cli, err := srv.NewClient()
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	if _, err := cli.Put(ctx, "/svc/port", "80"); err != nil {
		b.Fatal(err)
	}
	digest := release.Digest(map[string]string{"port": "80"})
	for i := 0; i < 1000; i += 100 {
		var ops []clientv3.Op
		for j := i; j < i+100; j++ {
			s := etcdconf.InstanceStatus{Name: fmt.Sprintf("api-%04d", j), Host: "vm", PID: j, Started: time.Now(), Prefix: "/svc/",
				Revision: 2, Digest: digest, Connectivity: "connected", Source: "etcd"}
			v, _ := json.Marshal(s)
			ops = append(ops, clientv3.OpPut(etcdconf.InstanceKey(etcdconf.DefaultMetaPrefix, "/svc/", s.Name), string(v)))
		}
		if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.Setenv("ETCDCTL_ENDPOINTS", srv.Endpoints()[0])
	for b.Loop() {
		var out, errOut bytes.Buffer
		if code := run(ctx, []string{"status", "/svc/"}, strings.NewReader(""), &out, &errOut); code != 0 || !strings.Contains(out.String(), "1000 instances: 1000 on") {
			b.Fatalf("exit %d\n%s%s", code, out.String()[max(0, out.Len()-300):], errOut.String())
		}
	}
}
