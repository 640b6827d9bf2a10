package etcdconf

import (
	"encoding/json"
	"fmt"
	"iter"
	"reflect"
	"slices"

	"github.com/etcdconf/etcdconf/internal/codec"
	"github.com/etcdconf/etcdconf/internal/ordmap"
	"gopkg.in/yaml.v3"
)

// A Map is an immutable map from string keys to values, ordered by key,
// that shares structure between versions: [Map.With] and [Map.Without]
// return a new Map that shares all but O(log n) of its nodes with the old
// one, which stays as it was. Use it where a map[K]V is accepted — as T
// itself, or as the type of a field (Services Map[string, Instance]) — when
// a registry grows past a few thousand entries, or changes faster than a
// copy of the map takes: a change then costs the entries it touches, not
// a copy of the map.
//
// Every feature treats a Map as a Go map of the same keys and values:
// keys decode into its entries (one per key segment), documents, defaults
// and strict decoding; Change.Path names an entry as Services["a"].Addr;
// Set, Delete and Lookup take such paths; secrets inside V stay withheld;
// its JSON and YAML form is an object. Change and Lookup values are Maps.
//
// The zero Map is empty and ready to use. A Map is safe to share between
// goroutines. Its values are shared between versions: never change one
// through a pointer, slice or map it holds; set a new value with With.
// Validate and the function [Watcher.Update] runs get a copy of T that
// owns all it reaches, as with a Go map: a Map whose values hold pointers,
// slices or maps is built again of copies of them for it (O(n), where a
// Map of plain values is shared as it is).
// Name a Map type with an alias (type Registry = Map[string, Instance]): a
// type defined from it (type Registry Map[...]) has none of its methods,
// and New and Load refuse a T that holds one.
type Map[K ~string, V any] struct {
	m ordmap.Map[V]
}

// MapOf returns a Map of the entries of m.
func MapOf[K ~string, V any](m map[K]V) Map[K, V] {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, string(k))
	}
	slices.Sort(keys)
	vals := make([]V, len(keys))
	for i, k := range keys {
		vals[i] = m[K(k)]
	}
	return Map[K, V]{m: ordmap.FromSorted(keys, vals)}
}

// Get returns the value at k, and whether there is one.
func (m Map[K, V]) Get(k K) (V, bool) { return m.m.Get(string(k)) }

// Len returns the number of entries.
func (m Map[K, V]) Len() int { return m.m.Len() }

// All returns the entries in key order.
func (m Map[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		m.m.Ascend("", func(k string, v V) bool { return yield(K(k), v) })
	}
}

// Keys returns the keys in order.
func (m Map[K, V]) Keys() iter.Seq[K] {
	return func(yield func(K) bool) {
		m.m.Ascend("", func(k string, _ V) bool { return yield(K(k)) })
	}
}

// With returns m with k set to v; m is unchanged.
func (m Map[K, V]) With(k K, v V) Map[K, V] {
	next, _, _ := m.m.Set(string(k), v)
	return Map[K, V]{m: next}
}

// Without returns m without k; m is unchanged.
func (m Map[K, V]) Without(k K) Map[K, V] {
	next, _, _ := m.m.Delete(string(k))
	return Map[K, V]{m: next}
}

// Equal reports whether m and o hold the same keys with equal values, by
// the rules of [Change]: unexported fields are ignored, nil and empty
// slices and maps are equal. go-cmp uses it to compare Maps by content.
func (m Map[K, V]) Equal(o Map[K, V]) bool {
	if m.Len() != o.Len() {
		return false
	}
	same := true
	ordmap.Diff(m.m, o.m, equalValues[V], func(string) bool {
		same = false
		return false
	})
	return same
}

func equalValues[V any](x, y V) bool {
	return codec.Equal(reflect.ValueOf(&x).Elem(), reflect.ValueOf(&y).Elem())
}

// goMap returns the entries of m as a Go map.
func (m Map[K, V]) goMap() map[K]V {
	out := make(map[K]V, m.Len())
	for k, v := range m.All() {
		out[k] = v
	}
	return out
}

// String formats m as fmt formats a Go map: map[k1:v1 k2:v2], keys in order.
func (m Map[K, V]) String() string { return fmt.Sprint(m.goMap()) }

// MarshalJSON encodes m as a JSON object, as a Go map.
func (m Map[K, V]) MarshalJSON() ([]byte, error) { return json.Marshal(m.goMap()) }

// UnmarshalJSON sets m to the entries of a JSON object (null is an empty
// Map). It replaces m, where json.Unmarshal into a Go map adds to the
// entries the map held; on an error m is unchanged.
func (m *Map[K, V]) UnmarshalJSON(b []byte) error {
	var g map[K]V
	if err := json.Unmarshal(b, &g); err != nil {
		return err
	}
	*m = MapOf(g)
	return nil
}

// MarshalYAML encodes m as a YAML mapping, as a Go map.
func (m Map[K, V]) MarshalYAML() (any, error) { return m.goMap(), nil }

// UnmarshalYAML sets m to the entries of a YAML mapping (null is an empty
// Map). It replaces m, where yaml.Unmarshal into a Go map adds to the
// entries the map held; on an error m is unchanged.
func (m *Map[K, V]) UnmarshalYAML(n *yaml.Node) error {
	var g map[K]V
	if err := n.Decode(&g); err != nil {
		return err
	}
	*m = MapOf(g)
	return nil
}

// codecMap is how the codec reads and builds Maps of this type: see
// [codec.MapType].
func (Map[K, V]) codecMap() *codec.MapType {
	of := func(v reflect.Value) Map[K, V] { return v.Interface().(Map[K, V]) }
	val := func(m Map[K, V]) reflect.Value { return reflect.ValueOf(m) }
	return &codec.MapType{
		Type: reflect.TypeFor[Map[K, V]](),
		Go:   reflect.TypeFor[map[K]V](),
		Len:  func(v reflect.Value) int { return of(v).Len() },
		Get: func(v reflect.Value, k string) (reflect.Value, bool) {
			e, ok := of(v).m.Get(k)
			return reflect.ValueOf(&e).Elem(), ok
		},
		With: func(v reflect.Value, k string, e reflect.Value) reflect.Value {
			return val(of(v).With(K(k), e.Interface().(V)))
		},
		Without: func(v reflect.Value, k string) reflect.Value { return val(of(v).Without(K(k))) },
		Range: func(v reflect.Value, yield func(string, reflect.Value) bool) {
			of(v).m.Ascend("", func(k string, e V) bool { return yield(k, reflect.ValueOf(&e).Elem()) })
		},
		FromGo: func(g reflect.Value) reflect.Value { return val(MapOf(g.Interface().(map[K]V))) },
		ToGo:   func(v reflect.Value) reflect.Value { return reflect.ValueOf(of(v).goMap()) },
		Diff: func(a, b reflect.Value, yield func(string) bool) {
			ordmap.Diff(of(a).m, of(b).m, func(V, V) bool { return false }, yield)
		},
	}
}

func init() {
	codec.RegisterMaps(func(t reflect.Type) (*codec.MapType, bool) {
		m, ok := reflect.Zero(t).Interface().(interface{ codecMap() *codec.MapType })
		if !ok {
			return nil, false
		}
		mt := m.codecMap()
		return mt, mt.Type == t // not a type that embeds a Map
	})
}
