package etcdconf_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
	"github.com/google/go-cmp/cmp"
	clientv3 "go.etcd.io/etcd/client/v3"
	"gopkg.in/yaml.v3"
)

// Regression tests for the write-back defects 6-15 of issue #10.

type regServer struct {
	Host string
	Port int
}

type regCfg struct {
	Name string
	DB   struct {
		Host string
		Port int
		Opts []string
	}
	Tags     []string
	Servers  []regServer
	Services map[string]svc
	Labels   map[string]string
	Limits   *struct{ Max int }
}

// load decodes the prefix afresh, as a new process would.
func load[T any](t *testing.T, cli *clientv3.Client, prefix string, opts ...etcdconf.Option) T {
	t.Helper()
	s, err := etcdconf.Load[T](context.Background(), cli, prefix, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s.Value
}

// refused checks that err names want and that etcd's revision did not move.
func refused(t *testing.T, cli *clientv3.Client, rev int64, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	if strings.Count(err.Error(), "etcdconf:") != 1 {
		t.Errorf("error %q: want the etcdconf: prefix once", err)
	}
	if _, _, now := keysOf(t, cli, "/"); now != rev {
		t.Fatalf("a refused write changed etcd: revision %d -> %d", rev, now)
	}
}

func update[T any](t *testing.T, w *etcdconf.Watcher[T], fn func(*T)) {
	t.Helper()
	if _, err := w.Update(context.Background(), func(c *T) error { fn(c); return nil }); err != nil {
		t.Fatal(err)
	}
}

// Defect 6: map keys are exact, field names loose.
func TestUpdateMapKeysAreExact(t *testing.T) {
	cli := etcdtest.Start(t).Client(t)
	put(t, cli, "/w/services/API-1/addr", "a", "/w/services/API-2/addr", "b")
	w := newWatcher[regCfg](t, cli, "/w/")
	update(t, w, func(c *regCfg) {
		delete(c.Services, "API-1")
		c.Services["api-1"] = svc{Addr: "a2"}
		c.Services["api-2"] = svc{Addr: "c"}
	})
	want := map[string]svc{"api-1": {Addr: "a2"}, "API-2": {Addr: "b"}, "api-2": {Addr: "c"}}
	if got := load[regCfg](t, cli, "/w/").Services; !cmp.Equal(got, want) {
		t.Fatalf("services read back %v, want %v", got, want)
	}
	if vals, _, _ := keysOf(t, cli, "/w/"); vals["/w/services/API-1/addr"] != "" || vals["/w/services/api-2/addr"] != "c" {
		t.Fatalf("etcd holds %v", vals)
	}
}

// Defect 7: a write goes to the key that holds the value; a new key gets
// the canonical spelling.
func TestSetWritesTheExistingSpelling(t *testing.T) {
	cli := etcdtest.Start(t).Client(t)
	put(t, cli, "/w/DB/port", "1")
	w := newWatcher[regCfg](t, cli, "/w/")
	ctx := context.Background()
	if _, err := w.Set(ctx, "DB.Port", 6); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Set(ctx, "DB.Host", "h"); err != nil {
		t.Fatal(err)
	}
	vals, _, _ := keysOf(t, cli, "/w/")
	want := map[string]string{"/w/DB/port": "6", "/w/db/host": "h"}
	if !cmp.Equal(vals, want) {
		t.Fatalf("etcd holds %v, want %v", vals, want)
	}
}

// Defect 8: an unknown path is refused, whatever other keys exist.
func TestSetRefusesEveryUnknownPath(t *testing.T) {
	cli := etcdtest.Start(t).Client(t)
	put(t, cli, "/w/zzz", "an unknown key, ignored", "/w/db/port", "1")
	w := newWatcher[regCfg](t, cli, "/w/")
	_, _, rev := keysOf(t, cli, "/")
	for _, path := range []string{"DB.Prot", "DBB.Port", "Nmae", "DB.Port.X", "Limits.Mx", "Servers.Host", "Tags.A", "Zzz", "Labels2[\"a\"]", `Services["a"].Port`} {
		_, err := w.Set(context.Background(), path, "1")
		refused(t, cli, rev, err, fmt.Sprintf("%q", path), "no field")
		_, err = w.Delete(context.Background(), path)
		refused(t, cli, rev, err, fmt.Sprintf("%q", path), "no field")
	}
}

// Defect 9: slices of structs, and lists holding commas, in documents.
func TestUpdateWithListsInDocuments(t *testing.T) {
	cli := etcdtest.Start(t).Client(t)
	put(t, cli, "/w/servers.yaml", "- host: a\n  port: 1\n", "/w/tags.yaml", `["a,b", "c"]`)
	w := newWatcher[regCfg](t, cli, "/w/")
	before, _, _ := keysOf(t, cli, "/w/")
	update(t, w, func(c *regCfg) { c.Name = "x" })
	after, _, _ := keysOf(t, cli, "/w/")
	if after["/w/servers.yaml"] != before["/w/servers.yaml"] || after["/w/tags.yaml"] != before["/w/tags.yaml"] {
		t.Fatalf("documents rewritten by an unrelated update: %v", after)
	}
	update(t, w, func(c *regCfg) {
		c.Servers = append(c.Servers, regServer{Host: "b", Port: 2})
		c.Tags = append(c.Tags, "d,e")
	})
	got := load[regCfg](t, cli, "/w/")
	if want := []regServer{{"a", 1}, {"b", 2}}; !cmp.Equal(got.Servers, want) {
		t.Errorf("servers %v, want %v", got.Servers, want)
	}
	if want := []string{"a,b", "c", "d,e"}; !cmp.Equal(got.Tags, want) {
		t.Errorf("tags %q, want %q", got.Tags, want)
	}
}

// Defect 10: only the changed leaf is written into the document, which
// keeps its other values and their types; plain keys stay plain keys.
func TestUpdateEditsTheDocumentInPlace(t *testing.T) {
	cli := etcdtest.Start(t).Client(t)
	put(t, cli, "/w/db.yaml", "host: h\nport: 1\nopts: [a, b]\n", "/w/db/host", "override")
	w := newWatcher[regCfg](t, cli, "/w/", etcdconf.WithDefaults(regCfg{Name: "default"}))
	update(t, w, func(c *regCfg) { c.DB.Port = 2 })
	vals, _, _ := keysOf(t, cli, "/w/")
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(vals["/w/db.yaml"]), &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"host": "h", "port": 2, "opts": []any{"a", "b"}}
	if !cmp.Equal(doc, want) {
		t.Fatalf("db.yaml holds %#v, want %#v", doc, want)
	}
	if _, ok := vals["/w/name"]; ok {
		t.Error("a default was written")
	}
	del(t, cli, "/w/db/host")
	if got := load[regCfg](t, cli, "/w/"); got.DB.Host != "h" {
		t.Fatalf("with the plain key deleted, host is %q, want the document's h", got.DB.Host)
	}
}

