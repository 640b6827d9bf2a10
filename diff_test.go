package etcdconf

import (
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf/internal/codec"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func snap[T any](v T, rev int64, pairs ...string) *Snapshot[T] {
	kvs := map[string]*codec.KeyValue{}
	for i := 0; i < len(pairs); i += 2 {
		kvs[pairs[i]] = &codec.KeyValue{Key: pairs[i], Value: pairs[i+1], ModRevision: rev}
	}
	return &Snapshot[T]{Value: v, Revision: rev, prefix: "/app/", kvs: codec.KeySetOf(kvs)}
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
		v := codec.DeepCopy(reflect.ValueOf(base)).Interface().(diffConfig)
		f(&v)
		s := snap(v, 1, baseKeys...)
		for i := 0; i < len(keys); i += 2 {
			k := keys[i]
			if keys[i+1] == "<deleted>" {
				s.kvs.Delete(k)
				continue
			}
			s.kvs.Set(&codec.KeyValue{Key: k, Value: keys[i+1], ModRevision: rev})
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
	var mkv []string
	for i := range 10000 {
		k := fmt.Sprint("k", i)
		m1[k], m2[k] = "v", "v"
		mkv = append(mkv, k, "v")
	}
	m2["k5"] = "changed"
	mo := snap(m1, 1, mkv...)
	mn := &Snapshot[map[string]string]{Value: m2, Revision: 2, prefix: mo.prefix, kvs: mo.kvs.Clone()}
	mn.kvs.Set(&codec.KeyValue{Key: "k5", Value: "changed", ModRevision: 2})
	b.Run("10k-entry flat view, one change", func(b *testing.B) {
		for b.Loop() {
			diffSnapshots(mo, mn)
		}
	})
	b.Run("10k-entry flat view, initial", func(b *testing.B) {
		for b.Loop() {
			diffSnapshots(nil, mo)
		}
	})
	// A map of structs goes through the differ and key attribution: the
	// first update of WithInitial, and one entry changed.
	type svcs struct{ Services map[string]instance }
	s1, s2 := svcs{map[string]instance{}}, svcs{map[string]instance{}}
	var kv []string
	for i := range 10000 {
		k := fmt.Sprint("api-", i)
		s1.Services[k], s2.Services[k] = instance{Addr: k, Weight: 1}, instance{Addr: k, Weight: 1}
		kv = append(kv, "services/"+k+"/addr", k, "services/"+k+"/weight", "1")
	}
	s2.Services["api-5"] = instance{Addr: "api-5", Weight: 2}
	so, sn := snap(s1, 1, kv...), snap(s2, 1, kv...)
	sn.kvs.Set(&codec.KeyValue{Key: "services/api-5/weight", Value: "2", ModRevision: 2})
	b.Run("10k-entry map of structs, initial", func(b *testing.B) {
		for b.Loop() {
			diffSnapshots(nil, so)
		}
	})
	b.Run("10k-entry map of structs, one change", func(b *testing.B) {
		for b.Loop() {
			diffSnapshots(so, sn)
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
	if len(cs) != 2 || cs[0].Kind != ChangeRemoved || cs[1].Kind != ChangeRemoved {
		t.Fatalf("got %v", cs)
	}
	if cs := diffSnapshots(new, old); len(cs) != 2 || cs[0].Kind != ChangeAdded {
		t.Fatalf("reverse: got %v", cs)
	}
}

type secretService struct {
	Addr     string
	Password string `etcd:"password,secret"`
}

type secretHolder struct {
	DB       *diffDB
	Services map[string]secretService
	Pool     []secretService
}

// renderings returns every form a subscriber might print a change in.
func renderings(cs []Change) []string {
	var logged strings.Builder
	log := slog.New(slog.NewTextHandler(&logged, nil))
	var out []string
	for _, c := range cs {
		log.Info("changed", "change", c)
		out = append(out, c.String(), fmt.Sprintf("%v|%+v|%#v", c, c, c), fmt.Sprintf("%+v|%+v", c.Old, c.New))
	}
	jsonLogged := new(strings.Builder)
	slog.New(slog.NewJSONHandler(jsonLogged, nil)).Info("changed", "changes", cs)
	return append(out, logged.String(), jsonLogged.String())
}

// Defect 16: a secret inside a value that appears or disappears was printed
// with the rest of the value.
func TestDiffSecretInsideAddedOrRemovedValue(t *testing.T) {
	full := secretHolder{
		DB:       &diffDB{Host: "h", Password: "hunter2"},
		Services: map[string]secretService{"a": {Addr: "x:1", Password: "tok"}},
		Pool:     []secretService{{Addr: "p:1", Password: "pooltok"}},
	}
	other := secretHolder{
		DB:       &diffDB{Host: "h"},
		Services: map[string]secretService{"a": {Addr: "x:1"}},
		Pool:     []secretService{{Addr: "p:1", Password: "newpool"}, {Addr: "p:2"}},
	}
	for name, cs := range map[string][]Change{
		"added":    diffSnapshots(snap(secretHolder{}, 1), snap(full, 2)),
		"removed":  diffSnapshots(snap(full, 1), snap(secretHolder{}, 2)),
		"initial":  diffSnapshots(nil, snap(full, 2)),
		"modified": diffSnapshots(snap(full, 1), snap(other, 2)),
	} {
		if len(cs) == 0 {
			t.Fatalf("%s: no changes", name)
		}
		for _, out := range renderings(cs) {
			for _, s := range []string{"hunter2", "tok", "pooltok", "newpool"} {
				if strings.Contains(out, s) {
					t.Errorf("%s: secret %q leaked: %s", name, s, out)
				}
			}
		}
		for _, c := range cs {
			if !c.Secret || c.Old != nil || c.New != nil {
				t.Errorf("%s: %s: Secret %v, Old %v, New %v; want the values withheld", name, c, c.Secret, c.Old, c.New)
			}
		}
		checkGolden(t, "secret_inside_"+name, render(cs))
	}
}

// Defect 17: a nil Old reported scalars as modified and a map or slice as
// one change holding every entry.
func TestDiffInitialIsAddedPerEntry(t *testing.T) {
	v := diffConfig{
		Name:     "a",
		DB:       diffDB{Port: 1},
		Hosts:    []string{"x", "y"},
		Services: map[string]instance{"api-1": {"10.0.0.1:80", 1}, "api-2": {"10.0.0.2:80", 1}},
	}
	cs := diffSnapshots(nil, snap(v, 1, "name", "a", "db/port", "1", "hosts", "x,y",
		"services/api-1/addr", "10.0.0.1:80", "services/api-1/weight", "1",
		"services/api-2/addr", "10.0.0.2:80", "services/api-2/weight", "1"))
	checkGolden(t, "initial", render(cs))
	for _, c := range cs {
		if c.Kind != ChangeAdded || c.Old != nil {
			t.Errorf("initial change %v: kind %v, Old %v; want added with no Old", c, c.Kind, c.Old)
		}
	}
	gone := diffSnapshots(snap(v, 1), snap(diffConfig{Name: "a", DB: diffDB{Port: 1}}, 2))
	checkGolden(t, "entries_removed", render(gone))
	for _, c := range gone {
		if c.Kind != ChangeRemoved || c.New != nil {
			t.Errorf("change %v: kind %v, New %v; want removed with no New", c, c.Kind, c.New)
		}
	}
}

type opaqueConfig struct {
	Hosts  []string
	Tags   map[string]string
	hidden int
	Addr   netip.Addr
	Re     *regexp.Regexp
	At     time.Time
}

// Defect 18: nil and empty differed, unexported fields were diffed, and
// types with an Equal method were diffed by their internals.
func TestDiffEmptyUnexportedAndEqualTypes(t *testing.T) {
	old := opaqueConfig{Hosts: nil, Tags: nil, hidden: 1, Addr: netip.MustParseAddr("10.0.0.1"),
		Re: regexp.MustCompile("a+"), At: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	same := opaqueConfig{Hosts: []string{}, Tags: map[string]string{}, hidden: 2, Addr: netip.MustParseAddr("10.0.0.1"),
		Re: regexp.MustCompile("a+"), At: old.At.In(time.FixedZone("x", 3600))}
	if cs := diffSnapshots(snap(old, 1), snap(same, 2)); len(cs) != 0 {
		t.Fatalf("equal values differ:\n%s", render(cs))
	}
	changed := same
	changed.Addr, changed.Re = netip.MustParseAddr("10.0.0.2"), regexp.MustCompile("b+")
	checkGolden(t, "equal_types", render(diffSnapshots(snap(old, 1), snap(changed, 2))))
}

// Defect 19 (correctness half; the speed half is BenchmarkDiff): each entry
// of a large map is attributed exactly its own keys, with loose field names
// and a document at an ancestor.
func TestDiffKeyAttributionIndex(t *testing.T) {
	type cfg struct{ Services map[string]instance }
	v := cfg{Services: map[string]instance{}}
	var kv []string
	for i := range 2000 {
		k := fmt.Sprint("s", i)
		v.Services[k] = instance{Addr: k, Weight: i}
		kv = append(kv, "services/"+k+"/addr", k, "Services/"+k+"/WEIGHT", fmt.Sprint(i))
	}
	kv = append(kv, "services/s1.yaml", "weight: 1", "other/key", "x")
	cs := diffSnapshots(nil, snap(v, 1, kv...))
	if len(cs) != 2000 {
		t.Fatalf("%d changes, want 2000", len(cs))
	}
	for _, c := range cs {
		k := c.New.(instance).Addr
		want := []string{"/app/Services/" + k + "/WEIGHT", "/app/services/" + k + "/addr"}
		if k == "s1" {
			want = append(want, "/app/services/s1.yaml")
			slices.Sort(want)
		}
		if !reflect.DeepEqual(c.Keys, want) {
			t.Fatalf("%s: keys %v, want %v", c.Path, c.Keys, want)
		}
	}
}

// Defect 20: a change at an ancestor of a WithPaths path was dropped.
func TestFilterChangesKeepsAncestors(t *testing.T) {
	cs := []Change{
		{Path: "Limits", Kind: ChangeAdded, New: struct{ Max int }{3}},
		{Path: `Services["a"]`, Kind: ChangeAdded},
		{Path: `Services["b"]`, Kind: ChangeAdded},
		{Path: "Name", Kind: ChangeModified},
	}
	for _, tt := range []struct {
		path string
		want []string
	}{
		{"Limits.Max", []string{"Limits"}},
		{`Services["a"]`, []string{`Services["a"]`}},
		{`Services["a"].Addr`, []string{`Services["a"]`}},
		{"Services", []string{`Services["a"]`, `Services["b"]`}},
		{"Nam", nil},
	} {
		var got []string
		for _, c := range filterChanges(cs, []string{tt.path}) {
			got = append(got, c.Path)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("WithPaths(%q) kept %q, want %q", tt.path, got, tt.want)
		}
	}
}

// TestDiffFlatViewDocumentKeys: a flat view's entries that a document
// sets are the document key's changes, as they are for every other T; the
// flat view's former shortcut named keys that do not exist (/app/b/addr).
func TestDiffFlatViewDocumentKeys(t *testing.T) {
	d, err := codec.NewDecoder[map[string]string]("/app/", codec.Config{})
	if err != nil {
		t.Fatal(err)
	}
	k1 := kvsOf("a", "1")
	k2 := kvsOf("a", "2", "b.yaml", "addr: h\nport: 2\n")
	for _, kv := range k2 {
		kv.ModRevision = 2
	}
	v1, err1 := d.Decode(k1, 1)
	v2, err2 := d.Decode(k2, 2)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	cs := diffSnapshots(
		&Snapshot[map[string]string]{Value: v1, Revision: 1, prefix: "/app/", kvs: codec.KeySetOf(k1)},
		&Snapshot[map[string]string]{Value: v2, Revision: 2, prefix: "/app/", kvs: codec.KeySetOf(k2)})
	var got []string
	for _, c := range cs {
		got = append(got, fmt.Sprintf("%s %v", c.Path, c.Keys))
	}
	want := []string{`["a"] [/app/a]`, `["b/addr"] [/app/b.yaml]`, `["b/port"] [/app/b.yaml]`}
	if !slices.Equal(got, want) {
		t.Errorf("changes %q, want %q", got, want)
	}
}
