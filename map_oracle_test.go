package etcdconf

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/etcdconf/etcdconf/internal/codec"
)

// The Map types the oracle drives, each beside its twin with Go maps of
// the same keys and values (see oracleTwin).
type (
	oracleMapRegistry = Map[string, oracleInstance]
	oracleMapStruct   struct {
		A        oracleInstance
		Apis     Map[string, *oracleInstance]
		B        Map[string, string]
		C        *oracleInstance
		Api1     oracleInstance `etcd:"api-1"`
		Svc1     int
		Services Map[string, oracleInstance]
	}
)

// TestOracleMap applies random transactions to each Map type incrementally
// and by full decode (oracle.step), and the same transactions to its twin
// with Go maps: both accept or reject each, hold the same entries, and
// publish the same Changes.
func TestOracleMap(t *testing.T) {
	const steps = 1500
	t.Run("Map[string]Instance", func(t *testing.T) {
		oracleTwin[oracleMapRegistry, oraclePlainRegistry](t, 21, steps)
	})
	t.Run("Map[string]Entry", func(t *testing.T) {
		oracleTwin[Map[string, oracleEntry], map[string]oracleEntry](t, 22, steps)
	})
	t.Run("Map[string]string", func(t *testing.T) {
		oracleTwin[Map[string, string], map[string]string](t, 23, steps)
	})
	t.Run("Map[string]*Instance", func(t *testing.T) {
		oracleTwin[Map[string, *oracleInstance], map[string]*oracleInstance](t, 24, steps)
	})
	t.Run("struct with Map fields", func(t *testing.T) {
		oracleTwin[oracleMapStruct, oraclePlainStruct](t, 25, steps)
	})
}

// FuzzOracleMap is TestOracleMap's twins driven by random bytes.
func FuzzOracleMap(f *testing.F) {
	f.Add(uint64(1), uint8(40))
	f.Fuzz(func(t *testing.T, seed uint64, steps uint8) {
		oracleTwin[oracleMapRegistry, oraclePlainRegistry](t, seed, int(steps))
		oracleTwin[oracleMapStruct, oraclePlainStruct](t, seed, int(steps))
	})
}

// oracleTwin runs oracles of M, a type with Maps, and G, its twin with Go
// maps, on one random sequence of transactions, and fails unless they
// agree on every one.
func oracleTwin[M, G any](t *testing.T, seed uint64, steps int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 5))
	om, og := newOracle[M](t), newOracle[G](t)
	om.pick = rand.New(rand.NewPCG(seed, 6)).IntN
	og.pick = rand.New(rand.NewPCG(seed, 6)).IntN
	g := oracleGen{next: rng.IntN, keys: func() []string {
		var out []string
		for kv := range om.kvs.All() {
			out = append(out, kv.Key)
		}
		return out
	}}
	for range steps {
		ops := make([]oracleOp, 1+g.next(4))
		for i := range ops {
			ops[i] = g.op()
		}
		pm, pg := om.prev, og.prev
		om.step(t, ops)
		og.step(t, ops)
		if (om.prev == pm) != (og.prev == pg) {
			t.Fatalf("revision %d %v: Map rejected %v, Go map rejected %v", om.rev, ops, om.prev == pm, og.prev == pg)
		}
		if om.prev == pm {
			continue
		}
		if m, g := plainJSON(t, om.prev.Value), plainJSON(t, og.prev.Value); !cmp.Equal(m, g) {
			t.Fatalf("revision %d %v: Map and Go map differ (-Map +Go map):\n%s", om.rev, ops, cmp.Diff(m, g))
		}
		cm, cg := changes(om.d, pm, om.prev), changes(og.d, pg, og.prev)
		if !cmp.Equal(cm, cg, cmp.AllowUnexported(Change{}, Flag{})) {
			t.Fatalf("revision %d %v: Changes differ (-Map +Go map):\n%s", om.rev, ops, cmp.Diff(cm, cg, cmp.AllowUnexported(Change{}, Flag{})))
		}
	}
	t.Logf("%d transactions: Map %d incremental, Go map %d", om.steps, om.inc, og.inc)
	if steps >= 100 && om.inc < og.inc {
		t.Errorf("Map applied %d transactions incrementally, the Go map %d", om.inc, og.inc)
	}
}

