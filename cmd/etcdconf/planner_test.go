package main

import (
	"context"
	"strings"
	"testing"

	"github.com/etcdconf/etcdconf/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// keysOf returns what etcd holds under prefix.
func keysOf(t *testing.T, etcd *clientv3.Client, prefix string) map[string]string {
	t.Helper()
	resp, err := etcd.Get(context.Background(), prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = string(kv.Value)
	}
	return out
}

func equalKeys(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestApplyOverJSONValue: a value held as one JSON value in a plain key (a
// registration, as Register writes it; a struct field held whole) is
// compared as that structure: the same value in the file is no change, and
// a change inside it rewrites the key in place, never a key under it
// (#20 item 1). Before the shared planner, diff exited 1 with
// "+ /svc/api-2/addr = b" and apply wrote /svc/api-2/addr beside
// /svc/api-2, a prefix no New or Load decodes.
func TestApplyOverJSONValue(t *testing.T) {
	srv := etcdtest.Start(t)
	etcd := srv.Client(t)
	ctx := context.Background()
	dir := t.TempDir()
	for _, tc := range []struct {
		prefix, key, held string
		same, changed     string
		want, shown       string
	}{
		{"/svc/", "/svc/api-2", `{"addr":"b"}`, "api-2: {addr: b}\n", "api-2: {addr: c}\n", `{"addr":"c"}`, `~ /svc/api-2#addr: "b" -> "c"`},
		{"/app/", "/app/db", `{"host":"x","port":1}`, "db: {host: x, port: 1}\n", "db: {host: x, port: 2}\n", `{"host":"x","port":2}`, `~ /app/db#port: "1" -> "2"`},
		{"/doc/", "/doc/db.yaml", "host: x\nport: 1\n", "db: {host: x, port: 1}\n", "db: {host: x, port: 2}\n", "host: x\nport: 2\n", `~ /doc/db.yaml#port: "1" -> "2"`},
	} {
		if _, err := etcd.Put(ctx, tc.key, tc.held); err != nil {
			t.Fatal(err)
		}
		same := writeFile(t, dir, "same.yaml", tc.same)
		if out, code := cli(t, srv, "diff", tc.prefix, "-f", same); code != exitOK || !strings.Contains(out, "matches") {
			t.Errorf("diff %s with the value held: exit %d, want %d:\n%s", tc.key, code, exitOK, out)
		}
		if out, code := cli(t, srv, "apply", tc.prefix, "-f", same, "--yes"); code != exitOK || !strings.Contains(out, "nothing to change") {
			t.Errorf("apply %s with the value held: exit %d:\n%s", tc.key, code, out)
		}
		if got := keysOf(t, etcd, tc.prefix); !equalKeys(got, map[string]string{tc.key: tc.held}) {
			t.Fatalf("after applying the same value, %s holds %v", tc.prefix, got)
		}
		changed := writeFile(t, dir, "changed.yaml", tc.changed)
		if out, code := cli(t, srv, "diff", tc.prefix, "-f", changed); code != exitDiffers || !strings.Contains(out, tc.shown) {
			t.Errorf("diff a change inside %s: exit %d, want %d showing %s:\n%s", tc.key, code, exitDiffers, tc.shown, out)
		}
		out, code := cli(t, srv, "apply", tc.prefix, "-f", changed, "--yes")
		if code != exitOK {
			t.Fatalf("apply a change inside %s: exit %d:\n%s", tc.key, code, out)
		}
		if got := keysOf(t, etcd, tc.prefix); !equalKeys(got, map[string]string{tc.key: tc.want}) {
			t.Fatalf("a change inside %s: %s holds %v, want it rewritten in place:\n%s", tc.key, tc.prefix, got, out)
		}
	}
}

// TestApplyRefusesWhatDoesNotDecode: a plan whose result the library would
// not decode for any T (a value and keys under it at one path) is refused
// with exit 2 naming the keys, and nothing is written.
func TestApplyRefusesWhatDoesNotDecode(t *testing.T) {
	srv := etcdtest.Start(t)
	etcd := srv.Client(t)
	if _, err := etcd.Put(context.Background(), "/app/db", "x"); err != nil {
		t.Fatal(err)
	}
	f := writeFile(t, t.TempDir(), "app.yaml", "db: {host: y}\n")
	for _, args := range [][]string{
		{"apply", "/app/", "-f", f, "--yes"},
		{"apply", "/app/", "-f", f, "--dry-run"},
		{"diff", "/app/", "-f", f},
	} {
		out, code := cli(t, srv, args...)
		if code != exitError || !strings.Contains(out, "/app/db, /app/db/host") {
			t.Errorf("%v: exit %d, want %d naming /app/db and /app/db/host:\n%s", args, code, exitError, out)
		}
	}
	if got := keysOf(t, etcd, "/app/"); !equalKeys(got, map[string]string{"/app/db": "x"}) {
		t.Fatalf("refused, yet /app/ holds %v", got)
	}
}

// TestApplyWritesTheKeyThatHoldsTheValue: keys equal under the library's
// loose field matching are one key: with /app/DB/Port held, a file's
// db.port is written to /app/DB/Port, and a new key beside it takes its
// spelling (#20 item 4). Before the shared planner, apply added
// /app/db/port beside /app/DB/Port, two spellings no New decodes.
func TestApplyWritesTheKeyThatHoldsTheValue(t *testing.T) {
	srv := etcdtest.Start(t)
	etcd := srv.Client(t)
	if _, err := etcd.Put(context.Background(), "/app/DB/Port", "5432"); err != nil {
		t.Fatal(err)
	}
	f := writeFile(t, t.TempDir(), "app.yaml", "db: {port: 6432, host: h}\n")
	out, code := cli(t, srv, "apply", "/app/", "-f", f, "--yes")
	if code != exitOK {
		t.Fatalf("apply: exit %d:\n%s", code, out)
	}
	want := map[string]string{"/app/DB/Port": "6432", "/app/DB/host": "h"}
	if got := keysOf(t, etcd, "/app/"); !equalKeys(got, want) {
		t.Fatalf("/app/ holds %v, want %v:\n%s", got, want, out)
	}
	if out, code := cli(t, srv, "diff", "/app/", "-f", f, "--prune"); code != exitOK {
		t.Fatalf("diff --prune after apply: exit %d:\n%s", code, out)
	}
}

// TestPruneKeepsLeasedJSONValue: --prune over registrations held as JSON
// values rewrites a leased one in place keeping its lease, and never
// deletes one the file lacks.
func TestPruneKeepsLeasedJSONValue(t *testing.T) {
	srv := etcdtest.Start(t)
	etcd := srv.Client(t)
	ctx := context.Background()
	lease, err := etcd.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"/svc/api-1", "/svc/api-2"} {
		if _, err := etcd.Put(ctx, k, `{"addr":"a","weight":1}`, clientv3.WithLease(lease.ID)); err != nil {
			t.Fatal(err)
		}
	}
	f := writeFile(t, t.TempDir(), "svc.yaml", "api-2: {addr: b}\n")
	out, code := cli(t, srv, "apply", "/svc/", "-f", f, "--prune", "--yes")
	if code != exitOK || !strings.Contains(out, "/svc/api-1 (leased") {
		t.Fatalf("apply --prune: exit %d:\n%s", code, out)
	}
	want := map[string]string{"/svc/api-1": `{"addr":"a","weight":1}`, "/svc/api-2": `{"addr":"b"}`}
	if got := keysOf(t, etcd, "/svc/"); !equalKeys(got, want) {
		t.Fatalf("/svc/ holds %v, want %v:\n%s", got, want, out)
	}
	resp, err := etcd.Get(ctx, "/svc/api-2")
	if err != nil || len(resp.Kvs) != 1 || resp.Kvs[0].Lease != int64(lease.ID) {
		t.Fatalf("/svc/api-2 lost its lease: %v %v", resp, err)
	}
}
