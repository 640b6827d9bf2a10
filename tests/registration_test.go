package etcdconf_test

import (
	"context"
	"errors"
	"strings"
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

// waitRegistered waits until key exists under r's lease with r.Err() nil
// and at least n recoveries.
func waitRegistered[V any](t *testing.T, cli *clientv3.Client, r *etcdconf.Registration[V], key string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, lease := exists(t, cli, key)
		if ok && clientv3.LeaseID(lease) == r.Lease() && r.Err() == nil && r.Recoveries() >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not registered: exists %v, lease %x want %x, %d recoveries (want %d), err %v",
				key, ok, lease, r.Lease(), r.Recoveries(), n, r.Err())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRegisterPutsDeletedKeyBack: a key deleted while its lease lives
// (etcdctl del, apply --prune) is put back under the same lease and counts
// as a recovery; Set works again afterwards.
func TestRegisterPutsDeletedKeyBack(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	ctx := context.Background()
	r, err := etcdconf.Register(ctx, cli, "/svc/api-1", "v1", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	lease := r.Lease()
	for i := 1; i <= 2; i++ {
		if _, err := cli.Delete(ctx, "/svc/api-1"); err != nil {
			t.Fatal(err)
		}
		waitRegistered(t, cli, r, "/svc/api-1", i)
	}
	if r.Lease() != lease {
		t.Fatalf("put back under lease %x, want the same lease %x", r.Lease(), lease)
	}
	if err := r.Set(ctx, "v2"); err != nil {
		t.Fatalf("Set after the key came back: %v", err)
	}
	resp, err := cli.Get(ctx, "/svc/api-1")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v2" {
		t.Fatalf("after Set: %v, %v", resp, err)
	}
}

// TestRegisterSecondHolderThenClose: a second registration of the key
// takes it over, and the first waits without fighting, saying why in Err
// and refusing Set with ErrKeyHeld; a plain put by an operator is not
// fought over either. Once the other holder's key is gone, the first puts
// its own back, under its lease, with the value it last set.
func TestRegisterSecondHolderThenClose(t *testing.T) {
	for _, exclusive := range []bool{false, true} {
		t.Run(map[bool]string{false: "shared", true: "exclusive"}[exclusive], func(t *testing.T) {
			srv := etcdtest.Start(t)
			cli := srv.Client(t)
			ctx := context.Background()
			var opts []etcdconf.RegisterOption
			if exclusive {
				opts = append(opts, etcdconf.Exclusive())
			}
			r1, err := etcdconf.Register(ctx, cli, "/svc/api-1", "first", time.Second, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer r1.Close()
			r2, err := etcdconf.Register(ctx, cli, "/svc/api-1", "second", time.Second)
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for !errors.Is(r1.Err(), etcdconf.ErrKeyHeld) {
				if time.Now().After(deadline) {
					t.Fatalf("first holder's Err while the second holds the key: %v, want ErrKeyHeld", r1.Err())
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := r1.Set(ctx, "first-v2"); !errors.Is(err, etcdconf.ErrKeyHeld) || !errors.Is(err, etcdconf.ErrConflict) {
				t.Fatalf("Set while another holds the key: %v, want ErrKeyHeld", err)
			}
			before, err := cli.Get(ctx, "/svc/api-1")
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(1500 * time.Millisecond) // more than a TTL: the first does not take the key back
			resp, err := cli.Get(ctx, "/svc/api-1")
			if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "second" || resp.Kvs[0].ModRevision != before.Kvs[0].ModRevision {
				t.Fatalf("while the second holds the key: %v, was %v; %v", resp.Kvs, before.Kvs, err)
			}
			if err := r2.Close(); err != nil {
				t.Fatal(err)
			}
			waitRegistered(t, cli, r1, "/svc/api-1", 1)
			if resp, err := cli.Get(ctx, "/svc/api-1"); err != nil || string(resp.Kvs[0].Value) != "first" {
				t.Fatalf("after the second holder closed: %v, %v", resp.Kvs, err)
			}

			// An operator's put without a lease: the registration yields,
			// then comes back when the operator deletes the key.
			if _, err := cli.Put(ctx, "/svc/api-1", "manual"); err != nil {
				t.Fatal(err)
			}
			time.Sleep(500 * time.Millisecond)
			if resp, err := cli.Get(ctx, "/svc/api-1"); err != nil || string(resp.Kvs[0].Value) != "manual" || !errors.Is(r1.Err(), etcdconf.ErrKeyHeld) {
				t.Fatalf("after an operator's put: %v, %v; Err %v", resp.Kvs, err, r1.Err())
			}
			if _, err := cli.Delete(ctx, "/svc/api-1"); err != nil {
				t.Fatal(err)
			}
			waitRegistered(t, cli, r1, "/svc/api-1", 2)
		})
	}
}

// TestRegisterErrorsOfTheirOwn: an Exclusive clash and a Set after Close
// say what happened, and still match ErrConflict and ErrClosed.
func TestRegisterErrorsOfTheirOwn(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	ctx := context.Background()
	r, err := etcdconf.Register(ctx, cli, "/svc/api-1", "v", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, err = etcdconf.Register(ctx, cli, "/svc/api-1", "w", time.Second, etcdconf.Exclusive())
	if !errors.Is(err, etcdconf.ErrKeyHeld) || !errors.Is(err, etcdconf.ErrConflict) ||
		strings.Contains(err.Error(), "since they were read") || !strings.Contains(err.Error(), "held by another registration") {
		t.Fatalf("Exclusive clash: %v, want ErrKeyHeld matching ErrConflict", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	err = r.Set(ctx, "x")
	if !errors.Is(err, etcdconf.ErrRegistrationClosed) || !errors.Is(err, etcdconf.ErrClosed) ||
		strings.Contains(err.Error(), "watcher") || !strings.Contains(err.Error(), "registration closed") {
		t.Fatalf("Set after Close: %v, want ErrRegistrationClosed matching ErrClosed", err)
	}
}
