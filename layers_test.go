package etcdconf

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/etcdconf/etcdconf/internal/codec"
)

type layerOracle struct {
	A   string
	B   int
	Sub struct {
		C string
		D int `etcd:"d-val"`
	}
	M map[string]string
	L []string
	N map[string]struct {
		X string
		Y int
	}
}

// layerKeys are keys a layer may hold (spellings vary; documents too).
var layerKeys = []string{"a", "A", "b", "sub/c", "Sub/C", "sub/d-val", "sub/d_val", "m/k1", "m/k2", "l", "n/e1/x", "n/e1/y", "n/e2/x", "sub.yaml", "n/e2.yaml"}

func layerValue(r *rand.Rand, key string) string {
	switch {
	case key == "sub.yaml":
		return fmt.Sprintf("c: doc%d\nd-val: %d\n", r.IntN(3), r.IntN(3))
	case key == "n/e2.yaml":
		return fmt.Sprintf("x: doc%d\n", r.IntN(3))
	case strings.HasSuffix(key, "b"), strings.HasSuffix(strings.ToLower(key), "d-val"), strings.HasSuffix(strings.ToLower(key), "d_val"), strings.HasSuffix(key, "/y"):
		return fmt.Sprint(r.IntN(5))
	case key == "l":
		return fmt.Sprintf("x%d,y%d", r.IntN(3), r.IntN(3))
	}
	return fmt.Sprintf("v%d", r.IntN(4))
}

func randomLayer(r *rand.Rand, keys []string, n int) *codec.KeySet {
	s := codec.NewKeySet()
	for range r.IntN(n + 1) {
		k := keys[r.IntN(len(keys))]
		s.Set(&codec.KeyValue{Key: k, Value: layerValue(r, k), ModRevision: int64(r.IntN(100) + 1)})
	}
	return s
}

