package etcdconf

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestGroupsAgainstAScan checks keySet.groups, which seeks past subtrees,
// and groupKeys against a plain scan of every key, over random key sets
// whose first segments sort around "/" ("a", "a-b", "a.yaml", "a/x",
// "a0"), and changedKeys against a comparison of the two sets' keys.
func TestGroupsAgainstAScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	segs := []string{"a", "a-b", "a.yaml", "a0", "b", "B", "a.json", "zz"}
	for range 300 {
		s := NewKeySet()
		for range rng.IntN(30) {
			k := "/p/" + segs[rng.IntN(len(segs))]
			for range rng.IntN(3) {
				k += "/" + segs[rng.IntN(len(segs))]
			}
			s.Set(&KeyValue{Key: k, Value: []byte("v"), ModRevision: 1})
		}
		s.Set(&KeyValue{Key: "/q", ModRevision: 1}) // outside the prefix
		var want []group
		for kv := range s.All() {
			if !strings.HasPrefix(kv.Key, "/p/") {
				continue
			}
			rel := kv.Key[len("/p/"):]
			g := group{seg: rel}
			if i := strings.IndexByte(rel, '/'); i >= 0 {
				g = group{seg: rel[:i], sub: true}
			}
			if !slices.Contains(want, g) {
				want = append(want, g)
			}
		}
		var got []group
		var keys []string
		for g := range s.groups("/p/") {
			got = append(got, g)
			for kv := range s.groupKeys("/p/", g) {
				keys = append(keys, kv.Key)
			}
		}
		sortGroups := func(gs []group) {
			slices.SortFunc(gs, func(a, b group) int {
				return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
			})
		}
		sortGroups(got)
		sortGroups(want)
		if !slices.Equal(got, want) {
			t.Fatalf("groups %v, a scan gives %v", got, want)
		}
		var all []string
		for kv := range s.WithPrefix("/p/") {
			all = append(all, kv.Key)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, all) {
			t.Fatalf("the groups' keys %v, want every key %v", keys, all)
		}
		// changedKeys: change some keys of a copy and compare.
		c := s.Clone()
		var changed []string
		for kv := range s.All() {
			if rng.IntN(4) == 0 {
				if rng.IntN(2) == 0 {
					c.Delete(kv.Key)
				} else {
					c.Set(&KeyValue{Key: kv.Key, Value: []byte("w"), ModRevision: 2})
				}
				changed = append(changed, kv.Key)
			}
		}
		if got := ChangedKeys(s, c); !slices.Equal(got, changed) {
			t.Fatalf("changedKeys %v, want %v", got, changed)
		}
	}
}

// TestKeysRelativeToThePrefix: the key set holds keys relative to the
// prefix, and the groups of the whole set (under "") are those of a scan;
// the API gives them back in full (Snapshot.Keys, Snapshot.Key).
func TestKeysRelativeToThePrefix(t *testing.T) {
	s := KeySetOf(map[string]*KeyValue{
		"a":       {Key: "a", Value: []byte("1"), ModRevision: 2},
		"a.yaml":  {Key: "a.yaml", Value: []byte("x: 1"), ModRevision: 3},
		"b/c":     {Key: "b/c", Value: []byte("2"), ModRevision: 4},
		"b/d/e":   {Key: "b/d/e", Value: []byte("3"), ModRevision: 5},
		"b0":      {Key: "b0", Value: []byte("4"), ModRevision: 6},
		"zz/y/.x": {Key: "zz/y/.x", Value: []byte("5"), ModRevision: 7},
	})
	var got []group
	for g := range s.groups("") {
		got = append(got, g)
	}
	want := []group{{seg: "a"}, {seg: "a.yaml"}, {seg: "b", sub: true}, {seg: "b0"}, {seg: "zz", sub: true}}
	if !slices.Equal(got, want) {
		t.Fatalf("groups(\"\") = %v, want %v", got, want)
	}
	snap := &Snapshot[map[string]string]{prefix: "/app/", kvs: s}
	var keys []string
	for _, kv := range snap.Keys() {
		keys = append(keys, kv.Key)
	}
	wantKeys := []string{"/app/a", "/app/a.yaml", "/app/b/c", "/app/b/d/e", "/app/b0", "/app/zz/y/.x"}
	if !slices.Equal(keys, wantKeys) {
		t.Fatalf("Keys() = %q, want %q", keys, wantKeys)
	}
	if kv, ok := snap.Key("b/c"); !ok || kv.Key != "/app/b/c" || string(kv.Value) != "2" || kv.ModRevision != 4 {
		t.Fatalf(`Key("b/c") = %+v, %v; want the full key /app/b/c`, kv, ok)
	}
	if got, _ := s.Get("b/c"); got.Key != "b/c" {
		t.Fatalf("Key(...) changed the key set's key to %q", got.Key)
	}
	for _, k := range []string{"", "/a", "a//b", "a/", "a/.yaml"} {
		if !OddKey(k) {
			t.Errorf("oddKey(%q) = false, want true", k)
		}
	}
	for _, k := range []string{"a", "a/b", "a.yaml", "a/b.json"} {
		if OddKey(k) {
			t.Errorf("oddKey(%q) = true, want false", k)
		}
	}
}
