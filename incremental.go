package etcdconf

import (
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/etcdconf/etcdconf/internal/keytree"
)

// next decodes kvs, the keys at rev, into the value to publish after prev.
// The keys that differ from prev's (found by what the two key sets share,
// see changedKeys) decide what is decoded: the value is built from prev by
// decoding only what those keys feed (see incremental), and delta, with
// incremental true, is the diff from prev. Otherwise, or where that cannot
// be done exactly, it is the full decode. Either way the value and the
// error are the full decode's: the full decode is the oracle the
// incremental paths are tested against.
func (d *decoder[T]) next(prev *Snapshot[T], kvs *keySet, rev int64) (v T, delta []Change, incremental bool, err error) {
	if prev != nil && prev.kvs != nil {
		touched := changedKeys(prev.kvs, kvs)
		if n := len(touched); n <= 64 || n <= kvs.len()/2 {
			if v, delta, ok := d.incremental(prev, kvs, rev, touched); ok {
				return v, delta, true, nil
			}
		}
	}
	v, err = d.decodeSet(kvs, rev)
	return v, nil, false, err
}

// incremental applies a change, the keys touched since prev, to a map T by
// its entries (a struct T goes to incrementalStruct). An entry
// of the map is decoded from the keys under its first path segment only
// (a map of structs: "api-1/addr", "api-1.yaml"; a flat map of scalars:
// every "api-1/..." key is an entry of its own), so the value at rev is
// prev's with the entries of the segments the touched keys fall under
// decoded again from those segments' keys, and the others shared. The
// diff comes from the same entries. It reports false, and the full decode
// runs, whenever that is not certain to equal the full decode (see
// splits): T is neither a map nor a struct split by fields, defaults or
// strict decoding are set, a key is spelled oddly (see
// oddKey), a key at the prefix itself changed, the prefix does not end in
// "/", or anything fails — a rejection is reported by the full decode.
func (d *decoder[T]) incremental(prev *Snapshot[T], kvs *keySet, rev int64, touched []string) (out T, delta []Change, ok bool) {
	t := reflect.TypeFor[T]()
	if !d.splits(prev.kvs, kvs) {
		return out, nil, false
	}
	if t.Kind() == reflect.Struct {
		return d.incrementalStruct(prev, kvs, rev, touched)
	}
	pv := reflect.ValueOf(prev.Value)
	if pv.IsNil() {
		return out, nil, false
	}
	// A panic rejects nothing here: the full decode runs and reports it.
	defer func() {
		if recover() != nil {
			var zero T
			out, delta, ok = zero, nil, false
		}
	}()
	e, ok := d.entries(prev.kvs, kvs, rev, touched)
	if !ok {
		return out, nil, false
	}
	// Old entries are taken from prev itself, which they equal, so the diff
	// compares what readers hold.
	ov, nv := reflect.ValueOf(e.oldPart), reflect.ValueOf(e.newPart)
	next := d.takeSpare(prev, pv, nv.Len())
	for it := ov.MapRange(); it.Next(); {
		ov.SetMapIndex(it.Key(), pv.MapIndex(it.Key()))
		next.SetMapIndex(it.Key(), reflect.Value{})
	}
	for it := nv.MapRange(); it.Next(); {
		next.SetMapIndex(it.Key(), it.Value())
	}
	if next.Len() == 0 {
		return out, nil, false // nil or empty is the full decode's call
	}
	return d.finish(next, e)
}

// splits reports whether a change from the keys a to the keys b can be
// applied, or diffed, by the parts of T the changed keys feed (a map's
// entries, a struct's fields) with the full decode's result; see
// incremental.
func (d *decoder[T]) splits(a, b *keySet) bool {
	if d.defaults != nil || d.strict || !strings.HasSuffix(d.prefix, "/") || a.odd > 0 || b.odd > 0 {
		return false
	}
	switch t := reflect.TypeFor[T](); t.Kind() {
	case reflect.Map:
		return true
	case reflect.Struct:
		sch := schemaOf(t)
		return sch.splittable && !(sch.derived && hasValidate[T]())
	}
	return false
}

