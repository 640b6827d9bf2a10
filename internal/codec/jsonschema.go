package codec

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"regexp"
	"strings"
	"sync"

	"github.com/etcdconf/etcdconf/internal/keytree"
)

// The JSON Schema of a type describes the file that `etcdconf apply -f`
// writes to a prefix for it: nested mappings whose keys are key segments,
// spelled as the encoder spells new keys (a struct field's canon, a map
// key as it is), each scalar in the spelling the encoder writes, as a YAML
// or JSON scalar of its kind or quoted as a string (as `etcdconf get`
// prints a plain key). The decoder is looser (field names in any case and
// with '-' or '_', "on" for true, "0x10" for 16, comma lists in a string
// checked item by item): the schema takes what the encoder writes, and
// rejects what it can tell the decoder would.
//
// It is built from the type's structSchema, as the encoder and decoder
// are, so a field's name, whether it is written and whether it is secret
// are the same truth. Its bytes depend on the type alone: objects are
// encoded with sorted keys, and definitions are named in the order of the
// walk.

// DescTag is the struct tag whose text becomes a field's "description".
const DescTag = "desc"

// jsonSchemas holds the schemas of named types that build themselves from
// text in a grammar of their own (the root package's Flag): see
// [RegisterJSONSchema].
var jsonSchemas sync.Map // reflect.Type -> json.RawMessage

// RegisterJSONSchema makes s, a JSON Schema in JSON, the schema of every
// value of type t. Call it from an init function.
func RegisterJSONSchema(t reflect.Type, s json.RawMessage) { jsonSchemas.Store(t, s) }

// The keywords of the scalars, by the spelling the encoder writes.
var (
	docName = `\.(yaml|yml|json)$` // a document key's name
	// durationPattern is what time.ParseDuration reads, as Duration.String
	// writes it ("1h2m3.5s", "0s") and more ("90s", "-1.5h", "0").
	durationPattern = `^[-+]?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`
	intPattern      = `^-?[0-9]+$`
	uintPattern     = `^[0-9]+$`
	// floatPattern is what strconv.FormatFloat writes ('g'), NaN and the
	// infinities included, which a YAML or JSON number cannot hold.
	floatPattern = `^([-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?|NaN|[-+]Inf)$`
)

