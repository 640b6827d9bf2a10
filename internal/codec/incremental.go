package codec

import (
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/etcdconf/etcdconf/internal/keytree"
)

// Next decodes kvs, the keys at rev, into the value to publish after prev.
// The keys that differ from prev's (found by what the two key sets share,
// see changedKeys) decide what is decoded: the value is built from prev by
// decoding only what those keys feed (see incremental), and delta, with
// incremental true, is the diff from prev, never nil. Otherwise, or where
// that cannot be done exactly, it is the full decode. Either way the value
// and the error are the full decode's: the full decode is the oracle the
// incremental paths are tested against.
//
// A value built from prev shares prev's untouched maps, slices and
// pointers. For a T with a Validate method it is deep-copied before
// Validate runs, so that nothing Validate does can reach a published
// snapshot, and its delta is nil: Validate may change fields the keys did
// not touch, so subscribers diff the published values (see changes).
func (d *Decoder[T]) Next(prev Decoded[T], kvs *KeySet, rev int64) (v T, delta []Change, incremental bool, err error) {
	if prev.Keys != nil {
		if touched := ChangedKeys(prev.Keys, kvs); fewChanged(touched, kvs) {
			if v, delta, ok := d.Incremental(prev, kvs, rev, touched); ok {
				if !HasValidate[T]() {
					if delta == nil {
						delta = []Change{}
					}
					return v, delta, true, nil
				}
				v = CopyOf(v)
				if err := Validate(&v); err != nil {
					return v, nil, false, NewError("", rev, err)
				}
				return v, nil, true, nil
			}
		}
	}
	v, err = d.DecodeSet(kvs, rev)
	return v, nil, false, err
}

// fewChanged reports whether touched, the keys that changed to make kvs,
// are few enough that decoding and diffing what they feed is cheaper than
// the whole: at most 64, or at most half the keys.
func fewChanged(touched []string, kvs *KeySet) bool {
	return len(touched) <= 64 || len(touched) <= kvs.Len()/2
}

// Incremental applies a change, the keys touched since prev, to a map T by
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
func (d *Decoder[T]) Incremental(prev Decoded[T], kvs *KeySet, rev int64, touched []string) (out T, delta []Change, ok bool) {
	t := reflect.TypeFor[T]()
	if !d.splits(prev.Keys, kvs) {
		return out, nil, false
	}
	if goType(t).Kind() == reflect.Struct {
		return d.incrementalStruct(prev, kvs, rev, touched)
	}
	pv := reflect.ValueOf(prev.Value)
	if pv.Kind() == reflect.Map && pv.IsNil() {
		return out, nil, false
	}
	// A panic rejects nothing here: the full decode runs and reports it.
	defer func() {
		if recover() != nil {
			var zero T
			out, delta, ok = zero, nil, false
		}
	}()
	e, ok := d.entries(prev.Value, prev.Keys, kvs, rev, touched)
	if !ok {
		return out, nil, false
	}
	// Old entries are taken from prev itself, which they equal, so the diff
	// compares what readers hold.
	ov, nv := reflect.ValueOf(e.oldPart), reflect.ValueOf(e.newPart)
	next, ok := applyEntries(d.takeSpare(prev, wholeValue, pv, mapLen(nv)), pv, &ov, nv)
	if !ok {
		return out, nil, false
	}
	e.oldPart = ov.Interface().(T)
	return d.finish(next, e)
}

