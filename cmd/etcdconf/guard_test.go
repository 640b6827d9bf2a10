package main

import (
	"context"
	"strings"
	"testing"

	"github.com/etcdconf/etcdconf/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestApplyGuardsTheWholePrefix: apply's transaction is guarded by the
// revision it read, over the whole prefix: a put to a key the plan does not
// touch, or a new key, between the read and the commit gives exit 3 and
// nothing written; a key deleted meanwhile is found after the commit and
// reported, exit 3, naming it (#20 item 5).
func TestApplyGuardsTheWholePrefix(t *testing.T) {
	srv := etcdtest.Start(t)
	etcd := srv.Client(t)
	ctx := context.Background()
	seed := func() {
		t.Helper()
		if _, err := etcd.Delete(ctx, "/g/", clientv3.WithPrefix()); err != nil {
			t.Fatal(err)
		}
		for k, v := range map[string]string{"/g/a": "1", "/g/b": "2", "/g/c": "3"} {
			if _, err := etcd.Put(ctx, k, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	f := writeFile(t, t.TempDir(), "g.yaml", "a: \"10\"\nb: \"2\"\nc: \"3\"\n")
	defer func() { beforeCommit = nil }()
	for name, concurrent := range map[string]func(){
		"put to an untouched key": func() { etcd.Put(ctx, "/g/b", "20") },
		"a new key":               func() { etcd.Put(ctx, "/g/new", "x") },
	} {
		seed()
		beforeCommit = func() { concurrent(); beforeCommit = nil }
		out, code := cli(t, srv, "apply", "/g/", "-f", f, "--yes")
		if code != exitConflict || !strings.Contains(out, "nothing was written") {
			t.Errorf("%s: exit %d, want %d:\n%s", name, code, exitConflict, out)
		}
		if r, _ := etcd.Get(ctx, "/g/a"); string(r.Kvs[0].Value) != "1" {
			t.Errorf("%s: /g/a = %q: the apply wrote", name, r.Kvs[0].Value)
		}
	}
	for name, tt := range map[string]struct {
		file, says string
	}{
		"an untouched key deleted": {f, "/g/c (deleted meanwhile; etcd no longer holds it)"},
		"a changed key deleted":    {writeFile(t, t.TempDir(), "g.yaml", "a: \"1\"\nb: \"2\"\nc: \"30\"\n"), `/g/c (deleted meanwhile; this write created it again with "30")`},
	} {
		seed()
		beforeCommit = func() { etcd.Delete(ctx, "/g/c"); beforeCommit = nil }
		out, code := cli(t, srv, "apply", "/g/", "-f", tt.file, "--yes")
		if code != exitConflict || !strings.Contains(out, tt.says) || !strings.Contains(out, "written at revision") {
			t.Errorf("%s: exit %d, want %d naming the key:\n%s", name, code, exitConflict, out)
		}
	}
}

// TestTwoAppliesRacing: two applies read the same revision; the second to
// commit fails (exit 3) even though they change different keys, so etcd
// matches one of the files, not a mix of both.
func TestTwoAppliesRacing(t *testing.T) {
	srv := etcdtest.Start(t)
	dir := t.TempDir()
	seedFile := writeFile(t, dir, "seed.yaml", "a: \"1\"\nb: \"1\"\n")
	if out, code := cli(t, srv, "apply", "/r/", "-f", seedFile, "--yes"); code != 0 {
		t.Fatalf("seed: exit %d\n%s", code, out)
	}
	one := writeFile(t, dir, "one.yaml", "a: \"2\"\nb: \"1\"\n")
	two := writeFile(t, dir, "two.yaml", "a: \"1\"\nb: \"2\"\n")
	defer func() { beforeCommit = nil }()
	var inner string
	var innerCode int
	beforeCommit = func() {
		beforeCommit = nil
		inner, innerCode = cli(t, srv, "apply", "/r/", "-f", two, "--yes")
	}
	out, code := cli(t, srv, "apply", "/r/", "-f", one, "--yes")
	if innerCode != 0 || code != exitConflict {
		t.Fatalf("the apply that committed first: exit %d\n%s\nthe one that read first: exit %d, want %d\n%s", innerCode, inner, code, exitConflict, out)
	}
	got, _ := cli(t, srv, "get", "/r/", "-o", "keys")
	if !strings.Contains(got, "/r/a = 1\n") || !strings.Contains(got, "/r/b = 2\n") {
		t.Fatalf("etcd matches neither file:\n%s", got)
	}
}