// JSONSchema returns the JSON Schema (draft 2020-12) of a file of keys for
// a value of type t, titled title, indented by two spaces. Fields are
// described by their `desc:"..."` tag; secret fields are "writeOnly" and
// annotated "x-etcdconf-secret". Unknown keys are allowed, as the decoder
// ignores them; a validator that refuses them (etcdconf validate --strict)
// closes every object that has "properties". A type that no key can hold
// (a channel, a function, a complex number) is an error naming its field.
func JSONSchema(t reflect.Type, title string) ([]byte, error) {
	b := &schemaBuilder{defs: map[string]any{}, names: map[reflect.Type]string{}, taken: map[string]bool{}}
	b.recursive = recursiveTypes(t)
	root, err := b.of(t, "")
	if err != nil {
		return nil, err
	}
	s := map[string]any{
		"$schema": "https://json-schema.org/draft/2020-12/schema",
		"title":   title,
	}
	maps.Copy(s, root)
	if len(b.defs) > 0 {
		s["$defs"] = b.defs
	}
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

type schemaBuilder struct {
	recursive map[reflect.Type]bool // struct types reachable from themselves: defined once in $defs
	defs      map[string]any
	names     map[reflect.Type]string // the $defs name of a type, once given
	taken     map[string]bool
}

// of returns the schema of type t, found at Go path field.
func (b *schemaBuilder) of(t reflect.Type, field string) (map[string]any, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	t = goType(t)
	if raw, ok := jsonSchemas.Load(t); ok {
		var s map[string]any
		if err := json.Unmarshal(raw.(json.RawMessage), &s); err != nil {
			return nil, fmt.Errorf("%s: the schema registered for %v: %w", pathOr(field), t, err)
		}
		return s, nil
	}
	switch {
	case t == durationType:
		return map[string]any{"type": "string", "pattern": durationPattern}, nil
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}, nil
	case reflect.PointerTo(t).Implements(textUnmarshaler), t.Kind() == reflect.String, IsBytes(t):
		// A file's scalar is written as it is spelled: "version: 1.10" is
		// the text 1.10, which a string field, bytes or a text type take.
		return map[string]any{"type": []any{"string", "number", "boolean"}}, nil
	}
	switch t.Kind() {
	case reflect.Bool:
		return map[string]any{"enum": []any{false, true, "false", "true"}}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		bits := t.Bits()
		return map[string]any{"type": []any{"integer", "string"}, "pattern": intPattern,
			"minimum": int64(-1) << (bits - 1), "maximum": int64(math.MaxInt64 >> (64 - bits))}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return map[string]any{"type": []any{"integer", "string"}, "pattern": uintPattern,
			"minimum": 0, "maximum": uint64(math.MaxUint64 >> (64 - t.Bits()))}, nil
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": []any{"number", "string"}, "pattern": floatPattern}, nil
	case reflect.Interface:
		return map[string]any{}, nil
	case reflect.Slice, reflect.Array:
		items, err := b.of(t.Elem(), field+"[]")
		if err != nil {
			return nil, err
		}
		// A string is the list as a plain key holds it: a comma list or a
		// JSON list, which a schema cannot check item by item.
		return map[string]any{"type": []any{"array", "string"}, "items": items}, nil
	case reflect.Map:
		return b.mapOf(t, field)
	case reflect.Struct:
		if !b.recursive[t] {
			return b.structOf(t, field)
		}
		name, ok := b.names[t]
		if !ok {
			name = b.name(t)
			b.names[t] = name
			s, err := b.structOf(t, field)
			if err != nil {
				return nil, err
			}
			b.defs[name] = s
		}
		return map[string]any{"$ref": "#/$defs/" + name}, nil
	}
	return nil, fmt.Errorf("%s: a %v cannot be written to etcd", pathOr(field), t)
}

// structOf returns the schema of struct type t: an object with a property
// for each written field, spelled as a new key is.
func (b *schemaBuilder) structOf(t reflect.Type, field string) (map[string]any, error) {
	props := map[string]any{}
	docs := map[bool][]string{} // by secret: the fields a document key may fill
	for _, f := range SchemaOf(t).written {
		s, err := b.of(f.typ, JoinPath(field, f.name))
		if err != nil {
			return nil, err
		}
		if d := t.Field(f.index).Tag.Get(DescTag); d != "" {
			s["description"] = d
		}
		if f.secret {
			s["writeOnly"] = true
			s["x-etcdconf-secret"] = true
		}
		segs := keytree.Segments(f.canon)
		if len(segs) == 0 {
			continue
		}
		// A tag naming a path ("db/host") is nested mappings in a file.
		at := props
		for _, seg := range segs[:len(segs)-1] {
			inner, ok := at[seg].(map[string]any)
			if !ok || inner["type"] != "object" {
				inner = map[string]any{"type": "object", "properties": map[string]any{}}
				at[seg] = inner
			}
			at = inner["properties"].(map[string]any)
		}
		last := segs[len(segs)-1]
		at[last] = s
		if IsComposite(f.typ) && !isList(f.typ) && len(segs) == 1 {
			docs[f.secret] = append(docs[f.secret], regexp.QuoteMeta(last))
		}
	}
	s := map[string]any{"type": "object", "properties": props}
	// A struct or map field may be a document key: db.yaml holding the
	// document that fills db.
	pp := map[string]any{}
	for secret, names := range docs {
		pp["^("+strings.Join(names, "|")+`)\.(yaml|yml|json)$`] = documentKey(secret)
	}
	if len(pp) > 0 {
		s["patternProperties"] = pp
	}
	return s, nil
}