// splits reports whether a change from the keys a to the keys b can be
// applied, or diffed, by the parts of T the changed keys feed (a map's
// entries, a struct's fields) with the full decode's result; see
// incremental.
func (d *Decoder[T]) splits(a, b *KeySet) bool {
	if d.defaults != nil || d.strict || !d.slashed || a.odd > 0 || b.odd > 0 {
		return false
	}
	switch t := goType(reflect.TypeFor[T]()); t.Kind() {
	case reflect.Map:
		return true
	case reflect.Struct:
		sch := SchemaOf(t)
		return sch.splittable && !(sch.derived && HasValidate[T]())
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
func (d *Decoder[T]) entries(old T, a, b *KeySet, rev int64, touched []string) (e mapEntries[T], ok bool) {
	segs, ok := entrySegments("", touched)
	if !ok {
		return e, false
	}
	e.oldKeys, e.newKeys = segmentKeys(a, "", segs), segmentKeys(b, "", segs)
	var err error
	if e.oldPart, e.newPart, err = d.parts(old, segs, e.oldKeys, e.newKeys, rev); err != nil {
		return e, false
	}
	return e, true
}

// Between returns the changes from base to latest, two snapshots decoded
// from their keys, as an incremental apply computes its delta: from the
// keys that differ Between them, found by what their key sets share, so
// that a subscriber catching up over many revisions compares the entries
// or fields those revisions changed rather than the whole value. It reports
// false where the full diff must run (see splits).
func (d *Decoder[T]) Between(base, latest Decoded[T], rev int64) (delta []Change, ok bool) {
	// Validate may change what no key touched: diff the published values.
	if base.Keys == nil || latest.Keys == nil || HasValidate[T]() || !d.splits(base.Keys, latest.Keys) {
		return nil, false
	}
	touched := ChangedKeys(base.Keys, latest.Keys)
	if !fewChanged(touched, latest.Keys) {
		return nil, false
	}
	defer func() {
		if recover() != nil {
			delta, ok = nil, false
		}
	}()
	if goType(reflect.TypeFor[T]()).Kind() == reflect.Struct {
		return d.betweenStruct(base, latest, rev, touched)
	}
	e, ok := d.entries(base.Value, base.Keys, latest.Keys, rev, touched)
	if !ok {
		return nil, false
	}
	// The parts' entries are replaced by the snapshots' own, so the
	// changes hold what readers hold, as the full diff's do.
	ov, nv := reflect.ValueOf(e.oldPart), reflect.ValueOf(e.newPart)
	if !fromValue(&ov, reflect.ValueOf(base.Value)) || !fromValue(&nv, reflect.ValueOf(latest.Value)) {
		return nil, false // not what the snapshots' keys decode to
	}
	e.oldPart, e.newPart = ov.Interface().(T), nv.Interface().(T)
	return d.diffParts(e.oldPart, e.newPart, e.oldKeys, e.newKeys, nil), true
}

// parts returns the entries of a map T under the touched segments segs
// before and after: before, as old, the value the old keys decoded to,
// holds them (see oldEntries), or as the old keys decode; after, as the
// new keys decode.
func (d *Decoder[T]) parts(old T, segs []string, oldKeys, newKeys []*KeyValue, rev int64) (oldPart, newPart T, err error) {
	if o, ok := oldEntriesOf[T](reflect.ValueOf(old), "", segs, oldKeys); ok {
		oldPart = o.Interface().(T)
	} else if oldPart, err = d.build(len(oldKeys), slices.Values(oldKeys), rev, false); err != nil {
		return oldPart, newPart, err
	}
	newPart, err = d.build(len(newKeys), slices.Values(newKeys), rev, false)
	return oldPart, newPart, err
}

// oldEntriesOf is oldEntries for m, a map in a value of T: where T has a
// Validate method, the value is what it published, which Validate may
// have changed, so it reports false and the old keys are decoded.
func oldEntriesOf[T any](m reflect.Value, under string, segs []string, oldKeys []*KeyValue) (reflect.Value, bool) {
	if HasValidate[T]() {
		return m, false
	}
	return oldEntries(m, under, segs, oldKeys)
}

// oldEntries returns the entries of m, a map that keys decoded to, that
// the keys oldKeys under the path prefix under (see entrySegments) fed, as
// a map of m's type: what decoding oldKeys again would give, since an
// entry decodes from the keys of its segment alone (see splits). In a map
// of structs, maps, slices or interfaces an entry is named by its segment
// (api-1, from api-1/addr or api-1.yaml); in a map of scalars (a flat
// view) by its key's path (api-1/zone), but a document's entries by what
// it holds, so it reports false where an old key is a document there.
func oldEntries(m reflect.Value, under string, segs []string, oldKeys []*KeyValue) (reflect.Value, bool) {
	mt, isMap := MapTypeOf(m.Type())
	var elem reflect.Type
	switch {
	case isMap:
		elem = mt.Go.Elem()
	case m.Kind() == reflect.Map && m.Type().Key().Kind() == reflect.String:
		elem = m.Type().Elem()
	default:
		return m, false
	}
	names := segs
	if !IsComposite(elem) {
		names = make([]string, 0, len(oldKeys))
		for _, kv := range oldKeys {
			if keytree.DocumentExt(kv.Key) != "" {
				return m, false
			}
			names = append(names, kv.Key[len(under):])
		}
	}
	out := reflect.Zero(m.Type()) // as no key decodes, until an entry is found
	if isMap {
		for _, name := range names {
			if v, ok := mt.Get(m, name); ok {
				out = mt.With(out, name, v)
			}
		}
		return out, true
	}
	k := reflect.New(m.Type().Key()).Elem()
	for _, name := range names {
		k.SetString(name)
		if v := m.MapIndex(k); v.IsValid() {
			if out.IsNil() {
				out = reflect.MakeMapWithSize(m.Type(), len(names))
			}
			out.SetMapIndex(k, v)
		}
	}
	return out, true
}

// wholeValue is the index of a map T's own spare (see decoder.spares).
const wholeValue = -1

// takeSpare returns a copy of pv, the map at index i of prev (see
// decoder.spares), to change: the spare makeSpares made, if it copies prev,
// else a new copy. The spare is the caller's from then on, used or not.
func (d *Decoder[T]) takeSpare(prev Decoded[T], i int, pv reflect.Value, extra int) reflect.Value {
	if pv.Kind() != reflect.Map {
		return pv // a Map is changed by new versions, never copied
	}
	if spare, ok := d.spares[i]; ok && d.spareOf == prev.Keys {
		delete(d.spares, i)
		return spare
	}
	if pv.IsNil() {
		return reflect.MakeMapWithSize(pv.Type(), extra)
	}
	return cloneMap(pv, extra)
}

// MakeSpares copies the maps of snap, the published value, for the next
// incremental apply to change (see takeSpare): a map T itself, or the map
// fields of a struct T that the last change applied by their entries (a
// field no change touches is shared, never copied). The watch loop calls
// it before it waits for etcd, so that the copies, the one cost of a
// change that grows with the maps, are paid while nothing is waiting for
// them rather than on the next change's path; the price is a second copy
// of the maps held meanwhile. It does nothing for a T that does not split
// (see splits), or once snap's copies are made.
func (d *Decoder[T]) MakeSpares(snap Decoded[T]) {
	if snap.Keys == nil || d.spareOf == snap.Keys || !d.splits(snap.Keys, snap.Keys) {
		return
	}
	d.spares, d.spareOf = map[int]reflect.Value{}, snap.Keys
	v := reflect.ValueOf(snap.Value)
	if v.Kind() == reflect.Map {
		if !v.IsNil() {
			d.spares[wholeValue] = cloneMap(v, 8)
		}
		return
	}
	for i := range d.hot {
		if fv := v.Field(i); !fv.IsNil() {
			d.spares[i] = cloneMap(fv, 8)
		}
	}
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

// entrySegments returns, sorted and once each, the map entries the
// touched keys under the path prefix under ("" for the whole set,
// "services/" for a map field) feed: the first path segment after it,
// without a document extension when it is the only one (api-1/addr and
// api-1.yaml feed api-1). It reports false where a key is not under it or
// is under itself.
func entrySegments(under string, touched []string) ([]string, bool) {
	var segs []string
	for _, k := range touched {
		if !strings.HasPrefix(k, under) {
			return nil, false
		}
		s := keytree.Segments(k[len(under):])
		if len(s) == 0 {
			return nil, false
		}
		seg := s[0]
		if len(s) == 1 {
			seg = strings.TrimSuffix(seg, keytree.DocumentExt(seg))
		}
		segs = append(segs, seg)
	}
	slices.Sort(segs)
	return slices.Compact(segs), true
}

// segmentKeys returns, in key order, the keys of s under the path prefix
// under and then the first path segments segs: for segment a, the key a itself, its documents (a.yaml)
// and every key under a/. With no odd key (see oddKey), these are exactly
// the keys whose path starts with that segment.
func segmentKeys(s *KeySet, under string, segs []string) []*KeyValue {
	var out []*KeyValue
	for _, seg := range segs {
		base := under + seg
		if kv, ok := s.Get(base); ok && keytree.DocumentExt(seg) == "" {
			out = append(out, kv)
		}
		for _, ext := range []string{".json", ".yaml", ".yml"} {
			if kv, ok := s.Get(base + ext); ok {
				out = append(out, kv)
			}
		}
		for kv := range s.WithPrefix(base + "/") {
			out = append(out, kv)
		}
	}
	return out
}

// diffParts is the diff a delta is: of the parts of T a change decoded
// again, as readers held them and as decoded now, with their keys for the
// changes to name; of the given fields of a struct T only, when fields is
// not nil.
func (d *Decoder[T]) diffParts(oldPart, newPart T, oldKeys, newKeys []*KeyValue, fields []*schemaField) []Change {
	o := Decoded[T]{Value: oldPart, Keys: keySetOfSlice(oldKeys)}
	n := Decoded[T]{Value: newPart, Keys: keySetOfSlice(newKeys)}
	if fields != nil {
		return diffFields(o, n, d.prefix, fields)
	}
	return Diff(&o, n, d.prefix)
}

func keySetOfSlice(kvs []*KeyValue) *KeySet {
	s := NewKeySet()
	for _, kv := range kvs {
		s.Set(kv)
	}
	return s
}

// finish returns next, the value an incremental apply built, and the diff
// of the parts it decoded again (oldPart as readers held it, newPart as
// decoded now) with their keys. next is not validated here: see next.
func (d *Decoder[T]) finish(next reflect.Value, e mapEntries[T]) (T, []Change, bool) {
	out := next.Interface().(T)
	delta := d.diffParts(e.oldPart, e.newPart, e.oldKeys, e.newKeys, nil)
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

// HasValidate reports whether *T has a Validate method.
func HasValidate[T any]() bool {
	_, ok := any(new(T)).(interface{ Validate() error })
	return ok
}
