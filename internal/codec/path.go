package codec

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/etcdconf/etcdconf/internal/keytree"
)

// Go paths into T are the one path syntax of values: Change.Path prints
// them; the root package's WithPaths, Lookup, Change.Under, Watcher.Set and
// Watcher.Delete take them. Exported field names are joined by
// dots, `["key"]` is a map entry (the key quoted as strconv.Quote does) and
// `[n]` a slice or array element: `Services["api-1"].Addr`, "Hosts[0]".
// Field names are exact; a field tagged `etcd:"-"` has no path. (Keys have
// their own syntax, "db/port", in Snapshot.Key only.)

// A pathStep is one step of a Go path into a value of a known type, the
// one representation of a path inside the package: a struct field
// (field), a map entry (key, a value of the map's key type) or a slice or
// array element (elem, when neither is set). Diffs build paths from it as
// they walk; resolvePath builds it from a path's text and T's type.
type pathStep struct {
	field *schemaField
	key   reflect.Value
	elem  int
}

// write appends the step to a Go path: ".Port", `["api-1"]`, "[3]".
func (s pathStep) write(b *strings.Builder) {
	switch {
	case s.field != nil:
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.field.name)
	case s.key.Kind() == reflect.String:
		b.WriteString("[" + strconv.Quote(s.key.String()) + "]")
	case s.key.IsValid():
		fmt.Fprintf(b, "[%v]", s.key)
	default:
		b.WriteString("[" + strconv.Itoa(s.elem) + "]")
	}
}

// segs returns the key segments that spell the step; none for an element.
func (s pathStep) segs() []string {
	switch {
	case s.field != nil:
		return s.field.segs
	case s.key.Kind() == reflect.String:
		return keytree.Segments(s.key.String())
	case s.key.IsValid():
		return []string{fmt.Sprint(s.key)}
	}
	return nil
}

// formatSteps prints steps as a Go path.
func formatSteps(steps []pathStep) string {
	var b strings.Builder
	for _, s := range steps {
		s.write(&b)
	}
	return b.String()
}

// PathUnder reports whether the Go path p is at or below the Go path
// under, step by step ("DB" holds "DB", "DB.Port" and `DB["x"]`, not
// "DBX"; `M["a"]` does not hold `M["a.b"]`). The empty path holds all; a
// path that is not Go path syntax is under nothing but itself.
func PathUnder(p, under string) bool {
	if under == "" || p == under {
		return true
	}
	ps, ok1 := pathTokens(p)
	us, ok2 := pathTokens(under)
	if !ok1 || !ok2 || len(us) > len(ps) {
		return false
	}
	for i, u := range us {
		if ps[i] != u {
			return false
		}
	}
	return true
}

// pathTokens splits a Go path into its steps as written: "Name", `["k"]`,
// "[3]"; false where it is not Go path syntax.
func pathTokens(path string) ([]string, bool) {
	var out []string
	for rest := path; rest != ""; {
		switch {
		case strings.HasPrefix(rest, `["`):
			q, err := strconv.QuotedPrefix(rest[1:])
			if err != nil || len(rest) <= 1+len(q) || rest[1+len(q)] != ']' {
				return nil, false
			}
			out, rest = append(out, rest[:2+len(q)]), rest[2+len(q):]
		case rest[0] == '[':
			end := strings.IndexByte(rest, ']')
			if end < 1 {
				return nil, false
			}
			out, rest = append(out, rest[:end+1]), rest[end+1:]
		default:
			if len(out) > 0 {
				if rest[0] != '.' {
					return nil, false
				}
				rest = rest[1:]
			}
			n := strings.IndexAny(rest, ".[")
			if n < 0 {
				n = len(rest)
			}
			if n == 0 {
				return nil, false
			}
			out, rest = append(out, rest[:n]), rest[n:]
		}
	}
	return out, true
}

// resolvePath reads path, a Go path into a value of type t, as steps, and
// returns them with the type of the value at path. The error says where
// the path leaves t, and hints at the Go path a key-style spelling
// ("db/port", "db.port") meant. An index step is also a key of a map with
// integer keys, as Change.Path prints one.
func resolvePath(t reflect.Type, path string) ([]pathStep, reflect.Type, error) {
	if path == "" {
		return nil, nil, errors.New("an empty path")
	}
	var steps []pathStep
	for rest := path; rest != ""; {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		t = goType(t)
		at := formatSteps(steps)
		switch {
		case rest[0] == '[' && len(rest) > 1 && rest[1] == '"':
			q, err := strconv.QuotedPrefix(rest[1:])
			if err != nil || len(rest) <= 1+len(q) || rest[1+len(q)] != ']' {
				return nil, nil, fmt.Errorf("%s: a map key must be quoted as strconv.Quote does, then ]", path)
			}
			k, _ := strconv.Unquote(q)
			if t.Kind() != reflect.Map {
				return nil, nil, fmt.Errorf("%s: %s is a %v, not a map", path, pathOr(at), t)
			}
			if t.Key().Kind() != reflect.String {
				return nil, nil, fmt.Errorf("%s: %s is a %v, whose keys are not strings: [%q] is no key of it", path, pathOr(at), t, k)
			}
			steps, t = append(steps, pathStep{key: reflect.ValueOf(k).Convert(t.Key())}), t.Elem()
			rest = rest[2+len(q):]
		case rest[0] == '[':
			end := strings.IndexByte(rest, ']')
			if end < 1 {
				return nil, nil, fmt.Errorf("%s: [ without ]", path)
			}
			i, err := strconv.Atoi(rest[1:end])
			if err != nil || i < 0 {
				return nil, nil, fmt.Errorf("%s: %s is not an index; a map key is quoted: [%q]", path, rest[:end+1], rest[1:end])
			}
			switch {
			case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
				steps = append(steps, pathStep{elem: i})
			case intKeyed(t):
				k := reflect.New(t.Key()).Elem()
				if k.CanInt() {
					k.SetInt(int64(i))
				} else {
					k.SetUint(uint64(i))
				}
				steps = append(steps, pathStep{key: k})
			default:
				return nil, nil, fmt.Errorf("%s: %s is a %v, not a slice", path, pathOr(at), t)
			}
			t, rest = t.Elem(), rest[end+1:]
		default:
			if len(steps) > 0 {
				if rest[0] != '.' {
					return nil, nil, fmt.Errorf("%s: expected . or [ at %q", path, rest)
				}
				rest = rest[1:]
			}
			n := strings.IndexAny(rest, ".[")
			if n < 0 {
				n = len(rest)
			}
			name := rest[:n]
			f, ok := pathField(t, name)
			if !ok {
				if t.Kind() != reflect.Struct {
					return nil, nil, fmt.Errorf("%s: %s is a %v, which has no field %q", path, pathOr(at), t, name)
				}
				return nil, nil, fmt.Errorf("%s: %v has no field %q%s", path, t, name, hint(t, at, name))
			}
			steps, t, rest = append(steps, pathStep{field: f}), f.typ, rest[n:]
		}
	}
	return steps, t, nil
}

