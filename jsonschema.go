package etcdconf

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/etcdconf/etcdconf/internal/codec"
)

// JSONSchema returns a JSON Schema (draft 2020-12) of the file that
// `etcdconf apply -f` writes to a prefix for T, a struct or map type, so
// that a file can be checked in CI before it reaches etcd (`etcdconf
// validate -f FILE --schema SCHEMA.json`). It is built from the schema of
// T that the decoder and writer use, and its bytes depend on T alone.
//
// The schema describes the spellings the library writes:
//
//   - keys as a new key is spelled: a field's `etcd:"name"` tag, else its
//     lower-cased Go name; map keys as they are; nested mappings for key
//     segments; a struct or map field may instead be given as a document
//     key (db.yaml, db.yml or db.json) holding its document as text;
//   - scalars as YAML or JSON scalars of their kind, or quoted as the
//     text a key holds (port: 5432 or port: "5432"); a bool as true or
//     false; a time.Duration as Go writes it ("1m30s"); a time.Time as
//     RFC 3339; a string field, a [Flag] ("true", "false", "25%") and any
//     other encoding.TextUnmarshaler as text;
//   - lists as sequences, or as the text a key holds (a comma list or a
//     JSON list), which the schema does not check item by item.
//
// A field's description is its `desc:"..."` tag. Secret fields are marked
// "writeOnly" and "x-etcdconf-secret". Unknown keys are allowed, as the
// decoder ignores them; `etcdconf validate --strict` refuses them, as
// [WithStrict] does. The decoder takes more than the schema does (field
// names in any case and with '-' or '_', on/off for bools, 0x10), and
// checks what no schema can: a TextUnmarshaler's grammar, a Validate
// method. JSONSchema returns an error for a T that is not a struct or a
// map, or that holds a field no key can hold (a channel, a function).
func JSONSchema[T any]() ([]byte, error) {
	t := reflect.TypeFor[T]()
	base := t
	for base.Kind() == reflect.Pointer {
		base = base.Elem()
	}
	if base.Kind() != reflect.Struct && base.Kind() != reflect.Map {
		return nil, fmt.Errorf("etcdconf: JSONSchema: %v is not a struct or a map type", t)
	}
	return codec.JSONSchema(t, t.String())
}

// A Flag is true, false or a percentage from 0% to 100% (see
// Flag.UnmarshalText); on/off and the other bool words are its looser
// spellings.
func init() {
	s, _ := json.Marshal(map[string]any{
		"anyOf": []any{
			map[string]any{"enum": []any{false, true, "false", "true"}},
			map[string]any{"type": "string", "pattern": `^(100(\.0*)?|[0-9]{1,2}(\.[0-9]*)?|\.[0-9]+)%$`},
		},
		"description": "a feature flag: true, false, or a percentage of subjects such as \"25%\"",
	})
	codec.RegisterJSONSchema(reflect.TypeFor[Flag](), s)
}