// leavesOf decodes one layer on its own and returns the leaves it sets;
// false when it does not decode.
func leavesOf(t *testing.T, kvs *codec.KeySet, origin string) (map[string]*codec.KeyValue, bool) {
	d, err := codec.NewDecoder[layerOracle]("", codec.Config{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := d.DecodeTree(kvs.Len(), kvs.All(), 0, false)
	if err != nil {
		return nil, false
	}
	l, err := codec.LayerLeaves(v, kvs, func(*codec.KeyValue) string { return origin })
	if err != nil {
		t.Fatal(err)
	}
	return l, true
}

// overlay puts the leaves of hi over lo: a leaf of hi replaces lo's at its
// path, above it and under it.
func overlay(lo, hi map[string]*codec.KeyValue) map[string]*codec.KeyValue {
	out := maps.Clone(lo)
	for p, kv := range hi {
		for q := range out {
			if q == p || strings.HasPrefix(q, p+"/") || strings.HasPrefix(p, q+"/") {
				delete(out, q)
			}
		}
		out[p] = kv
	}
	return out
}

// The oracle property of layers: for random keys in a file, a second file,
// etcd and the environment, the merged value (incremental over a run of
// etcd changes, and from scratch) equals the decode of the union of every
// layer's leaves taken in precedence order.
func TestLayersOracle(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 21))
	typ := reflect.TypeFor[layerOracle]()
	dec, err := codec.NewDecoder[layerOracle]("/app/", codec.Config{})
	if err != nil {
		t.Fatal(err)
	}
	envKeys := []string{"a", "b", "sub/c", "sub/d-val", "l"}
	checked := 0
	for round := 0; round < 300; round++ {
		f1, ok1 := leavesOf(t, randomLayer(r, layerKeys, 6), "file one")
		f2, ok2 := leavesOf(t, randomLayer(r, layerKeys, 4), "file two")
		env, ok3 := leavesOf(t, randomLayer(r, envKeys, 2), "env")
		if !ok1 || !ok2 || !ok3 {
			continue
		}
		below := overlay(f1, f2)
		l := codec.NewLayers(typ, below, env)
		etcd := randomLayer(r, layerKeys, 6)
		var prev codec.Decoded[layerOracle]
		for step := 0; step < 8; step++ {
			merged := l.Merge(etcd)
			eleaves, ok := leavesOf(t, etcd, "etcd")
			if ok {
				union := overlay(overlay(below, eleaves), env)
				want, werr := dec.DecodeSet(keySetOf(union), 1)
				got, gerr := dec.DecodeSet(merged, 1)
				if (werr == nil) != (gerr == nil) {
					t.Fatalf("round %d step %d: union error %v, merged error %v\nmerged keys %s", round, step, werr, gerr, keysText(merged))
				}
				if werr == nil {
					if !cmp.Equal(got, want) {
						t.Fatalf("round %d step %d: merged differs from the union (-merged +union):\n%s\nmerged keys %s", round, step, cmp.Diff(got, want), keysText(merged))
					}
					fresh := codec.NewLayers(typ, below, env).Merge(etcd)
					if !slices.Equal(keysText(fresh), keysText(merged)) {
						t.Fatalf("round %d step %d: incremental merge %s, from scratch %s", round, step, keysText(merged), keysText(fresh))
					}
					if prev.Keys != nil {
						v, _, _, err := dec.Next(prev, merged, int64(step))
						if err != nil || !cmp.Equal(v, want) {
							t.Fatalf("round %d step %d: Next: %v\n%s", round, step, err, cmp.Diff(v, want))
						}
					}
					prev = codec.Decoded[layerOracle]{Value: want, Keys: merged}
					checked++
				}
			}
			// the next etcd set: a few keys changed, sharing the rest
			etcd = etcd.Clone()
			for range r.IntN(3) + 1 {
				k := layerKeys[r.IntN(len(layerKeys))]
				if r.IntN(3) == 0 {
					etcd.Delete(k)
				} else {
					etcd.Set(&codec.KeyValue{Key: k, Value: layerValue(r, k), ModRevision: int64(100 + step)})
				}
			}
		}
	}
	if checked < 300 {
		t.Fatalf("only %d merged sets checked", checked)
	}
	t.Logf("%d merged sets checked", checked)
}

func keySetOf(m map[string]*codec.KeyValue) *codec.KeySet {
	s := codec.NewKeySet()
	for _, kv := range m {
		s.Set(kv)
	}
	return s
}

func keysText(s *codec.KeySet) []string {
	var out []string
	for kv := range s.All() {
		out = append(out, kv.Key+"="+string(kv.Value)+"@"+kv.Origin())
	}
	return out
}

// The same layers in the same order give one value and one Source map,
// whatever the order Go's maps iterate in.
func TestLayersDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	f1, _ := leavesOf(t, randomLayer(r, layerKeys, 8), "file one")
	f2, _ := leavesOf(t, randomLayer(r, layerKeys, 8), "file two")
	etcd := randomLayer(r, layerKeys, 8)
	var first string
	for i := 0; i < 100; i++ {
		dec, err := codec.NewDecoder[layerOracle]("/app/", codec.Config{})
		if err != nil {
			t.Fatal(err)
		}
		merged := codec.NewLayers(reflect.TypeFor[layerOracle](), overlay(f1, f2), nil).Merge(etcd)
		v, err := dec.DecodeSet(merged, 1)
		s := &Snapshot[layerOracle]{Value: v, prefix: "/app/", kvs: merged}
		got := fmt.Sprintf("%+v %v", v, err)
		for _, p := range []string{"A", "B", "Sub.C", "Sub.D", `M["k1"]`, `M["k2"]`, "L", `N["e1"].X`, `N["e2"].X`} {
			got += " " + p + "=" + s.Source(p)
		}
		if i == 0 {
			first = got
			t.Log(first)
		} else if got != first {
			t.Fatalf("run %d:\n%s\nfirst:\n%s", i, got, first)
		}
	}
}
