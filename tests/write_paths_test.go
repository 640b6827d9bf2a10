package etcdconf_test

import (
	"context"
	"testing"

	"github.com/etcdconf/etcdconf/etcdtest"
)

// TestSetAndDeleteTakeGoPaths: Set and Delete take Go paths, as Change.Path
// prints them, like every other call that takes a path; a key-style path
// or a full key gets a hint naming the Go path meant, and paths with no key
// of their own (the whole value, a list element) are refused by name.
// Nothing is written for any of them.
func TestSetAndDeleteTakeGoPaths(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/c/db/port", "1", "/c/services/a/addr", "x", "/c/tags", "a,b")
	w := newWatcher[writable](t, cli, "/c/")
	ctx := context.Background()
	_, _, rev := keysOf(t, cli, "/")
	for _, tc := range []struct{ path, says string }{
		{"db/port", `Go paths, as Change.Path prints them: DB.Port)`},
		{"services/a/addr", `Go paths, as Change.Path prints them: Services["a"].Addr)`},
		{"/c/db/port", `Go paths, as Change.Path prints them: DB.Port)`},
		{"nope", `has no field "nope"`},
		{"", "the whole value, which has no key of its own"},
		{"Tags[0]", "Tags[0] is a list element, which has no key of its own"},
		{`Services["a/b"]`, `Services["a/b"]: the map key holds "/", which separates key segments`},
	} {
		_, err := w.Set(ctx, tc.path, 2)
		refused(t, cli, rev, err, tc.says)
		_, err = w.Delete(ctx, tc.path)
		refused(t, cli, rev, err, tc.says)
	}
	// Every path a change reports is one Set and Delete take.
	updates := w.Subscribe(ctx)
	if _, err := w.Set(ctx, `Services["b"].Addr`, "y"); err != nil {
		t.Fatal(err)
	}
	u := <-updates
	if len(u.Changes) != 1 || u.Changes[0].Path != `Services["b"]` {
		t.Fatalf("changes %v", u.Changes)
	}
	if s, err := w.Delete(ctx, u.Changes[0].Path); err != nil || len(s.Value.Services) != 1 {
		t.Fatalf("Delete(%s): %v, %v", u.Changes[0].Path, s, err)
	}
	if vals, _, _ := keysOf(t, cli, "/c/"); vals["/c/services/a/addr"] != "x" || len(vals) != 3 {
		t.Fatalf("etcd holds %v", vals)
	}
}
