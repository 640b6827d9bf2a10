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
				return nil, fmt.Errorf("%s: %v has no field %q%s", path, t, s.field, hint(t, at, s.field))
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

// hint names the Go path that a key-style spelling meant, name being the
// step that matched no field of t, at the path so far: "db/port" (or a
// full key, "/app/db/port") at the root of T is DB.Port, "db" alone DB.
func hint(t reflect.Type, at, name string) string {
	segs := keytree.Segments(name)
	for i := range segs { // a full key: skip the prefix's segments
		if gp, ok := goPathOf(t, segs[i:]); ok {
			if at != "" && gp[0] != '[' {
				gp = "." + gp
			}
			return fmt.Sprintf(" (paths are Go paths, as Change.Path prints them: %s)", at+gp)
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

// keySegments returns the key segments that hold the value at path, a Go
// path into t, spelled as a new key is (the etcd tag, else the lower-cased
// Go name; map keys as they are, a flat view's "db/host" as its segments),
// and the type at path. Only a value with a key of its own has them: the
// whole value ("") and a list element ("Hosts[0]") do not, and the error
// says so.
func keySegments(t reflect.Type, path string) ([]string, reflect.Type, error) {
	if path == "" {
		return nil, nil, errors.New("the empty path is the whole value, which has no key of its own: name a field or a map entry")
	}
	if _, err := pathType(t, path); err != nil {
		return nil, nil, err
	}
	steps, _ := parsePath(path)
	var segs []string
	for i, s := range steps {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case s.isIndex && t.Kind() != reflect.Map:
			return nil, nil, fmt.Errorf("%s: %s is a list element, which has no key of its own: write the whole list", path, formatSteps(steps[:i+1]))
		case s.isIndex:
			segs, t = append(segs, strconv.Itoa(s.index)), t.Elem()
		case s.key != nil && !isComposite(t.Elem()):
			segs, t = append(segs, keytree.Segments(*s.key)...), t.Elem() // a flat view: "db/host" is two
		case s.key != nil:
			if strings.Contains(*s.key, "/") {
				return nil, nil, fmt.Errorf("%s: the map key %q holds a /, which no key of an entry can", path, *s.key)
			}
			segs, t = append(segs, *s.key), t.Elem()
		default:
			f, _ := pathField(t, s.field)
			segs, t = append(segs, f.canon), f.typ
		}
	}
	return segs, t, nil
}

// formatSteps prints steps as a Go path.
func formatSteps(steps []pathStep) string {
	var b strings.Builder
	for _, s := range steps {
		switch {
		case s.key != nil:
			b.WriteString("[" + strconv.Quote(*s.key) + "]")
		case s.isIndex:
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.field)
		}
	}
	return b.String()
}

// goPathOf returns the Go path of the value that key segments hold in a
// value of type t, matching fields loosely as keys do; false where they
// hold none.
func goPathOf(t reflect.Type, segs []string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(segs); i++ {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case t.Kind() == reflect.Struct:
			f, ok := fieldOfKey(t, segs[i])
			if !ok {
				return "", false
			}
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(f.name)
			t = f.typ
		case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && !isComposite(t.Elem()):
			b.WriteString("[" + strconv.Quote(strings.Join(segs[i:], "/")) + "]") // a flat view
			return b.String(), true
		case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String:
			b.WriteString("[" + strconv.Quote(segs[i]) + "]")
			t = t.Elem()
		default:
			return "", false
		}
	}
	return b.String(), true
}

// fieldOfKey returns the field of struct type t that a key segment feeds,
// matching loosely (case, "-", "_") as the decoder does.
func fieldOfKey(t reflect.Type, seg string) (*schemaField, bool) {
	for _, f := range schemaOf(t).written {
		if sameName(seg, f.canon) || sameName(seg, f.name) || sameName(seg, f.key) {
			return f, true
		}
	}
	return nil, false
}
