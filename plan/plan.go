package plan

import (
	"encoding/json"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/etcdconf/etcdconf/internal/codec"
	"github.com/etcdconf/etcdconf/internal/keytree"
	"gopkg.in/yaml.v3"
)

// Options change how [Keys] plans.
type Options struct {
	// Prune removes what the file does not hold: keys, and paths inside a
	// value one key holds.
	Prune bool
	// Keep, when set, names keys Prune must not delete (a key with a
	// lease, which belongs to the process that keeps it alive); they are
	// listed in Plan.Kept.
	Keep func(key string) bool
	// Prefix only names keys in full in errors.
	Prefix string
}

// A Change is one difference the plan makes, as shown to a user. Path is
// the key relative to the prefix, or, for a path inside the value one key
// holds (a JSON object in a plain key, a .yaml, .yml or .json document),
// that key, "#" and the path inside it: "api-2#addr".
type Change struct {
	Path     string
	Key      string // the key written for it
	Old, New string
	Had, Has bool
}

// An Op is one write: a put of Value at Key (relative to the prefix), or a
// delete of Key.
type Op struct {
	Key    string
	Value  string
	Delete bool
}

// A Plan is what makes a prefix hold what a file says: the changes, as
// shown, and the operations that make them, both sorted.
type Plan struct {
	Changes []Change
	Ops     []Op
	Kept    []string // keys Options.Keep kept from being pruned, sorted
}

// A holder is a key holding a mapping: a document key, or a plain key
// holding a JSON object.
type holder struct {
	key   string
	segs  []string // the path it is at, as spelled in the key
	npath string
	doc   bool
	held  *codec.HeldKey // what edits its value in place
	n     int            // its leaves
	sets  [][]string     // paths of the file to write into it
	dels  [][]string     // paths inside it to remove
	// replaced: the file has a scalar or a list where it holds a mapping,
	// and the key is written with it.
	replaced bool
}

// A leaf is one value of the current keys: a plain key's, or one inside
// a holder (h, at sub).
type leaf struct {
	key   string
	npath string
	value string
	h     *holder
	sub   []string
}

