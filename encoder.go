package etcdconf

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/etcdconf/etcdconf/internal/keytree"
	"gopkg.in/yaml.v3"
)

// encodeTree is the inverse of the decoder: it turns v into a tree of
// nested maps whose leaves are the strings keys would hold. Struct fields
// are named by their etcd tag, else their lower-cased Go name; nil pointers
// and maps are absent.
func encodeTree(v reflect.Value, path string) (any, error) {
	if !v.IsValid() {
		return nil, nil
	}
	if v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil, nil
		}
		return encodeTree(v.Elem(), path)
	}
	if s, ok, err := encodeScalar(v); ok || err != nil {
		if err != nil {
			return nil, fmt.Errorf("%s: %w", pathOr(path), err)
		}
		return s, nil
	}
	switch v.Kind() {
	case reflect.Struct:
		m := map[string]any{}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			tag := parseTag(f)
			if !f.IsExported() || tag.skip {
				continue
			}
			name := tag.name
			if _, tagged := f.Tag.Lookup(tagName); !tagged {
				name = strings.ToLower(f.Name)
			}
			sub, err := encodeTree(v.Field(i), joinPath(path, f.Name))
			if err != nil {
				return nil, err
			}
			if sub != nil {
				m[name] = sub
			}
		}
		return m, nil
	case reflect.Map:
		if v.IsNil() {
			return nil, nil
		}
		m := map[string]any{}
		for it := v.MapRange(); it.Next(); {
			k := fmt.Sprint(it.Key().Interface())
			sub, err := encodeTree(it.Value(), fmt.Sprintf("%s[%q]", path, k))
			if err != nil {
				return nil, err
			}
			if sub == nil {
				continue
			}
			// A map of scalars is a flat view: "db/host" is a path.
			segs := keytree.Segments(k)
			if len(segs) == 0 {
				return nil, fmt.Errorf("%s[%q]: an empty map key cannot be a key segment", pathOr(path), k)
			}
			node := m
			for _, s := range segs[:len(segs)-1] {
				child, _ := node[s].(map[string]any)
				if child == nil {
					child = map[string]any{}
					node[s] = child
				}
				node = child
			}
			node[segs[len(segs)-1]] = sub
		}
		return m, nil
	}
	return nil, fmt.Errorf("%s: a %v cannot be written to etcd", pathOr(path), v.Type())
}

// encodeScalar formats v as the decoder reads it back, and reports false
// when v is not a scalar.
func encodeScalar(v reflect.Value) (string, bool, error) {
	switch t := v.Type(); {
	case t == durationType:
		return time.Duration(v.Int()).String(), true, nil
	case t == timeType:
		return v.Interface().(time.Time).Format(time.RFC3339Nano), true, nil
	case t.Implements(reflect.TypeFor[encoding.TextMarshaler]()):
		b, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		return string(b), true, err
	}
	switch v.Kind() {
	case reflect.String:
		return v.String(), true, nil
	case reflect.Bool:
		return strconv.FormatBool(v.Bool()), true, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10), true, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(v.Uint(), 10), true, nil
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, v.Type().Bits()), true, nil
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return string(v.Bytes()), true, nil
		}
		if isComposite(v.Type().Elem()) {
			return "", false, nil
		}
		parts := make([]string, v.Len())
		for i := range v.Len() {
			s, _, err := encodeScalar(v.Index(i))
			if err != nil {
				return "", true, err
			}
			if strings.Contains(s, ",") {
				return "", true, fmt.Errorf("list item %q holds a comma, which a comma list cannot", s)
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), true, nil
	}
	return "", false, nil
}

// leaves flattens an encoded tree into path -> value, paths as segments
// joined by "/".
func leaves(tree any) map[string]string {
	out := map[string]string{}
	var walk func(prefix string, n any)
	walk = func(prefix string, n any) {
		switch x := n.(type) {
		case map[string]any:
			for k, v := range x {
				walk(joinKey(prefix, k), v)
			}
		case string:
			out[prefix] = x
		}
	}
	walk("", tree)
	return out
}

// subtree returns the node of tree at segs, matching names like the decoder.
func subtree(tree any, segs []string) any {
	n := tree
	for _, s := range segs {
		m, ok := n.(map[string]any)
		if !ok {
			return nil
		}
		var next any
		for k, v := range m {
			if k == s || sameName(k, s) {
				next = v
				break
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return n
}

// marshalDocument encodes a subtree as the document a key holds: YAML for
// .yaml/.yml keys, JSON otherwise.
func marshalDocument(key string, n any) ([]byte, error) {
	if ext := keytree.DocumentExt(key); ext == ".yaml" || ext == ".yml" {
		return yaml.Marshal(n)
	}
	return json.Marshal(n)
}

func joinKey(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "/" + k
}

func joinPath(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func pathOr(path string) string {
	if path == "" {
		return "value"
	}
	return path
}

// keyFor finds the snapshot key that holds the value at segs: a key with
// the same segments (names matched like the decoder), or one whose value
// holds the whole subtree above segs (a document, or a JSON value). It
// reports whether the key is such a holder.
func keyFor(kvs []KeyValue, prefix string, segs []string) (kv *KeyValue, holder bool) {
	for i := range kvs {
		ks := keytree.Segments(strings.TrimPrefix(kvs[i].Key, prefix))
		isDoc := false
		if n := len(ks); n > 0 {
			if ext := keytree.DocumentExt(ks[n-1]); ext != "" {
				ks[n-1] = strings.TrimSuffix(ks[n-1], ext)
				isDoc = true
				if ks[n-1] == "" {
					ks = ks[:n-1]
				}
			}
		}
		if len(ks) > len(segs) || !segsMatch(ks, segs[:len(ks)]) {
			continue
		}
		if len(ks) < len(segs) || isDoc {
			if kv == nil {
				kv, holder = &kvs[i], true
			}
			continue
		}
		return &kvs[i], false // a plain key overrides a document holding the same path
	}
	return kv, holder
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
