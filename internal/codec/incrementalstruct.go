package codec

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/etcdconf/etcdconf/internal/keytree"
)

// A structPlan is what a change to a struct T touched: fields decoded
// whole, map fields applied by their entries, and the keys decoded whole
// (of those fields and of touched segments that spell no field), before
// and after.
type structPlan struct {
	whole            []*schemaField
	byEntry          []*fieldEntries
	oldKeys, newKeys []*KeyValue
}

// fieldEntries is a map field of a struct T applied by its entries: the
// keys of the touched entries before and after, and those keys decoded.
type fieldEntries struct {
	f                *schemaField
	under            string   // the field's keys' path prefix: services/
	segs             []string // the touched entries' segments under it
	oldKeys, newKeys []*KeyValue
	oldPart, newPart reflect.Value
}

// LooseEqual reports whether normName(seg) == n, n a normName, without
// building the name: the scan of a struct's keys asks it of every group.
func LooseEqual(seg, n string) bool {
	j := 0
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		switch {
		case c == '-' || c == '_':
			continue
		case c >= utf8.RuneSelf:
			return NormName(seg) == n
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if j >= len(n) || n[j] != c {
			return false
		}
		j++
	}
	return j == len(n)
}

// fields returns every field the plan touches.
func (p *structPlan) fields() []*schemaField {
	fs := slices.Clone(p.whole)
	for _, e := range p.byEntry {
		fs = append(fs, e.f)
	}
	return fs
}

// keys returns the keys the plan decodes, before and after.
func (p *structPlan) keys() (old, new []*KeyValue) {
	old, new = slices.Clone(p.oldKeys), slices.Clone(p.newKeys)
	for _, e := range p.byEntry {
		old, new = append(old, e.oldKeys...), append(new, e.newKeys...)
	}
	return old, new
}

// planStruct finds what the touched keys, which differ between the key
// sets a and b, feed in a struct T. A field is fed by the keys whose first
// path segment spells it, loosely (db/host and DB/port both feed DB); a
// touched key that spells no field changes none, but is decoded with the
// keys beside it for the errors they may make, so every key that may feed
// a touched field, or collide with a touched unknown key, is decoded. The
// segments are found by seeking from one group of keys to the next, so a
// change costs the fields' groups, not the keys under them. A map field
// is applied by its entries where entryKeys allows, unless whole names it.
func (d *Decoder[T]) planStruct(a, b *KeySet, touched []string, whole map[*schemaField]bool) *structPlan {
	sch := SchemaOf(reflect.TypeFor[T]())
	names := map[string][]string{} // a touched segment's loose name -> its touched keys
	for _, k := range touched {
		n := NormName(firstSegment(k))
		names[n] = append(names[n], k)
	}
	// The groups after, by a scan of b's groups; the groups before, from
	// them and the touched keys' own, since only touched keys differ.
	newG := map[string][]group{}
	for g := range b.groups("") {
		seg := g.seg
		if !g.sub {
			seg = strings.TrimSuffix(seg, keytree.DocumentExt(seg))
		}
		for n := range names {
			if LooseEqual(seg, n) {
				newG[n] = append(newG[n], g)
			}
		}
	}
	oldG := map[string][]group{}
	for n, keys := range names {
		seen := map[group]bool{}
		candidates := slices.Clone(newG[n])
		for _, k := range keys {
			if i := strings.IndexByte(k, '/'); i >= 0 {
				candidates = append(candidates, group{seg: k[:i], sub: true})
			} else {
				candidates = append(candidates, group{seg: k})
			}
		}
		for _, g := range candidates {
			if seen[g] {
				continue
			}
			seen[g] = true
			for range a.groupKeys("", g) {
				oldG[n] = append(oldG[n], g)
				break
			}
		}
	}
	p := &structPlan{}
	for _, n := range slices.Sorted(maps.Keys(names)) {
		f := sch.byKey[n]
		if f != nil {
			if e, ok := d.entryKeys(f, a, b, append(oldG[n], newG[n]...), names[n]); ok && !whole[f] {
				p.byEntry = append(p.byEntry, e)
				continue
			}
			p.whole = append(p.whole, f)
		}
		for _, g := range oldG[n] {
			p.oldKeys = slices.AppendSeq(p.oldKeys, a.groupKeys("", g))
		}
		for _, g := range newG[n] {
			p.newKeys = slices.AppendSeq(p.newKeys, b.groupKeys("", g))
		}
	}
	return p
}

