package codec

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/etcdconf/etcdconf/internal/ordmap"
	"github.com/go-viper/mapstructure/v2"
)

// A MapType is how the codec reads and builds the values of one
// instantiation of the root package's Map, an immutable ordered map that
// shares structure between versions: by reflection, since the codec
// cannot import the root package (see RegisterMaps). Everywhere a Go map
// with string keys is accepted, a Map is read as the Go map of the same
// keys and values (Go) — the schema, paths, keys and the encoder see the
// one through the other — except where sharing is the point: a change is
// applied to a Map by With and Without on the previous version (see
// applyEntries), and the differ walks two Maps entry by entry, skipping
// the subtrees they share (see differ.walkMap).
type MapType struct {
	Type    reflect.Type // the Map type
	Go      reflect.Type // map[K]V
	Len     func(m reflect.Value) int
	Get     func(m reflect.Value, k string) (reflect.Value, bool)
	With    func(m reflect.Value, k string, v reflect.Value) reflect.Value
	Without func(m reflect.Value, k string) reflect.Value
	// Range calls yield with the entries in key order, until it returns false.
	Range func(m reflect.Value, yield func(k string, v reflect.Value) bool)
	// FromGo builds a Map of the entries of a Go map, nil or not; ToGo copies them back.
	FromGo func(g reflect.Value) reflect.Value
	ToGo   func(m reflect.Value) reflect.Value
	// Diff calls yield with every key whose entry may differ between a
	// and b, skipping the subtrees they share, until it returns false.
	Diff func(a, b reflect.Value, yield func(k string) bool)
}

var (
	mapsOf   func(reflect.Type) (*MapType, bool)
	mapTypes sync.Map // reflect.Type -> *MapType, nil for a type that is no Map
)

// RegisterMaps makes f the function that tells a Map type's MapType. The
// root package calls it from an init function.
func RegisterMaps(f func(t reflect.Type) (*MapType, bool)) { mapsOf = f }

// MapTypeOf returns the MapType of t, if t is a Map type.
func MapTypeOf(t reflect.Type) (*MapType, bool) {
	if t == nil || t.Kind() != reflect.Struct || mapsOf == nil {
		return nil, false
	}
	if mt, ok := mapTypes.Load(t); ok {
		return mt.(*MapType), mt.(*MapType) != nil
	}
	mt, ok := mapsOf(t)
	if !ok {
		mt = nil
	}
	mapTypes.Store(t, mt)
	return mt, ok
}

// DefinedFromMap returns the first type t holds (t itself, a field's
// type, an element's) that is defined from the root package's Map (type
// Registry etcdconf.Map[...]) instead of naming it by an alias: it has
// the Map's layout and none of its methods, so it would decode as a
// struct with no field, silently empty. Nil if there is none.
func DefinedFromMap(t reflect.Type) reflect.Type {
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type) reflect.Type
	walk = func(t reflect.Type) reflect.Type {
		if seen[t] {
			return nil
		}
		seen[t] = true
		t = goType(t)
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
			return walk(t.Elem())
		case reflect.Struct:
			if t.NumField() == 1 {
				f := t.Field(0).Type
				if t.Field(0).Name == "m" && f.PkgPath() == ordmapPath && strings.HasPrefix(f.Name(), "Map[") {
					return t
				}
			}
			for i := range t.NumField() {
				if f := t.Field(i); f.IsExported() {
					if d := walk(f.Type); d != nil {
						return d
					}
				}
			}
		}
		return nil
	}
	return walk(t)
}

var ordmapPath = reflect.TypeFor[ordmap.Map[int]]().PkgPath()

// goType returns the Go map type a Map type t stands for, and t itself for
// any other type: what the type walks (schema, paths, keys) look through.
func goType(t reflect.Type) reflect.Type {
	if mt, ok := MapTypeOf(t); ok {
		return mt.Go
	}
	return t
}

// goValue returns the entries of v as a Go map if v is a Map, and v itself
// otherwise: for the walks that read a whole value (encoding, rendering).
func goValue(v reflect.Value) reflect.Value {
	if !v.IsValid() {
		return v
	}
	if mt, ok := MapTypeOf(v.Type()); ok {
		return mt.ToGo(v)
	}
	return v
}