// plainJSON is v as JSON values, with empty objects and lists as null: a
// zero Map is {}, a nil Go map null.
func plainJSON(t *testing.T, v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	var prune func(any) any
	prune = func(x any) any {
		switch x := x.(type) {
		case map[string]any:
			if len(x) == 0 {
				return nil
			}
			for k, v := range x {
				x[k] = prune(v)
			}
		case []any:
			if len(x) == 0 {
				return nil
			}
		}
		return x
	}
	return prune(x)
}

// TestMapDeterminism: the same keys put in different orders, one
// transaction each, make Maps that iterate alike and give the same
// Changes from the empty start, run after run.
func TestMapDeterminism(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	var puts []oracleOp
	for i := range 60 {
		v := strconv.Itoa(i % 7)
		puts = append(puts, oracleOp{path: fmt.Sprintf("services/svc-%02d/%s", i%23, []string{"addr", "weight", "tags"}[i%3]), value: &v})
	}
	var wantEntries string
	var wantChanges []Change
	for run := range 50 {
		o := newOracle[oracleMapStruct](t)
		start := o.prev
		for _, i := range rng.Perm(len(puts)) {
			o.advance(t, []oracleOp{puts[i]})
		}
		var entries string
		for k, v := range o.prev.Value.Services.All() {
			entries += fmt.Sprintf("%s=%+v;", k, v)
		}
		cs := changes(o.d, start, o.prev)
		if run == 0 {
			wantEntries, wantChanges = entries, cs
			continue
		}
		if entries != wantEntries {
			t.Fatalf("run %d iterates %s, run 0 %s", run, entries, wantEntries)
		}
		if !cmp.Equal(cs, wantChanges, cmp.AllowUnexported(Change{}, Flag{})) {
			t.Fatalf("run %d: changes differ from run 0's:\n%s", run, cmp.Diff(cs, wantChanges, cmp.AllowUnexported(Change{}, Flag{})))
		}
	}
}

// TestMapApplyShares: applying one changed entry to a Map of n entries
// allocates O(log n) — the path to the entry — and never copies the Map:
// at 100k entries about as much as at 1k, where a Go map's copy grows
// with n.
func TestMapApplyShares(t *testing.T) {
	allocs := func(n int) float64 {
		o, prev := entryOracle[Map[string, oracleEntry]](t, n)
		i := 0
		return testing.AllocsPerRun(50, func() {
			i++
			next := prev.kvs.Clone()
			next.Set(&codec.KeyValue{Key: fmt.Sprintf("svc-%06d", i*7919%n), Value: strconv.Itoa(i), ModRevision: int64(3 + i)})
			v, _, inc, err := o.d.Next(prev.decoded(), next, int64(3+i))
			if err != nil || !inc {
				t.Fatal(inc, err)
			}
			prev = &Snapshot[Map[string, oracleEntry]]{Value: v, Revision: int64(3 + i), prefix: "/app/", kvs: next}
		})
	}
	small, large := allocs(1000), allocs(100000)
	t.Logf("allocations per change: %.0f at 1k entries, %.0f at 100k", small, large)
	if large > small*1.5+20 {
		t.Errorf("a change at 100k entries allocates %.0f, at 1k %.0f: not O(log n)", large, small)
	}
	// The two versions share all but the changed entry's path.
	o, prev := entryOracle[Map[string, oracleEntry]](t, 1000)
	next := prev.kvs.Clone()
	next.Set(&codec.KeyValue{Key: "svc-000500", Value: "9", ModRevision: 3})
	v, _, _, err := o.d.Next(prev.decoded(), next, 3)
	if err != nil {
		t.Fatal(err)
	}
	if shared := sharedNodes(prev.Value, v); shared < 1000-40 {
		t.Errorf("the new version shares %d of 1000 nodes with the old", shared)
	}
}

// sharedNodes counts the nodes of b that a holds too, by identity.
func sharedNodes[K ~string, V any](a, b Map[K, V]) int {
	seen := map[uintptr]bool{}
	var walk func(reflect.Value, bool) int
	walk = func(n reflect.Value, count bool) int {
		if n.IsNil() {
			return 0
		}
		c := 0
		if count && seen[n.Pointer()] {
			c = 1
		}
		if !count {
			seen[n.Pointer()] = true
		}
		e := n.Elem()
		return c + walk(e.FieldByName("left"), count) + walk(e.FieldByName("right"), count)
	}
	walk(reflect.ValueOf(a.m).FieldByName("t").FieldByName("root"), false)
	return walk(reflect.ValueOf(b.m).FieldByName("t").FieldByName("root"), true)
}
