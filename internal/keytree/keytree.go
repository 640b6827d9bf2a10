// Package keytree maps etcd keys under a prefix to a tree of nested maps and
// back, by etcdconf's key layout: "/"-separated segments are nesting, and a
// key whose last segment ends in .yaml, .yml or .json holds a document that
// is merged at its path.
package keytree

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// An Entry is one key: its full name, its path relative to the prefix, and
// its value.
type Entry struct {
	Key   string
	Path  string
	Value []byte
}

// An Error names the key at fault.
type Error struct {
	Key string
	Err error
}

func (e *Error) Error() string { return fmt.Sprintf("key %q: %v", e.Key, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// A Tree is the keys of a prefix as nested maps. Leaves from plain keys are
// strings; leaves from documents keep the types YAML gave them.
type Tree struct {
	Root map[string]any
	// origin maps a path ("db/port", as spelled in the keys) to the key that
	// supplied it; paths inside a document map to the document's key.
	origin map[string]string
	// Ignored are the keys that could not be placed: the key equal to the
	// prefix when it is not a document.
	Ignored []string
}

// Segments splits a relative path into its segments, dropping empty ones,
// so "db//host" and "/db/host/" are both db, host.
func Segments(path string) []string {
	segs := strings.Split(path, "/")
	return slices.DeleteFunc(segs, func(s string) bool { return s == "" })
}

// DocumentExt returns the document extension of a key's last segment
// (".yaml", ".yml" or ".json"), or "".
func DocumentExt(seg string) string {
	for _, ext := range []string{".yaml", ".yml", ".json"} {
		if strings.HasSuffix(seg, ext) && len(seg) >= len(ext) {
			return ext
		}
	}
	return ""
}

// Build places entries in a tree. Documents are merged first and plain
// keys on top of them, so a key overrides a document at the same path.
// Errors name the key: a value that is not UTF-8, a document that does not
// parse, a key that would need a value to be a map as well (db = x beside
// db/host = y).
func Build(entries []Entry) (*Tree, error) {
	t := &Tree{Root: map[string]any{}, origin: make(map[string]string, len(entries))}
	for _, docs := range []bool{true, false} {
		for _, e := range entries {
			segs := Segments(e.Path)
			var isDoc bool
			if len(segs) > 0 {
				last := segs[len(segs)-1]
				if ext := DocumentExt(last); ext != "" {
					isDoc = true
					segs[len(segs)-1] = strings.TrimSuffix(last, ext)
					if segs[len(segs)-1] == "" {
						segs = segs[:len(segs)-1]
					}
				}
			} else if ext := DocumentExt(e.Key); ext != "" {
				isDoc = true // the prefix itself is a document key
			}
			if isDoc != docs {
				continue
			}
			if !utf8.Valid(e.Value) {
				return nil, &Error{Key: e.Key, Err: fmt.Errorf("value is not valid UTF-8")}
			}
			if !isDoc && len(segs) == 0 {
				t.Ignored = append(t.Ignored, e.Key)
				continue
			}
			var v any = string(e.Value)
			if isDoc {
				doc, err := ParseDocument(e.Value)
				if err != nil {
					return nil, &Error{Key: e.Key, Err: err}
				}
				v = doc
			}
			if err := t.place(segs, v, e.Key); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

// place sets segs to v in the tree, merging maps.
func (t *Tree) place(segs []string, v any, key string) error {
	if len(segs) == 0 {
		m, ok := v.(map[string]any)
		if !ok {
			return &Error{Key: key, Err: fmt.Errorf("a document at the prefix itself must be a mapping")}
		}
		return t.merge(t.Root, nil, m, key)
	}
	node := t.Root
	for i, s := range segs[:len(segs)-1] {
		child, exists := node[s]
		if !exists {
			m := map[string]any{}
			node[s], node = m, m
			continue
		}
		m, ok := child.(map[string]any)
		if !ok {
			return t.collision(key, segs[:i+1])
		}
		node = m
	}
	last := segs[len(segs)-1]
	if old, exists := node[last]; exists {
		om, oldIsMap := old.(map[string]any)
		nm, newIsMap := v.(map[string]any)
		switch {
		case oldIsMap && newIsMap:
			return t.merge(om, segs, nm, key)
		case !oldIsMap && !newIsMap && t.fromDocument(segs):
			// a plain key overriding a document's scalar
		default:
			return t.collision(key, segs)
		}
	}
	node[last] = v
	t.origin[strings.Join(segs, "/")] = key
	return nil
}

func (t *Tree) merge(dst map[string]any, at []string, src map[string]any, key string) error {
	for _, k := range slices.Sorted(maps.Keys(src)) {
		if err := t.place(append(slices.Clone(at), k), src[k], key); err != nil {
			return err
		}
	}
	if len(at) > 0 {
		t.origin[strings.Join(at, "/")] = key
	}
	return nil
}

func (t *Tree) fromDocument(segs []string) bool {
	k := t.Origin(segs)
	return k != "" && DocumentExt(k) != ""
}

// collision reports two keys that cannot both be placed. Entries come in
// any order, so the error names the greater key, and the other in its text.
func (t *Tree) collision(key string, at []string) error {
	other := t.Origin(at)
	if other == "" { // the path holds keys under it: name the least of them
		under := strings.Join(at, "/") + "/"
		for p, k := range t.origin {
			if strings.HasPrefix(p, under) && (other == "" || k < other) {
				other = k
			}
		}
	}
	if other > key {
		key, other = other, key
	}
	return &Error{Key: key, Err: fmt.Errorf("collides with key %q: %q cannot hold both a value and keys under it", other, strings.Join(at, "/"))}
}

// Origin returns the key that supplied the value at segs (spelled as in
// the keys), or of its nearest ancestor that has one; "" if none.
func (t *Tree) Origin(segs []string) string {
	for n := len(segs); n > 0; n-- {
		if k, ok := t.origin[strings.Join(segs[:n], "/")]; ok {
			return k
		}
	}
	if k, ok := t.origin[""]; ok {
		return k
	}
	return ""
}

// ParseDocument parses YAML (and so JSON) into plain maps with string
// keys: YAML allows keys of any type, even null, which decoders do not.
func ParseDocument(b []byte) (any, error) {
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return normalize(v), nil
}

// normalize turns map[any]any from YAML into map[string]any, recursively.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = normalize(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
		return x
	}
	return v
}

// Flatten is the inverse of Build for plain keys: nested maps become
// "/"-joined paths, and scalars the strings the decoder reads back (lists of
// scalars become comma lists). A list holding maps, lists or commas cannot
// be a plain key: that is an error naming its path.
func Flatten(doc map[string]any) (map[string]string, error) {
	out := map[string]string{}
	var walk func(prefix string, m map[string]any) error
	walk = func(prefix string, m map[string]any) error {
		for k, v := range m {
			path := prefix + k
			if sub, ok := v.(map[string]any); ok {
				if err := walk(path+"/", sub); err != nil {
					return err
				}
				continue
			}
			if sub, ok := v.(map[any]any); ok {
				if err := walk(path+"/", normalize(sub).(map[string]any)); err != nil {
					return err
				}
				continue
			}
			s, err := Scalar(v)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			out[path] = s
		}
		return nil
	}
	return out, walk("", doc)
}

// Scalar formats a leaf value the way a key holds it.
func Scalar(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case fmt.Stringer:
		return x.String(), nil
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			switch e.(type) {
			case map[string]any, map[any]any, []any:
				return "", fmt.Errorf("a list of maps or lists cannot be a plain key; store it in a .yaml key")
			}
			s, err := Scalar(e)
			if err != nil {
				return "", err
			}
			if strings.Contains(s, ",") {
				return "", fmt.Errorf("list item %q holds a comma; store the list in a .yaml key", s)
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	}
	return fmt.Sprint(v), nil
}