// CheckPath reports whether path is a Go path into a value of type t: see
// resolvePath.
func CheckPath(t reflect.Type, path string) error {
	_, _, err := resolvePath(t, path)
	return err
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
	return SchemaOf(t).field(name)
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

// LookupValue is Lookup of root, a value of T, for a V of type vt: it returns
// a value assignable to a vt.
func LookupValue(root reflect.Value, path string, vt reflect.Type) (reflect.Value, bool, error) {
	steps, at, err := resolvePath(root.Type(), path)
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
	v := root
	for _, st := range steps {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false, nil
			}
			v = v.Elem()
		}
		switch {
		case st.field != nil:
			v = v.Field(st.field.index)
		case st.key.IsValid():
			if v = mapIndex(v, st.key); !v.IsValid() {
				return reflect.Value{}, false, nil
			}
		default:
			if st.elem >= v.Len() {
				return reflect.Value{}, false, nil
			}
			v = v.Index(st.elem)
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

// KeySegments returns the key segments that hold the value at path, a Go
// path into t, spelled as a new key is (the etcd tag, else the lower-cased
// Go name; map keys as they are, a flat view's "db/host" as its segments),
// and the type at path. Only a value with a key of its own has them: the
// whole value ("") and a list element ("Hosts[0]") do not, and the error
// says so.
func KeySegments(t reflect.Type, path string) ([]string, reflect.Type, error) {
	if path == "" {
		return nil, nil, errors.New("the empty path is the whole value, which has no key of its own: name a field or a map entry")
	}
	steps, _, err := resolvePath(t, path)
	if err != nil {
		return nil, nil, err
	}
	var segs []string
	for i, s := range steps {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		t = goType(t)
		switch {
		case s.field != nil:
			segs, t = append(segs, s.field.canon), s.field.typ
		case s.key.Kind() == reflect.String:
			// A name no key can hold (empty, a "/" in an entry's name)
			// names nothing that Set could write or Delete remove.
			if err := checkEntryName(s.key.String(), !IsComposite(t.Elem())); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", formatSteps(steps[:i+1]), err)
			}
			segs, t = append(segs, keytree.Segments(s.key.String())...), t.Elem() // a flat view: "db/host" is two
		case s.key.IsValid():
			segs, t = append(segs, fmt.Sprint(s.key)), t.Elem()
		default:
			return nil, nil, fmt.Errorf("%s: %s is a list element, which has no key of its own: write the whole list", path, formatSteps(steps[:i+1]))
		}
	}
	return segs, t, nil
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
		t = goType(t)
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
		case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && !IsComposite(t.Elem()):
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

// goPathOfName returns the Go path, as Change.Path spells it, of a
// field as mapstructure names it in its errors ("DB.max_conns", "Svc[a]",
// "Hosts[0].weight"), read along t: a struct step is a field matched as
// keys match, a map step a key, a slice or array step an index. It
// reports false where the name does not lead through t (a map key holding
// "." or "[" is not quoted in mapstructure's names).
func goPathOfName(t reflect.Type, name string) (string, bool) {
	var steps []pathStep
	for _, part := range splitFieldName(name) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		t = goType(t)
		switch t.Kind() {
		case reflect.Struct:
			f, ok := fieldOfKey(t, part)
			if !ok {
				return "", false
			}
			steps = append(steps, pathStep{field: f})
			t = f.typ
		case reflect.Map:
			if t.Key().Kind() != reflect.String {
				return "", false
			}
			steps = append(steps, pathStep{key: reflect.ValueOf(part).Convert(t.Key())})
			t = t.Elem()
		case reflect.Slice, reflect.Array:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 {
				return "", false
			}
			steps = append(steps, pathStep{elem: i})
			t = t.Elem()
		default:
			return "", false
		}
	}
	return formatSteps(steps), true
}

// fieldOfKey returns the field of struct type t that a key segment feeds,
// matching loosely (case, "-", "_") as the decoder does.
func fieldOfKey(t reflect.Type, seg string) (*schemaField, bool) {
	for _, f := range SchemaOf(t).written {
		if sameName(seg, f.canon) || sameName(seg, f.name) || sameName(seg, f.key) {
			return f, true
		}
	}
	return nil, false
}