// Keys plans writing file to a prefix holding current (relative key ->
// value), by the untyped model of the keys the library decodes:
//
//   - keys (and paths inside a held value) equal under the library's loose
//     field matching (case, "-", "_") are one key: a change is written to
//     the key that holds the value now, and a new key takes the spelling of
//     the keys beside it;
//   - a JSON object in a plain key, or a .yaml, .yml or .json document
//     key, is compared as a structure where the file has a mapping at its
//     path, and a change inside it rewrites that key in place (as JSON),
//     never adds keys under it; a JSON list in a plain key is compared as
//     the list it holds;
//   - the resulting key set must decode (see [Check]) whenever the plan
//     writes anything: otherwise Keys returns a *CheckError.
func Keys(current map[string]string, file *File, opts Options) (*Plan, error) {
	b := &builder{cur: current, file: file, opts: opts, spell: map[string]string{}, holders: map[string]*holder{}}
	b.read()
	if err := b.compare(); err != nil {
		return nil, err
	}
	if opts.Prune {
		b.prune()
	}
	if err := b.rewrite(); err != nil {
		return nil, err
	}
	p := &Plan{Changes: b.cs, Ops: b.ops, Kept: b.kept}
	slices.SortFunc(p.Changes, func(x, y Change) int { return strings.Compare(x.Path, y.Path) })
	slices.SortFunc(p.Ops, func(x, y Op) int { return strings.Compare(x.Key, y.Key) })
	slices.Sort(p.Kept)
	if len(p.Ops) > 0 {
		if err := Check(opts.Prefix, Apply(current, p.Ops)); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Apply returns keys with ops made on them.
func Apply(keys map[string]string, ops []Op) map[string]string {
	out := maps.Clone(keys)
	if out == nil {
		out = map[string]string{}
	}
	for _, o := range ops {
		if o.Delete {
			delete(out, o.Key)
		} else {
			out[o.Key] = o.Value
		}
	}
	return out
}

type builder struct {
	cur     map[string]string
	file    *File
	opts    Options
	spell   map[string]string  // normalized path -> as the keys spell it
	holders map[string]*holder // by normalized path, the one that wins
	hs      []*holder          // every holder, in key order
	all     []*leaf            // every leaf, shadowed or not
	leaves  map[string]*leaf   // the leaf that wins each normalized path
	fileN   map[string]bool    // the file's normalized paths
	cs      []Change
	ops     []Op
	kept    []string
}

func (b *builder) read() {
	var docs, objs, plain []*leaf
	for _, k := range slices.Sorted(mapKeys(b.cur)) {
		v := b.cur[k]
		segs := keytree.Segments(k)
		if len(segs) == 0 {
			continue // the prefix itself: the library ignores it
		}
		at := segs
		last := segs[len(segs)-1]
		ext := keytree.DocumentExt(last)
		if ext != "" {
			at = slices.Clone(segs)
			if at[len(at)-1] = strings.TrimSuffix(last, ext); at[len(at)-1] == "" {
				at = at[:len(at)-1]
			}
		}
		for i := 1; i <= len(at); i++ {
			if np := normPath(at[:i]); b.spell[np] == "" {
				b.spell[np] = strings.Join(at[:i], "/")
			}
		}
		switch {
		case ext != "":
			if tree, text, ok := mapping(v); ok {
				docs = append(docs, b.hold(k, v, at, true, tree, text)...)
				continue
			}
			// a document that does not parse: a value under its own name,
			// which the check refuses whenever the plan writes
			plain = append(plain, &leaf{key: k, npath: normKey(k), value: v})
		case isJSON(v, '{'):
			if tree, text, ok := mapping(v); ok {
				objs = append(objs, b.hold(k, v, at, false, tree, text)...)
				continue
			}
			plain = append(plain, &leaf{key: k, npath: normPath(at), value: v})
		default:
			if isJSON(v, '[') {
				if s, ok := listText(v); ok {
					v = s
				}
			}
			plain = append(plain, &leaf{key: k, npath: normPath(at), value: v})
		}
	}
	// The library's precedence: documents first, plain keys over them.
	b.leaves = map[string]*leaf{}
	for _, l := range slices.Concat(docs, objs, plain) {
		b.all = append(b.all, l)
		b.leaves[l.npath] = l
	}
	// A plain key holding a JSON object overrides a document's scalar at
	// its path as any plain key does: the file's value there is compared
	// with the key's (see compare), not with the document's.
	for _, h := range b.hs {
		if l := b.leaves[h.npath]; !h.doc && l != nil && l.h != nil && l.h.doc {
			delete(b.leaves, h.npath)
		}
	}
}

// hold records a holder and returns its leaves.
func (b *builder) hold(k, v string, at []string, doc bool, tree map[string]any, text map[string]string) []*leaf {
	canon, _, _ := codec.Loose.Resolve(at)
	kv := &codec.KeyValue{Key: k, Value: v}
	h := &holder{key: k, segs: at, npath: normPath(at), doc: doc, held: codec.NewHeldKey(kv, b.opts.Prefix, canon, doc, codec.Loose)}
	b.hs = append(b.hs, h)
	b.holders[h.npath] = h
	flat, err := keytree.Flatten(tree, text)
	if err != nil {
		return nil
	}
	var out []*leaf
	for _, sp := range slices.Sorted(mapKeys(flat)) {
		sub := keytree.Segments(sp)
		out = append(out, &leaf{key: k, npath: joinN(h.npath, normPath(sub)), value: flat[sp], h: h, sub: sub})
	}
	h.n = len(out)
	return out
}

func (b *builder) compare() error {
	b.fileN = map[string]bool{}
	spelled := map[string]string{}
	for _, fp := range slices.Sorted(mapKeys(b.file.keys)) {
		spelled[normPath(keytree.Segments(fp))] = fp
	}
	for _, fp := range slices.Sorted(mapKeys(b.file.keys)) {
		fsegs := keytree.Segments(fp)
		for i := len(fsegs) - 1; i > 0; i-- {
			if other, ok := spelled[normPath(fsegs[:i])]; ok {
				return fmt.Errorf("the file holds %q and %q, a value and keys under it at one path (keys equal but for case, \"-\" and \"_\" are one key)", other, fp)
			}
		}
	}
	spelled = map[string]string{}
	for _, fp := range slices.Sorted(mapKeys(b.file.keys)) {
		fv := b.file.keys[fp]
		fsegs := keytree.Segments(fp)
		np := normPath(fsegs)
		if other, ok := spelled[np]; ok {
			return fmt.Errorf("the file spells one key twice, %q and %q (keys equal but for case, \"-\" and \"_\" are one key)", other, fp)
		}
		spelled[np] = fp
		b.fileN[np] = true
		if l := b.leaves[np]; l != nil && (l.h == nil || !l.h.replaced) {
			if l.value == fv || (l.h == nil && b.cur[l.key] == fv) {
				continue
			}
			if l.h != nil {
				l.h.sets = append(l.h.sets, fsegs)
				b.cs = append(b.cs, Change{Path: show(l.h, l.sub), Key: l.key, Old: l.value, New: fv, Had: true, Has: true})
				continue
			}
			b.put(l.key, fv)
			b.cs = append(b.cs, Change{Path: l.key, Key: l.key, Old: l.value, New: fv, Had: true, Has: true})
			continue
		}
		if h := b.holders[np]; h != nil && !h.doc && !h.replaced {
			// a scalar or list where a plain key holds a JSON object
			h.replaced = true
			if b.cur[h.key] == fv {
				continue
			}
			b.put(h.key, fv)
			b.cs = append(b.cs, Change{Path: h.key, Key: h.key, Old: b.cur[h.key], New: fv, Had: true, Has: true})
			continue
		}
		if h := b.holderAbove(fsegs); h != nil {
			h.sets = append(h.sets, fsegs)
			b.cs = append(b.cs, Change{Path: show(h, fsegs[len(h.segs):]), Key: h.key, New: fv, Has: true})
			continue
		}
		k := b.respell(fsegs)
		b.put(k, fv)
		b.cs = append(b.cs, Change{Path: k, Key: k, New: fv, Has: true})
	}
	return nil
}

// holderAbove returns the deepest holder whose path is above segs.
func (b *builder) holderAbove(segs []string) *holder {
	for i := len(segs) - 1; i >= 0; i-- {
		if h := b.holders[normPath(segs[:i])]; h != nil && !h.replaced {
			return h
		}
	}
	return nil
}

// respell spells a new key's path as the keys beside it spell the
// segments they share.
func (b *builder) respell(segs []string) string {
	for i := len(segs) - 1; i > 0; i-- {
		if s, ok := b.spell[normPath(segs[:i])]; ok {
			return s + "/" + strings.Join(segs[i:], "/")
		}
	}
	return strings.Join(segs, "/")
}

func (b *builder) prune() {
	for _, l := range b.all {
		if b.fileN[l.npath] || b.underFileLeaf(l.npath) {
			continue
		}
		if l.h != nil {
			if !l.h.replaced {
				l.h.dels = append(l.h.dels, l.sub)
				b.cs = append(b.cs, Change{Path: show(l.h, l.sub), Key: l.key, Old: l.value, Had: true})
			}
			continue
		}
		if b.keep(l.key) {
			continue
		}
		b.del(l.key)
		b.cs = append(b.cs, Change{Path: l.key, Key: l.key, Old: l.value, Had: true})
	}
}

// underFileLeaf reports whether the file holds a scalar or list above np:
// what is below it is replaced with the holder (see compare).
func (b *builder) underFileLeaf(np string) bool {
	for i := strings.LastIndexByte(np, '/'); i > 0; i = strings.LastIndexByte(np[:i], '/') {
		if b.fileN[np[:i]] {
			if h := b.holders[np[:i]]; h != nil && h.replaced {
				return true
			}
		}
	}
	return false
}

func (b *builder) keep(k string) bool {
	if b.opts.Keep != nil && b.opts.Keep(k) {
		b.kept = append(b.kept, k)
		return true
	}
	return false
}

// rewrite writes each holder with a change in place, through the
// library's planner, which keeps the value's layout.
func (b *builder) rewrite() error {
	for _, h := range b.hs {
		if h.replaced || len(h.sets)+len(h.dels) == 0 {
			continue
		}
		if len(h.sets) == 0 && len(h.dels) == h.n {
			// everything it holds goes: the key goes, shown as one removal
			b.cs = slices.DeleteFunc(b.cs, func(c Change) bool { return c.Key == h.key })
			if b.keep(h.key) {
				continue
			}
			b.del(h.key)
			b.cs = append(b.cs, Change{Path: h.key, Key: h.key, Old: b.cur[h.key], Had: true})
			continue
		}
		ext := keytree.DocumentExt(h.key)
		for _, d := range h.dels {
			canon, _, _ := codec.Loose.Resolve(d)
			if _, err := h.held.Remove(canon); err != nil {
				return err
			}
		}
		for _, fsegs := range h.sets {
			v, _ := b.file.at(fsegs)
			n := treeNode(wrap(v, fsegs, b.file.text))
			if ext != ".yaml" && ext != ".yml" {
				jsonScalars(n)
			}
			rel := fsegs[len(h.segs):]
			canon, _, _ := codec.Loose.Resolve(rel)
			if err := h.held.Set(canon, rel, n); err != nil {
				return err
			}
		}
		text, err := h.held.Text()
		if err != nil {
			return err
		}
		b.put(h.key, text)
	}
	return nil
}

// jsonScalars makes the scalars of n that JSON cannot hold as they are
// written (0x10, True, a date) strings of their text, as [JSON] writes
// them, so a JSON value stays JSON.
func jsonScalars(n *yaml.Node) {
	if n.Kind != yaml.ScalarNode {
		for _, c := range n.Content {
			jsonScalars(c)
		}
		return
	}
	if t := n.ShortTag(); t != "!!str" && t != "!!null" && (!json.Valid([]byte(n.Value)) || strings.HasPrefix(n.Value, `"`)) {
		n.Tag, n.Style = "!!str", 0
	}
}

func (b *builder) put(k, v string) { b.ops = append(b.ops, Op{Key: k, Value: v}) }
func (b *builder) del(k string)    { b.ops = append(b.ops, Op{Key: k, Delete: true}) }

func show(h *holder, sub []string) string { return h.key + "#" + strings.Join(sub, "/") }

func joinN(a, b string) string {
	if a == "" {
		return b
	}
	return a + "/" + b
}

func mapKeys[V any](m map[string]V) iter.Seq[string] { return maps.Keys(m) }

// isJSON reports whether v is one JSON value starting with open.
func isJSON(v string, open byte) bool {
	t := strings.TrimSpace(v)
	return t != "" && t[0] == open && json.Valid([]byte(t))
}

// mapping parses a document (or a JSON object) that holds a mapping, or
// nothing.
func mapping(v string) (map[string]any, map[string]string, bool) {
	doc, text, err := keytree.ParseDocument([]byte(v))
	if err != nil {
		return nil, nil, false
	}
	if doc == nil {
		return map[string]any{}, text, true
	}
	m, ok := doc.(map[string]any)
	return m, text, ok
}

// listText is the text the file's list would be written as, for a JSON
// list in a plain key.
func listText(v string) (string, bool) {
	doc, text, err := keytree.ParseDocument([]byte(v))
	if err != nil {
		return "", false
	}
	l, ok := doc.([]any)
	if !ok {
		return "", false
	}
	s, err := keytree.ListText(l, nil, func(p []string) (string, bool) {
		t, ok := text[strings.Join(p, "/")]
		return t, ok
	})
	return s, err == nil
}

// A lit is a scalar with its source text, if it has one.
type lit struct {
	v    any
	text string
	ok   bool
}

// wrap turns a parsed value at path into maps, lists and lits.
func wrap(v any, path []string, text map[string]string) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = wrap(e, append(slices.Clip(path), k), text)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = wrap(e, append(slices.Clip(path), itoa(i)), text)
		}
		return out
	}
	t, ok := text[strings.Join(path, "/")]
	return lit{v: v, text: t, ok: ok}
}

