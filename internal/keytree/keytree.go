// Package keytree maps etcd keys under a prefix to a tree of nested maps and
// back, by etcdconf's key layout: "/"-separated segments are nesting, and a
// key whose last segment ends in .yaml, .yml or .json holds a document that
// is merged at its path.
package keytree

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// An Entry is one key: its name (as errors name it), its path relative to
// the prefix, and its value. Doc marks the key at the prefix itself (Path
// "") as a document when its name cannot say so: a caller naming keys
// relative to a prefix such as "/app/config.yaml" names that key "".
type Entry struct {
	Key   string
	Path  string
	Value string
	Doc   bool
}

// An Error names the key at fault.
type Error struct {
	Key string
	Err error
}

func (e *Error) Error() string { return fmt.Sprintf("key %q: %v", e.Key, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// A Tree is the keys of a prefix as nested maps. Leaves from plain keys are
// strings; leaves from documents keep the types YAML gave them, and their
// source text is kept beside them (see [Tree.Text]).
type Tree struct {
	Root map[string]any
	// origin maps a path ("db/port", as spelled in the keys) to the key that
	// supplied it; paths inside a document map to the document's key.
	origin map[string]string
	// text maps the path of a document's scalar to its source text.
	text map[string]string
	// Ignored are the keys that could not be placed: the key equal to the
	// prefix when it is not a document. Sorted.
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

// Build places entries in a tree, by one precedence rule that does not
// depend on the order of entries:
//
//   - documents are merged first and plain keys on top of them, so a plain
//     key overrides a document's value at the same path;
//   - two documents, or two spellings of one path inside a document
//     ("a/b: 1" beside "a: {b: 2}"), setting one value are an error;
//   - a value and a subtree at one path (db = x beside db/host = y) are an
//     error.
//
// Errors name the key, and the other key in their text: a value that is
// not UTF-8, a document that does not parse, and the collisions above.
func Build(entries []Entry) (*Tree, error) { return build(entries, true) }

// BuildRaw is Build for a caller that knows what each value is read as: a
// plain key's value that is not UTF-8 is placed as it is (a Go string of
// its bytes), for the caller to accept (a []byte) or refuse. A document
// must still be UTF-8.
func BuildRaw(entries []Entry) (*Tree, error) { return build(entries, false) }

func build(entries []Entry, utf8Only bool) (*Tree, error) {
	entries = slices.SortedFunc(slices.Values(entries), func(a, b Entry) int { return strings.Compare(a.Key, b.Key) })
	t := &Tree{Root: map[string]any{}, origin: make(map[string]string, len(entries)), text: map[string]string{}}
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
			} else if e.Doc || DocumentExt(e.Key) != "" {
				isDoc = true // the prefix itself is a document key
			}
			if isDoc != docs {
				continue
			}
			if (isDoc || utf8Only) && !utf8.ValidString(e.Value) {
				return nil, &Error{Key: e.Key, Err: fmt.Errorf("value is not valid UTF-8")}
			}
			if !isDoc && len(segs) == 0 {
				t.Ignored = append(t.Ignored, e.Key)
				continue
			}
			var v any = e.Value
			if isDoc {
				doc, text, err := ParseDocument([]byte(e.Value))
				if err != nil {
					return nil, &Error{Key: e.Key, Err: err}
				}
				for p, s := range text {
					t.text[join(append(slices.Clone(segs), p))] = s
				}
				v = doc
			}
			if err := t.place(segs, v, e.Key, isDoc); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

// join joins segments into a path, dropping empty ones.
func join(segs []string) string { return strings.Join(Segments(strings.Join(segs, "/")), "/") }

// place sets segs to v in the tree, merging maps.
func (t *Tree) place(segs []string, v any, key string, isDoc bool) error {
	if len(segs) == 0 {
		m, ok := v.(map[string]any)
		if !ok {
			return &Error{Key: key, Err: fmt.Errorf("a document at the prefix itself must be a mapping")}
		}
		return t.merge(t.Root, nil, m, key, isDoc)
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
			return t.collision(key, segs[:i+1], false)
		}
		node = m
	}
	last := segs[len(segs)-1]
	if old, exists := node[last]; exists {
		om, oldIsMap := old.(map[string]any)
		nm, newIsMap := v.(map[string]any)
		switch {
		case oldIsMap && newIsMap:
			return t.merge(om, segs, nm, key, isDoc)
		case !oldIsMap && !newIsMap && !isDoc && t.fromDocument(segs):
			// a plain key overriding a document's scalar
			delete(t.text, strings.Join(segs, "/"))
		default:
			return t.collision(key, segs, !oldIsMap && !newIsMap)
		}
	}
	node[last] = v
	t.origin[strings.Join(segs, "/")] = key
	return nil
}

func (t *Tree) merge(dst map[string]any, at []string, src map[string]any, key string, isDoc bool) error {
	for _, k := range slices.Sorted(maps.Keys(src)) {
		if err := t.place(append(slices.Clone(at), k), src[k], key, isDoc); err != nil {
			return err
		}
	}
	if _, ok := t.origin[strings.Join(at, "/")]; len(at) > 0 && !ok {
		t.origin[strings.Join(at, "/")] = key
	}
	return nil
}

func (t *Tree) fromDocument(segs []string) bool {
	k := t.Origin(segs)
	return k != "" && DocumentExt(k) != ""
}

// collision reports two keys that cannot both be placed: both set one
// value, or one sets a value where the other has keys under it. The error
// names the greater key, and the other in its text, so it is the same
// whichever came first.
func (t *Tree) collision(key string, at []string, both bool) error {
	return Collision(key, t.Key(at), strings.Join(at, "/"), both)
}

// Collision is the error for keys k1 and k2 that meet at path: both set its
// value (both), or one sets a value and the other has keys under it. It
// names the greater key as the Error's Key and the other in its text.
func Collision(k1, k2, path string, both bool) error {
	if k2 > k1 {
		k1, k2 = k2, k1
	}
	return &Error{Key: k1, Err: &CollisionError{Other: k2, Path: path, Both: both}}
}

// A CollisionError is the cause of a collision's Error: the other key, so
// that a caller naming keys relative to a prefix can name it in full.
type CollisionError struct {
	Other string
	Path  string
	Both  bool
}

func (e *CollisionError) Error() string {
	if e.Both {
		return fmt.Sprintf("collides with key %q: both set %q", e.Other, e.Path)
	}
	return fmt.Sprintf("collides with key %q: %q cannot hold both a value and keys under it", e.Other, e.Path)
}

// Key returns the key that supplied segs (spelled as in the keys): the key
// of its value or of its nearest ancestor's, else the least key under it.
func (t *Tree) Key(segs []string) string {
	if k := t.Origin(segs); k != "" {
		return k
	}
	under, least := strings.Join(segs, "/")+"/", ""
	for p, k := range t.origin {
		if strings.HasPrefix(p, under) && (least == "" || k < least) {
			least = k
		}
	}
	return least
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

// Text returns the source text of the document scalar at segs (spelled as
// in the keys; list items are numbered from 0), so that a string field gets
// "1.10" and "2024-01-01" as written, not as YAML reads them.
func (t *Tree) Text(segs []string) (string, bool) {
	s, ok := t.text[strings.Join(segs, "/")]
	return s, ok
}

// ParseDocument parses YAML (and so JSON) into plain maps with string
// keys (YAML allows keys of any type, even null, which decoders do not).
// A mapping key holding "/" is a path, as in keys: "a/b: 1" is a: {b: 1},
// and two mapping keys that spell one path are an error naming both. It
// also returns the source text of every scalar, by path ("a/b", list items
// numbered from 0), for string fields that must get "1.10" as written.
//
// b holds one document: a leading "---" and empty documents are allowed,
// a second document that is not empty is an error naming its line (it
// would otherwise be dropped without a word; see [Document]).
func ParseDocument(b []byte) (any, map[string]string, error) {
	n, err := Document(b)
	if err != nil {
		return nil, nil, err
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, nil, err
	}
	v, err = nest(v)
	if err != nil {
		return nil, nil, err
	}
	text := map[string]string{}
	sourceText(n, "", text)
	return v, text, nil
}

// Document parses b as one YAML document and returns its node: the one
// document of b that is not empty (a null document when all are). YAML
// allows several documents separated by "---"; etcdconf's files and
// document keys hold one, and a second one that is not empty is an error
// naming its line, the same rule for the CLI's files, keys in etcd,
// WithFile and every other document.
func Document(b []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc *yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if emptyDocument(&n) {
			if doc == nil {
				doc = &n
			}
			continue
		}
		if doc != nil && !emptyDocument(doc) {
			return nil, fmt.Errorf("line %d: a second YAML document (after the one at line %d); a file or document key holds one document", n.Line, docLine(doc))
		}
		doc = &n
	}
	if doc == nil {
		doc = &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!null"}}}
	}
	return doc, nil
}

// emptyDocument reports whether a document node holds nothing: no content,
// or a null scalar with no text (what YAML makes of "---" alone or of
// comments only).
func emptyDocument(n *yaml.Node) bool {
	if len(n.Content) == 0 {
		return true
	}
	c := n.Content[0]
	return c.Kind == yaml.ScalarNode && c.ShortTag() == "!!null" && c.Value == ""
}

// docLine is the line a document's content starts on.
func docLine(n *yaml.Node) int {
	if len(n.Content) > 0 {
		return n.Content[0].Line
	}
	return n.Line
}

// sourceText records the text of every scalar under n by its path.
func sourceText(n *yaml.Node, path string, text map[string]string) {
	ScalarNodes(n, path, func(path string, s *yaml.Node) { text[path] = s.Value })
}

// ScalarNodes calls fn with every scalar under n but nulls, and its path
// (under path), in the order in which the one that wins a path comes
// last: merged mappings (<<: *base, or a list of them) first, the last of
// a list first since the first wins, then the mapping's own keys, which
// override them all.
func ScalarNodes(n *yaml.Node, path string, fn func(path string, s *yaml.Node)) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			ScalarNodes(c, path, fn)
		}
	case yaml.AliasNode:
		ScalarNodes(n.Alias, path, fn)
	case yaml.ScalarNode:
		if n.Tag != "!!null" {
			fn(path, n)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			ScalarNodes(c, join([]string{path, strconv.Itoa(i)}), fn)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Tag != "!!merge" {
				continue
			}
			srcs := []*yaml.Node{n.Content[i+1]}
			if m := n.Content[i+1]; m.Kind == yaml.SequenceNode {
				srcs = m.Content
			}
			for j := len(srcs) - 1; j >= 0; j-- {
				ScalarNodes(srcs[j], path, fn)
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Tag == "!!merge" {
				continue
			}
			name := k.Value
			if k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
				var kv any
				if k.Decode(&kv) != nil {
					continue
				}
				name = fmt.Sprint(kv)
			}
			ScalarNodes(n.Content[i+1], join([]string{path, name}), fn)
		}
	}
}

