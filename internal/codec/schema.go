package codec

import (
	"reflect"
	"strings"
	"sync"

	"github.com/etcdconf/etcdconf/internal/keytree"
)

// A structSchema is how etcdconf sees one struct type: its exported fields,
// with their names in Go and in etcd, their types and whether they are
// secret. It is derived once per type ([schemaOf]) and asked by the decoder
// (which key segment feeds which field), the writer (how a new key is
// spelled), the diff (which fields are compared and which are withheld) and
// the checks of Go paths, so that all of them agree by construction.
type structSchema struct {
	fields  []*schemaField          // every exported field, in order
	written []*schemaField          // those keys feed and writes write: all but `etcd:"-"`
	byKey   map[string]*schemaField // written, not embedded, by normName of their key segment
	// splittable: every written field is fed by the keys under one first
	// path segment (not embedded, a one-segment key), so one field can be
	// decoded apart from the others.
	splittable bool
	// derived: the type has fields no key feeds (unexported, or
	// `etcd:"-"`), which a Validate method may derive from the others.
	derived bool
}

// A schemaField is one exported field of a struct type.
type schemaField struct {
	index    int
	name     string       // the Go name, as Go paths (Change.Path) spell it
	key      string       // the key segment the decoder looks up: the tag's name, else the Go name
	canon    string       // a new key's spelling: the tag's name if it gives one, else the lower-cased Go name
	segs     []string     // the key segments key spells
	typ      reflect.Type // the field's type
	secret   bool         // `etcd:",secret"`: values withheld from diffs, logs and errors
	skip     bool         // `etcd:"-"`: never read from nor written to keys
	embedded bool         // an embedded field, which mapstructure matches itself
}

var schemas sync.Map // reflect.Type -> *structSchema

// SchemaOf returns the schema of struct type t.
func SchemaOf(t reflect.Type) *structSchema {
	if s, ok := schemas.Load(t); ok {
		return s.(*structSchema)
	}
	s := &structSchema{byKey: map[string]*schemaField{}, splittable: true}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			s.derived = true
			continue
		}
		tag := parseTag(sf)
		f := &schemaField{index: i, name: sf.Name, key: tag.name, canon: tag.name, typ: sf.Type,
			secret: tag.secret, skip: tag.skip, embedded: sf.Anonymous}
		if tag, _ := sf.Tag.Lookup(tagName); tag == "" || tag[0] == ',' { // no name given
			f.canon = strings.ToLower(sf.Name)
		}
		f.segs = keytree.Segments(f.key)
		s.fields = append(s.fields, f)
		if f.skip {
			s.derived = true
			continue
		}
		s.written = append(s.written, f)
		if f.embedded || len(f.segs) != 1 {
			s.splittable = false
		}
		if !f.embedded {
			if _, dup := s.byKey[NormName(f.key)]; dup {
				s.splittable = false // two fields one key spells: mapstructure's call
			}
			s.byKey[NormName(f.key)] = f
		}
	}
	schemas.Store(t, s)
	return s
}

// field returns the written field that a Go path step names: its exact Go
// name, which for an embedded field is its type's name, as Change.Path
// spells it ("Common.Region"; a promoted field has no path of its own).
func (s *structSchema) field(name string) (*schemaField, bool) {
	for _, f := range s.written {
		if f.name == name {
			return f, true
		}
	}
	return nil, false
}

// tagName is the struct tag that names a field's key segment: `etcd:"name"`.
// Options follow the name after commas: `etcd:"password,secret"` marks a secret,
// whose values never appear in diffs or logs; `etcd:"-"` skips the field.
const tagName = "etcd"

// fieldTag describes how a struct field maps to a key segment.
type fieldTag struct {
	name   string // the key segment; the Go field name when the tag gives none
	secret bool   // values are redacted in Change.String and logs
	skip   bool   // `etcd:"-"`: never decoded or encoded
}

// parseTag reads the etcd tag of f.
func parseTag(f reflect.StructField) fieldTag {
	tag, ok := f.Tag.Lookup(tagName)
	if !ok {
		return fieldTag{name: f.Name}
	}
	if tag == "-" {
		return fieldTag{skip: true}
	}
	name, rest, _ := strings.Cut(tag, ",")
	t := fieldTag{name: name}
	if t.name == "" {
		t.name = f.Name
	}
	for opt := range strings.SplitSeq(rest, ",") {
		if opt == "secret" {
			t.secret = true
		}
	}
	return t
}

// sameName reports whether a key segment names a field: case-insensitively,
// and ignoring '-' and '_', so "max-conns", "max_conns" and "MaxConns" all
// name the field MaxConns.
func sameName(segment, field string) bool {
	return NormName(segment) == NormName(field)
}

func NormName(s string) string {
	if !strings.ContainsAny(s, "-_") {
		return strings.ToLower(s)
	}
	return strings.ToLower(nameSeparators.Replace(s))
}

// nameSeparators is built once: a Replacer builds its tables on first use.
var nameSeparators = strings.NewReplacer("-", "", "_", "")