// entryKeys reports whether f, a field of a struct T, can be applied by
// its entries, as incremental applies a map T: f is a map with string
// keys, and its keys before and after (in groups gs) are one subtree under
// one spelling, services/..., with no key at the field itself (services,
// or the document services.yaml, which may set any entry) and no second
// spelling (mapstructure merges those). Then the entries under the next
// path segment of the touched keys (services/api-1/addr and
// services/api-1.yaml feed Services["api-1"]) are the ones to decode
// again, and their keys are returned.
func (d *Decoder[T]) entryKeys(f *schemaField, a, b *KeySet, gs []group, touched []string) (*fieldEntries, bool) {
	if ft := goType(f.typ); ft.Kind() != reflect.Map || ft.Key().Kind() != reflect.String || len(gs) == 0 {
		return nil, false
	}
	for _, g := range gs {
		if !g.sub || g != gs[0] {
			return nil, false
		}
	}
	under := gs[0].seg + "/"
	entries, ok := entrySegments(under, touched)
	if !ok {
		return nil, false
	}
	return &fieldEntries{f: f, under: under, segs: entries, oldKeys: segmentKeys(a, under, entries), newKeys: segmentKeys(b, under, entries)}, true
}

// decodeEntries finds the touched entries of e's field before and after:
// maps of those entries alone, taken from old, the field as the old keys
// decoded it (see oldEntriesOf), or decoded from the old keys; decoded
// from the new keys.
func (d *Decoder[T]) decodeEntries(e *fieldEntries, old reflect.Value, rev int64) bool {
	if o, ok := oldEntriesOf[T](old, e.under, e.segs, e.oldKeys); ok {
		e.oldPart = o
	} else {
		o, err := d.decodeFields(e.oldKeys, []*schemaField{e.f}, rev)
		if err != nil {
			return false
		}
		e.oldPart = o[0]
	}
	n, err := d.decodeFields(e.newKeys, []*schemaField{e.f}, rev)
	if err != nil {
		return false
	}
	e.newPart = n[0]
	return true
}

// incrementalStruct applies a change to a struct T by its fields (see
// planStruct): the value at rev is a copy of prev with the touched fields
// decoded again from their keys, a map field's touched entries alone
// where its keys allow (see entryKeys), and the rest shared. The diff
// compares the touched fields, and of a map field the touched entries,
// alone. It reports false where that is not certain to equal the full
// decode; see splits for the types that never split.
func (d *Decoder[T]) incrementalStruct(prev Decoded[T], kvs *KeySet, rev int64, touched []string) (out T, delta []Change, ok bool) {
	defer func() {
		if recover() != nil {
			var zero T
			out, delta, ok = zero, nil, false
		}
	}()
	pv := reflect.ValueOf(prev.Value)
	// A map field whose entries cannot be applied (they would leave it
	// empty, or do not decode alone) is planned again to be decoded whole.
	p := d.planStruct(prev.Keys, kvs, touched, nil)
	applied := map[*schemaField]reflect.Value{}
	var whole map[*schemaField]bool
	for _, e := range p.byEntry {
		if fv := pv.Field(e.f.index); d.decodeEntries(e, fv, rev) {
			if m, ok := applyEntries(d.takeSpare(prev, e.f.index, fv, mapLen(e.newPart)), fv, &e.oldPart, e.newPart); ok {
				applied[e.f] = m
				continue
			}
		}
		if whole == nil {
			whole = map[*schemaField]bool{}
		}
		whole[e.f] = true
	}
	if whole != nil {
		p = d.planStruct(prev.Keys, kvs, touched, whole)
	}
	vals, err := d.decodeFields(p.newKeys, p.whole, rev)
	if err != nil {
		return out, nil, false
	}
	// The parts hold the touched fields as readers held them (prev's) and
	// as decoded now.
	var oldPart, newPart T
	ov, nv := reflect.ValueOf(&oldPart).Elem(), reflect.ValueOf(&newPart).Elem()
	next := reflect.New(reflect.TypeFor[T]()).Elem()
	next.Set(pv)
	for i, f := range p.whole {
		ov.Field(f.index).Set(pv.Field(f.index))
		nv.Field(f.index).Set(vals[i])
		next.Field(f.index).Set(vals[i])
	}
	for _, e := range p.byEntry {
		ov.Field(e.f.index).Set(e.oldPart)
		nv.Field(e.f.index).Set(e.newPart)
		next.Field(e.f.index).Set(applied[e.f])
	}
	out = next.Interface().(T)
	d.hot = map[int]bool{}
	for _, e := range p.byEntry {
		if e.f.typ.Kind() == reflect.Map { // a Map needs no spare
			d.hot[e.f.index] = true
		}
	}
	oldKeys, newKeys := p.keys()
	return out, d.diffParts(oldPart, newPart, oldKeys, newKeys, p.fields()), true
}