// mapEntries are the entries of a map T that a change touched: the keys
// of their segments before and after, and those keys decoded.
type mapEntries[T any] struct {
	oldKeys, newKeys []*KeyValue
	oldPart, newPart T
}

// entries decodes the entries of a map T under the first path segments of
// touched from the keys before (a) and after (b); false where a touched
// key is at the prefix itself or the segments do not decode.
func (d *decoder[T]) entries(a, b *keySet, rev int64, touched []string) (e mapEntries[T], ok bool) {
	var segs []string
	for _, key := range touched {
		s := keytree.Segments(key[len(d.prefix):])
		if len(s) == 0 {
			return e, false
		}
		seg := s[0]
		if len(s) == 1 {
			seg = strings.TrimSuffix(seg, keytree.DocumentExt(seg))
		}
		segs = append(segs, seg)
	}
	slices.Sort(segs)
	segs = slices.Compact(segs)
	e.oldKeys, e.newKeys = d.segmentKeys(a, segs), d.segmentKeys(b, segs)
	var err error
	if e.oldPart, e.newPart, err = d.parts(e.oldKeys, e.newKeys, rev); err != nil {
		return e, false
	}
	return e, true
}

// between returns the changes from base to latest, two snapshots decoded
// from their keys, as an incremental apply computes its delta: from the
// keys that differ between them, found by what their key sets share, so
// that a subscriber catching up over many revisions compares the entries
// or fields those revisions changed rather than the whole value. It reports
// false where the full diff must run (see splits).
func (d *decoder[T]) between(base, latest *Snapshot[T]) (delta []Change, ok bool) {
	if d == nil || base == nil || base.kvs == nil || latest.kvs == nil || !d.splits(base.kvs, latest.kvs) {
		return nil, false
	}
	touched := changedKeys(base.kvs, latest.kvs)
	if n := len(touched); n > 64 && n > latest.kvs.len()/2 {
		return nil, false // as dear as the full diff
	}
	defer func() {
		if recover() != nil {
			delta, ok = nil, false
		}
	}()
	t := reflect.TypeFor[T]()
	if t.Kind() == reflect.Struct {
		fields, oldKeys, newKeys := d.touchedFields(base.kvs, latest.kvs, touched)
		var oldPart, newPart T
		bv, lv := reflect.ValueOf(base.Value), reflect.ValueOf(latest.Value)
		ov, nv := reflect.ValueOf(&oldPart).Elem(), reflect.ValueOf(&newPart).Elem()
		for _, f := range fields {
			ov.Field(f.index).Set(bv.Field(f.index))
			nv.Field(f.index).Set(lv.Field(f.index))
		}
		return diffFields(
			&Snapshot[T]{Value: oldPart, prefix: d.prefix, kvs: keySetOfSlice(oldKeys)},
			&Snapshot[T]{Value: newPart, prefix: d.prefix, kvs: keySetOfSlice(newKeys)}, fields), true
	}
	e, ok := d.entries(base.kvs, latest.kvs, latest.Revision, touched)
	if !ok {
		return nil, false
	}
	// The parts' entries are replaced by the snapshots' own, so the
	// changes hold what readers hold, as the full diff's do.
	for _, side := range []struct{ part, from reflect.Value }{
		{reflect.ValueOf(e.oldPart), reflect.ValueOf(base.Value)},
		{reflect.ValueOf(e.newPart), reflect.ValueOf(latest.Value)},
	} {
		for it := side.part.MapRange(); it.Next(); {
			v := side.from.MapIndex(it.Key())
			if !v.IsValid() {
				return nil, false // not what the snapshot's keys decode to
			}
			side.part.SetMapIndex(it.Key(), v)
		}
	}
	return diffSnapshots(
		&Snapshot[T]{Value: e.oldPart, prefix: d.prefix, kvs: keySetOfSlice(e.oldKeys)},
		&Snapshot[T]{Value: e.newPart, prefix: d.prefix, kvs: keySetOfSlice(e.newKeys)}), true
}

// parts decodes the old and new keys of the touched segments of a map T.
func (d *decoder[T]) parts(oldKeys, newKeys []*KeyValue, rev int64) (oldPart, newPart T, err error) {
	if oldPart, err = d.build(len(oldKeys), slices.Values(oldKeys), rev, false); err != nil {
		return oldPart, newPart, err
	}
	newPart, err = d.build(len(newKeys), slices.Values(newKeys), rev, false)
	return oldPart, newPart, err
}

