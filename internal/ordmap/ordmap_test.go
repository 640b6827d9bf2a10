package ordmap

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// check compares m with the reference map want: Len, Get of every key and
// of a missing one, in-order Ascend from every key and from below all.
func check(t *testing.T, m Map[int], want map[string]int) {
	t.Helper()
	if m.Len() != len(want) {
		t.Fatalf("Len %d, want %d", m.Len(), len(want))
	}
	keys := slices.Sorted(maps.Keys(want))
	var got []string
	m.Ascend("", func(k string, v int) bool {
		if want[k] != v {
			t.Fatalf("%s = %d, want %d", k, v, want[k])
		}
		got = append(got, k)
		return true
	})
	if !slices.Equal(got, keys) {
		t.Fatalf("Ascend gave %v, want %v", got, keys)
	}
	for i, k := range keys {
		if v, ok := m.Get(k); !ok || v != want[k] {
			t.Fatalf("Get(%s) = %d, %v", k, v, ok)
		}
		var from []string
		m.Ascend(k, func(k string, _ int) bool { from = append(from, k); return len(from) < 3 })
		if !slices.Equal(from, keys[i:min(i+3, len(keys))]) {
			t.Fatalf("Ascend(%s) gave %v", k, from)
		}
	}
	if _, ok := m.Get("missing"); ok {
		t.Fatal("Get of a missing key")
	}
}

// TestAgainstMap applies random sets and deletes to a Map and to a Go map,
// keeping every old version, and checks they agree and that no version
// changed after it was made.
func TestAgainstMap(t *testing.T) {
	for seed := range 20 {
		r := rand.New(rand.NewPCG(uint64(seed), 1))
		var m Map[int]
		want := map[string]int{}
		type version struct {
			m    Map[int]
			want map[string]int
		}
		var versions []version
		for step := range 500 {
			k := fmt.Sprintf("k%03d", r.IntN(120))
			if r.IntN(3) == 0 {
				var old int
				var ok bool
				m, old, ok = m.Delete(k)
				if w, had := want[k]; ok != had || ok && old != w {
					t.Fatalf("seed %d step %d: Delete(%s) = %d, %v; want %d, %v", seed, step, k, old, ok, w, had)
				}
				delete(want, k)
			} else {
				var old int
				var replaced bool
				m, old, replaced = m.Set(k, step)
				if w, had := want[k]; replaced != had || replaced && old != w {
					t.Fatalf("seed %d step %d: Set(%s) replaced %d, %v; want %d, %v", seed, step, k, old, replaced, w, had)
				}
				want[k] = step
			}
			if step%50 == 0 {
				versions = append(versions, version{m, maps.Clone(want)})
			}
		}
		check(t, m, want)
		for _, v := range versions {
			check(t, v.m, v.want)
		}
	}
}

// TestFromSorted: a map built at once equals one built key by key, and
// changes as one does.
func TestFromSorted(t *testing.T) {
	for _, n := range []int{0, 1, 2, 10, 1000} {
		keys := make([]string, n)
		vals := make([]int, n)
		want := map[string]int{}
		var m Map[int]
		for i := range n {
			keys[i], vals[i] = fmt.Sprintf("k%05d", i), i
			want[keys[i]] = i
			m, _, _ = m.Set(keys[i], i)
		}
		built := FromSorted(keys, vals)
		check(t, built, want)
		check(t, m, want)
		if n > 0 {
			built, _, _ = built.Delete(keys[n/2])
			built, _, _ = built.Set("new", -1)
			delete(want, keys[n/2])
			want["new"] = -1
			check(t, built, want)
		}
	}
}

