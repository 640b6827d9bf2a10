package main

import (
	"context"
	"strings"
	"testing"

	"github.com/etcdconf/etcdconf/etcdtest"
)

// TestFileWithTwoDocumentsIsRefused: a -f file with a second document that
// is not empty is an error naming the file and the line, and --prune does
// not delete what the second document holds; a leading "---" and empty
// documents stay valid (#20 item 3).
func TestFileWithTwoDocumentsIsRefused(t *testing.T) {
	srv := etcdtest.Start(t)
	etcd := srv.Client(t)
	ctx := context.Background()
	if _, err := etcd.Put(ctx, "/app/b", "2"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	two := writeFile(t, dir, "two.yaml", "a: \"1\"\n---\nb: \"2\"\n")
	for _, args := range [][]string{
		{"apply", "/app/", "-f", two, "--prune", "--yes"},
		{"apply", "/app/", "-f", two, "--prune", "--dry-run"},
		{"diff", "/app/", "-f", two, "--prune"},
	} {
		out, code := cli(t, srv, args...)
		if code != exitError || !strings.Contains(out, two+": line 2: a second YAML document") {
			t.Errorf("%v: exit %d, want %d naming the file and line:\n%s", args, code, exitError, out)
		}
	}
	if got, _ := etcd.Get(ctx, "/app/b"); len(got.Kvs) != 1 {
		t.Fatal("--prune deleted /app/b, which the second document holds")
	}
	ok := writeFile(t, dir, "ok.yaml", "---\na: \"1\"\nb: \"2\"\n---\n# nothing more\n")
	if out, code := cli(t, srv, "apply", "/app/", "-f", ok, "--prune", "--yes"); code != exitOK || !strings.Contains(out, `+ /app/a = "1"`) {
		t.Fatalf("a leading --- and an empty document: exit %d:\n%s", code, out)
	}
}