// Defect 11: strings written into a YAML document read back exactly.
func TestUpdateDocumentStringsRoundTrip(t *testing.T) {
	cli := etcdtest.Start(t).Client(t)
	put(t, cli, "/w/db.yaml", "host: h\n")
	w := newWatcher[regCfg](t, cli, "/w/")
	for _, s := range []string{"\nfoo", "\tfoo\nbar", "foo\n", " lead", "trail ", "true", "1.10", "- x", "a: b", "#c", "\x01\u0085\ufeff", "é\u2028"} {
		update(t, w, func(c *regCfg) { c.DB.Host = s })
		if got := load[regCfg](t, cli, "/w/").DB.Host; got != s {
			t.Errorf("host %q reads back as %q", s, got)
		}
	}
	if vals, _, _ := keysOf(t, cli, "/w/"); len(vals) != 1 {
		t.Fatalf("want the document only, etcd holds %v", vals)
	}
}

// Defect 12: lists a comma list cannot hold are written as a JSON list.
func TestUpdateListsReadBackExactly(t *testing.T) {
	cli := etcdtest.Start(t).Client(t)
	w := newWatcher[regCfg](t, cli, "/w/")
	for _, tags := range [][]string{{"a,b", "c"}, {" a", ""}, {""}, {"[x"}, {"a", "b"}, {}} {
		update(t, w, func(c *regCfg) { c.Tags = tags })
		if got := load[regCfg](t, cli, "/w/").Tags; !cmp.Equal(got, tags) && (len(got)+len(tags) != 0) {
			t.Errorf("tags %q read back as %q", tags, got)
		}
	}
	if vals, _, _ := keysOf(t, cli, "/w/"); vals["/w/tags"] != "" {
		t.Errorf("an empty list is stored as %q", vals["/w/tags"])
	}
	update(t, w, func(c *regCfg) { c.Tags = []string{"a,b"} })
	if vals, _, _ := keysOf(t, cli, "/w/"); vals["/w/tags"] != `["a,b"]` {
		t.Errorf("tags stored as %q, want a JSON list", vals["/w/tags"])
	}
}

