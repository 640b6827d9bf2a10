package etcdconf

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

type loggedUser struct {
	Name string
	PIN  string `etcd:"pin,secret"`
}

type loggedCfg struct {
	Note     string
	Password string `etcd:"password,secret"`
	Users    []loggedUser
	ByName   map[string]loggedUser
}

// TestEventAndSnapshotLogValue: slog.Any of an Event or a Snapshot, with
// slog's JSON and text handlers, logs revisions and changes with secrets
// withheld, never a whole value (issue 18, item 12).
func TestEventAndSnapshotLogValue(t *testing.T) {
	w, set, err := NewStatic(loggedCfg{Note: "UNCHANGED-NOTE", Password: "SECRET-1",
		Users: []loggedUser{{Name: "a", PIN: "SECRET-2"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch := w.Subscribe(ctx)
	if err := set(loggedCfg{Note: "UNCHANGED-NOTE", Password: "SECRET-3",
		Users:  []loggedUser{{Name: "b", PIN: "SECRET-4"}},
		ByName: map[string]loggedUser{"u": {Name: "u", PIN: "SECRET-5"}}}); err != nil {
		t.Fatal(err)
	}
	var ev Event[loggedCfg]
	select {
	case ev = <-ch:
	case <-ctx.Done():
		t.Fatal("no event")
	}
	var out strings.Builder
	for _, h := range []slog.Handler{slog.NewJSONHandler(&out, nil), slog.NewTextHandler(&out, nil)} {
		slog.New(h).Info("changed", "event", ev, "snapshot", ev.New, "old", ev.Old)
	}
	got := out.String()
	if strings.Contains(got, "SECRET-") || strings.Contains(got, "UNCHANGED-NOTE") {
		t.Fatalf("a secret or a whole value was logged:\n%s", got)
	}
	for _, want := range []string{`"event":{"from":1,"revision":2,`, `"snapshot":{"revision":2,`, `Password: modified [redacted]`,
		`ByName[\"u\"]: added {Name:u PIN:[redacted]}`, "event.revision=2", "old.revision=1"} {
		if !strings.Contains(got, want) {
			t.Errorf("the log lacks %s:\n%s", want, got)
		}
	}
}
