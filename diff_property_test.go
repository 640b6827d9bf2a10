package etcdconf

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/etcdconf/etcdconf/internal/codec"
)

type propInner struct {
	Host   string
	Port   int
	Token  string `etcd:"token,secret"`
	hidden string
}

type propShape struct {
	Name    string
	Inner   propInner
	Ptr     *propInner
	Map     map[string]propInner
	Ptrs    map[string]*propInner
	List    []string
	Structs []propInner
	Addr    netip.Addr
	Key     string `etcd:"key,secret"`
	Nested  struct{ Deep map[string][]int }
	hidden  int
}

// propGen makes values of propShape. Every secret it plants contains
// "SECRET-" and no other string does.
type propGen struct {
	r       *rand.Rand
	planted int
}

func (g *propGen) str() string { return []string{"", "a", "b", "a-b"}[g.r.IntN(4)] }

func (g *propGen) secret() string {
	if g.r.IntN(3) == 0 {
		return ""
	}
	g.planted++
	return "SECRET-" + strconv.Itoa(g.planted)
}

func (g *propGen) inner() propInner {
	return propInner{Host: g.str(), Port: g.r.IntN(3), Token: g.secret(), hidden: g.str()}
}

func (g *propGen) shape() propShape {
	v := propShape{Name: g.str(), Inner: g.inner(), Key: g.secret(), hidden: g.r.IntN(3)}
	if g.r.IntN(2) == 0 {
		p := g.inner()
		v.Ptr = &p
	}
	if n := g.r.IntN(4); n > 0 || g.r.IntN(2) == 0 {
		v.Map, v.Ptrs = map[string]propInner{}, map[string]*propInner{}
		for range n {
			v.Map[g.str()] = g.inner()
			if g.r.IntN(3) == 0 {
				v.Ptrs[g.str()] = nil
			} else {
				p := g.inner()
				v.Ptrs[g.str()] = &p
			}
		}
	}
	for range g.r.IntN(3) {
		v.List = append(v.List, g.str())
		v.Structs = append(v.Structs, g.inner())
	}
	if g.r.IntN(2) == 0 {
		v.Addr = netip.AddrFrom4([4]byte{10, 0, 0, byte(g.r.IntN(3))})
	}
	if g.r.IntN(2) == 0 {
		v.Nested.Deep = map[string][]int{g.str(): make([]int, g.r.IntN(2))}
	}
	return v
}

// leafDiffs lists the paths, in Change.Path syntax, of the leaves where x
// and y differ, ignoring unexported fields; nil and empty are equal.
func leafDiffs(path string, x, y reflect.Value, out *[]string) {
	join := func(step string) string {
		if path == "" || strings.HasPrefix(step, "[") {
			return path + step
		}
		return path + "." + step
	}
	switch {
	case !x.IsValid() || !y.IsValid():
		if x.IsValid() || y.IsValid() {
			*out = append(*out, path)
		}
		return
	}
	switch x.Kind() {
	case reflect.Pointer:
		if x.IsNil() || y.IsNil() {
			if x.IsNil() != y.IsNil() {
				*out = append(*out, path)
			}
			return
		}
		leafDiffs(path, x.Elem(), y.Elem(), out)
	case reflect.Struct:
		if x.Type() == reflect.TypeFor[netip.Addr]() {
			if x.Interface() != y.Interface() {
				*out = append(*out, path)
			}
			return
		}
		for i := range x.NumField() {
			if f := x.Type().Field(i); f.IsExported() {
				leafDiffs(join(f.Name), x.Field(i), y.Field(i), out)
			}
		}
	case reflect.Map:
		seen := map[string]bool{}
		for _, m := range []reflect.Value{x, y} {
			for _, k := range m.MapKeys() {
				if !seen[k.String()] {
					seen[k.String()] = true
					leafDiffs(join("["+strconv.Quote(k.String())+"]"), x.MapIndex(k), y.MapIndex(k), out)
				}
			}
		}
	case reflect.Slice:
		for i := range max(x.Len(), y.Len()) {
			leafDiffs(join("["+strconv.Itoa(i)+"]"), codec.Index(x, i), codec.Index(y, i), out)
		}
	default:
		if !x.Equal(y) {
			*out = append(*out, path)
		}
	}
}

// TestDiffProperty checks, for generated pairs of values, that Changes are
// complete (every differing leaf lies under a change) and exact (every
// change holds a differing leaf), that a nil Old gives only Added, that no
// change names an unexported field, and that no rendering of a change
// contains a planted secret.
func TestDiffProperty(t *testing.T) {
	const pairs = 3000
	g := &propGen{r: rand.New(rand.NewPCG(1, 2))}
	var logged strings.Builder
	text := slog.New(slog.NewTextHandler(&logged, nil))
	js := slog.New(slog.NewJSONHandler(&logged, nil))
	checked := 0
	for i := range pairs {
		old, new := g.shape(), g.shape()
		if i%4 == 0 {
			new = old // same shapes share maps and slices: mutate one side only
			new.Name, new.Inner.Token = g.str(), g.secret()
		}
		for _, tc := range []struct {
			initial bool
			cs      []Change
		}{
			{true, diffSnapshots(nil, snap(new, 2))},
			{false, diffSnapshots(snap(old, 1), snap(new, 2))},
		} {
			var leaves []string
			var zero propShape
			if tc.initial {
				leafDiffs("", reflect.ValueOf(zero), reflect.ValueOf(new), &leaves)
			} else {
				leafDiffs("", reflect.ValueOf(old), reflect.ValueOf(new), &leaves)
			}
			logged.Reset()
			for _, c := range tc.cs {
				if tc.initial && (c.Kind != ChangeAdded || c.Old != nil) {
					t.Fatalf("pair %d: initial change %v is %v", i, c, c.Kind)
				}
				if strings.Contains(c.Path, "hidden") {
					t.Fatalf("pair %d: change names an unexported field: %v", i, c)
				}
				text.Info("changed", "change", c)
				fmt.Fprintf(&logged, "%s %v %+v %#v %+v %+v\n", c, c, c, c, c.Old, c.New)
				if !slices.ContainsFunc(leaves, func(l string) bool { return (Change{Path: l}).Under(c.Path) }) {
					t.Fatalf("pair %d: change %v holds no differing leaf of %q", i, c, leaves)
				}
			}
			js.Info("changed", "changes", tc.cs)
			b, _ := json.Marshal(tc.cs)
			logged.Write(b)
			if strings.Contains(logged.String(), "SECRET-") {
				t.Fatalf("pair %d: a planted secret was rendered:\n%s", i, logged.String())
			}
			for _, l := range leaves {
				if !slices.ContainsFunc(tc.cs, func(c Change) bool { return (Change{Path: l}).Under(c.Path) }) {
					t.Fatalf("pair %d: leaf %s differs but no change covers it: %v", i, l, tc.cs)
				}
			}
			checked++
		}
	}
	t.Logf("%d diffs checked, %d secrets planted", checked, g.planted)
}
