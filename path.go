package etcdconf

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/etcdconf/etcdconf/internal/keytree"
)

// Go paths into T are the one path syntax of values: [Change.Path],
// [WithPaths] and [Lookup] take them. Exported field names are joined by
// dots, `["key"]` is a map entry (the key quoted as strconv.Quote does) and
// `[n]` a slice or array element: `Services["api-1"].Addr`, "Hosts[0]".
// Field names are exact; a field tagged `etcd:"-"` has no path. (Keys have
// their own syntax, "db/port", in Set, Delete and Snapshot.Key.)

// A pathStep is one step of a Go path: a field, a map key or an index.
type pathStep struct {
	field   string
	key     *string // a map key
	index   int
	isIndex bool
}

// parsePath splits a Go path into steps.
func parsePath(path string) ([]pathStep, error) {
	if path == "" {
		return nil, errors.New("an empty path")
	}
	var steps []pathStep
	for rest := path; rest != ""; {
		switch {
		case rest[0] == '[' && len(rest) > 1 && rest[1] == '"':
			q, err := strconv.QuotedPrefix(rest[1:])
			if err != nil || len(rest) <= 1+len(q) || rest[1+len(q)] != ']' {
				return nil, fmt.Errorf("%s: a map key must be quoted as strconv.Quote does, then ]", path)
			}
			k, _ := strconv.Unquote(q)
			steps = append(steps, pathStep{key: &k})
			rest = rest[2+len(q):]
		case rest[0] == '[':
			end := strings.IndexByte(rest, ']')
			if end < 1 {
				return nil, fmt.Errorf("%s: [ without ]", path)
			}
			i, err := strconv.Atoi(rest[1:end])
			if err != nil || i < 0 {
				return nil, fmt.Errorf("%s: %s is not an index; a map key is quoted: [%q]", path, rest[:end+1], rest[1:end])
			}
			steps = append(steps, pathStep{index: i, isIndex: true})
			rest = rest[end+1:]
		default:
			if len(steps) > 0 {
				if rest[0] != '.' {
					return nil, fmt.Errorf("%s: expected . or [ at %q", path, rest)
				}
				rest = rest[1:]
			}
			n := strings.IndexAny(rest, ".[")
			if n < 0 {
				n = len(rest)
			}
			steps = append(steps, pathStep{field: rest[:n]})
			rest = rest[n:]
		}
	}
	return steps, nil
}

// checkPath reports whether path is a Go path into a value of type t: see
// pathType.
func checkPath(t reflect.Type, path string) error {
	_, err := pathType(t, path)
	return err
}

// pathType returns the type of the value at path, a Go path into a value
// of type t. The error says where the path leaves t, and hints at the
// field a key-style spelling ("db/port", "db.port") meant. An index step
// is also a key of a map with integer keys, as Change.Path prints one.
func pathType(t reflect.Type, path string) (reflect.Type, error) {
	steps, err := parsePath(path)
	if err != nil {
		return nil, err
	}
	at := ""
	for _, s := range steps {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case s.key != nil:
			if t.Kind() != reflect.Map {
				return nil, fmt.Errorf("%s: %s is a %v, not a map", path, pathOr(at), t)
			}
			if t.Key().Kind() != reflect.String {
				return nil, fmt.Errorf("%s: %s is a %v, whose keys are not strings: [%q] is no key of it", path, pathOr(at), t, *s.key)
			}
			t, at = t.Elem(), at+"["+strconv.Quote(*s.key)+"]"
		case s.isIndex:
			if t.Kind() != reflect.Slice && t.Kind() != reflect.Array && !intKeyed(t) {
				return nil, fmt.Errorf("%s: %s is a %v, not a slice", path, pathOr(at), t)
			}
			t, at = t.Elem(), at+"["+strconv.Itoa(s.index)+"]"
		default:
			f, ok := pathField(t, s.field)
			if !ok {
				if t.Kind() != reflect.Struct {
					return nil, fmt.Errorf("%s: %s is a %v, which has no field %q", path, pathOr(at), t, s.field)
				}
				return nil, fmt.Errorf("%s: %v has no field %q%s", path, t, s.field, hint(t, s.field))
			}
			t, at = f.typ, joinPath(at, s.field)
		}
	}
	return t, nil
}

// intKeyed reports whether t is a map with integer keys.
func intKeyed(t reflect.Type) bool {
	if t.Kind() != reflect.Map {
		return false
	}
	k := t.Key().Kind()
	return k >= reflect.Int && k <= reflect.Uintptr
}

// pathField returns the field of struct type t that a path step names.
func pathField(t reflect.Type, name string) (*schemaField, bool) {
	if t.Kind() != reflect.Struct {
		return nil, false
	}
	return schemaOf(t).field(name)
}

// hint names the field a key-style spelling probably meant.
func hint(t reflect.Type, name string) string {
	first, _, _ := strings.Cut(strings.ReplaceAll(name, "/", "."), ".")
	for _, f := range schemaOf(t).written {
		if sameName(first, f.name) || sameName(first, f.key) {
			return fmt.Sprintf(" (paths name Go fields: %s)", f.name)
		}
	}
	return ""
}

