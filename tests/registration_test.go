package etcdconf_test

import (
	"context"
	"errors"
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
	for r.Recoveries() < 1 || r.Lease() == first {
		if time.Now().After(deadline) {
			t.Fatalf("not registered again: %d recoveries, err %v", r.Recoveries(), r.Err())
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
	if len(u.Changes) != 1 || u.Changes[0].Kind != etcdconf.ChangeAdded || u.Changes[0].Path != `["api-1"]` {
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
	if len(u.Changes) != 1 || u.Changes[0].Kind != etcdconf.ChangeRemoved || u.Changes[0].Path != `["api-2"]` {
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
	for r.Recoveries() < 1 || r.Err() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not registered again: %d recoveries, err %v", r.Recoveries(), r.Err())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(2500 * time.Millisecond) // the old lease, restored by etcd, expires meanwhile
	if ok, lease := exists(t, cli, "/svc/api-1"); !ok || clientv3.LeaseID(lease) != r.Lease() {
		t.Fatalf("after restart: exists %v, lease %x want %x (%d recoveries, err %v)", ok, lease, r.Lease(), r.Recoveries(), r.Err())
	}
}

func TestRegisterTypedValueSetInPlaceAndExclusive(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	ctx := context.Background()
	w := newWatcher[map[string]instance](t, cli, "/typed/")
	updates := w.Subscribe(ctx)

	want := instance{Addr: "10.0.0.1:80", Zone: "a"}
	r, err := etcdconf.Register(ctx, cli, "/typed/api-1", want, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if u := recv(t, updates); u.New.Value["api-1"] != want {
		t.Fatalf("registered %+v, read back %+v", want, u.New.Value["api-1"])
	}

	// Changed in place: one modification under the same lease, never a removal.
	lease := r.Lease()
	want.Zone = "b"
	if err := r.Set(ctx, want); err != nil {
		t.Fatal(err)
	}
	u := recv(t, updates)
	if len(u.Changes) != 1 || u.Changes[0].Kind != etcdconf.ChangeModified || u.Changes[0].Path != `["api-1"].Zone` || u.New.Value["api-1"] != want {
		t.Fatalf("Set: %v, value %+v", u.Changes, u.New.Value)
	}
	if ok, l := exists(t, cli, "/typed/api-1"); !ok || clientv3.LeaseID(l) != lease {
		t.Fatalf("after Set: exists %v, lease %x, want the registration's %x", ok, l, lease)
	}

	// Exclusive: a second holder is refused while the first lives.
	if _, err := etcdconf.Register(ctx, cli, "/typed/api-1", instance{Addr: "other"}, time.Second, etcdconf.Exclusive()); !errors.Is(err, etcdconf.ErrConflict) {
		t.Fatalf("exclusive registration of a held key: %v, want ErrConflict", err)
	}
	if got := w.Current().Value["api-1"]; got != want {
		t.Fatalf("a refused exclusive registration changed the value: %+v", got)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r2, err := etcdconf.Register(ctx, cli, "/typed/api-1", instance{Addr: "next"}, time.Second, etcdconf.Exclusive())
	if err != nil {
		t.Fatalf("exclusive registration of a free key: %v", err)
	}
	r2.Close()
	if err := r.Set(ctx, want); !errors.Is(err, etcdconf.ErrClosed) {
		t.Fatalf("Set after Close: %v, want ErrClosed", err)
	}
}
