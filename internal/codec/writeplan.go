package codec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/etcdconf/etcdconf/internal/keytree"
	"github.com/etcdconf/etcdconf/internal/txn"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"gopkg.in/yaml.v3"
)

// A WritePlan is the puts and deletes that make etcd hold a new value of
// T, each guarded by the mod revision its key must still have (0: absent):
// every value is written where it is held now (a plain key, or inside the
// document it came from), and the plan is checked by decoding before
// anything is sent.
type WritePlan struct{ *txn.Plan }

// A HeldKey is a key of the snapshot with the canonical path of what it
// holds.
type HeldKey struct {
	KV     *KeyValue // its key relative to the prefix
	prefix string    // only to name the key in full in errors (see full)
	ext    string    // the key's document extension: of the prefix for the key at the prefix itself
	Path   []string
	typ    reflect.Type
	Doc    bool       // a .yaml, .yml or .json key: merged under plain keys
	root   *yaml.Node // the parsed value, once a leaf inside it is edited
}

// full returns the key in full, as errors name it.
func (h *HeldKey) full() string { return h.prefix + h.KV.Key }

// HeldKeys resolves the keys of kvs, in key order, against T; keys that
// name no field (ignored by the decoder) are left out. prefix only names
// the keys in errors and says whether the key at the prefix itself ("")
// is a document.
func HeldKeys[T any](kvs *KeySet, prefix string) []*HeldKey {
	var out []*HeldKey
	for kv := range kvs.All() {
		k := kv.Key
		segs := keytree.Segments(k)
		ext := keytree.DocumentExt(k)
		doc := false
		if n := len(segs); n > 0 {
			if ext := keytree.DocumentExt(segs[n-1]); ext != "" {
				doc = true
				segs[n-1] = strings.TrimSuffix(segs[n-1], ext)
				if segs[n-1] == "" {
					segs = segs[:n-1]
				}
			}
		} else if ext = keytree.DocumentExt(prefix); ext == "" {
			continue
		} else {
			doc = true
		}
		path, typ, ok := resolve(reflect.TypeFor[T](), segs)
		if !ok {
			continue
		}
		if doc {
			typ = viewOf(reflect.TypeFor[T](), segs, typ)
		}
		out = append(out, &HeldKey{KV: kv, prefix: prefix, ext: ext, Path: path, typ: typ, Doc: doc})
	}
	return out
}

// viewOf returns the type a document at segs holds, given typ, what
// resolve found there: a document inside a flat view (a map of scalars,
// app.yaml of a map[string]string) holds more of that view, a mapping of
// its scalars, not one scalar, so its values are edited in place like a
// struct's.
func viewOf(t reflect.Type, segs []string, typ reflect.Type) reflect.Type {
	if IsComposite(typ) {
		return typ
	}
	for i := len(segs); i >= 0; i-- {
		_, vt, ok := resolve(t, segs[:i])
		for ok && vt.Kind() == reflect.Pointer {
			vt = vt.Elem()
		}
		if ok && vt.Kind() == reflect.Map && !IsComposite(vt.Elem()) {
			return vt
		}
	}
	return typ
}

// parsed returns the key's value as a YAML node, parsing it once.
func (h *HeldKey) parsed() (*yaml.Node, error) {
	if h.root == nil {
		n, err := keytree.Document(h.KV.Value) // one document, as the decoder reads it
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", h.full(), err)
		}
		var doc yaml.Node
		if n != nil {
			doc = *n
		}
		if doc.Kind == 0 || len(doc.Content) == 0 || (doc.Content[0].ShortTag() == "!!null" && doc.Content[0].Value == "") {
			doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
		}
		h.root = &doc
	}
	return h.root, nil
}

