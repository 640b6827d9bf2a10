package main

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/etcdconf/etcdconf/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestWritesKeepLeases: apply keeps the lease of a TTL key whose value it
// changes, --prune never deletes a leased key, and rollback leaves alone a
// key leased at the target revision or now; the output lists what was left
// alone (#20 item 6).
func TestWritesKeepLeases(t *testing.T) {
	srv := etcdtest.Start(t)
	etcd := srv.Client(t)
	ctx := context.Background()
	grant := func() clientv3.LeaseID {
		t.Helper()
		l, err := etcd.Grant(ctx, 60)
		if err != nil {
			t.Fatal(err)
		}
		return l.ID
	}
	leaseOf := func(key string) (int64, bool) {
		t.Helper()
		r, err := etcd.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Kvs) == 0 {
			return 0, false
		}
		return r.Kvs[0].Lease, true
	}
	ttl := grant()
	if _, err := etcd.Put(ctx, "/l/db/port", "5432"); err != nil {
		t.Fatal(err)
	}
	if _, err := etcd.Put(ctx, "/l/override", "on", clientv3.WithLease(ttl)); err != nil {
		t.Fatal(err)
	}
	reg := grant()
	r, err := etcd.Put(ctx, "/l/services/api-1", `{"addr":"a"}`, clientv3.WithLease(reg))
	if err != nil {
		t.Fatal(err)
	}
	registered := r.Header.Revision
	f := writeFile(t, t.TempDir(), "l.yaml", "db:\n  port: 6432\noverride: off\n")
	out, code := cli(t, srv, "apply", "/l/", "-f", f, "--prune", "--yes")
	if code != exitOK || !strings.Contains(out, `~ /l/override: "on" -> "off"`) || strings.Contains(out, "- /l/services/api-1") ||
		!strings.Contains(out, "left alone, 1 key(s):\n  /l/services/api-1 (leased: --prune never deletes a key with a lease)") {
		t.Fatalf("apply --prune: exit %d:\n%s", code, out)
	}
	if l, ok := leaseOf("/l/override"); !ok || l != int64(ttl) {
		t.Errorf("apply over a TTL key: lease %x, want %x", l, ttl)
	}
	if _, ok := leaseOf("/l/services/api-1"); !ok {
		t.Errorf("--prune deleted a leased key")
	}
	if _, err := etcd.Revoke(ctx, reg); err != nil { // the instance is gone
		t.Fatal(err)
	}
	out, code = cli(t, srv, "rollback", "/l/", "--to", strconv.FormatInt(registered, 10), "--yes")
	if code != exitOK || !strings.Contains(out, `~ /l/db/port: "6432" -> "5432"`) || strings.Contains(out, "+ /l/services/api-1") ||
		!strings.Contains(out, "/l/services/api-1 (leased at the target revision or now") || !strings.Contains(out, "/l/override (leased at the target revision or now") {
		t.Fatalf("rollback: exit %d:\n%s", code, out)
	}
	if _, ok := leaseOf("/l/services/api-1"); ok {
		t.Errorf("rollback registered a dead instance again")
	}
	if l, _ := leaseOf("/l/override"); l != int64(ttl) {
		t.Errorf("rollback over a TTL key: lease %x, want %x", l, ttl)
	}
}