// takeSpare returns a copy of pv, prev's map value, to change: the spare
// prepare made, if it copies prev, else a new copy. The spare is the
// caller's from then on, used or not.
func (d *decoder[T]) takeSpare(prev *Snapshot[T], pv reflect.Value, extra int) reflect.Value {
	spare, of := d.spare, d.spareOf
	d.spare, d.spareOf = reflect.Value{}, nil
	if of == prev && spare.IsValid() {
		return spare
	}
	return cloneMap(pv, extra)
}

// prepare copies the map value of snap, the published snapshot, for the
// next incremental apply to change (see takeSpare). The watch loop calls it
// before it waits for etcd, so that the copy, the one cost of a change that
// grows with the map, is paid while nothing is waiting for it rather than
// on the next change's path; the price is a second copy of the map held
// meanwhile. It does nothing for a T that is not a map, or once snap's
// copy is made.
func (d *decoder[T]) prepare(snap *Snapshot[T]) {
	if d.spareOf == snap || reflect.TypeFor[T]().Kind() != reflect.Map || snap.kvs == nil || !d.splits(snap.kvs, snap.kvs) {
		return
	}
	pv := reflect.ValueOf(snap.Value)
	if pv.IsNil() {
		return
	}
	d.spare, d.spareOf = cloneMap(pv, 8), snap
}

// cloneMap returns a copy of the map m with room for extra more entries.
// The copy is the one cost of an incremental apply that grows with the
// map: a Go map shares nothing. The flat view is copied by maps.Clone;
// other maps entry by entry through reflection, into reused values so
// that no entry allocates.
func cloneMap(m reflect.Value, extra int) reflect.Value {
	if flat, ok := m.Interface().(map[string]string); ok {
		return reflect.ValueOf(maps.Clone(flat))
	}
	t := m.Type()
	out := reflect.MakeMapWithSize(t, m.Len()+extra)
	k, e := reflect.New(t.Key()).Elem(), reflect.New(t.Elem()).Elem()
	for it := m.MapRange(); it.Next(); {
		k.SetIterKey(it)
		e.SetIterValue(it)
		out.SetMapIndex(k, e)
	}
	return out
}

// segmentKeys returns, in key order, the keys of s under the first path
// segments segs: for segment a, the key a itself, its documents (a.yaml)
// and every key under a/. With no odd key (see oddKey), these are exactly
// the keys whose path starts with that segment.
func (d *decoder[T]) segmentKeys(s *keySet, segs []string) []*KeyValue {
	var out []*KeyValue
	for _, seg := range segs {
		base := d.prefix + seg
		if kv, ok := s.get(base); ok && keytree.DocumentExt(seg) == "" {
			out = append(out, kv)
		}
		for _, ext := range []string{".json", ".yaml", ".yml"} {
			if kv, ok := s.get(base + ext); ok {
				out = append(out, kv)
			}
		}
		for kv := range s.withPrefix(base + "/") {
			out = append(out, kv)
		}
	}
	return out
}

func keySetOfSlice(kvs []*KeyValue) *keySet {
	s := newKeySet()
	for _, kv := range kvs {
		s.set(kv)
	}
	return s
}