// mapOf returns the schema of map type t. A map of structs or maps takes
// one entry per key segment; a map of scalars is a flat view, where a
// nested mapping is more of the same view (labels: {zone: {a: x}} is entry
// "zone/a"), so it is defined once and refers to itself.
func (b *schemaBuilder) mapOf(t reflect.Type, field string) (map[string]any, error) {
	elem, err := b.of(t.Elem(), field+"[]")
	if err != nil {
		return nil, err
	}
	var key string // the pattern of a key the map's key type reads; "" for any
	switch t.Key().Kind() {
	case reflect.String:
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		key = `-?[0-9]+`
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		key = `[0-9]+`
	default:
		return nil, fmt.Errorf("%s: a map keyed by %v cannot be written to etcd", pathOr(field), t.Key())
	}
	if !IsComposite(t.Elem()) {
		name, ok := b.names[t]
		if !ok {
			// The definition is of one entry: a scalar, or a mapping of
			// more entries.
			name = b.name(t)
			b.names[t] = name
			self := map[string]any{"$ref": "#/$defs/" + name}
			entry := map[string]any{"anyOf": []any{elem, map[string]any{"type": "object", "additionalProperties": self}}}
			if ty, ok := elem["type"]; ok && elem["enum"] == nil && elem["$ref"] == nil && elem["anyOf"] == nil {
				entry = maps.Clone(elem)
				entry["type"] = append(types(ty), "object")
				entry["additionalProperties"] = self
			}
			b.defs[name] = entry
		}
		elem = map[string]any{"$ref": "#/$defs/" + name}
	}
	s := map[string]any{"type": "object"}
	pp := map[string]any{}
	if IsComposite(t.Elem()) && !isList(t.Elem()) {
		doc := docName // api-1.yaml: a document for entry api-1
		if key != "" {
			doc = "^" + key + doc
		}
		pp[doc] = documentKey(false)
	}
	if key == "" {
		s["additionalProperties"] = elem
	} else {
		// Not propertyNames, whose errors some validators place at another
		// instance location: a key the key type cannot read is an
		// additional property.
		pp["^"+key+"$"] = elem
		s["additionalProperties"] = false
	}
	if len(pp) > 0 {
		s["patternProperties"] = pp
	}
	return s, nil
}

// documentKey is the schema of a document key's value: its document, as
// text.
func documentKey(secret bool) map[string]any {
	s := map[string]any{"type": "string", "description": "a YAML or JSON document merged at this path"}
	if secret {
		s["writeOnly"] = true
		s["x-etcdconf-secret"] = true
	}
	return s
}

// name gives t a $defs name of its own: its Go name, else its kind, with
// a number after it when taken.
func (b *schemaBuilder) name(t reflect.Type) string {
	base := t.Name()
	switch {
	case base != "":
	case t.Kind() == reflect.Map:
		base = t.String() // map[string]string: map_string_string
	default:
		base = t.Kind().String()
	}
	base = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.' {
			return r
		}
		return '_'
	}, base)
	name := base
	for i := 2; b.taken[name]; i++ {
		name = fmt.Sprintf("%s%d", base, i)
	}
	b.taken[name] = true
	return name
}

// recursiveTypes returns the struct types reachable from root that are
// reachable from themselves.
func recursiveTypes(root reflect.Type) map[reflect.Type]bool {
	out := map[reflect.Type]bool{}
	var onPath []reflect.Type
	done := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t = goType(t); t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map; t = goType(t) {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || !IsComposite(t) || t == timeType {
			return
		}
		for i, p := range onPath {
			if p == t {
				for _, q := range onPath[i:] {
					out[q] = true
				}
				return
			}
		}
		if done[t] {
			return
		}
		onPath = append(onPath, t)
		for _, f := range SchemaOf(t).written {
			walk(f.typ)
		}
		onPath = onPath[:len(onPath)-1]
		done[t] = true
	}
	walk(root)
	return out
}

func isList(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Slice || t.Kind() == reflect.Array
}

func types(t any) []any {
	if l, ok := t.([]any); ok {
		return append([]any(nil), l...)
	}
	return []any{t}
}
