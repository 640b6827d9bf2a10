package etcdconf_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
)

func recv[T any](t *testing.T, ch <-chan etcdconf.Event[T]) etcdconf.Event[T] {
	t.Helper()
	select {
	case u, ok := <-ch:
		if !ok {
			t.Fatal("subscription closed")
		}
		return u
	case <-time.After(15 * time.Second):
		t.Fatal("no update within 15s")
	}
	panic("unreachable")
}

func TestSubscribeDeliversEachChangeWithOldAndNew(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/app/db/port", "1")
	w := newWatcher[appConfig](t, cli, "/app/")
	first := w.Current()
	ch := w.Subscribe(context.Background())

	rev := put(t, cli, "/app/db/port", "2")
	u := recv(t, ch)
	if u.Old != first || u.New.Revision != rev || u.New.Value.DB.Port != 2 {
		t.Fatalf("update %+v -> %+v, want from the subscribed snapshot to port 2 at %d", u.Old, u.New, rev)
	}
	if len(u.Changes) == 0 {
		t.Fatal("update has no changes")
	}
	rev = put(t, cli, "/app/db/port", "3")
	u2 := recv(t, ch)
	if u2.Old != u.New || u2.New.Revision != rev {
		t.Fatalf("second update Old is not the first update's New")
	}
}

func TestSlowSubscriberGetsOneMergedUpdate(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/app/db/port", "0")
	w := newWatcher[appConfig](t, cli, "/app/")
	base := w.Current()
	ch := w.Subscribe(context.Background())
	fast := w.Subscribe(context.Background())
	var last int64
	for i := 1; i <= 50; i++ {
		last = put(t, cli, "/app/db/port", strconv.Itoa(i))
	}
	// The fast subscriber drains as it goes, so the watcher cannot be waiting on the slow one.
	for {
		u := recv(t, fast)
		if u.New.Revision == last {
			break
		}
	}
	waitFor(t, w, "last write", func(s *etcdconf.Snapshot[appConfig]) bool { return s.Revision == last })
	time.Sleep(50 * time.Millisecond) // let the slow subscriber see the last ring
	u := recv(t, ch)
	if u.Old != base {
		t.Fatalf("merged update Old = rev %d, want the snapshot seen last (rev %d)", u.Old.Revision, base.Revision)
	}
	if u.New.Revision != last || u.New.Value.DB.Port != 50 {
		t.Fatalf("merged update New = rev %d port %d, want rev %d port 50", u.New.Revision, u.New.Value.DB.Port, last)
	}
	select {
	case u := <-ch:
		t.Fatalf("extra update after the merged one: %d -> %d", u.Old.Revision, u.New.Revision)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestSubscribeWithPathsAndInitial(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/app/name", "a", "/app/db/port", "1")
	w := newWatcher[appConfig](t, cli, "/app/")
	ch := w.Subscribe(context.Background(), etcdconf.WithPaths("DB"), etcdconf.WithInitial())

	u := recv(t, ch)
	if u.Old != nil || u.New != w.Current() {
		t.Fatalf("initial update: Old %v New rev %d", u.Old, u.New.Revision)
	}
	put(t, cli, "/app/name", "b") // not under DB: filtered out
	rev := put(t, cli, "/app/db/port", "2")
	u = recv(t, ch)
	if u.New.Revision != rev {
		t.Fatalf("got revision %d, want only the DB change at %d", u.New.Revision, rev)
	}
	for _, c := range u.Changes {
		if !c.Under("DB") {
			t.Fatalf("change %v is not under DB", c)
		}
	}
	if len(u.Changes) == 0 {
		t.Fatal("no changes")
	}
}

func TestSubscribeContextEndsSubscription(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	w := newWatcher[appConfig](t, cli, "/app/")
	ctx, cancel := context.WithCancel(context.Background())
	ch := w.Subscribe(ctx)
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("update after cancel")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed after ctx end")
	}
}

type limitsConfig struct {
	Limits   *struct{ Max int }
	Services map[string]struct{ Addr string }
}

// Defect 20: a value appearing at an ancestor of a WithPaths path (a nil
// pointer set, a nil map gaining its first entry) was filtered out.
func TestSubscribeWithPathsDeliversAncestorChanges(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	w := newWatcher[limitsConfig](t, cli, "/app/")
	limits := w.Subscribe(context.Background(), etcdconf.WithPaths("Limits.Max"))
	svc := w.Subscribe(context.Background(), etcdconf.WithPaths(`Services["a"]`))

	rev := put(t, cli, "/app/limits/max", "3")
	u := recv(t, limits)
	if u.New.Revision != rev || len(u.Changes) != 1 || u.Changes[0].Path != "Limits" || u.Changes[0].Kind != etcdconf.ChangeAdded {
		t.Fatalf("WithPaths(Limits.Max) got %v at %d, want Limits added at %d", u.Changes, u.New.Revision, rev)
	}
	rev = put(t, cli, "/app/services/a/addr", "10.0.0.1:80")
	u = recv(t, svc)
	if u.New.Revision != rev || len(u.Changes) != 1 || u.Changes[0].Path != `Services["a"]` {
		t.Fatalf(`WithPaths(Services["a"]) got %v at %d, want Services["a"] added at %d`, u.Changes, u.New.Revision, rev)
	}
}

// Issue 14 item 6: the first update of WithInitial lists as added every
// field that differs from the zero value, and only those.
func TestSubscribeInitialReportsNonZeroFieldsAsAdded(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/app/name", "a", "/app/db/port", "1", "/app/debug", "false")
	w := newWatcher[appConfig](t, cli, "/app/")
	u := recv(t, w.Subscribe(context.Background(), etcdconf.WithInitial()))
	var got []string
	for _, c := range u.Changes {
		got = append(got, c.String())
	}
	want := []string{`DB.Port: added 1`, `Name: added "a"`}
	if !slices.Equal(got, want) {
		t.Fatalf("initial changes %q, want %q (Debug=false and DB.Host are zero: not listed)", got, want)
	}
}

// TestSubscribeRefusesUnknownPaths: a path that leads nowhere in T (a
// key's spelling, a misspelt field) is a bug the caller sees at once.
func TestSubscribeRefusesUnknownPaths(t *testing.T) {
	type cfg struct{ DB struct{ Port int } }
	w, _, err := etcdconf.NewStatic(cfg{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, p := range []string{"db", "DB/Port", "DB.Prot"} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), p) {
					t.Errorf("WithPaths(%q): recovered %v, want a panic naming the path", p, r)
				}
			}()
			w.Subscribe(context.Background(), etcdconf.WithPaths(p))
		}()
	}
	w.Subscribe(context.Background(), etcdconf.WithPaths("DB.Port")) // a good path does not panic
}
