package codec

import (
	"encoding"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/etcdconf/etcdconf/internal/keytree"
	"gopkg.in/yaml.v3"
)

// The encoder is the inverse of the decoder. It turns a value into leaves:
// the scalars and lists that one key (or one document entry) holds, each
// at its canonical path. A canonical path spells struct fields by their
// etcd tag, else their lower-cased Go name, and map keys exactly as they
// are; [resolve] maps the path of an existing key to the same spelling, so
// a leaf and the key that holds it meet by string equality, never by the
// loose match of field names (which would merge map keys "API-1" and
// "api-1").

// A Leaf is one value that a key or a document entry holds whole: a
// scalar, or a slice (of scalars or of structs).
type Leaf struct {
	path  []string // canonical
	Field string   // Go path, for errors: "Services[\"a\"].Addr"
	V     reflect.Value
}

// EncodeLeaves adds the leaves of v, at canonical path and Go path field,
// to out, keyed by the canonical path joined with "/". Nil pointers, maps,
// slices and interfaces have no leaves. A map key that cannot be a key
// segment, and a string that is not UTF-8, are errors naming the field.
func EncodeLeaves(v reflect.Value, path []string, field string, out map[string]Leaf) error {
	if !v.IsValid() {
		return nil
	}
	v = goValue(v)
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return EncodeLeaves(v.Elem(), path, field, out)
	case reflect.Slice:
		if v.IsNil() {
			return nil
		}
		out[strings.Join(path, "/")] = Leaf{path: path, Field: field, V: v}
		return nil
	}
	t := v.Type()
	if !IsComposite(t) {
		out[strings.Join(path, "/")] = Leaf{path: path, Field: field, V: v}
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		for _, f := range SchemaOf(t).written {
			if err := EncodeLeaves(v.Field(f.index), append(slices.Clip(path), f.canon), JoinPath(field, f.name), out); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		flat := !IsComposite(t.Elem())
		keys := make(map[string]string, v.Len())
		for it := v.MapRange(); it.Next(); {
			k := fmt.Sprint(it.Key().Interface())
			sub := fmt.Sprintf("%s[%q]", field, k)
			if err := checkMapKey(k, flat); err != nil {
				return fmt.Errorf("%s: %w", pathOr(sub), err)
			}
			keys[k] = ""
			if err := EncodeLeaves(it.Value(), append(slices.Clip(path), keytree.Segments(k)...), sub, out); err != nil {
				return err
			}
		}
		if flat && hasValueAndSubtree(keys) {
			for _, k := range slices.Sorted(maps.Keys(keys)) {
				for p := range keys {
					if strings.HasPrefix(p, k+"/") {
						return fmt.Errorf("%s: map keys %q and %q: a key cannot hold both a value and keys under it", pathOr(field), k, p)
					}
				}
			}
		}
		return nil
	}
	return fmt.Errorf("%s: a %v cannot be written to etcd", pathOr(field), t)
}

// checkMapKey reports why map key k cannot be written as key segments:
// what checkEntryName refuses; a key that is not UTF-8; and a key ending in
// a document's extension, which would be read as a document (for an entry
// of a struct, a document for the entry without the extension).
func checkMapKey(k string, flat bool) error {
	if !utf8.ValidString(k) {
		return fmt.Errorf("the map key is not valid UTF-8, which etcd keys read back as")
	}
	if err := checkEntryName(k, flat); err != nil {
		return err
	}
	if ext := keytree.DocumentExt(k); ext != "" {
		return fmt.Errorf("the map key ends in %s, which makes a key a document", ext)
	}
	return nil
}

