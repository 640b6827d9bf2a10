package main

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/etcdconf/etcdconf/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestPrefixWithoutSlashIsRefused: a prefix that does not end in "/" would
// match /apple and /app-secrets: every command refuses it, exit 2, and
// nothing is written or deleted (#20 item 2).
func TestPrefixWithoutSlashIsRefused(t *testing.T) {
	srv := etcdtest.Start(t)
	etcd := srv.Client(t)
	ctx := context.Background()
	for k, v := range map[string]string{"/app/db/host": "x", "/apple/color": "red", "/app-secrets/token": "s"} {
		if _, err := etcd.Put(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	f := writeFile(t, t.TempDir(), "app.yaml", "db:\n  host: y\n")
	for _, args := range [][]string{
		{"apply", "/app", "-f", f, "--prune", "--yes"},
		{"apply", "/app", "-f", f, "--dry-run"},
		{"diff", "/app", "-f", f},
		{"get", "/app"},
		{"watch", "/app"},
		{"history", "/app"},
		{"rollback", "/app", "--to", "2", "--yes"},
	} {
		out, code := cli(t, srv, args...)
		if code != exitError || !strings.Contains(out, `does not end in "/"`) || !strings.Contains(out, `use "/app/"`) {
			t.Errorf("%v: exit %d, want %d refusing the prefix:\n%s", args, code, exitError, out)
		}
	}
	got, _ := cli(t, srv, "get", "/", "-o", "keys")
	for _, want := range []string{"/app/db/host = x", "/apple/color = red", "/app-secrets/token = s"} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("etcd lacks %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, "/appdb") {
		t.Errorf("a key was written beside the prefix:\n%s", got)
	}
}

// TestPruneListsWhatItDeletes: apply --prune shows every key it will
// delete before it writes (and before it would ask).
func TestPruneListsWhatItDeletes(t *testing.T) {
	srv := etcdtest.Start(t)
	etcd := srv.Client(t)
	ctx := context.Background()
	etcd.Put(ctx, "/p/a", "1")
	etcd.Put(ctx, "/p/gone", "2")
	f := writeFile(t, t.TempDir(), "p.yaml", "a: 1\n")
	out, code := cli(t, srv, "apply", "/p/", "-f", f, "--prune") // no terminal, no --yes: refused after listing
	if code != exitError || !strings.Contains(out, "- /p/gone") || strings.Index(out, "- /p/gone") > strings.Index(out, "--yes") {
		t.Fatalf("exit %d: the deletion is not listed before asking:\n%s", code, out)
	}
}

// TestDocumentKeyPrefix: a prefix that is a document key is that one key:
// get, diff, apply and rollback read and write it alone, never
// /app/config.yaml.bak beside it (#20 item 2).
func TestDocumentKeyPrefix(t *testing.T) {
	srv := etcdtest.Start(t)
	etcd := srv.Client(t)
	ctx := context.Background()
	if _, err := etcd.Put(ctx, "/app/config.yaml", "db:\n  host: x\n  port: 1\n"); err != nil {
		t.Fatal(err)
	}
	r, err := etcd.Put(ctx, "/app/config.yaml.bak", "old: true\n")
	if err != nil {
		t.Fatal(err)
	}
	seeded := r.Header.Revision
	out, code := cli(t, srv, "get", "/app/config.yaml")
	if code != 0 || strings.Contains(out, "old") || !strings.Contains(out, "host: x") {
		t.Fatalf("get: exit %d:\n%s", code, out)
	}
	dir := t.TempDir()
	f := writeFile(t, dir, "c.yaml", "db:\n  host: y\n  port: 1\n")
	out, code = cli(t, srv, "diff", "/app/config.yaml", "-f", f)
	if code != exitDiffers || !strings.Contains(out, `~ /app/config.yaml#db/host: "x" -> "y"`) || strings.Contains(out, "old") {
		t.Fatalf("diff: exit %d:\n%s", code, out)
	}
	out, code = cli(t, srv, "apply", "/app/config.yaml", "-f", f, "--yes")
	if code != 0 {
		t.Fatalf("apply: exit %d:\n%s", code, out)
	}
	got, _ := etcd.Get(ctx, "/app/", clientv3.WithPrefix())
	if len(got.Kvs) != 2 {
		t.Fatalf("apply wrote other keys: %v", got.Kvs)
	}
	for _, kv := range got.Kvs {
		if string(kv.Key) == "/app/config.yaml" && string(kv.Value) != "db:\n  host: y\n  port: 1\n" {
			t.Errorf("the document key holds %q", kv.Value)
		}
		if string(kv.Key) == "/app/config.yaml.bak" && string(kv.Value) != "old: true\n" {
			t.Errorf("the .bak key changed: %q", kv.Value)
		}
	}
	// A file that lacks a path the document holds needs --prune.
	short := writeFile(t, dir, "short.yaml", "db:\n  host: y\n")
	if out, code := cli(t, srv, "apply", "/app/config.yaml", "-f", short, "--yes"); code != exitError || !strings.Contains(out, "/app/config.yaml#db/port") {
		t.Fatalf("apply without --prune: exit %d:\n%s", code, out)
	}
	out, code = cli(t, srv, "rollback", "/app/config.yaml", "--to", strconv.FormatInt(seeded, 10), "--yes")
	if code != 0 || strings.Contains(out, ".bak") {
		t.Fatalf("rollback: exit %d:\n%s", code, out)
	}
	v, _ := etcd.Get(ctx, "/app/config.yaml")
	if string(v.Kvs[0].Value) != "db:\n  host: x\n  port: 1\n" {
		t.Errorf("rollback left %q", v.Kvs[0].Value)
	}
}