// Plan turns the difference between the current value and next into the
// puts and deletes that make etcd hold next: only leaves that changed are
// written, each where it is held now (see the root package's Watcher.Update).
func (d *Decoder[T]) Plan(cur Decoded[T], next T) (*WritePlan, error) {
	oldL, newL := map[string]Leaf{}, map[string]Leaf{}
	if err := EncodeLeaves(reflect.ValueOf(&next).Elem(), nil, "", newL); err != nil {
		return nil, err
	}
	// The current value decoded from keys, so it encodes; if some part of
	// it does not, that leaf counts as changed.
	_ = EncodeLeaves(reflect.ValueOf(&cur.Value).Elem(), nil, "", oldL)
	p := &WritePlan{txn.NewPlan()}
	held := HeldKeys[T](cur.Keys, d.prefix)
	plain := map[string]*HeldKey{}
	for _, h := range held {
		if !h.Doc {
			plain[strings.Join(h.Path, "/")] = h
		}
	}
	edited := map[*HeldKey]bool{}
	for _, k := range sortedKeys(newL) {
		nl := newL[k]
		text, err := LeafText(nl.V, nl.Field)
		if err != nil {
			return nil, err
		}
		if ol, ok := oldL[k]; ok {
			if s, err := LeafText(ol.V, ol.Field); err == nil && s == text {
				continue
			}
		}
		if h := plain[k]; h != nil {
			p.put(h.KV, text)
			continue
		}
		h, at, err := holderOf(held, nl.path)
		if err != nil {
			return nil, err
		}
		if h == nil {
			p.create(k, text)
			continue
		}
		n, err := ValueNode(nl.V, nl.Field)
		if err != nil {
			return nil, err
		}
		*at = *n
		edited[h] = true
	}
	if err := removeLeaves(p, held, plain, oldL, newL, edited); err != nil {
		return nil, err
	}
	if err := rewriteEdited(p, held, edited, newL); err != nil {
		return nil, err
	}
	if err := p.Check(); err != nil {
		return nil, err
	}
	return p, nil
}

// removeLeaves plans the removal of the leaves of oldL that newL lacks:
// the delete of a plain key that holds one, and its removal from every
// document that holds it too, or it would show through (edited records
// the documents changed).
func removeLeaves(p *WritePlan, held []*HeldKey, plain map[string]*HeldKey, oldL, newL map[string]Leaf, edited map[*HeldKey]bool) error {
	for _, k := range sortedKeys(oldL) {
		if _, ok := newL[k]; ok {
			continue
		}
		if h := plain[k]; h != nil {
			p.delete(h.KV)
		}
		// Remove it from every document too, or it would show through.
		for _, h := range held {
			if !HasPrefix(oldL[k].path, h.Path) || (!h.Doc && (len(h.Path) == len(oldL[k].path) || !IsComposite(h.typ))) {
				continue
			}
			if len(h.Path) == len(oldL[k].path) { // the document holds the leaf whole
				edited[h] = true
				continue
			}
			root, err := h.parsed()
			if err != nil {
				return err
			}
			if removeIn(root.Content[0], h.typ, oldL[k].path[len(h.Path):]) {
				edited[h] = true
			}
		}
	}
	return nil
}

// rewriteEdited plans the put of every edited document and JSON value,
// laid out as it was, or its delete when no leaf of newL lies under it.
func rewriteEdited(p *WritePlan, held []*HeldKey, edited map[*HeldKey]bool, newL map[string]Leaf) error {
	for _, h := range held {
		if !edited[h] {
			continue
		}
		if !anyUnder(newL, h.Path) {
			p.delete(h.KV)
			continue
		}
		var b strings.Builder
		if h.ext == ".yaml" || h.ext == ".yml" {
			doc, err := keytree.Marshal(h.root)
			if err != nil {
				return fmt.Errorf("key %q: %w", h.full(), err)
			}
			b.Write(doc)
		} else {
			FlowJSON(&b, h.root)
		}
		text := b.String()
		if h.ext == ".json" {
			text = jsonLayout(h.KV.Value, text)
		}
		p.put(h.KV, text)
	}
	return nil
}

// jsonLayout lays out compact, an edited JSON document, as old, the
// document it replaces, was laid out: indented with old's indentation if
// old spans lines, compact if not, and with old's trailing newline. Only
// whitespace between tokens changes, so the values are compact's.
func jsonLayout(old []byte, compact string) string {
	trimmed := bytes.TrimRight(old, " \t\r\n")
	i := bytes.IndexByte(trimmed, '\n')
	if i < 0 {
		return compact + string(old[len(trimmed):])
	}
	line := trimmed[i+1:]
	indent := line[:len(line)-len(bytes.TrimLeft(line, " \t"))]
	if len(indent) == 0 {
		indent = []byte("  ")
	}
	var out bytes.Buffer
	if err := json.Indent(&out, []byte(compact), "", string(indent)); err != nil {
		return compact
	}
	return out.String() + string(old[len(trimmed):])
}

func (p *WritePlan) put(kv *KeyValue, v string) { p.Put(kv.Key, v, kv.ModRevision) }
func (p *WritePlan) create(key, v string)       { p.Put(key, v, 0) }
func (p *WritePlan) delete(kv *KeyValue)        { p.Delete(kv.Key, kv.ModRevision) }

// anyUnder reports whether a leaf lies at or under canonical path at.
func anyUnder(leaves map[string]Leaf, at []string) bool {
	for _, l := range leaves {
		if HasPrefix(l.path, at) {
			return true
		}
	}
	return false
}

