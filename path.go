package etcdconf

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// checkPath reports whether path is a Go path into a value of type t, in
// the syntax of [Change.Path]: exported field names joined by dots,
// `["key"]` for a map entry (the key quoted as strconv.Quote does) and
// `[n]` for a slice or array element, as in `Services["api-1"].Addr` or
// "Hosts[0]". Field names are exact; a field tagged `etcd:"-"` has no
// path. The error says where the path leaves t, and hints at the field a
// key-style spelling ("db/port", "db.port") meant.
func checkPath(t reflect.Type, path string) error {
	if path == "" {
		return errors.New("an empty path: use no WithPaths to receive every change")
	}
	rest, at := path, ""
	for rest != "" {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case rest[0] == '[':
			end := strings.IndexByte(rest, ']')
			if len(rest) > 1 && rest[1] == '"' {
				// A quoted key may hold ']': find the closing quote first.
				q, err := strconv.QuotedPrefix(rest[1:])
				if err != nil {
					return fmt.Errorf("%s: a map key must be quoted as strconv.Quote does", at+rest)
				}
				end = 1 + len(q)
				if end >= len(rest) || rest[end] != ']' {
					return fmt.Errorf("%s: a map key must be followed by ]", at+rest)
				}
				if t.Kind() != reflect.Map {
					return fmt.Errorf("%s: %s is a %v, not a map", path, pathOr(at), t)
				}
				t = t.Elem()
			} else {
				if end < 1 {
					return fmt.Errorf("%s: [ without ]", path)
				}
				if _, err := strconv.Atoi(rest[1:end]); err != nil {
					return fmt.Errorf("%s: %s is not an index; a map key is quoted: [%q]", path, rest[:end+1], rest[1:end])
				}
				if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
					return fmt.Errorf("%s: %s is a %v, not a slice", path, pathOr(at), t)
				}
				t = t.Elem()
			}
			at, rest = at+rest[:end+1], rest[end+1:]
		default:
			if at != "" {
				if rest[0] != '.' {
					return fmt.Errorf("%s: expected . or [ after %s", path, at)
				}
				rest = rest[1:]
			}
			n := strings.IndexAny(rest, ".[")
			if n < 0 {
				n = len(rest)
			}
			name := rest[:n]
			if t.Kind() != reflect.Struct {
				return fmt.Errorf("%s: %s is a %v, which has no field %q", path, pathOr(at), t, name)
			}
			f, ok := t.FieldByName(name)
			if !ok || !f.IsExported() || parseTag(f).skip || len(f.Index) != 1 {
				return fmt.Errorf("%s: %v has no field %q%s", path, t, name, hint(t, name))
			}
			t, at, rest = f.Type, joinPath(at, name), rest[n:]
		}
	}
	return nil
}

// hint names the field a key-style spelling probably meant.
func hint(t reflect.Type, name string) string {
	first, _, _ := strings.Cut(strings.ReplaceAll(name, "/", "."), ".")
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() && !parseTag(f).skip && (sameName(first, f.Name) || sameName(first, parseTag(f).name)) {
			return fmt.Sprintf(" (paths name Go fields: %s)", f.Name)
		}
	}
	return ""
}
