package etcdconf

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf/internal/codec"
	"github.com/etcdconf/etcdconf/internal/rtgen"
)

func TestCheckPath(t *testing.T) {
	type svc struct {
		Addr   string
		Hidden string `etcd:"-"`
	}
	type cfg struct {
		DB struct {
			Host string
			Port int
		}
		Services map[string]svc
		Hosts    []string
		Limits   *struct{ Max int }
		Timeout  time.Duration
		Nested   map[string][]map[string]int
	}
	typ := reflect.TypeFor[cfg]()
	for _, p := range []string{
		"DB", "DB.Port", `Services["api-1"]`, `Services["api-1"].Addr`, `Services["a]b"].Addr`,
		"Hosts", "Hosts[0]", "Limits", "Limits.Max", "Timeout", `Nested["x"][2]["y"]`,
	} {
		if err := codec.CheckPath(typ, p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	for _, tt := range []struct{ path, says string }{
		{"", "empty"},
		{"db", "Go paths, as Change.Path prints them: DB)"},
		{"DB/Port", "Go paths, as Change.Path prints them: DB.Port)"},
		{"db.port", "Go paths, as Change.Path prints them: DB)"},
		{"DB.Name", `no field "Name"`},
		{"Services.api", "which has no field"},
		{"Services[api]", "quoted"},
		{`Services["a"].Hidden`, `no field "Hidden"`},
		{"Hosts[x]", "not an index"},
		{"Hosts[", "without ]"},
		{"[", "without ]"},
		{`Services["a`, "quoted"},
		{"Timeout.X", "has no field"},
		{"DB..Port", `no field ""`},
	} {
		err := codec.CheckPath(typ, tt.path)
		if err == nil || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("%q: %v, want an error saying %q", tt.path, err, tt.says)
		}
	}
	if err := codec.CheckPath(reflect.TypeFor[map[string]string](), `["db/host"]`); err != nil {
		t.Errorf("flat view: %v", err)
	}
}

// Every path a diff produces is one checkPath accepts.
func TestCheckPathAcceptsDiffPaths(t *testing.T) {
	type svc struct{ Addr string }
	type cfg struct {
		Services map[string]svc
		Hosts    []string
		DB       struct{ Port int }
	}
	var old cfg
	next := cfg{Services: map[string]svc{"a\"]b": {Addr: "x"}, "api-1": {}}, Hosts: []string{"h"}}
	next.DB.Port = 1
	for _, c := range diffSnapshots(&Snapshot[cfg]{Value: old}, &Snapshot[cfg]{Value: next}) {
		if err := codec.CheckPath(reflect.TypeFor[cfg](), c.Path); err != nil {
			t.Errorf("diff path %q refused: %v", c.Path, err)
		}
	}
}

func TestLookup(t *testing.T) {
	type svc struct{ Addr string }
	type cfg struct {
		DB       struct{ Port int }
		Services map[string]svc
		Hosts    []string
		Limits   *struct{ Max int }
	}
	s := &Snapshot[cfg]{Value: cfg{Services: map[string]svc{"api-1": {Addr: "a:1"}}, Hosts: []string{"h0"}}}
	s.Value.DB.Port = 5432
	if port, ok, err := Lookup[int](s, "DB.Port"); port != 5432 || !ok || err != nil {
		t.Errorf("DB.Port: %v, %v, %v", port, ok, err)
	}
	if addr, ok, err := Lookup[string](s, `Services["api-1"].Addr`); addr != "a:1" || !ok || err != nil {
		t.Errorf("Services[api-1].Addr: %v, %v, %v", addr, ok, err)
	}
	if e, ok, err := Lookup[svc](s, `Services["api-1"]`); e.Addr != "a:1" || !ok || err != nil {
		t.Errorf("Services[api-1]: %v, %v, %v", e, ok, err)
	}
	if h, ok, err := Lookup[string](s, "Hosts[0]"); h != "h0" || !ok || err != nil {
		t.Errorf("Hosts[0]: %v, %v, %v", h, ok, err)
	}
	for _, p := range []string{`Services["nope"].Addr`, "Hosts[3]", "Limits.Max", "Limits"} {
		if _, ok, err := Lookup[any](s, p); ok || err != nil {
			t.Errorf("%s holds nothing here: %v, %v", p, ok, err)
		}
	}
	s.Value.Limits = &struct{ Max int }{Max: 3}
	if m, ok, err := Lookup[int](s, "Limits.Max"); m != 3 || !ok || err != nil {
		t.Errorf("Limits.Max: %v, %v, %v", m, ok, err)
	}
	if _, _, err := Lookup[string](s, "DB.Port"); err == nil || !strings.Contains(err.Error(), "not a string") {
		t.Errorf("a wrong type: %v", err)
	}
	if _, _, err := Lookup[int](s, "db/port"); err == nil || !strings.Contains(err.Error(), "prints them: DB.Port)") {
		t.Errorf("a key spelling: %v", err)
	}
}

// TestLookupTypeErrorsAreStatic: whether Lookup's V fits the path is
// decided by T's type along the path, so an absent entry and a present one
// give the same error; a nil interface field holds nothing, and Lookup of
// an interface's own type gives it as it is (issue 18, item 7).
func TestLookupTypeErrorsAreStatic(t *testing.T) {
	type svc struct{ Addr string }
	type cfg struct {
		Services map[string]svc
		Ptrs     map[string]*svc
		Any      any
		Str      fmt.Stringer
		Byte     map[int]string
	}
	empty := &Snapshot[cfg]{}
	full := &Snapshot[cfg]{Value: cfg{Services: map[string]svc{"a": {Addr: "x"}}, Ptrs: map[string]*svc{"a": {Addr: "y"}}}}
	for _, p := range []string{`Services["a"].Addr`, `Services["a"]`, `Ptrs["a"]`, `Ptrs["a"].Addr`, "Str", "Byte[1]"} {
		for _, s := range []*Snapshot[cfg]{empty, full} {
			if _, _, err := Lookup[bool](s, p); err == nil || !strings.Contains(err.Error(), "not a bool") {
				t.Errorf("Lookup[bool](%s) in %+v: %v, want a type error", p, s.Value, err)
			}
		}
	}
	if _, _, err := Lookup[int](empty, `Byte["1"]`); err == nil {
		t.Error(`Byte["1"]: a string key of a map with int keys was accepted`)
	}
	if v, ok, err := Lookup[any](empty, "Any"); v != nil || ok || err != nil {
		t.Errorf("Lookup[any] of a nil any: %v, %v, %v", v, ok, err)
	}
	if v, ok, err := Lookup[fmt.Stringer](empty, "Str"); v != nil || ok || err != nil {
		t.Errorf("Lookup[fmt.Stringer] of a nil Stringer: %v, %v, %v", v, ok, err)
	}
	full.Value.Any = 3
	full.Value.Byte = map[int]string{1: "one"}
	if v, ok, err := Lookup[any](full, "Any"); v != 3 || !ok || err != nil {
		t.Errorf("Lookup[any] of 3: %v, %v, %v", v, ok, err)
	}
	if v, ok, err := Lookup[int](full, "Any"); v != 3 || !ok || err != nil {
		t.Errorf("Lookup[int] of an any holding 3: %v, %v, %v", v, ok, err)
	}
	if v, ok, err := Lookup[string](full, "Any"); v != "" || ok || err != nil {
		t.Errorf("Lookup[string] of an any holding 3 holds no string: %v, %v, %v", v, ok, err)
	}
	if v, ok, err := Lookup[string](full, "Byte[1]"); v != "one" || !ok || err != nil {
		t.Errorf("Byte[1]: %v, %v, %v", v, ok, err)
	}
	if v, ok, err := Lookup[*svc](full, `Ptrs["a"]`); v == nil || v.Addr != "y" || !ok || err != nil {
		t.Errorf(`Lookup[*svc](Ptrs["a"]): %v, %v, %v`, v, ok, err)
	}
	if v, ok, err := Lookup[svc](full, `Ptrs["a"]`); v.Addr != "y" || !ok || err != nil {
		t.Errorf(`Lookup[svc](Ptrs["a"]): %v, %v, %v`, v, ok, err)
	}
}

type EmbeddedCommon struct {
	Region string
	Token  string `etcd:"token,secret"`
}

type EmbeddedMeta struct{ Labels map[string]string }

type embeddingCfg struct {
	EmbeddedCommon
	*EmbeddedMeta
	Name string
}

// TestEmbeddedFieldPaths: a change inside an embedded struct is at
// "EmbeddedCommon.Region", a path Lookup and WithPaths accept (issue 18,
// item 6).
func TestEmbeddedFieldPaths(t *testing.T) {
	v, err := decodeWith[embeddingCfg](t, newOptions(nil), "embeddedcommon/region", "eu", "embeddedmeta/labels/a", "b")
	if err != nil || v.Region != "eu" || v.EmbeddedMeta == nil || v.Labels["a"] != "b" {
		t.Fatalf("decoded %+v, %v", v, err)
	}
	w, set, err := NewStatic(embeddingCfg{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	region := w.Subscribe(ctx, WithPaths("EmbeddedCommon.Region"))
	labels := w.Subscribe(ctx, WithPaths(`EmbeddedMeta.Labels["a"]`, "EmbeddedCommon"))
	if err := set(v); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ch   <-chan Event[embeddingCfg]
		want string
	}{{region, `[EmbeddedCommon.Region: "" -> "eu"]`}, {labels, `[EmbeddedCommon.Region: "" -> "eu" EmbeddedMeta: added {Labels:map[a:b]}]`}} {
		select {
		case ev := <-tc.ch:
			if got := fmt.Sprint(ev.Changes); got != tc.want {
				t.Errorf("changes %s, want %s", got, tc.want)
			}
			for _, c := range ev.Changes {
				if got, ok, err := Lookup[any](ev.New, c.Path); !ok || err != nil || !reflect.DeepEqual(got, c.New) {
					t.Errorf("Lookup(%s) = %v, %v, %v; the change says %v", c.Path, got, ok, err, c.New)
				}
			}
		case <-ctx.Done():
			t.Fatal("no event")
		}
	}
	if r, ok, err := Lookup[string](w.Current(), "EmbeddedCommon.Region"); r != "eu" || !ok || err != nil {
		t.Errorf("Lookup: %v, %v, %v", r, ok, err)
	}
}

// TestChangePathsWorkEverywhere is the property that every path the
// library reports is accepted by every call that takes a path: for random
// struct types T (embedded structs among their fields) and random pairs of
// values, every Change.Path passes WithPaths' check, selects its change,
// and Lookup of it in the new value gives the change's New value, or
// nothing for a removal (issue 18, item 6).
func TestChangePathsWorkEverywhere(t *testing.T) {
	r := rand.New(rand.NewPCG(18, 6))
	g := rtgen.Gen{N: r.IntN}
	anyType := reflect.TypeFor[any]()
	checked := 0
	for i := range 2000 {
		typ := g.Type(2)
		x, y := g.Value(typ), g.Value(typ)
		initial := i%4 == 0
		if initial { // as diffSnapshots with no old snapshot: from the zero T
			x = reflect.New(typ).Elem()
		}
		changes := changesOf(codec.DiffReflect(x, y, initial))
		for _, c := range changes {
			if err := codec.CheckPath(typ, c.Path); err != nil {
				t.Fatalf("%v: WithPaths(%q) refused: %v", typ, c.Path, err)
			}
			if kept := filterChanges(changes, []string{c.Path}); !slices.ContainsFunc(kept, func(k Change) bool { return k.Path == c.Path }) {
				t.Fatalf("%v: WithPaths(%q) drops its own change", typ, c.Path)
			}
			got, ok, err := codec.LookupValue(y, c.Path, anyType)
			// A nil New (a removal, or a nil pointer added as an element)
			// holds nothing; a secret change withholds New, so only a
			// removal's absence is checked.
			nv := reflect.ValueOf(c.New)
			isNil := !nv.IsValid() || nv.Kind() == reflect.Pointer && nv.IsNil()
			switch {
			case err != nil:
				t.Fatalf("%v: Lookup(%q): %v", typ, c.Path, err)
			case (c.Kind == ChangeRemoved || !c.Secret && isNil) && ok:
				t.Fatalf("%v: Lookup(%q) found %v; the change is %v", typ, c.Path, got, c)
			case c.Secret || isNil:
			case !ok:
				t.Fatalf("%v: Lookup(%q) found nothing; the change is %v", typ, c.Path, c)
			case !reflect.DeepEqual(got.Interface(), c.New):
				t.Fatalf("%v: Lookup(%q) = %v; the change is %v", typ, c.Path, got, c)
			}
			checked++
		}
	}
	if checked < 5000 {
		t.Fatalf("only %d changes checked", checked)
	}
	t.Logf("%d changes checked", checked)
}

// TestLookupInterfaceToInterface: Lookup of one interface type at a field
// of another is decided by the value held, as a type assertion is.
func TestLookupInterfaceToInterface(t *testing.T) {
	type cfg struct {
		R interface{ Read([]byte) (int, error) }
	}
	s := &Snapshot[cfg]{Value: cfg{R: strings.NewReader("x")}}
	if _, ok, err := Lookup[fmt.Stringer](s, "R"); ok || err != nil {
		t.Errorf("a Reader that is no Stringer: %v, %v", ok, err)
	}
	if _, ok, err := Lookup[interface{ Len() int }](s, "R"); !ok || err != nil {
		t.Errorf("a Reader that has Len: %v, %v", ok, err)
	}
	if _, _, err := Lookup[int](s, "R"); err == nil {
		t.Error("an int can never be a Reader: no error")
	}
}