// checkEntryName reports why no key can name map key k, so that no entry
// read from etcd has it. In a flat view (a map of scalars) a key is a
// path: "zone/a" is two segments. Elsewhere a key is one segment: "b/c"
// would read back as entry "b".
func checkEntryName(k string, flat bool) error {
	switch {
	case k == "":
		return fmt.Errorf("an empty map key cannot be a key segment")
	case !flat && strings.Contains(k, "/"):
		return fmt.Errorf("the map key holds %q, which separates key segments: it would read back as entry %q", "/", keytree.Segments(k)[0])
	case strings.Join(keytree.Segments(k), "/") != k:
		return fmt.Errorf("the map key is not a key path (empty segment, or a leading or trailing %q)", "/")
	}
	return nil
}

// resolve maps the segments of a key, as spelled (a document's extension
// removed), to the canonical path of what it holds in type t, and the type
// of the value there. Struct fields match loosely (case, '-', '_'); map keys exactly; a
// map of scalars takes the rest of the segments as one flat-view key. It
// reports false when the segments name no field of t.
func resolve(t reflect.Type, segs []string) ([]string, reflect.Type, bool) {
	out := make([]string, 0, len(segs))
	for i := 0; i < len(segs); i++ {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		t = goType(t)
		switch {
		case t.Kind() == reflect.Interface:
			return append(out, segs[i:]...), t, true
		case !IsComposite(t) || t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
			return nil, nil, false
		case t.Kind() == reflect.Struct:
			var found bool
			for _, f := range SchemaOf(t).written {
				if sameName(segs[i], f.canon) || sameName(segs[i], f.name) {
					out, t, found = append(out, f.canon), f.typ, true
					break
				}
			}
			if !found {
				return nil, nil, false
			}
		case t.Kind() == reflect.Map && !IsComposite(t.Elem()):
			return append(out, segs[i:]...), t.Elem(), true // a flat view
		case t.Kind() == reflect.Map:
			out, t = append(out, segs[i]), t.Elem()
		default:
			return nil, nil, false
		}
	}
	return out, t, true
}

// within returns the type of the value found under key segments cp of a
// mapping of type t, which resolve gave as ct: inside a flat view, a nested
// mapping is more of the same view.
func within(t, ct reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	t = goType(t)
	if t != nil && t.Kind() == reflect.Map && !IsComposite(t.Elem()) {
		return t
	}
	return ct
}

// HasPrefix reports whether canonical path p starts with q.
func HasPrefix(p, q []string) bool {
	return len(p) >= len(q) && slices.Equal(p[:len(q)], q)
}

// LeafText formats a leaf as a plain key holds it, as the decoder reads it
// back: a scalar as its text, a []byte as its bytes (UTF-8 or not); a
// list of scalars as a comma list when that reads back exactly
// (keytree.CommaList), else (and a list of structs always) as a JSON list.
func LeafText(v reflect.Value, field string) (string, error) {
	if v.Kind() == reflect.Slice && v.Type().Elem().Kind() != reflect.Uint8 {
		if !IsComposite(v.Type().Elem()) {
			parts := make([]string, v.Len())
			for i := range v.Len() {
				s, err := LeafText(v.Index(i), fmt.Sprintf("%s[%d]", field, i))
				if err != nil {
					return "", err
				}
				parts[i] = s
			}
			if s, ok := keytree.CommaList(parts); ok {
				return s, nil
			}
		}
		n, err := ValueNode(v, field)
		if err != nil {
			return "", err
		}
		var b strings.Builder
		FlowJSON(&b, n)
		return b.String(), nil
	}
	s, ok, err := encodeScalar(v)
	switch {
	case err != nil:
		return "", fmt.Errorf("%s: %w", pathOr(field), err)
	case !ok:
		return "", fmt.Errorf("%s: a %v cannot be written to etcd", pathOr(field), v.Type())
	case !utf8.ValidString(s) && !IsBytes(v.Type()): // a []byte is written as it is
		return "", fmt.Errorf("%s: the value is not valid UTF-8, which etcd values are read as", pathOr(field))
	}
	return s, nil
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
		if t.Kind() == reflect.Pointer && v.IsNil() {
			return "", false, nil
		}
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
	}
	return "", false, nil
}