// Lookup returns the value at path, a Go path such as "DB.Port" or
// `Services["api-1"]`, in the snapshot's value, as a V: a typed read of one
// field, for code that is handed a path. Every [Change.Path] is one.
//
// The value at path is given as it is when its type is V, and else, if it
// is a pointer, as the value it points to. It reports false when the path
// holds nothing in this snapshot: a missing map entry, an index past the
// end, a nil pointer on the way or at the end (whatever V is), a nil
// interface, or an interface holding a value that is not a V. It returns an error when the
// path does not lead into T, or when T's type at path cannot hold a V;
// both are bugs in the caller, found from the types alone, whatever the
// snapshot holds.
//
//	port, ok, err := etcdconf.Lookup[int](w.Current(), "DB.Port")
func Lookup[V, T any](s *Snapshot[T], path string) (V, bool, error) {
	var out V
	v, ok, err := lookup(reflect.ValueOf(&s.Value).Elem(), path, reflect.TypeFor[V]())
	if err != nil || !ok {
		return out, false, err
	}
	reflect.ValueOf(&out).Elem().Set(v)
	return out, true, nil
}

// lookup is Lookup of root, a value of T, for a V of type vt: it returns
// a value assignable to a vt.
func lookup(root reflect.Value, path string, vt reflect.Type) (reflect.Value, bool, error) {
	at, err := pathType(root.Type(), path)
	if err != nil {
		return reflect.Value{}, false, fmt.Errorf("etcdconf: Lookup %q: %w", path, err)
	}
	if at != vt && at.Kind() == reflect.Pointer {
		at = at.Elem()
	}
	switch {
	case at == vt, vt.Kind() == reflect.Interface && at.Implements(vt):
	case at.Kind() == reflect.Interface && (vt.Kind() == reflect.Interface || vt.Implements(at)):
		// As a type assertion would compile: the snapshot decides, false if not a V.
	default:
		return reflect.Value{}, false, fmt.Errorf("etcdconf: Lookup %q: the value is a %v, not a %v", path, at, vt)
	}
	steps, _ := parsePath(path)
	v := root
	for _, st := range steps {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false, nil
			}
			v = v.Elem()
		}
		switch {
		case st.key != nil:
			if v = v.MapIndex(reflect.ValueOf(*st.key).Convert(v.Type().Key())); !v.IsValid() {
				return reflect.Value{}, false, nil
			}
		case st.isIndex && v.Kind() == reflect.Map:
			k := reflect.New(v.Type().Key()).Elem()
			if k.CanInt() {
				k.SetInt(int64(st.index))
			} else {
				k.SetUint(uint64(st.index))
			}
			if v = v.MapIndex(k); !v.IsValid() {
				return reflect.Value{}, false, nil
			}
		case st.isIndex:
			if st.index >= v.Len() {
				return reflect.Value{}, false, nil
			}
			v = v.Index(st.index)
		default:
			f, _ := pathField(v.Type(), st.field)
			v = v.Field(f.index)
		}
	}
	if (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) && v.IsNil() {
		return reflect.Value{}, false, nil
	}
	if v.Type() == vt {
		return v, true, nil
	}
	if v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		v = v.Elem()
	}
	if !v.Type().AssignableTo(vt) || (vt.Kind() != reflect.Interface && v.Type() != vt) {
		return reflect.Value{}, false, nil // an interface holding something else
	}
	return v, true, nil
}

// keyPathHint says, for a path that Set or Delete found no field of T at,
// which key path was probably meant: the keys' spelling of a Go path
// ("DB.Port": "db/port"), or a full key's path relative to the prefix
// ("/c/db/port": "db/port").
func keyPathHint[T any](path, prefix string) string {
	t := reflect.TypeFor[T]()
	if k, ok := goPathKey(t, path); ok {
		return fmt.Sprintf(" (Set and Delete take key paths relative to the prefix, such as %q, not Go paths)", k)
	}
	segs := keytree.Segments(path)
	if strings.HasPrefix(path, "/") {
		for i := 1; i < len(segs); i++ {
			if _, _, ok := resolve(t, segs[i:]); ok {
				return fmt.Sprintf(" (Set and Delete take key paths relative to the prefix %q, such as %q, not full keys)", prefix, strings.Join(segs[i:], "/"))
			}
		}
	}
	if st := t; st.Kind() == reflect.Struct && len(schemaOf(st).written) > 0 {
		f := schemaOf(st).written[0]
		return fmt.Sprintf(" (Set and Delete take key paths relative to the prefix %q, such as %q for the field %s)", prefix, f.canon, f.name)
	}
	return fmt.Sprintf(" (Set and Delete take key paths relative to the prefix %q)", prefix)
}

// goPathKey returns the key path that holds the value at Go path path
// into t, spelled as a new key is (the etcd tag, else the lower-cased Go
// name; map keys as they are). It reports false if path is not a Go path
// into t, or steps into a list, whose elements have no keys.
func goPathKey(t reflect.Type, path string) (string, bool) {
	if checkPath(t, path) != nil {
		return "", false
	}
	steps, _ := parsePath(path)
	var segs []string
	for _, s := range steps {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case s.key != nil:
			segs, t = append(segs, *s.key), t.Elem()
		case s.isIndex:
			return "", false
		default:
			f, _ := pathField(t, s.field)
			segs, t = append(segs, f.canon), f.typ
		}
	}
	return strings.Join(segs, "/"), true
}