// emit writes a wrapped value as JSON, which YAML reads as well: a
// number or bool as its source text when that is JSON, so that 1.10 stays
// 1.10; anything else as a string of its text.
func emit(b *strings.Builder, v any) {
	switch x := v.(type) {
	case map[string]any:
		b.WriteByte('{')
		for i, k := range slices.Sorted(maps.Keys(x)) {
			if i > 0 {
				b.WriteByte(',')
			}
			quoteJSON(b, k)
			b.WriteByte(':')
			emit(b, x[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			emit(b, e)
		}
		b.WriteByte(']')
	case string:
		quoteJSON(b, x)
	case lit:
		if x.v == nil {
			b.WriteString("null")
			return
		}
		t := x.text
		if !x.ok {
			t, _ = keytree.Scalar(x.v)
		}
		switch x.v.(type) {
		case bool, int, int64, uint64, float64:
			if json.Valid([]byte(t)) && !strings.HasPrefix(t, "\"") {
				b.WriteString(t)
				return
			}
		}
		quoteJSON(b, t)
	}
}

// litNode writes a scalar of a held value as YAML: as its source text,
// tagged as it was read (a .yaml or .yml document key stays YAML; see
// treeNode, which writes the mappings and lists around it).
func litNode(x lit) *yaml.Node {
	t := x.text
	if !x.ok {
		t, _ = keytree.Scalar(x.v)
	}
	tag := ""
	switch x.v.(type) {
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	case bool:
		tag = "!!bool"
	case int, int64, uint64:
		tag = "!!int"
	case float64:
		tag = "!!float"
	case time.Time:
		tag = "!!timestamp"
	default:
		return keytree.StringNode(t)
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: t}
}