// nest turns YAML's maps into map[string]any, recursively, with every
// mapping key split into its path segments. Keys are taken in sorted order
// and conflicts are errors, so the result does not depend on map order.
func nest(v any) (any, error) {
	var m map[string]any
	switch x := v.(type) {
	case []any:
		for i, e := range x {
			n, err := nest(e)
			if err != nil {
				return nil, err
			}
			x[i] = n
		}
		return x, nil
	case map[string]any:
		m = x
	case map[any]any:
		m = make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = e
		}
	default:
		return v, nil
	}
	out := make(map[string]any, len(m))
	spelled := map[string]string{} // path in out -> the mapping key that made it
	for _, k := range slices.Sorted(maps.Keys(m)) {
		e, err := nest(m[k])
		if err != nil {
			return nil, err
		}
		segs := Segments(k)
		if len(segs) == 0 {
			return nil, fmt.Errorf("mapping key %q names no path", k)
		}
		if err := insert(out, segs, e, k, spelled); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// insert places v at segs in dst for mapping key k, merging maps.
func insert(dst map[string]any, segs []string, v any, k string, spelled map[string]string) error {
	for i, s := range segs {
		path := strings.Join(segs[:i+1], "/")
		old, exists := dst[s]
		if !exists {
			spelled[path] = k
			if i == len(segs)-1 {
				dst[s] = v
				return nil
			}
			m := map[string]any{}
			dst[s], dst = m, m
			continue
		}
		om, oldIsMap := old.(map[string]any)
		if i < len(segs)-1 {
			if !oldIsMap {
				return spellingCollision(k, spelledAt(spelled, segs[:i+1]), path, false)
			}
			dst = om
			continue
		}
		nm, newIsMap := v.(map[string]any)
		if !oldIsMap || !newIsMap {
			return spellingCollision(k, spelledAt(spelled, segs), path, !oldIsMap && !newIsMap)
		}
		for _, c := range slices.Sorted(maps.Keys(nm)) {
			if err := insert(om, []string{c}, nm[c], k, map[string]string{}); err != nil {
				var se *spellingError
				if errors.As(err, &se) {
					return spellingCollision(k, spelledAt(spelled, segs), path+"/"+se.path, se.both)
				}
				return err
			}
		}
	}
	return nil
}

// spelledAt returns the mapping key that made segs or its nearest ancestor.
func spelledAt(spelled map[string]string, segs []string) string {
	for n := len(segs); n > 0; n-- {
		if k, ok := spelled[strings.Join(segs[:n], "/")]; ok {
			return k
		}
	}
	return ""
}

// A spellingError reports two mapping keys of one document that meet at
// path: both set its value, or one sets a value and the other has keys
// under it.
type spellingError struct {
	k1, k2, path string
	both         bool
}

func spellingCollision(k1, k2, path string, both bool) error {
	if k2 < k1 {
		k1, k2 = k2, k1
	}
	return &spellingError{k1, k2, path, both}
}

func (e *spellingError) Error() string {
	if e.both {
		return fmt.Sprintf("mapping keys %q and %q both set %q", e.k1, e.k2, e.path)
	}
	return fmt.Sprintf("mapping keys %q and %q: %q cannot hold both a value and keys under it", e.k1, e.k2, e.path)
}

// Flatten is the inverse of Build for plain keys: nested maps become
// "/"-joined paths, and leaves the strings the decoder reads back. A
// mapping key holding "/" is a path, as in [ParseDocument]; two mapping
// keys that spell one path, or a value and keys under it, are an error
// naming both.
//
// text is the source text of the document's scalars, by path, as
// [ParseDocument] returns it (nil: none): a scalar with source text is
// that text, so 1.10 stays 1.10 and 2024-01-01 is not a Go time; others are
// formatted by [Scalar]. A list is the text etcdconf's writer writes for it
// (see [ListText]): a comma list of its items' text when that reads back as
// them, else a JSON list.
func Flatten(doc map[string]any, text map[string]string) (map[string]string, error) {
	nested, err := nest(doc)
	if err != nil {
		return nil, err
	}
	lookup := func(segs []string) (string, bool) {
		s, ok := text[strings.Join(segs, "/")]
		return s, ok
	}
	out := map[string]string{}
	var walk func(prefix []string, m map[string]any) error
	walk = func(prefix []string, m map[string]any) error {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			segs := append(slices.Clip(prefix), k)
			path := strings.Join(segs, "/")
			switch x := m[k].(type) {
			case map[string]any:
				if err := walk(segs, x); err != nil {
					return err
				}
			case []any:
				s, err := ListText(x, segs, lookup)
				if err != nil {
					return err // it names the item's path
				}
				out[path] = s
			default:
				if s, ok := text[path]; ok {
					out[path] = s
					continue
				}
				s, err := Scalar(x)
				if err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				out[path] = s
			}
		}
		return nil
	}
	return out, walk(nil, nested.(map[string]any))
}

// Scalar formats a leaf value the way a key holds it; a list as
// [ListText] writes it for a list without source text.
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
		return ListText(x, nil, nil)
	}
	return fmt.Sprint(v), nil
}
