package etcdconf_test

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
)

// TestFlatViewFollowsDocumentLists: a watcher of a flat view
// (map[string]string) takes a document holding lists, a list as its own
// entry, instead of rejecting the revision and staying on the last good
// snapshot; a struct watching the same prefix reads the same lists.
func TestFlatViewFollowsDocumentLists(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/fl/name", "demo")
	flat := newWatcher[map[string]string](t, cli, "/fl/")
	type app struct {
		Hosts []string
		Ports []int
		Tags  []string
		DB    struct{ Ports []string }
	}
	typed := newWatcher[struct{ App app }](t, cli, "/fl/")

	rev := put(t, cli, "/fl/app.yaml", "hosts:\n  - a\n  - b\nports: [1, 2]\ntags: ['x,y', z]\ndb:\n  ports: [1.10, 2024-01-01]\nempty: []\n")
	s := waitFor(t, flat, "the document", func(s *etcdconf.Snapshot[map[string]string]) bool { return s.Revision >= rev })
	want := map[string]string{
		"name":         "demo",
		"app/hosts":    "a,b",
		"app/ports":    "1,2",
		"app/tags":     `["x,y","z"]`,
		"app/db/ports": "1.10,2024-01-01",
		"app/empty":    "",
	}
	if st := flat.Status(); st.Rejected != nil || !maps.Equal(s.Value, want) {
		t.Fatalf("flat view at %d: %q, rejected %v; want %q", s.Revision, s.Value, st.Rejected, want)
	}
	ts := waitFor(t, typed, "the document", func(s *etcdconf.Snapshot[struct{ App app }]) bool { return s.Revision >= rev })
	if a := ts.Value.App; !slices.Equal(a.Hosts, []string{"a", "b"}) || !slices.Equal(a.Tags, []string{"x,y", "z"}) || !slices.Equal(a.DB.Ports, []string{"1.10", "2024-01-01"}) {
		t.Fatalf("struct at %d: %+v", ts.Revision, a)
	}

	// A plain key overrides the list; deleting it uncovers the list again.
	rev = put(t, cli, "/fl/app/hosts", "c")
	s = waitFor(t, flat, "the override", func(s *etcdconf.Snapshot[map[string]string]) bool { return s.Revision >= rev })
	if s.Value["app/hosts"] != "c" {
		t.Fatalf("override: %q", s.Value)
	}
	rev = del(t, cli, "/fl/app/hosts")
	s = waitFor(t, flat, "the override deleted", func(s *etcdconf.Snapshot[map[string]string]) bool { return s.Revision >= rev })
	if s.Value["app/hosts"] != "a,b" {
		t.Fatalf("override deleted: %q", s.Value)
	}

	// An Update through the flat view reads back as written, in both views.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	us, err := flat.Update(ctx, func(m *map[string]string) error {
		(*m)["app/tags"] = `["x,y","w"]`
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if us.Value["app/tags"] != `["x,y","w"]` {
		t.Fatalf("after Update: %q", us.Value)
	}
	ts = waitFor(t, typed, "the update", func(s *etcdconf.Snapshot[struct{ App app }]) bool { return s.Revision >= us.Revision })
	if !slices.Equal(ts.Value.App.Tags, []string{"x,y", "w"}) {
		t.Fatalf("struct after Update: %+v", ts.Value.App)
	}
	if st := flat.Status(); st.Rejections != 0 {
		t.Fatalf("flat view rejected %d revisions: %v", st.Rejections, st.Rejected)
	}
}
