package codec

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/etcdconf/etcdconf/internal/keytree"
)

// canon rewrites a tree by the schema of T before mapstructure sees it:
//
//   - keys of struct fields are spelled as mapstructure looks them up (the
//     tag name, else the field name), so no field falls back to MatchName
//     across all keys, which is quadratic in a wide struct and picks one of
//     two matching keys at random;
//   - spellings that match one field loosely (db/host beside DB/port) merge
//     their subtrees; where both set one value, a plain key overrides a
//     document and anything else is an error naming both keys, as is a
//     value beside a subtree;
//   - map keys are exact, never merged; a map of scalars is a flat view of
//     its subtree ("zone/a"), where a document's list is one entry, the
//     text a plain key holds for it ("a,b");
//   - a document's scalar bound for a string or []byte field is its source
//     text, so "1.10" stays 1.10 and "2024-01-01" is not a time.
//
// Keys are visited in sorted order, so the result and the error do not
// depend on map order.
type canon struct {
	tree *keytree.Tree                 // nil for a document value decoded by documentHook
	text func([]string) (string, bool) // source text of a document's scalar, by spelled path
	// spell maps a path as mapstructure names it (parts joined by "\x00")
	// to the path as spelled in the keys, for errors to name the key.
	spell map[string][]string
}

func newCanon(tree *keytree.Tree) *canon {
	return &canon{tree: tree, text: tree.Text, spell: map[string][]string{}}
}

// node returns v, found at spelled path sp and mapstructure path cp,
// rewritten for a field of type t (nil: keep as it is).
func (c *canon) node(v any, t reflect.Type, sp, cp []string) (any, error) {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	t = goType(t)
	if _, ok := c.spell[strings.Join(cp, "\x00")]; !ok {
		c.spell[strings.Join(cp, "\x00")] = sp
	}
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		return out, c.fill(out, x, t, sp, cp)
	case []any:
		if t == nil || (t.Kind() != reflect.Slice && t.Kind() != reflect.Array) {
			return v, nil
		}
		out := make([]any, len(x))
		for i, e := range x {
			n, err := c.node(e, t.Elem(), append(slices.Clip(sp), strconv.Itoa(i)), append(slices.Clip(cp), strconv.Itoa(i)))
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case string:
		if !utf8.ValidString(x) && (t == nil || !IsBytes(t)) { // a []byte holds any bytes; text is UTF-8
			return nil, c.keyError(sp, errors.New("value is not valid UTF-8"))
		}
		return v, nil
	}
	if t != nil && (t.Kind() == reflect.String || IsBytes(t)) && v != nil {
		if s, ok := c.text(sp); ok {
			return s, nil
		}
	}
	return v, nil
}

// fill puts the children of m, a map at sp and cp, into out for type t.
func (c *canon) fill(out, m map[string]any, t reflect.Type, sp, cp []string) error {
	child := func(k string) []string { return append(slices.Clip(sp), k) }
	for _, k := range slices.Sorted(maps.Keys(m)) {
		var err error
		switch {
		case t == nil || t.Kind() == reflect.Interface:
			err = c.put(out, k, m[k], nil, child(k), append(slices.Clip(cp), k))
		case t.Kind() == reflect.Struct:
			if f, ok := SchemaOf(t).byKey[NormName(k)]; ok {
				err = c.put(out, f.key, m[k], f.typ, child(k), append(slices.Clip(cp), f.key))
			} else {
				err = c.put(out, k, m[k], nil, child(k), append(slices.Clip(cp), k))
			}
		case t.Kind() == reflect.Map && !IsComposite(t.Elem()):
			err = c.flatten(out, "", m[k], t.Elem(), child(k), cp, k)
		case t.Kind() == reflect.Map:
			err = c.put(out, k, m[k], t.Elem(), child(k), append(slices.Clip(cp), k))
		default:
			err = c.put(out, k, m[k], nil, child(k), append(slices.Clip(cp), k))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// flatten puts the leaves under v into out as "/"-joined keys. A
// document's list is one leaf: for values of a string kind, the text a
// plain key holds for it (keytree.ListText: what leafText writes for a list
// of the items' source text); for others it stays a list, which does not
// decode into a scalar, an error naming its key and path.
func (c *canon) flatten(out map[string]any, rel string, v any, elem reflect.Type, sp, cp []string, k string) error {
	rel += k
	switch x := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if err := c.flatten(out, rel+"/", x[k], elem, append(slices.Clip(sp), k), cp, k); err != nil {
				return err
			}
		}
		return nil
	case []any:
		if e := elem; e != nil {
			for e.Kind() == reflect.Pointer {
				e = e.Elem()
			}
			if e.Kind() == reflect.String {
				s, err := keytree.ListText(x, sp, c.text)
				if err != nil {
					if c.tree == nil { // one document value: its key is the field's
						return err
					}
					return &keytree.Error{Key: c.key(sp), Err: err}
				}
				v = s
			}
		}
	}
	return c.put(out, rel, v, elem, sp, append(slices.Clip(cp), rel))
}

// put sets out[name] to v, rewritten for type t, merging it with what a
// second spelling of the same field put there.
func (c *canon) put(out map[string]any, name string, v any, t reflect.Type, sp, cp []string) error {
	old, exists := out[name]
	if !exists {
		n, err := c.node(v, t, sp, cp)
		out[name] = n
		return err
	}
	prev := c.spell[strings.Join(cp, "\x00")]
	om, oldIsMap := old.(map[string]any)
	vm, newIsMap := v.(map[string]any)
	if oldIsMap && newIsMap {
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		return c.fill(om, vm, goType(t), sp, cp)
	}
	k1, k2 := c.key(prev), c.key(sp)
	if !oldIsMap && !newIsMap {
		switch isDoc1, isDoc2 := keytree.DocumentExt(k1) != "", keytree.DocumentExt(k2) != ""; {
		case isDoc1 && !isDoc2: // a plain key overrides a document
			n, err := c.node(v, t, sp, cp)
			out[name], c.spell[strings.Join(cp, "\x00")] = n, sp
			return err
		case isDoc2 && !isDoc1:
			return nil
		}
	}
	both := !oldIsMap && !newIsMap
	field := strings.Join(cp, ".")
	if k1 != k2 {
		return keytree.Collision(k1, k2, field, both)
	}
	s1, s2 := strings.Join(prev, "/"), strings.Join(sp, "/")
	if s2 < s1 {
		s1, s2 = s2, s1
	}
	err := fmt.Errorf("%q and %q: %q cannot hold both a value and keys under it", s1, s2, field)
	if both {
		err = fmt.Errorf("%q and %q both set %q", s1, s2, field)
	}
	if c.tree == nil { // one document value: its key is the field's
		return err
	}
	return &keytree.Error{Key: k1, Err: err}
}

// keyError returns err about the value at spelled path sp, naming its key.
func (c *canon) keyError(sp []string, err error) error {
	if c.tree == nil { // one document value: its key is the field's
		return err
	}
	return &keytree.Error{Key: c.key(sp), Err: err}
}

// key returns the key that supplied the spelled path sp.
func (c *canon) key(sp []string) string {
	if c.tree == nil {
		return ""
	}
	return c.tree.Key(sp)
}
