package etcdconf

import (
	"fmt"
	"maps"
	"testing"

	"github.com/etcdconf/etcdconf/internal/codec"
)

// BenchmarkKeyState measures what the watch loop pays per batch to keep an
// immutable key state: a batch of one changed key applied to a state that a
// published snapshot still holds. "map" is the copy every batch made before
// keySet; "keySet" is the persistent ordered map (internal/ordmap) that
// shares what the batch did not touch. "iterate" is a full in-order walk
// (what a full decode reads), and "build" a load's construction.
func BenchmarkKeyState(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		m := make(map[string]*codec.KeyValue, n)
		for i := range n {
			k := fmt.Sprintf("/app/services/svc-%06d", i)
			m[k] = &codec.KeyValue{Key: k, Value: "10.0.0.1:8080", ModRevision: int64(i + 1)}
		}
		b.Run(fmt.Sprintf("keys=%d/map", n), func(b *testing.B) {
			pub := m
			for i := 0; b.Loop(); i++ {
				next := maps.Clone(pub)
				k := fmt.Sprintf("/app/services/svc-%06d", i%n)
				next[k] = &codec.KeyValue{Key: k, ModRevision: int64(n + i)}
				pub = next
			}
		})
		b.Run(fmt.Sprintf("keys=%d/keySet", n), func(b *testing.B) {
			pub := codec.KeySetOf(m)
			for i := 0; b.Loop(); i++ {
				next := pub.Clone()
				k := fmt.Sprintf("/app/services/svc-%06d", i%n)
				next.Set(&codec.KeyValue{Key: k, ModRevision: int64(n + i)})
				pub = next
			}
		})
		b.Run(fmt.Sprintf("keys=%d/iterate/map", n), func(b *testing.B) {
			for b.Loop() {
				c := 0
				for range m {
					c++
				}
			}
		})
		b.Run(fmt.Sprintf("keys=%d/iterate/keySet", n), func(b *testing.B) {
			s := codec.KeySetOf(m)
			for b.Loop() {
				c := 0
				for range s.All() {
					c++
				}
			}
		})
		b.Run(fmt.Sprintf("keys=%d/build/keySet", n), func(b *testing.B) {
			for b.Loop() {
				codec.KeySetOf(m)
			}
		})
	}
}
