package etcdconf

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func snap[T any](v T, rev int64, pairs ...string) *Snapshot[T] {
	kvs := map[string]*KeyValue{}
	for i := 0; i < len(pairs); i += 2 {
		kvs["/app/"+pairs[i]] = &KeyValue{Key: "/app/" + pairs[i], Value: []byte(pairs[i+1]), ModRevision: rev}
	}
	return &Snapshot[T]{Value: v, Revision: rev, prefix: "/app/", kvs: kvs}
}

type diffDB struct {
	Host     string
	Port     int
	Password string `etcd:"password,secret"`
}

type diffConfig struct {
	Name     string
	DB       diffDB
	Timeout  time.Duration
	Hosts    []string
	Services map[string]instance
	Limits   *struct{ Max int }
}

// checkGolden compares got with testdata/diffs/name.golden.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "diffs", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("%s differs from the golden file:\n--- got\n%s--- want\n%s", name, got, want)
	}
}

func render(cs []Change) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "%v\tkeys=%v\n", c, c.Keys)
	}
	return b.String()
}

func TestDiffGolden(t *testing.T) {
	base := diffConfig{
		Name:     "a",
		DB:       diffDB{Host: "h", Port: 1, Password: "s3cret"},
		Timeout:  time.Second,
		Hosts:    []string{"x", "y"},
		Services: map[string]instance{"api-1": {"10.0.0.1:80", 1}, "api-2": {"10.0.0.2:80", 1}},
	}
	baseKeys := []string{"name", "a", "db/host", "h", "db/port", "1", "db/password", "s3cret", "timeout", "1s",
		"hosts", "x,y", "services/api-1", "{}", "services/api-2", "{}"}
	old := snap(base, 1, baseKeys...)
	change := func(rev int64, f func(*diffConfig), keys ...string) *Snapshot[diffConfig] {
		v := deepCopy(reflect.ValueOf(base)).Interface().(diffConfig)
		f(&v)
		s := snap(v, 1, baseKeys...)
		for i := 0; i < len(keys); i += 2 {
			k := "/app/" + keys[i]
			if keys[i+1] == "<deleted>" {
				delete(s.kvs, k)
				continue
			}
			s.kvs[k] = &KeyValue{Key: k, Value: []byte(keys[i+1]), ModRevision: rev}
		}
		return s
	}
	tests := []struct {
		name string
		new  *Snapshot[diffConfig]
	}{
		{"scalar", change(2, func(c *diffConfig) { c.DB.Port = 2 }, "db/port", "2")},
		{"several", change(2, func(c *diffConfig) { c.Name, c.Timeout = "b", 0 }, "name", "b", "timeout", "<deleted>")},
		{"slice", change(2, func(c *diffConfig) { c.Hosts = append(c.Hosts, "z") }, "hosts", "x,y,z")},
		{"map entry added", change(2, func(c *diffConfig) { c.Services["api-3"] = instance{"10.0.0.3:80", 2} }, "services/api-3", "{}")},
		{"map entry removed", change(2, func(c *diffConfig) { delete(c.Services, "api-2") }, "services/api-2", "<deleted>")},
		{"map entry field", change(2, func(c *diffConfig) { c.Services["api-1"] = instance{"10.0.0.9:80", 1} }, "services/api-1", "{}")},
		{"pointer added", change(2, func(c *diffConfig) { c.Limits = &struct{ Max int }{5} }, "limits/max", "5")},
		{"secret", change(2, func(c *diffConfig) { c.DB.Password = "n3w" }, "db/password", "n3w")},
		{"document key", change(2, func(c *diffConfig) { c.DB.Host = "doc" }, "db.yaml", "host: doc")},
		{"none", change(2, func(c *diffConfig) {})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGolden(t, strings.ReplaceAll(tt.name, " ", "_"), render(diffSnapshots(old, tt.new)))
		})
	}
}

func TestDiffFlatMapAndNilOld(t *testing.T) {
	old := snap(map[string]string{"db/host": "a", "x": "1"}, 1, "db/host", "a", "x", "1")
	new := snap(map[string]string{"db/host": "b", "y": "2"}, 2, "db/host", "b", "y", "2")
	checkGolden(t, "flat_map", render(diffSnapshots(old, new)))
	checkGolden(t, "nil_old", render(diffSnapshots(nil, new)))
}

func TestSecretsNeverRendered(t *testing.T) {
	old := snap(diffConfig{DB: diffDB{Password: "old-secret"}}, 1)
	new := snap(diffConfig{DB: diffDB{Password: "new-secret"}}, 2)
	cs := diffSnapshots(old, new)
	if len(cs) != 1 || !cs[0].Secret || cs[0].Old != nil || cs[0].New != nil {
		t.Fatalf("secret change: %+v", cs)
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("changed", "change", cs[0])
	for _, out := range []string{cs[0].String(), logged.String(), fmt.Sprintf("%v %+v", cs, cs)} {
		if strings.Contains(out, "secret\"") || strings.Contains(out, "old-secret") || strings.Contains(out, "new-secret") {
			t.Fatalf("secret leaked: %s", out)
		}
	}
}

func TestChangeUnder(t *testing.T) {
	c := Change{Path: `DB.Port`}
	m := Change{Path: `Services["api-1"].Addr`}
	for _, tt := range []struct {
		c    Change
		path string
		want bool
	}{
		{c, "DB", true}, {c, "DB.Port", true}, {c, "D", false}, {c, "DB.Po", false}, {c, "", true},
		{m, "Services", true}, {m, `Services["api-1"]`, true}, {m, `Services["api-2"]`, false},
	} {
		if got := tt.c.Under(tt.path); got != tt.want {
			t.Errorf("%q.Under(%q) = %v", tt.c.Path, tt.path, got)
		}
	}
}

func BenchmarkDiff(b *testing.B) {
	type wide struct{ F [1000]int }
	old, new := snap(wide{}, 1), snap(wide{}, 2)
	new.Value.F[500] = 1
	b.Run("1000-field struct, one change", func(b *testing.B) {
		for b.Loop() {
			diffSnapshots(old, new)
		}
	})
	m1, m2 := map[string]string{}, map[string]string{}
	for i := range 10000 {
		k := fmt.Sprint("k", i)
		m1[k], m2[k] = "v", "v"
	}
	m2["k5"] = "changed"
	mo, mn := snap(m1, 1), snap(m2, 2)
	b.Run("10k-entry map, one change", func(b *testing.B) {
		for b.Loop() {
			diffSnapshots(mo, mn)
		}
	})
}

// Removing a map entry that held a nil pointer once panicked in the
// reporter (IsNil on the missing side), in the subscriber's goroutine.
func TestDiffRemovedNilPointerEntry(t *testing.T) {
	type cfg struct{ M map[string]*instance }
	old := snap(cfg{M: map[string]*instance{"a": nil, "b": {Addr: "x"}}}, 1)
	new := snap(cfg{M: map[string]*instance{}}, 2)
	cs := diffSnapshots(old, new)
	if len(cs) != 2 || cs[0].Kind != Removed || cs[1].Kind != Removed {
		t.Fatalf("got %v", cs)
	}
	if cs := diffSnapshots(new, old); len(cs) != 2 || cs[0].Kind != Added {
		t.Fatalf("reverse: got %v", cs)
	}
}