// applyEntries changes next, a copy of the map pv, to be pv without the
// entries of oldPart and with those of newPart, and sets oldPart's entries
// to pv's own, which they equal, so a diff compares what readers hold. It
// reports false where pv lacks an entry oldPart has (not what pv's keys
// decode to) or the result is empty (nil or empty is the full decode's
// call).
func applyEntries(next, pv reflect.Value, oldPart *reflect.Value, newPart reflect.Value) (reflect.Value, bool) {
	if !fromValue(oldPart, pv) {
		return next, false
	}
	if mt, ok := MapTypeOf(pv.Type()); ok {
		return applyMapEntries(mt, pv, *oldPart, newPart)
	}
	for it := oldPart.MapRange(); it.Next(); {
		next.SetMapIndex(it.Key(), reflect.Value{})
	}
	for it := newPart.MapRange(); it.Next(); {
		next.SetMapIndex(it.Key(), it.Value())
	}
	return next, next.Len() > 0
}

// betweenStruct is between for a struct T: the touched fields, and of a
// map field applied by entries the touched entries, as base and latest
// hold them.
func (d *Decoder[T]) betweenStruct(base, latest Decoded[T], rev int64, touched []string) ([]Change, bool) {
	p := d.planStruct(base.Keys, latest.Keys, touched, nil)
	var oldPart, newPart T
	bv, lv := reflect.ValueOf(base.Value), reflect.ValueOf(latest.Value)
	ov, nv := reflect.ValueOf(&oldPart).Elem(), reflect.ValueOf(&newPart).Elem()
	for _, f := range p.whole {
		ov.Field(f.index).Set(bv.Field(f.index))
		nv.Field(f.index).Set(lv.Field(f.index))
	}
	for _, e := range p.byEntry {
		if !d.decodeEntries(e, bv.Field(e.f.index), rev) ||
			!fromValue(&e.oldPart, bv.Field(e.f.index)) || !fromValue(&e.newPart, lv.Field(e.f.index)) {
			return nil, false
		}
		ov.Field(e.f.index).Set(e.oldPart)
		nv.Field(e.f.index).Set(e.newPart)
	}
	oldKeys, newKeys := p.keys()
	return d.diffParts(oldPart, newPart, oldKeys, newKeys, p.fields()), true
}

// fromValue replaces the entries of the map part by those of the map
// from, and reports false where from lacks one. A Map part is replaced by
// a new version.
func fromValue(part *reflect.Value, from reflect.Value) bool {
	if mt, ok := MapTypeOf(part.Type()); ok {
		return fromMapValue(mt, part, from)
	}
	for it := part.MapRange(); it.Next(); {
		v := from.MapIndex(it.Key())
		if !v.IsValid() {
			return false
		}
		part.SetMapIndex(it.Key(), v)
	}
	return true
}