// Defect 13: nothing that is not UTF-8 reaches etcd.
func TestUpdateRefusesInvalidUTF8(t *testing.T) {
	cli := etcdtest.Start(t).Client(t)
	put(t, cli, "/w/db.yaml", "host: h\n")
	w := newWatcher[regCfg](t, cli, "/w/")
	_, _, rev := keysOf(t, cli, "/")
	for _, fn := range []func(*regCfg){
		func(c *regCfg) { c.Name = "\xff" },
		func(c *regCfg) { c.DB.Host = "a\xfe" },
		func(c *regCfg) { c.Labels = map[string]string{"\xff": "x"} },
		func(c *regCfg) { c.Tags = []string{"a,b", "\xff"} },
	} {
		_, err := w.Update(context.Background(), func(c *regCfg) error { fn(c); return nil })
		refused(t, cli, rev, err, "UTF-8")
	}
	_, err := w.Set(context.Background(), "Name", "\xff")
	refused(t, cli, rev, err, "UTF-8", `"Name"`)
}

// Defect 14: a value that would not read back is refused, not reported
// as written.
func TestUpdateRefusesClearingADefault(t *testing.T) {
	cli := etcdtest.Start(t).Client(t)
	def := regCfg{Labels: map[string]string{"a": "1"}, Limits: &struct{ Max int }{3}}
	w := newWatcher[regCfg](t, cli, "/w/", etcdconf.WithDefaults(def))
	_, _, rev := keysOf(t, cli, "/")
	_, err := w.Update(context.Background(), func(c *regCfg) error { c.Labels = nil; return nil })
	refused(t, cli, rev, err, "Labels", "default")
	_, err = w.Update(context.Background(), func(c *regCfg) error { c.Labels = map[string]string{}; return nil })
	refused(t, cli, rev, err, "Labels", "default")
	_, err = w.Update(context.Background(), func(c *regCfg) error { c.Limits = nil; return nil })
	refused(t, cli, rev, err, "Limits", "default")

	// With no default, the reason is the key that is not written: a map
	// entry holding a nil pointer would read back as no entry.
	p := newWatcher[struct{ Ptrs map[string]*svc }](t, cli, "/p/")
	_, err = p.Update(context.Background(), func(c *struct{ Ptrs map[string]*svc }) error {
		c.Ptrs = map[string]*svc{"k": nil}
		return nil
	})
	refused(t, cli, rev, err, `Ptrs["k"]`, "writes no key")
}

