package etcdconf

import (
	"reflect"
	"strings"
)

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
	return normName(segment) == normName(field)
}

func normName(s string) string {
	if !strings.ContainsAny(s, "-_") {
		return strings.ToLower(s)
	}
	return strings.ToLower(nameSeparators.Replace(s))
}

// nameSeparators is built once: a Replacer builds its tables on first use.
var nameSeparators = strings.NewReplacer("-", "", "_", "")