// holderOf finds the key whose value holds the leaf at path, when no plain
// key does: a JSON value above it (which must hold it: a key cannot have
// keys under it), else a document that has a value there. It returns the
// node to overwrite, creating the mappings on the way in a JSON value; a
// nil key means the leaf gets a key of its own.
func holderOf(held []*HeldKey, path []string) (*HeldKey, *yaml.Node, error) {
	var inDoc *HeldKey
	for _, h := range held {
		if !HasPrefix(path, h.Path) || (!h.Doc && (len(h.Path) == len(path) || !IsComposite(h.typ))) {
			continue // a scalar's key holds no leaf under it
		}
		root, err := h.parsed()
		if err != nil {
			return nil, nil, err
		}
		if !h.Doc {
			return h, nodeAt(root.Content[0], h.typ, path[len(h.Path):], true), nil
		}
		if inDoc == nil && nodeAt(root.Content[0], h.typ, path[len(h.Path):], false) != nil {
			inDoc = h
		}
	}
	if inDoc == nil {
		return nil, nil, nil
	}
	return inDoc, nodeAt(inDoc.root.Content[0], inDoc.typ, path[len(inDoc.Path):], false), nil
}

// nodeAt returns the node at canonical path rel under n, a value of type
// t, matching mapping keys as [resolve] does; with create, missing
// mappings are added with canonical names, else it returns nil.
func nodeAt(n *yaml.Node, t reflect.Type, rel []string, create bool) *yaml.Node {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if len(rel) == 0 {
		return n
	}
	if n.Kind != yaml.MappingNode {
		if !create {
			return nil
		}
		*n = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	best, bestLen := -1, 0
	var bestType reflect.Type
	for i := 0; i+1 < len(n.Content); i += 2 {
		cp, ct, ok := resolve(t, keytree.Segments(n.Content[i].Value))
		if ok && len(cp) > bestLen && HasPrefix(rel, cp) {
			best, bestLen, bestType = i, len(cp), within(t, ct)
		}
	}
	if best >= 0 {
		if got := nodeAt(n.Content[best+1], bestType, rel[bestLen:], create); got != nil || !create {
			return got
		}
	}
	if !create {
		return nil
	}
	_, ct, _ := resolve(t, rel[:1])
	ct = within(t, ct)
	if ct == nil {
		ct = t
	}
	child := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	n.Content = append(n.Content, keytree.StringNode(rel[0]), child)
	return nodeAt(child, ct, rel[1:], true)
}

// removeIn removes the value at canonical path rel from n, a value of type
// t, and every mapping the removal leaves empty. It reports whether it
// removed anything.
func removeIn(n *yaml.Node, t reflect.Type, rel []string) bool {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode || len(rel) == 0 {
		return false
	}
	removed := false
	for i := 0; i+1 < len(n.Content); {
		cp, ct, ok := resolve(t, keytree.Segments(n.Content[i].Value))
		switch {
		case ok && slices.Equal(cp, rel):
			removed = true
		case ok && HasPrefix(rel, cp) && removeIn(n.Content[i+1], within(t, ct), rel[len(cp):]):
			removed = true
			if c := n.Content[i+1]; c.Kind != yaml.MappingNode || len(c.Content) > 0 {
				i += 2
				continue
			}
		default:
			i += 2
			continue
		}
		n.Content = slices.Delete(n.Content, i, i+2)
	}
	return removed
}

// Verify decodes the keys as they would be after p and refuses p unless
// they decode, validate, and read back as next.
func (d *Decoder[T]) Verify(cur Decoded[T], next T, p *WritePlan) error {
	kvs := make([]*KeyValue, 0, cur.Keys.Len()+len(p.Puts))
	for kv := range cur.Keys.All() {
		if _, put := p.Puts[kv.Key]; !put && !p.Deletes[kv.Key] {
			kvs = append(kvs, kv)
		}
	}
	for _, k := range sortedKeys(p.Puts) {
		kvs = append(kvs, &KeyValue{Key: k, Value: []byte(p.Puts[k])})
	}
	got, err := d.DecodeKeys(len(kvs), slices.Values(kvs), 0)
	if err != nil {
		return fmt.Errorf("the keys written would be rejected: %w", err)
	}
	if cmp.Equal(next, got, cmpOptions, cmpopts.EquateNaNs()) {
		return nil
	}
	// Name the field, never the values: they may be secret.
	field, how := "the value", "changed"
	if cs := Diff(&Decoded[T]{Value: next}, Decoded[T]{Value: got}, d.prefix); len(cs) > 0 {
		field, how = cs[0].Path, cs[0].Kind.String()
	}
	return fmt.Errorf("%s would not read back as written (%s after the write); "+
		"a map, slice or pointer set to nil or empty over a default cannot be written, since absent keys bring the default back",
		field, how)
}