// Defect 15: a map key holding "/" would read back as another entry.
func TestUpdateRefusesMapKeyWithSlash(t *testing.T) {
	cli := etcdtest.Start(t).Client(t)
	w := newWatcher[regCfg](t, cli, "/w/")
	_, _, rev := keysOf(t, cli, "/")
	_, err := w.Update(context.Background(), func(c *regCfg) error {
		c.Services = map[string]svc{"b/c": {Addr: "x"}}
		return nil
	})
	refused(t, cli, rev, err, `Services["b/c"]`, `"/"`)
	for _, k := range []string{"", "a.yaml"} {
		_, err = w.Update(context.Background(), func(c *regCfg) error {
			c.Services = map[string]svc{k: {Addr: "x"}}
			return nil
		})
		refused(t, cli, rev, err, fmt.Sprintf("Services[%q]", k))
	}
}

// A flat view's entries that a document holds are edited inside it, as a
// struct's are: a changed entry no longer became a plain key shadowing the
// document, and removing one failed with a misleading error about
// defaults.
func TestUpdateFlatViewEditsDocuments(t *testing.T) {
	cli := etcdtest.Start(t).Client(t)
	put(t, cli, "/f/app.yaml", "host: h\nport: 1\nhosts: [a, b]\n", "/f/plain", "p")
	w := newWatcher[map[string]string](t, cli, "/f/")
	update(t, w, func(m *map[string]string) { (*m)["app/port"] = "2" })
	update(t, w, func(m *map[string]string) { delete(*m, "app/host") })
	update(t, w, func(m *map[string]string) { (*m)["app/hosts"] = "c,d" })
	update(t, w, func(m *map[string]string) { (*m)["app/new"] = "n" })
	vals, _, _ := keysOf(t, cli, "/f/")
	if len(vals) != 3 || vals["/f/plain"] != "p" || vals["/f/app/new"] != "n" {
		t.Fatalf("keys %v: want app.yaml, plain and the new entry's own key, nothing shadowing the document", vals)
	}
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(vals["/f/app.yaml"]), &doc); err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"port": "2", "hosts": "c,d"}; !cmp.Equal(doc, want) {
		t.Fatalf("app.yaml holds %#v, want %#v", doc, want)
	}
	want := map[string]string{"app/port": "2", "app/hosts": "c,d", "app/new": "n", "plain": "p"}
	if got := load[map[string]string](t, cli, "/f/"); !cmp.Equal(got, want) {
		t.Fatalf("reads back as %v, want %v", got, want)
	}
	// The same document through a struct reads the edits.
	type app struct {
		App struct {
			Port  int
			Hosts []string
		}
	}
	if got := load[app](t, cli, "/f/"); got.App.Port != 2 || !cmp.Equal(got.App.Hosts, []string{"c", "d"}) {
		t.Fatalf("a struct reads %+v", got.App)
	}
}

// An edited JSON document keeps its layout: indented as it was, or
// compact; only the value changes.
func TestUpdateKeepsJSONLayout(t *testing.T) {
	cli := etcdtest.Start(t).Client(t)
	pretty := "{\n    \"host\": \"h\",\n    \"port\": 1,\n    \"opts\": [\n        \"a\"\n    ]\n}\n"
	put(t, cli, "/j/db.json", pretty, "/j/other.json", `{"host":"o","port":1.10}`)
	type cfg struct {
		DB    regServer
		Other struct {
			Host string
			Port string
		}
	}
	w := newWatcher[cfg](t, cli, "/j/")
	update(t, w, func(c *cfg) { c.DB.Port = 2; c.Other.Host = "p" })
	vals, _, _ := keysOf(t, cli, "/j/")
	if want := "{\n    \"host\": \"h\",\n    \"port\": 2,\n    \"opts\": [\n        \"a\"\n    ]\n}\n"; vals["/j/db.json"] != want {
		t.Errorf("db.json is\n%s\nwant\n%s", vals["/j/db.json"], want)
	}
	if want := `{"host":"p","port":1.10}`; vals["/j/other.json"] != want {
		t.Errorf("other.json is %s, want %s", vals["/j/other.json"], want)
	}
}
