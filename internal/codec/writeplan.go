package codec

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/etcdconf/etcdconf/internal/keytree"
	"github.com/etcdconf/etcdconf/internal/txn"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// A WritePlan is the puts and deletes that make etcd hold a new value of
// T, each guarded by the mod revision its key must still have (0: absent):
// every value is written where it is held now (a plain key, or inside the
// document it came from), and the plan is checked by decoding before
// anything is sent.
type WritePlan struct{ *txn.Plan }

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
		out = append(out, &HeldKey{KV: kv, prefix: prefix, ext: ext, Path: path, in: typeScope{typ}, composite: IsComposite(typ), Doc: doc})
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
		if ok && goType(vt).Kind() == reflect.Map && !IsComposite(goType(vt).Elem()) {
			return vt
		}
	}
	return typ
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
		h, err := holderOf(held, nl.path)
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
		if err := h.Set(nl.path[len(h.Path):], nil, n); err != nil {
			return nil, err
		}
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
			if !h.holds(oldL[k].path) {
				continue
			}
			if len(h.Path) == len(oldL[k].path) { // the document holds the leaf whole
				edited[h] = true
				continue
			}
			removed, err := h.Remove(oldL[k].path[len(h.Path):])
			if err != nil {
				return err
			}
			if removed {
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
		text, err := h.Text()
		if err != nil {
			return err
		}
		p.put(h.KV, text)
	}
	return nil
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
		kvs = append(kvs, &KeyValue{Key: k, Value: p.Puts[k]})
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
		"a map, slice or pointer set to nil or empty writes no key, and absent keys read back as nothing or as a default",
		field, how)
}
