package etcdconf

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf/internal/codec"
	"github.com/google/go-cmp/cmp"
	clientv3 "go.etcd.io/etcd/client/v3"
	"gopkg.in/yaml.v3"
)

func TestMapZero(t *testing.T) {
	var m Map[string, int]
	if m.Len() != 0 {
		t.Errorf("Len = %d, want 0", m.Len())
	}
	if v, ok := m.Get("a"); ok || v != 0 {
		t.Errorf("Get(a) = %v, %v on the zero Map", v, ok)
	}
	for k := range m.All() {
		t.Errorf("zero Map yields %q", k)
	}
	if n := m.Without("a"); n.Len() != 0 {
		t.Errorf("Without on the zero Map: Len %d", n.Len())
	}
	if b, err := json.Marshal(m); err != nil || string(b) != "{}" {
		t.Errorf("JSON of the zero Map: %s, %v", b, err)
	}
}

func TestMapWithWithout(t *testing.T) {
	a := Map[string, int]{}.With("b", 2).With("a", 1).With("c", 3)
	b := a.With("b", 20).Without("c")
	if got := slices.Collect(a.Keys()); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("a's keys %v, want a b c in order", got)
	}
	if v, _ := a.Get("b"); v != 2 {
		t.Errorf("a[b] = %d after b was derived from a: a changed", v)
	}
	if got := maps.Collect(b.All()); !maps.Equal(got, map[string]int{"a": 1, "b": 20}) {
		t.Errorf("b = %v", got)
	}
	if _, ok := b.Get("c"); ok || b.Len() != 2 {
		t.Errorf("b holds c, or Len %d != 2", b.Len())
	}
	if s := b.String(); s != "map[a:1 b:20]" {
		t.Errorf("String = %q", s)
	}
}

func TestMapOfOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		g := randomMap(rng)
		m := MapOf(g)
		if got, want := slices.Collect(m.Keys()), slices.Sorted(maps.Keys(g)); !slices.Equal(got, want) {
			t.Fatalf("keys %v, want %v", got, want)
		}
		if !maps.Equal(maps.Collect(m.All()), g) || m.Len() != len(g) {
			t.Fatalf("MapOf(%v) holds %v", g, maps.Collect(m.All()))
		}
	}
}

func randomMap(rng *rand.Rand) map[string]int {
	g := map[string]int{}
	for range rng.IntN(40) {
		g[fmt.Sprintf("k%d", rng.IntN(60))] = rng.IntN(5)
	}
	return g
}

// TestMapMarshalRoundTrip: JSON and YAML as a Go map's, both ways, for
// random maps built in random orders.
func TestMapMarshalRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		g := randomMap(rng)
		m := Map[string, int]{}
		for _, k := range rngPerm(rng, slices.Collect(maps.Keys(g))) {
			m = m.With(k, g[k])
		}
		jm, _ := json.Marshal(m)
		jg, _ := json.Marshal(g)
		if len(g) > 0 && string(jm) != string(jg) {
			t.Fatalf("JSON %s, a Go map's %s", jm, jg)
		}
		var back Map[string, int]
		if err := json.Unmarshal(jm, &back); err != nil || !back.Equal(m) {
			t.Fatalf("JSON round trip of %s: %v, %v", jm, back, err)
		}
		ym, _ := yaml.Marshal(m)
		yg, _ := yaml.Marshal(g)
		if string(ym) != string(yg) {
			t.Fatalf("YAML %s, a Go map's %s", ym, yg)
		}
		var yback Map[string, int]
		if err := yaml.Unmarshal(ym, &yback); err != nil || !yback.Equal(m) {
			t.Fatalf("YAML round trip of %s: %v, %v", ym, yback, err)
		}
	}
}

func rngPerm(rng *rand.Rand, xs []string) []string {
	rng.Shuffle(len(xs), func(i, j int) { xs[i], xs[j] = xs[j], xs[i] })
	return xs
}