// incrementalStruct applies a change to a struct T by its fields: a field
// is decoded from the keys whose first path segment spells it (any
// spelling: db/host and DB/port both feed DB), so the value at rev is a
// copy of prev with the fields the touched keys feed decoded again from
// their keys, and the other fields shared. A touched key that spells no
// field changes no field (unknown keys are ignored), but is decoded with
// the keys beside it, for the errors they may make. It reports false where
// that is not certain to equal the full decode: a field whose key spans
// several segments or an embedded one (mapstructure matches those itself),
// or a Validate method on a T with fields no key feeds, which Validate may
// derive from the others (an incremental copy would keep their old values
// where the full decode starts from zero).
func (d *decoder[T]) incrementalStruct(prev *Snapshot[T], kvs *keySet, rev int64, touched []string) (out T, delta []Change, ok bool) {
	defer func() {
		if recover() != nil {
			var zero T
			out, delta, ok = zero, nil, false
		}
	}()
	touchedFields, oldKeys, newKeys := d.touchedFields(prev.kvs, kvs, touched)
	vals, err := d.decodeFields(newKeys, touchedFields, rev)
	if err != nil {
		return out, nil, false
	}
	// The diff compares the touched fields alone: as readers held them
	// (prev's) and as decoded now.
	var oldPart, newPart T
	pv := reflect.ValueOf(prev.Value)
	ov, nv := reflect.ValueOf(&oldPart).Elem(), reflect.ValueOf(&newPart).Elem()
	next := reflect.New(reflect.TypeFor[T]()).Elem()
	next.Set(pv)
	for i, f := range touchedFields {
		ov.Field(f.index).Set(pv.Field(f.index))
		nv.Field(f.index).Set(vals[i])
		next.Field(f.index).Set(vals[i])
	}
	out = next.Interface().(T)
	if validate(&out) != nil {
		return out, nil, false
	}
	delta = diffFields(
		&Snapshot[T]{Value: oldPart, prefix: d.prefix, kvs: keySetOfSlice(oldKeys)},
		&Snapshot[T]{Value: newPart, prefix: d.prefix, kvs: keySetOfSlice(newKeys)}, touchedFields)
	return out, delta, true
}

// touchedFields returns the fields of a struct T that the touched keys
// feed, and the keys before (a) and after (b) of the segments they fall
// under, by the loose spelling fields match: every key that may feed a
// touched field, or collide with a touched unknown key, is among them, so
// decoding them gives the full decode's errors. Only touched keys may
// differ between a and b.
func (d *decoder[T]) touchedFields(a, b *keySet, touched []string) (fields []*schemaField, oldKeys, newKeys []*KeyValue) {
	sch := schemaOf(reflect.TypeFor[T]())
	segs := map[string]bool{}
	seen := map[*schemaField]bool{}
	for _, key := range touched {
		seg := normName(firstSegment(key[len(d.prefix):]))
		segs[seg] = true
		if f, ok := sch.byKey[seg]; ok && !seen[f] {
			seen[f] = true
			fields = append(fields, f)
		}
	}
	for kv := range b.all() {
		if segs[normName(firstSegment(kv.Key[len(d.prefix):]))] {
			newKeys = append(newKeys, kv)
		}
	}
	// The old keys of the touched segments are the new ones not touched,
	// and the touched ones a had.
	isTouched := make(map[string]bool, len(touched))
	for _, k := range touched {
		isTouched[k] = true
		if kv, ok := a.get(k); ok {
			oldKeys = append(oldKeys, kv)
		}
	}
	for _, kv := range newKeys {
		if !isTouched[kv.Key] {
			oldKeys = append(oldKeys, kv)
		}
	}
	return fields, oldKeys, newKeys
}

// finish validates next, the value an incremental apply built, and diffs
// the parts it decoded again (oldPart as readers held it, newPart as
// decoded now) with their keys. It reports false where Validate refuses:
// the full decode then reports the rejection.
func (d *decoder[T]) finish(next reflect.Value, e mapEntries[T]) (T, []Change, bool) {
	out := next.Interface().(T)
	if validate(&out) != nil {
		return out, nil, false
	}
	delta := diffSnapshots(
		&Snapshot[T]{Value: e.oldPart, prefix: d.prefix, kvs: keySetOfSlice(e.oldKeys)},
		&Snapshot[T]{Value: e.newPart, prefix: d.prefix, kvs: keySetOfSlice(e.newKeys)})
	return out, delta, true
}

// firstSegment returns the first path segment of a key relative to the
// prefix, without a document extension when it is the only one ("db.yaml"
// feeds db).
func firstSegment(rel string) string {
	if i := strings.IndexByte(rel, '/'); i >= 0 {
		return rel[:i]
	}
	return strings.TrimSuffix(rel, keytree.DocumentExt(rel))
}

// hasValidate reports whether *T has a Validate method.
func hasValidate[T any]() bool {
	_, ok := any(new(T)).(interface{ Validate() error })
	return ok
}
