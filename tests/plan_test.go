package etcdconf_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
	"github.com/etcdconf/etcdconf/plan"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestPlanOverJSONValuesLoads: the plan the CLI's apply makes (package
// plan) over values held as one JSON value (a struct field, a registration
// as Register writes it) and a key spelled otherwise than the file leaves a
// prefix that Load decodes, with the file's values (#20 items 1 and 4).
func TestPlanOverJSONValuesLoads(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	put(t, cli, "/app/db", `{"host":"x","port":1}`)
	put(t, cli, "/app/svc/api-2", `{"addr":"b"}`)
	put(t, cli, "/app/Log-Level", "info")

	resp, err := cli.Get(ctx, "/app/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	cur := map[string]string{}
	for _, kv := range resp.Kvs {
		cur[strings.TrimPrefix(string(kv.Key), "/app/")] = string(kv.Value)
	}
	f, err := plan.ParseFile("app.yaml", []byte("db: {host: y, port: 2}\nsvc: {api-2: {addr: c}}\nlog_level: debug\n"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Keys(cur, f, plan.Options{Prefix: "/app/"})
	if err != nil {
		t.Fatal(err)
	}
	var ops []clientv3.Op
	for _, o := range p.Ops {
		if o.Delete {
			ops = append(ops, clientv3.OpDelete("/app/"+o.Key))
		} else {
			ops = append(ops, clientv3.OpPut("/app/"+o.Key, o.Value))
		}
	}
	if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
		t.Fatal(err)
	}

	type cfg struct {
		DB struct {
			Host string
			Port int
		}
		Svc      map[string]struct{ Addr string }
		LogLevel string
	}
	snap, err := etcdconf.Load[cfg](ctx, cli, "/app/")
	if err != nil {
		t.Fatalf("Load after the plan %+v: %v", p.Ops, err)
	}
	v := snap.Value
	if v.DB.Host != "y" || v.DB.Port != 2 || v.Svc["api-2"].Addr != "c" || v.LogLevel != "debug" {
		t.Fatalf("Load = %+v", v)
	}
	got, err := cli.Get(ctx, "/app/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || got.Count != 3 {
		t.Fatalf("the plan added keys: %d keys (%v), want 3", got.Count, err)
	}
}
