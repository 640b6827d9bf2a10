package etcdconf_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
)

type (
	mapInstance struct {
		Addr   string
		Weight int
		Token  string `etcd:"token,secret"`
	}
	mapRegistry struct {
		Services etcdconf.Map[string, mapInstance]
		Port     int
	}
)

// TestMapEndToEnd: a Map field against a real etcd: load, puts and deletes
// as Changes per entry, WithPaths on one entry, Lookup, Update with With
// and Without, Set and Delete by path, and a restart from the snapshot
// file with etcd down.
func TestMapEndToEnd(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	ctx := context.Background()
	snap := filepath.Join(t.TempDir(), "config.snap")
	put(t, cli, "/reg/services/a/addr", "10.0.0.1", "/reg/services/b.yaml", "addr: 10.0.0.2\nweight: 2\n", "/reg/port", "80")
	w := newWatcher[mapRegistry](t, cli, "/reg/", etcdconf.WithSnapshotFile(snap))
	if s := w.Current().Value.Services; s.Len() != 2 || fmt.Sprint(s) != "map[a:{10.0.0.1 0 } b:{10.0.0.2 2 }]" {
		t.Fatalf("loaded %v", s)
	}
	all := w.Subscribe(ctx)
	onlyB := w.Subscribe(ctx, etcdconf.WithPaths(`Services["b"]`))

	put(t, cli, "/reg/services/a/weight", "3", "/reg/services/c/addr", "10.0.0.3")
	if got := fmt.Sprint(recv(t, all).Changes); got != `[Services["a"].Weight: 0 -> 3 Services["c"]: added {Addr:10.0.0.3 Weight:0 Token:[redacted]}]` {
		t.Errorf("put: %s", got)
	}
	del(t, cli, "/reg/services/b.yaml")
	ev := recv(t, all)
	if got := fmt.Sprint(ev.Changes); got != `[Services["b"]: removed (was {Addr:10.0.0.2 Weight:2 Token:[redacted]})]` {
		t.Errorf("delete: %s", got)
	}
	if _, ok := ev.Old.Value.Services.Get("b"); !ok || ev.New.Value.Services.Len() != 2 {
		t.Errorf("old %v, new %v: the old snapshot changed", ev.Old.Value.Services, ev.New.Value.Services)
	}
	if got := fmt.Sprint(recv(t, onlyB).Changes); !strings.HasPrefix(got, `[Services["b"]: removed`) {
		t.Errorf("WithPaths Services[\"b\"]: %s", got)
	}

	s, err := w.Update(ctx, func(r *mapRegistry) error {
		a, _ := r.Services.Get("a")
		a.Token = "s3cret"
		r.Services = r.Services.With("a", a).With("d", mapInstance{Addr: "10.0.0.4"}).Without("c")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if tok, ok, err := etcdconf.Lookup[string](s, `Services["a"].Token`); tok != "s3cret" || !ok || err != nil {
		t.Errorf("Lookup after Update: %q, %v, %v", tok, ok, err)
	}
	if got := fmt.Sprint(recv(t, all).Changes); got != `[Services["a"].Token: modified [redacted] Services["c"]: removed (was {Addr:10.0.0.3 Weight:0 Token:[redacted]}) Services["d"]: added {Addr:10.0.0.4 Weight:0 Token:[redacted]}]` {
		t.Errorf("Update: %s", got)
	}
	vals, _, _ := keysOf(t, cli, "/reg/")
	if vals["/reg/services/a/token"] != "s3cret" || vals["/reg/services/d/addr"] != "10.0.0.4" || vals["/reg/services/c/addr"] != "" {
		t.Errorf("etcd after Update: %v", vals)
	}

	if _, err := w.Set(ctx, `Services["e"].Addr`, "10.0.0.5"); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(recv(t, all).Changes); got != `[Services["e"]: added {Addr:10.0.0.5 Weight:0 Token:[redacted]}]` {
		t.Errorf("Set: %s", got)
	}
	s, err = w.Delete(ctx, `Services["d"]`)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Value.Services.Get("d"); ok {
		t.Errorf("Delete: d still there: %v", s.Value.Services)
	}
	recv(t, all)
	want := fmt.Sprint(w.Current().Value.Services)

	// Restart with etcd down: the snapshot file gives the same Map.
	w.Close()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	w2, err := etcdconf.New[mapRegistry](ctx, cli, "/reg/", etcdconf.WithSnapshotFile(snap), etcdconf.WithLoadTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if got := fmt.Sprint(w2.Current().Value.Services); got != want || w2.Status().FromSnapshotFile.IsZero() {
		t.Errorf("from the snapshot file: %s, want %s (status %+v)", got, want, w2.Status())
	}
}

// TestMapAsT: New[Map[string, V]] is the registry itself, and WithDefaults
// and WithStrict work on its entries.
func TestMapAsT(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/svc/a/addr", "10.0.0.1", "/svc/b", `{"addr": "10.0.0.2"}`)
	defaults := etcdconf.MapOf(map[string]mapInstance{"z": {Addr: "default"}})
	w := newWatcher[etcdconf.Map[string, mapInstance]](t, cli, "/svc/", etcdconf.WithDefaults(defaults))
	if got := fmt.Sprint(w.Current().Value); got != "map[a:{10.0.0.1 0 } b:{10.0.0.2 0 } z:{default 0 }]" {
		t.Errorf("loaded %s", got)
	}
	updates := w.Subscribe(context.Background())
	put(t, cli, "/svc/a/weight", "7")
	if got := fmt.Sprint(recv(t, updates).Changes); got != `[["a"].Weight: 0 -> 7]` {
		t.Errorf("changes %s", got)
	}
	put(t, cli, "/svc/a/nope", "1")
	_, err := etcdconf.Load[etcdconf.Map[string, mapInstance]](context.Background(), cli, "/svc/", etcdconf.WithStrict())
	if err == nil || !strings.Contains(err.Error(), "/svc/a/nope") {
		t.Errorf("strict: %v", err)
	}
}

// TestMapLayers: defaults, a file, etcd and the environment merge into a
// Map entry by entry, leaf by leaf, as into a Go map.
func TestMapLayers(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	file := filepath.Join(t.TempDir(), "app.yaml")
	if err := os.WriteFile(file, []byte("services:\n  a:\n    addr: file-a\n  b:\n    addr: file-b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	put(t, cli, "/lay/services/a/weight", "4", "/lay/services/c/addr", "etcd-c")
	t.Setenv("MAPLAY_PORT", "90")
	opts := []etcdconf.Option{etcdconf.WithFile(file), etcdconf.WithEnv("MAPLAY")}
	w := newWatcher[mapRegistry](t, cli, "/lay/", append(opts, etcdconf.WithDefaults(mapRegistry{
		Services: etcdconf.MapOf(map[string]mapInstance{"z": {Addr: "default-z"}})}))...)
	type twin struct {
		Services map[string]mapInstance
		Port     int
	}
	g := newWatcher[twin](t, cli, "/lay/", append(opts, etcdconf.WithDefaults(twin{
		Services: map[string]mapInstance{"z": {Addr: "default-z"}}}))...)
	m := w.Current()
	if got, want := fmt.Sprint(m.Value.Services, m.Value.Port), fmt.Sprint(g.Current().Value.Services, g.Current().Value.Port); got != want ||
		!strings.Contains(got, "a:{file-a 4 }") || !strings.Contains(got, "z:{default-z 0 }") || !strings.HasSuffix(got, " 90") {
		t.Errorf("Map %s, Go map %s", got, want)
	}
	if src, gsrc := m.Source(`Services["a"].Addr`), g.Current().Source(`Services["a"].Addr`); src != gsrc || !strings.Contains(src, "app.yaml") {
		t.Errorf("Source of Services[\"a\"].Addr: %q, a Go map's %q", src, gsrc)
	}
}

// TestMapEntryKeys: a map entry that no key can name (an empty key, a "/"
// in an entry of structs) is refused by Set and Delete with the reason, in
// a Map as in a Go map, and nothing is written.
func TestMapEntryKeys(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	ctx := context.Background()
	put(t, cli, "/ek/services/a/addr", "10.0.0.1", "/ek/port", "80")
	m := newWatcher[mapRegistry](t, cli, "/ek/")
	g := newWatcher[struct{ Services map[string]mapInstance }](t, cli, "/ek/")
	flat := newWatcher[map[string]string](t, cli, "/ek/")
	rev := m.Current().Revision
	for _, path := range []string{`Services[""].Addr`, `Services[""]`, `Services["a/b"].Addr`, `Services["a/b"]`} {
		why := "empty map key"
		if strings.Contains(path, "/") {
			why = `holds "/"`
		}
		check := func(what string, err error) {
			t.Helper()
			if err == nil || !strings.Contains(err.Error(), why) {
				t.Errorf("%s %s: %v; want an error saying %q", what, path, err, why)
			}
		}
		if strings.HasSuffix(path, "]") {
			_, err := m.Delete(ctx, path)
			check("Map: Delete", err)
			_, err = g.Delete(ctx, path)
			check("Go map: Delete", err)
			continue
		}
		_, err := m.Set(ctx, path, "x")
		check("Map: Set", err)
		_, err = g.Set(ctx, path, "x")
		check("Go map: Set", err)
	}
	_, err := flat.Delete(ctx, `[""]`)
	if err == nil || !strings.Contains(err.Error(), "empty map key") {
		t.Errorf(`flat view: Delete [""]: %v`, err)
	}
	if _, err := flat.Set(ctx, `[""]`, "x"); err == nil || !strings.Contains(err.Error(), "empty map key") {
		t.Errorf(`flat view: Set [""]: %v`, err)
	}
	// A name the encoder refuses is refused by Set too: else every
	// Update after it would fail.
	for _, path := range []string{`Services["b.yaml"].Addr`, `Services["b.json"].Weight`} {
		if _, err := m.Set(ctx, path, "10.0.0.2"); err == nil || !strings.Contains(err.Error(), "makes a key a document") {
			t.Errorf("Map: Set %s: %v; want the document-name error", path, err)
		}
		if _, err := g.Set(ctx, path, "10.0.0.2"); err == nil || !strings.Contains(err.Error(), "makes a key a document") {
			t.Errorf("Go map: Set %s: %v; want the document-name error", path, err)
		}
	}
	if _, _, now := keysOf(t, cli, "/ek/"); now != rev {
		t.Errorf("etcd's revision moved from %d to %d: something was written", rev, now)
	}

	// An entry read from etcd is deleted by the path its change names,
	// whatever its name holds.
	updates := m.Subscribe(ctx)
	put(t, cli, "/ek/services/\xff/addr", "10.0.0.9", "/ek/services/b.yaml/addr", "10.0.0.8")
	for _, c := range recv(t, updates).Changes {
		if _, err := m.Delete(ctx, c.Path); err != nil {
			t.Errorf("Delete %s: %v", c.Path, err)
		}
	}
	if s := m.Current().Value.Services; s.Len() != 1 {
		t.Errorf("after the deletes: %v", s)
	}
}
