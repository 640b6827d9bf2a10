package codec

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
			s.Set(&KeyValue{Key: k, Value: "v", ModRevision: 1})
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
					c.Set(&KeyValue{Key: kv.Key, Value: "w", ModRevision: 2})
				}
				changed = append(changed, kv.Key)
			}
		}
		if got := ChangedKeys(s, c); !slices.Equal(got, changed) {
			t.Fatalf("changedKeys %v, want %v", got, changed)
		}
	}
}