func TestMapCmp(t *testing.T) {
	type S struct{ M Map[string, []string] }
	a := S{MapOf(map[string][]string{"a": {"x"}, "b": nil})}
	b := S{Map[string, []string]{}.With("b", []string{}).With("a", []string{"x"})}
	if !cmp.Equal(a, b) {
		t.Errorf("equal contents differ: %s", cmp.Diff(a, b))
	}
	if cmp.Equal(a, S{a.M.With("a", []string{"y"})}) {
		t.Error("different contents compare equal")
	}
	if cmp.Equal(a, S{a.M.Without("b")}) {
		t.Error("a Map without an entry compares equal")
	}
}

// registryDefined is defined from Map rather than aliased: it has none of
// Map's methods, and reading it as a Map would be a guess.
type registryDefined Map[string, int]

// TestMapDefinedTypeRefused: New and Load refuse a T that holds a type
// defined from Map, anywhere in it, naming the type and the alias to use;
// it used to decode as an empty struct, silently.
func TestMapDefinedTypeRefused(t *testing.T) {
	cli := &clientv3.Client{} // refused before any call to etcd
	check := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "registryDefined") || !strings.Contains(err.Error(), "alias") {
			t.Errorf("%s: %v; want an error naming registryDefined and the alias", what, err)
		}
	}
	_, err := Load[struct{ Services registryDefined }](context.Background(), cli, "/app/")
	check("Load, a field", err)
	_, err = New[map[string][]*registryDefined](context.Background(), cli, "/app/")
	check("New, inside a map's elements", err)
	_, err = Load[Map[string, struct{ R registryDefined }]](context.Background(), cli, "/app/")
	check("Load, inside a Map's values", err)
	// An alias is a Map.
	type registry = Map[string, int]
	if _, err := codec.NewDecoder[struct{ Services registry }]("/app/", codec.Config{}); err != nil {
		t.Errorf("an alias of Map refused: %v", err)
	}
}

// TestMapCopyOf: a copy of a Map shares it where its values reach nothing
// a copy would share (time.Time's location is unexported and not copied),
// and otherwise holds copies of what its values point at.
func TestMapCopyOf(t *testing.T) {
	type plain struct {
		N  int
		At time.Time
		S  string
	}
	p := MapOf(map[string]plain{"a": {N: 1, At: time.Now(), S: "x"}})
	if c := codec.CopyOf(p); c.m != p.m {
		t.Errorf("a Map of plain values was rebuilt by CopyOf")
	}

	type inner struct{ Tags []string }
	for _, tc := range []struct {
		name string
		copy func() (changed, orig string)
	}{
		{"pointers", func() (string, string) {
			m := MapOf(map[string]*inner{"a": {Tags: []string{"x"}}})
			c := codec.CopyOf(m)
			ca, _ := c.Get("a")
			ca.Tags[0] = "y"
			oa, _ := m.Get("a")
			return ca.Tags[0], oa.Tags[0]
		}},
		{"slices in structs", func() (string, string) {
			m := MapOf(map[string]inner{"a": {Tags: []string{"x"}}})
			c := codec.CopyOf(m)
			ca, _ := c.Get("a")
			ca.Tags[0] = "y"
			oa, _ := m.Get("a")
			return ca.Tags[0], oa.Tags[0]
		}},
		{"a Map of Maps of pointers", func() (string, string) {
			m := MapOf(map[string]Map[string, *inner]{"a": MapOf(map[string]*inner{"b": {Tags: []string{"x"}}})})
			c := codec.CopyOf(m)
			ca, _ := c.Get("a")
			cb, _ := ca.Get("b")
			cb.Tags[0] = "y"
			oa, _ := m.Get("a")
			ob, _ := oa.Get("b")
			return cb.Tags[0], ob.Tags[0]
		}},
	} {
		if changed, orig := tc.copy(); changed != "y" || orig != "x" {
			t.Errorf("%s: the copy holds %q and the original %q, want y and x", tc.name, changed, orig)
		}
	}
}
