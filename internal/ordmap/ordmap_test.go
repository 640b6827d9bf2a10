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
		var walk func(n *node[int]) string
		walk = func(n *node[int]) string {
			if n == nil {
				return "."
			}
			return "(" + walk(n.left) + n.key + walk(n.right) + ")"
		}
		return walk(m.root)
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
