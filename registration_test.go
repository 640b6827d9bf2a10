package etcdconf_test

import (
	"context"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

type instance struct {
	Addr string
	Zone string
}

func exists(t *testing.T, cli *clientv3.Client, key string) (bool, int64) {
	t.Helper()
	resp, err := cli.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return false, 0
	}
	return true, resp.Kvs[0].Lease
}

func TestRegisterKeepsKeyAndCloseRemovesIt(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	ctx := context.Background()
	if _, err := etcdconf.Register(ctx, cli, "/svc/x", "v", 500*time.Millisecond); err == nil {
		t.Fatal("TTL under a second: no error")
	}
	r, err := etcdconf.Register(ctx, cli, "/svc/api-1", `{"addr":"10.0.0.1:80"}`, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond) // longer than the TTL: keep-alives hold the key
	if ok, lease := exists(t, cli, "/svc/api-1"); !ok || clientv3.LeaseID(lease) != r.Lease() {
		t.Fatalf("key missing or on another lease after 2.5s (lease %x, want %x)", lease, r.Lease())
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if ok, _ := exists(t, cli, "/svc/api-1"); ok {
		t.Fatal("key still there right after Close")
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	<-r.Done()
}

func TestRegisterRecoversLostLease(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	ctx := context.Background()
	r, err := etcdconf.Register(ctx, cli, "/svc/api-1", "v", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	first := r.Lease()
	if _, err := cli.Revoke(ctx, first); err != nil { // someone else revokes it
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.Registrations() < 2 || r.Lease() == first {
		if time.Now().After(deadline) {
			t.Fatalf("not registered again: %d registrations, err %v", r.Registrations(), r.Err())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ok, lease := exists(t, cli, "/svc/api-1"); !ok || clientv3.LeaseID(lease) != r.Lease() || r.Err() != nil {
		t.Fatalf("after recovery: exists %v, lease %x want %x, err %v", ok, lease, r.Lease(), r.Err())
	}
}

func TestServiceDiscovery(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	ctx := context.Background()
	w := newWatcher[map[string]instance](t, cli, "/services/")
	updates := w.Subscribe(ctx)

	clean, err := etcdconf.Register(ctx, cli, "/services/api-1", `{"addr":"10.0.0.1:80","zone":"a"}`, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	u := recv(t, updates)
	if len(u.Changes) != 1 || u.Changes[0].Kind != etcdconf.Added || u.Changes[0].Path != `["api-1"]` {
		t.Fatalf("arrival: %v", u.Changes)
	}
	if u.New.Value["api-1"] != (instance{Addr: "10.0.0.1:80", Zone: "a"}) {
		t.Fatalf("decoded %+v", u.New.Value)
	}

	// A crashed instance: its client dies without Close, so the key expires.
	crashCli := srv.Client(t)
	if _, err := etcdconf.Register(ctx, crashCli, "/services/api-2", `{"addr":"10.0.0.2:80"}`, time.Second); err != nil {
		t.Fatal(err)
	}
	u = recv(t, updates)
	if _, ok := u.New.Value["api-2"]; !ok {
		t.Fatalf("api-2 did not arrive: %v", u.Changes)
	}
	crashCli.Close()
	u = recv(t, updates)
	if len(u.Changes) != 1 || u.Changes[0].Kind != etcdconf.Removed || u.Changes[0].Path != `["api-2"]` {
		t.Fatalf("crash: %v", u.Changes)
	}

	// A clean stop: the key goes at once.
	if err := clean.Close(); err != nil {
		t.Fatal(err)
	}
	u = recv(t, updates)
	if len(u.New.Value) != 0 {
		t.Fatalf("after clean stop: %v", u.New.Value)
	}
}

// TestRegisterSurvivesRestart: etcd is down for longer than the TTL, so the
// client gives the lease up; once etcd is back the key is registered again
// and stays.
func TestRegisterSurvivesRestart(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	ctx := context.Background()
	r, err := etcdconf.Register(ctx, cli, "/svc/api-1", "v", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // three TTLs without keep-alives
	if r.Err() == nil {
		t.Error("Err() is nil while etcd is down and the lease is lost")
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for r.Registrations() < 2 || r.Err() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not registered again: %d registrations, err %v", r.Registrations(), r.Err())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(2500 * time.Millisecond) // the old lease, restored by etcd, expires meanwhile
	if ok, lease := exists(t, cli, "/svc/api-1"); !ok || clientv3.LeaseID(lease) != r.Lease() {
		t.Fatalf("after restart: exists %v, lease %x want %x (%d registrations, err %v)", ok, lease, r.Lease(), r.Registrations(), r.Err())
	}
}