// mapLen is the length of a Go map or a Map.
func mapLen(v reflect.Value) int {
	if mt, ok := MapTypeOf(v.Type()); ok {
		return mt.Len(v)
	}
	return v.Len()
}

// mapHook decodes a mapping into a Map: into the Go map of its keys and
// values, by the same decoder, then built from it. The decoder's errors
// and, when strict, the names it did not use come back as one entryError,
// which fieldError reads through (see leastFieldError).
func mapHook(strict bool) mapstructure.DecodeHookFuncType {
	return func(from, to reflect.Type, data any) (any, error) {
		mt, ok := MapTypeOf(to)
		if !ok || from == mt.Type {
			return data, nil
		}
		g := reflect.New(mt.Go)
		var md mapstructure.Metadata
		dec, err := newMapDecoder(g.Interface(), &md, strict)
		if err != nil {
			return nil, err
		}
		if err := dec.Decode(data); err != nil {
			return nil, &entryError{err: err}
		}
		if strict && len(md.Unused) > 0 {
			name := slices.Min(md.Unused)
			return nil, &entryError{name: name, err: fmt.Errorf("no field of %v matches %q", mt.Go.Elem(), name)}
		}
		return mt.FromGo(g.Elem()).Interface(), nil
	}
}

// An entryError is an error of decoding a Map's entries: a mapstructure
// error naming fields from the Map down ("[a].Port"), or one naming name.
type entryError struct {
	name string
	err  error
}

func (e *entryError) Error() string { return e.err.Error() }
func (e *entryError) Unwrap() error { return e.err }

// nestedFieldError returns the least field error inside an entryError
// cause of a field error named name, as leastFieldError does, with its
// name from the top.
func nestedFieldError(name string, cause error) (string, error, bool) {
	var ee *entryError
	if !errors.As(cause, &ee) {
		return "", nil, false
	}
	if ee.name != "" {
		return name + ee.name, ee.err, true
	}
	n, c, ok := leastFieldError(ee.err)
	if !ok {
		return name, ee.err, true
	}
	return name + n, c, true
}

// mapIndex is v.MapIndex(k) for a Go map or a Map.
func mapIndex(v, k reflect.Value) reflect.Value {
	if mt, ok := MapTypeOf(v.Type()); ok {
		return entry(mt, v, k.String())
	}
	return v.MapIndex(k)
}

// walkMap compares two Maps entry by entry, as walk compares two Go maps,
// visiting only the entries of the subtrees they do not share: O(changes ·
// log n) for a Map and the version a change made of it.
func (d *differ) walkMap(mt *MapType, x, y reflect.Value) {
	k := reflect.New(mt.Go.Key()).Elem()
	mt.Diff(x, y, func(key string) bool {
		xv, yv := entry(mt, x, key), entry(mt, y, key)
		k.SetString(key)
		d.push(pathStep{key: k})
		d.walk(xv, yv)
		d.pop()
		return true
	})
}

// entry returns the entry of Map m at key, or the invalid Value, which
// walk reads as absent.
func entry(mt *MapType, m reflect.Value, key string) reflect.Value {
	if e, ok := mt.Get(m, key); ok {
		return e
	}
	return reflect.Value{}
}

// Equal reports whether x and y, of one type, are equal by the rules of
// the differ: the root package's Map.Equal compares entries by it.
func Equal(x, y reflect.Value) bool { return equal(x, y) }

// applyMapEntries is applyEntries for a Map pv: the next version, by
// Without and With from pv, sharing all the entries the change did not
// touch.
func applyMapEntries(mt *MapType, pv, oldPart, newPart reflect.Value) (reflect.Value, bool) {
	next := pv
	mt.Range(oldPart, func(k string, _ reflect.Value) bool {
		if _, ok := mt.Get(newPart, k); !ok {
			next = mt.Without(next, k)
		}
		return true
	})
	mt.Range(newPart, func(k string, v reflect.Value) bool {
		next = mt.With(next, k, v)
		return true
	})
	return next, mt.Len(next) > 0
}

// fromMapValue is fromValue for a Map part.
func fromMapValue(mt *MapType, part *reflect.Value, from reflect.Value) bool {
	out, ok := *part, true
	mt.Range(*part, func(k string, _ reflect.Value) bool {
		var v reflect.Value
		if v, ok = mt.Get(from, k); ok {
			out = mt.With(out, k, v)
		}
		return ok
	})
	*part = out
	return ok
}