// TestShapeIsDeterministic: the same keys make the same tree whatever the
// order of changes, so costs do not depend on history.
func TestShapeIsDeterministic(t *testing.T) {
	keys := make([]string, 200)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%03d", i)
	}
	shape := func(m Map[int]) string {
		var walk func(n *node[Pair[int]]) string
		walk = func(n *node[Pair[int]]) string {
			if n == nil {
				return "."
			}
			return "(" + walk(n.left) + n.e.Key + walk(n.right) + ")"
		}
		return walk(m.t.root)
	}
	var first string
	for run := range 50 {
		r := rand.New(rand.NewPCG(uint64(run), 2))
		var m Map[int]
		for _, i := range r.Perm(len(keys)) {
			m, _, _ = m.Set(keys[i], i)
		}
		for _, i := range r.Perm(len(keys))[:50] { // delete some and put them back
			m, _, _ = m.Delete(keys[i])
			m, _, _ = m.Set(keys[i], i)
		}
		if s := shape(m); run == 0 {
			first = s
		} else if s != first {
			t.Fatalf("run %d: a different shape for the same keys", run)
		}
	}
}

func BenchmarkSetOnShared(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		keys := make([]string, n)
		vals := make([]int, n)
		for i := range n {
			keys[i], vals[i] = fmt.Sprintf("/app/services/svc-%06d", i), i
		}
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			pub := FromSorted(keys, vals)
			for i := 0; b.Loop(); i++ {
				pub, _, _ = pub.Set(keys[i%n], i)
			}
		})
	}
}

// TestDiff compares Diff of random pairs of versions, derived from each
// other by changes or built apart by FromSorted, with a comparison of Go
// maps, and checks that no key is reported twice.
func TestDiff(t *testing.T) {
	eq := func(x, y int) bool { return x == y }
	for seed := range 10 {
		r := rand.New(rand.NewPCG(uint64(seed), 2))
		var versions []Map[int]
		var refs []map[string]int
		m, ref := Map[int]{}, map[string]int{}
		for range 400 {
			k := fmt.Sprintf("k%03d", r.IntN(300))
			if r.IntN(3) == 0 {
				m, _, _ = m.Delete(k)
				delete(ref, k)
			} else {
				v := r.IntN(4)
				m, _, _ = m.Set(k, v)
				ref[k] = v
			}
			if r.IntN(4) == 0 { // a version built apart, sharing nothing
				keys := slices.Sorted(maps.Keys(ref))
				vals := make([]int, len(keys))
				for i, k := range keys {
					vals[i] = ref[k]
				}
				versions, refs = append(versions, FromSorted(keys, vals)), append(refs, maps.Clone(ref))
			}
			versions, refs = append(versions, m), append(refs, maps.Clone(ref))
		}
		for range 300 {
			i, j := r.IntN(len(versions)), r.IntN(len(versions))
			var want []string
			for k, v := range refs[i] {
				if w, ok := refs[j][k]; !ok || w != v {
					want = append(want, k)
				}
			}
			for k := range refs[j] {
				if _, ok := refs[i][k]; !ok {
					want = append(want, k)
				}
			}
			var got []string
			Diff(versions[i], versions[j], eq, func(k string) bool { got = append(got, k); return true })
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("seed %d: Diff(v%d, v%d) = %v, want %v", seed, i, j, got, want)
			}
		}
	}
}

// TestDiffSharedIsCheap checks that Diff of two versions of a large map
// one change apart compares O(log n) values, not every key.
func TestDiffSharedIsCheap(t *testing.T) {
	keys := make([]string, 100000)
	vals := make([]int, len(keys))
	for i := range keys {
		keys[i] = fmt.Sprintf("k%06d", i)
	}
	a := FromSorted(keys, vals)
	for _, change := range []func(Map[int]) Map[int]{
		func(m Map[int]) Map[int] { m, _, _ = m.Set("k050000", 1); return m },
		func(m Map[int]) Map[int] { m, _, _ = m.Set("k050000x", 1); return m },
		func(m Map[int]) Map[int] { m, _, _ = m.Delete("k050000"); return m },
	} {
		b := change(a)
		compared := 0
		var got []string
		Diff(a, b, func(x, y int) bool { compared++; return x == y }, func(k string) bool { got = append(got, k); return true })
		if len(got) != 1 || compared > 200 {
			t.Errorf("Diff gave %v after %d comparisons; want one key, O(log n) comparisons", got, compared)
		}
	}
}