// ValueNode encodes v as a YAML node that the decoder reads back as v:
// strings (and durations, times, text) as !!str in a style that
// round-trips, numbers and bools with their tags, structs and maps as
// mappings with canonical field names, slices as sequences. Nil pointers,
// maps and slices inside a struct are left out, as they are absent keys.
func ValueNode(v reflect.Value, field string) (*yaml.Node, error) {
	if (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) && !v.IsNil() && IsComposite(v.Type()) {
		return ValueNode(v.Elem(), field)
	}
	v = goValue(v)
	t := v.Type()
	if !IsComposite(t) || (t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8) {
		if v.Kind() == reflect.Pointer && !v.IsNil() {
			v = v.Elem()
		}
		switch v.Kind() {
		case reflect.Bool:
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v.Bool())}, nil
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			if t != durationType && v.Type() != durationType {
				return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(v.Int(), 10)}, nil
			}
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatUint(v.Uint(), 10)}, nil
		case reflect.Float32, reflect.Float64:
			return floatNode(v.Float(), v.Type().Bits()), nil
		}
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() != reflect.Uint8 {
			return seqNode(v, field)
		}
		s, err := LeafText(v, field)
		if err != nil {
			return nil, err
		}
		if !utf8.ValidString(s) { // a []byte: a document holds text only
			return nil, fmt.Errorf("%s: the bytes are not valid UTF-8, which a YAML or JSON document cannot hold: write them to a key of their own", pathOr(field))
		}
		return keytree.StringNode(s), nil
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return seqNode(v, field)
	case reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for _, f := range SchemaOf(t).written {
			fv := v.Field(f.index)
			if isNilish(fv) {
				continue
			}
			c, err := ValueNode(fv, JoinPath(field, f.name))
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, keytree.StringNode(f.canon), c)
		}
		return n, nil
	case reflect.Map:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		keys := map[string]reflect.Value{}
		for it := v.MapRange(); it.Next(); {
			k := fmt.Sprint(it.Key().Interface())
			if err := checkMapKey(k, !IsComposite(t.Elem())); err != nil {
				return nil, fmt.Errorf("%s[%q]: %w", field, k, err)
			}
			keys[k] = it.Value()
		}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			if isNilish(keys[k]) {
				continue
			}
			c, err := ValueNode(keys[k], fmt.Sprintf("%s[%q]", field, k))
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, keytree.StringNode(k), c)
		}
		return n, nil
	}
	return nil, fmt.Errorf("%s: a %v cannot be written to etcd", pathOr(field), t)
}

func isNilish(v reflect.Value) bool {
	if mt, ok := MapTypeOf(v.Type()); ok {
		return mt.Len(v) == 0 // an empty Map is written as a nil Go map is: not at all
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice:
		return v.IsNil()
	}
	return false
}

func seqNode(v reflect.Value, field string) (*yaml.Node, error) {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	if v.Len() == 0 {
		n.Style = yaml.FlowStyle
	}
	for i := range v.Len() {
		c, err := ValueNode(v.Index(i), fmt.Sprintf("%s[%d]", field, i))
		if err != nil {
			return nil, err
		}
		n.Content = append(n.Content, c)
	}
	return n, nil
}

func floatNode(f float64, bits int) *yaml.Node {
	s := strconv.FormatFloat(f, 'g', -1, bits)
	switch {
	case math.IsNaN(f):
		s = ".nan"
	case math.IsInf(f, 1):
		s = ".inf"
	case math.IsInf(f, -1):
		s = "-.inf"
	case !strings.ContainsAny(s, ".eE"):
		s += ".0"
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: s}
}

// FlowJSON writes n as JSON: see keytree.FlowJSON, the one writer of it
// for the library and the CLI.
func FlowJSON(b *strings.Builder, n *yaml.Node) { keytree.FlowJSON(b, n) }

func JoinPath(path, field string) string {
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

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
