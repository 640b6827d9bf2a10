package codec

import (
	"encoding"
	"errors"
	"fmt"
	"iter"
	"maps"
	"reflect"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/etcdconf/etcdconf/internal/keytree"
	"github.com/go-viper/mapstructure/v2"
)

// Decoder turns the keys of a prefix, relative to it, into a T: keys ->
// tree -> T.
type Decoder[T any] struct {
	// prefix only names keys in full where they leave the decoder: in
	// DecodeErrors (see keyError) and the Change.Keys of the deltas it
	// computes (see partSnapshots); the decoder reads relative keys only. What else it needs
	// of the prefix is said once: whether the key at the prefix itself,
	// "", is a document (prefixDoc), and whether the prefix ends in "/",
	// so that a key's first segment is its own (slashed; see splits).
	prefix    string
	prefixDoc bool
	slashed   bool
	strict    bool
	defaults  *T // deep-copied before every decode; never modified
	leaves    leafKind
	// raw: T is a struct with no field to decode (struct{}), and decoding
	// is not strict: no key feeds it, so none is parsed. A watcher of raw
	// keys (Snapshot.Keys) needs no document it holds to parse as one.
	raw bool

	// spares are copies of the maps of the value decoded from spareOf
	// (wholeValue: a map T itself; else a struct T's map field, by index),
	// made by makeSpares while the watch loop waits, that the next
	// incremental apply after that value changes in place. Equal key sets
	// decode to equal values, so the key set names the value. Only the watch loop touches them.
	spares  map[int]reflect.Value
	spareOf *KeySet
	// hot are the map fields of a struct T the last incremental apply
	// changed by their entries: the ones makeSpares copies, since a field
	// that changed is the one likely to change next.
	hot map[int]bool
}

// A Config is what decoding takes of the options: strict decoding,
// and the defaults (a T, or nil) decoding starts from.
type Config struct {
	Strict   bool
	Defaults any
}

// A Decoded is a value of T with the keys, relative to the prefix, it was
// Decoded from: what the decoder applies changes to and diffs. A zero
// Decoded (nil kvs) is no value: the zero T with no keys.
type Decoded[T any] struct {
	Value T
	Keys  *KeySet
}

func NewDecoder[T any](prefix string, o Config) (*Decoder[T], error) {
	t := reflect.TypeFor[T]()
	k := t.Kind()
	if k == reflect.Pointer {
		k = t.Elem().Kind()
	}
	switch {
	case k == reflect.Struct:
	case k == reflect.Map && t.Key().Kind() == reflect.String:
	default:
		return nil, fmt.Errorf("etcdconf: cannot decode a prefix into %v: use a struct or a map with string keys", t)
	}
	if dt := DefinedFromMap(t); dt != nil {
		return nil, fmt.Errorf("etcdconf: %v is a type defined from etcdconf.Map, which has none of its methods and would decode as an empty struct: declare it as an alias (type %s = etcdconf.Map[...])", dt, dt.Name())
	}
	d := &Decoder[T]{prefix: prefix, prefixDoc: keytree.DocumentExt(prefix) != "",
		slashed: strings.HasSuffix(prefix, "/"), strict: o.Strict}
	if o.Defaults != nil {
		v := o.Defaults.(T)
		d.defaults = &v
	}
	if d.defaults == nil && !d.strict {
		d.leaves = leavesOf(t)
	}
	if st := derefType(t); st.Kind() == reflect.Struct && len(SchemaOf(st).written) == 0 && !d.strict {
		d.raw = true
	}
	return d, nil
}

// Decode builds a T from kvs, the keys under the prefix at revision rev:
// see decodeKeys.
func (d *Decoder[T]) Decode(kvs map[string]*KeyValue, rev int64) (T, error) {
	return d.DecodeKeys(len(kvs), maps.Values(kvs), rev)
}

// DecodeSet builds a T from the keys of s at revision rev: see decodeKeys.
func (d *Decoder[T]) DecodeSet(s *KeySet, rev int64) (T, error) {
	return d.DecodeKeys(s.Len(), s.All(), rev)
}

// DecodeKeys builds a T from the n keys of kvs, the keys under the prefix
// at revision rev, and validates it. Every error is a *DecodeError naming
// rev and, when one is at fault, the key. The result depends on the keys
// only, never on their order: see [keytree.Build] and [canon] for the
// precedence rule.
func (d *Decoder[T]) DecodeKeys(n int, kvs iter.Seq[*KeyValue], rev int64) (T, error) {
	return d.build(n, kvs, rev, true)
}

// build is decodeKeys; with whole false, kvs are only some of the keys (the
// subtrees an incremental apply decodes), and the result is not validated.
// A map of leaves (see decodeLeaves) is decoded without the tree; anything
// that path cannot do exactly, errors included, takes the tree.
func (d *Decoder[T]) build(n int, kvs iter.Seq[*KeyValue], rev int64, whole bool) (out T, err error) {
	if out, ok := d.decodeLeaves(n, kvs, whole); ok {
		return out, nil
	}
	return d.DecodeTree(n, kvs, rev, whole)
}

// DecodeTree is build by the general path: the keys' tree (keytree), made
// canonical for T (canon), decoded by mapstructure.
func (d *Decoder[T]) DecodeTree(n int, kvs iter.Seq[*KeyValue], rev int64, whole bool) (out T, err error) {
	// The decoder runs on the watch loop: a panic in it (mapstructure is not
	// ours) must reject the revision, not take the process down.
	defer func() {
		if p := recover(); p != nil {
			var zero T
			out, err = zero, NewError("", rev, fmt.Errorf("decoder panicked: %v", p))
		}
	}()
	entries := make([]keytree.Entry, 0, n)
	for kv := range kvs {
		if !d.raw {
			entries = append(entries, d.entry(kv))
		}
	}
	tree, err := keytree.BuildRaw(entries) // canon refuses values that are not UTF-8 but for a []byte
	if err != nil {
		return out, d.keyError(err, rev)
	}
	c := newCanon(tree)
	root, err := c.node(tree.Root, reflect.TypeFor[T](), nil, nil)
	if err != nil {
		return out, d.keyError(err, rev)
	}
	if d.strict && len(tree.Ignored) > 0 {
		return out, NewError(d.full(tree.Ignored[0]), rev, errors.New("a key at the prefix itself matches no field"))
	}
	if d.defaults != nil {
		out = CopyOf(*d.defaults)
	}
	if reflect.TypeFor[T]().Kind() == reflect.Pointer && reflect.ValueOf(out).IsNil() {
		reflect.ValueOf(&out).Elem().Set(reflect.New(reflect.TypeFor[T]().Elem()))
	}
	var md mapstructure.Metadata
	dec, err := newMapDecoder(&out, &md, d.strict)
	if err != nil {
		return out, NewError("", rev, err)
	}
	if err := dec.Decode(root); err != nil {
		return out, d.fieldError(c, err, rev)
	}
	if d.strict && len(md.Unused) > 0 {
		key := d.keyOf(c, slices.Min(md.Unused))
		return out, NewError(d.full(key), rev, fmt.Errorf("no field of %v matches %q", reflect.TypeFor[T](), strings.TrimPrefix(key, "\x00")))
	}
	NameValues(reflect.ValueOf(&out).Elem(), "")
	if !whole {
		return out, nil
	}
	if err := Validate(&out); err != nil {
		return out, NewError("", rev, err)
	}
	return out, nil
}

// newMapDecoder returns the mapstructure decoder of every decode, into
// result, recording what it used in md.
func newMapDecoder(result any, md *mapstructure.Metadata, strict bool) (*mapstructure.Decoder, error) {
	hooks := decodeHooks[0]
	if strict {
		hooks = decodeHooks[1]
	}
	return mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook: hooks,
		ZeroFields: true,
		Metadata:   md,
		Result:     result,
		TagName:    tagName,
		MatchName:  sameName,
	})
}

// decodeHooks are the hooks of every decode, composed once (the
// composition holds no state): loose, then strict. Set by init, since
// mapHook decodes with them.
var decodeHooks [2]mapstructure.DecodeHookFunc

func init() {
	for i, strict := range []bool{false, true} {
		decodeHooks[i] = mapstructure.ComposeDecodeHookFunc(textHook, scalarHook, sliceHook, documentHook, mapHook(strict))
	}
}

// decodeFields decodes, from kvs, the given fields of a struct T, each
// into a value of its own type, as the full decode would fill them: the
// tree and its precedence rules are the full decode's, and only
// mapstructure's walk over T's fields is spared. Its errors are not the
// full decode's words; callers fall back to it on any.
func (d *Decoder[T]) decodeFields(kvs []*KeyValue, fields []*schemaField, rev int64) (vals []reflect.Value, err error) {
	defer func() {
		if p := recover(); p != nil {
			vals, err = nil, fmt.Errorf("decoder panicked: %v", p)
		}
	}()
	entries := make([]keytree.Entry, 0, len(kvs))
	for _, kv := range kvs {
		entries = append(entries, d.entry(kv))
	}
	tree, err := keytree.BuildRaw(entries) // canon refuses values that are not UTF-8 but for a []byte
	if err != nil {
		return nil, d.keyError(err, rev)
	}
	root, err := newCanon(tree).node(tree.Root, reflect.TypeFor[T](), nil, nil)
	if err != nil {
		return nil, d.keyError(err, rev)
	}
	m, _ := root.(map[string]any)
	for _, f := range fields {
		v := reflect.New(f.typ)
		if sub, ok := m[f.key]; ok {
			var md mapstructure.Metadata
			dec, err := newMapDecoder(v.Interface(), &md, false)
			if err != nil {
				return nil, err
			}
			if err := dec.Decode(sub); err != nil {
				return nil, err
			}
		}
		NameValues(v.Elem(), f.name)
		vals = append(vals, v.Elem())
	}
	return vals, nil
}

// leafKind says how decodeLeaves decodes a map T (or a Map, built as its
// Go map) whose keys are each one entry holding one scalar.
type leafKind int

const (
	noLeaves   leafKind = iota
	flatLeaves          // the flat view, map[string]string: an entry per key, named by its path ("db/host")
	textLeaves          // a map from a string kind to a type that unmarshals text: an entry per key of one segment
)

func leavesOf(t reflect.Type) leafKind {
	if mt, ok := MapTypeOf(t); ok {
		t = mt.Go // built as the Go map, then made a Map
	}
	switch {
	case t == reflect.TypeFor[map[string]string]():
		return flatLeaves
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && t.Elem() != timeType &&
		reflect.PointerTo(t.Elem()).Implements(textUnmarshaler):
		return textLeaves
	}
	return noLeaves
}

// decodeLeaves is the fast path for a map T of leaves (see leafKind), with
// no defaults and no strict decoding: each key is its entry, its value set
// or unmarshalled with no tree, no canonical form and no mapstructure, as
// the general path would. With whole, the map is validated. It reports
// false where the general path must run, which is also the path that
// reports errors (a value beside a subtree, a value that does not
// unmarshal, a Validate that fails), so that every path gives one error:
// odd spellings, documents, values that are not UTF-8, and for text
// leaves keys of more than one segment.
func (d *Decoder[T]) decodeLeaves(n int, kvs iter.Seq[*KeyValue], whole bool) (out T, ok bool) {
	if d.leaves == noLeaves {
		return out, false
	}
	// UnmarshalText and Validate are the user's: a panic there is the
	// general path's to report.
	defer func() {
		if recover() != nil {
			var zero T
			out, ok = zero, false
		}
	}()
	var m reflect.Value // the map built, of T's Go map type
	if d.leaves == flatLeaves {
		flat := make(map[string]string, n)
		for kv := range kvs {
			path := kv.Key
			if path == "" || path[0] == '/' || path[len(path)-1] == '/' || strings.Contains(path, "//") ||
				keytree.DocumentExt(path) != "" || !utf8.ValidString(kv.Value) {
				return out, false
			}
			if _, clash := flat[path]; clash {
				return out, false
			}
			flat[path] = kv.Value // shared with the key state
		}
		if hasValueAndSubtree(flat) {
			return out, false // the general path names both keys
		}
		m = reflect.ValueOf(flat)
	} else {
		t := reflect.TypeFor[T]()
		if mt, ok := MapTypeOf(t); ok {
			t = mt.Go
		}
		m = reflect.MakeMapWithSize(t, n)
		named := holdsNamed(t.Elem())
		v := reflect.New(t.Elem()) // SetMapIndex copies it
		u := v.Interface().(encoding.TextUnmarshaler)
		var text []byte // UnmarshalText's copy of each value, which it may change but not keep
		for kv := range kvs {
			path := kv.Key
			if path == "" || strings.ContainsRune(path, '/') || keytree.DocumentExt(path) != "" || !utf8.ValidString(kv.Value) {
				return out, false
			}
			v.Elem().SetZero()
			text = append(text[:0], kv.Value...)
			if err := u.UnmarshalText(text); err != nil {
				return out, false
			}
			if named {
				NameValues(v.Elem(), "["+strconv.Quote(path)+"]")
			}
			m.SetMapIndex(reflect.ValueOf(path).Convert(t.Key()), v.Elem())
		}
	}
	if mt, ok := MapTypeOf(reflect.TypeFor[T]()); ok {
		m = mt.FromGo(m)
	}
	out = m.Interface().(T)
	if whole && Validate(&out) != nil {
		return out, false
	}
	return out, true
}

// hasValueAndSubtree reports whether a flat view holds a path and a path
// under it (db beside db/host), which the layout makes an error.
func hasValueAndSubtree(m map[string]string) bool {
	for p := range m {
		for i := range len(p) {
			if _, ok := m[p[:i]]; ok && p[i] == '/' {
				return true
			}
		}
	}
	return false
}

// entry is kv, a relative key, as the tree takes it. A key not read from
// etcd is named by its origin, marked with a leading NUL (see full).
func (d *Decoder[T]) entry(kv *KeyValue) keytree.Entry {
	name := kv.Key
	if kv.Origin() != "" {
		name = "\x00" + kv.Origin()
	}
	return keytree.Entry{Key: name, Path: kv.Key, Value: kv.Value, Doc: d.prefixDoc && kv.Key == ""}
}

// full names a key of the tree as errors name it: an etcd key in full,
// one from another source by its origin (see entry).
func (d *Decoder[T]) full(name string) string {
	if o, ok := strings.CutPrefix(name, "\x00"); ok {
		return o
	}
	return d.prefix + name
}

// keyError turns an error of the tree, which names relative keys, into a
// DecodeError naming its key, and a colliding one, in full.
func (d *Decoder[T]) keyError(err error, rev int64) error {
	var te *keytree.Error
	if errors.As(err, &te) {
		cause := te.Err
		if ce, ok := cause.(*keytree.CollisionError); ok {
			full := *ce
			full.Other = d.full(ce.Other)
			cause = &full
		}
		return NewError(d.full(te.Key), rev, cause)
	}
	return NewError("", rev, err)
}

// Validate calls Validate on v (or what it points to) if it has one. A
// panic in Validate is its error, with the stack: Validate is the user's
// code, and it runs on the watcher's goroutine.
func Validate[T any](v *T) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in Validate: %v\n%s", p, debug.Stack())
		}
	}()
	if x, ok := any(v).(interface{ Validate() error }); ok {
		return x.Validate()
	}
	if x, ok := any(*v).(interface{ Validate() error }); ok && !reflect.ValueOf(v).Elem().IsZero() {
		return x.Validate()
	}
	return nil
}

// fieldError turns a mapstructure error into a DecodeError naming the key
// that supplied the value. Of several failing fields it reports the least
// by name, so the error does not depend on map order.
func (d *Decoder[T]) fieldError(c *canon, err error, rev int64) error {
	name, cause, ok := leastFieldError(err)
	if !ok {
		return NewError("", rev, err)
	}
	var pe *mapstructure.ParseError
	if errors.As(cause, &pe) && pe.Err != nil {
		cause = pe.Err
	}
	if isSecretPath(reflect.TypeFor[T](), name) {
		// The cause quotes the value: keep a secret's value out of errors and logs.
		cause = errors.New("the value does not decode (withheld: the field is secret)")
	}
	at, ok := goPathOfName(reflect.TypeFor[T](), name)
	if !ok {
		at = name
	}
	return NewError(d.full(d.keyOf(c, name)), rev, fmt.Errorf("%s: %w", at, cause))
}

// leastFieldError returns, of the field errors joined in err, the name and
// cause of the one with the least name (and text); false if there is none.
// An error decoding a Map's entries is read through (see entryError).
func leastFieldError(err error) (string, error, bool) {
	var least *mapstructure.DecodeError
	var walk func(error)
	walk = func(err error) {
		if fe, ok := err.(*mapstructure.DecodeError); ok {
			if least == nil || fe.Name() < least.Name() || (fe.Name() == least.Name() && fe.Error() < least.Error()) {
				least = fe
			}
			return
		}
		switch x := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range x.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(x.Unwrap())
		}
	}
	walk(err)
	if least == nil {
		return "", nil, false
	}
	if name, cause, ok := nestedFieldError(least.Name(), least.Unwrap()); ok {
		return name, cause, true
	}
	return least.Name(), least.Unwrap(), true
}

// isSecretPath reports whether name, a field path as mapstructure names it
// ("DB.pin", "Users[0].pin", `Groups[g1][0].pin`), runs through a field of
// t tagged secret. The path is read along t's type: a map step takes a key
// and a slice or array step an index, never a field name. A map key is
// not quoted, so one holding "]" is read every way it can be; a step that
// names no field, and a whole value, count as secret if what is there
// could hold one: an error's value is withheld whenever it might be a
// secret.
func isSecretPath(t reflect.Type, name string) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	t = goType(t)
	if name == "" { // the error is about a whole value: it may quote the secrets it holds
		return typeMayHoldSecret(t, map[reflect.Type]bool{})
	}
	switch t.Kind() {
	case reflect.Map, reflect.Slice, reflect.Array:
		if name[0] != '[' {
			return typeMayHoldSecret(t, map[reflect.Type]bool{})
		}
		for j := 1; j < len(name); j++ {
			if name[j] == ']' && isSecretPath(t.Elem(), name[j+1:]) {
				return true
			}
		}
		return false
	case reflect.Struct:
	default:
		return false
	}
	name = strings.TrimPrefix(name, ".")
	n := strings.IndexAny(name, ".[")
	if n < 0 {
		n = len(name)
	}
	part := name[:n]
	for _, f := range SchemaOf(t).fields {
		if f.name == part || f.key == part || sameName(part, f.key) {
			return f.secret || isSecretPath(f.typ, name[n:])
		}
	}
	return typeMayHoldSecret(t, map[reflect.Type]bool{})
}

// keyOf maps a mapstructure field name ("DB.Port", "Services[api-1].Addr")
// to the key, relative to the prefix, that supplied it, following the
// keys' own spelling.
func (d *Decoder[T]) keyOf(c *canon, name string) string {
	parts := splitFieldName(name)
	for n := len(parts); n > 0; n-- {
		sp, ok := c.spell[strings.Join(parts[:n], "\x00")]
		if !ok {
			continue
		}
		if k := c.tree.Origin(sp); k != "" {
			return k
		}
		return strings.Join(sp, "/")
	}
	return ""
}

// splitFieldName splits "A.B[k].C" into A, B, k, C.
func splitFieldName(name string) []string {
	var parts []string
	for _, p := range strings.Split(name, ".") {
		for {
			i := strings.IndexByte(p, '[')
			if i < 0 {
				break
			}
			if i > 0 {
				parts = append(parts, p[:i])
			}
			j := strings.IndexByte(p[i:], ']')
			if j < 0 {
				p = p[i+1:]
				continue
			}
			parts = append(parts, p[i+1:i+j])
			p = p[i+j+1:]
		}
		if p != "" {
			parts = append(parts, p)
		}
	}
	return parts
}

// IsComposite reports whether t is decoded from a subtree (a struct, map or
// slice of them) rather than from one string.
func IsComposite(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == timeType || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return false
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map, reflect.Interface:
		return true
	case reflect.Slice, reflect.Array:
		return t.Elem().Kind() != reflect.Uint8 && IsComposite(t.Elem())
	}
	return false
}

// CopyOf returns a copy of v that shares no map, slice or pointer with it.
func CopyOf[T any](v T) T {
	return DeepCopy(reflect.ValueOf(&v).Elem()).Interface().(T)
}

// DeepCopy copies v so that no map, slice or pointer is shared with it.
// A Map is immutable, so sharing it copies it, unless its values reach
// memory a copy would share: then it is built again of copies of them.
func DeepCopy(v reflect.Value) reflect.Value {
	if mt, ok := MapTypeOf(v.Type()); ok {
		if !reachesShared(mt.Go.Elem()) {
			return v
		}
		return mt.FromGo(DeepCopy(mt.ToGo(v)))
	}
	out := reflect.New(v.Type()).Elem()
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			out.Set(DeepCopy(v.Elem()).Addr())
		}
	case reflect.Map:
		if !v.IsNil() {
			out.Set(reflect.MakeMapWithSize(v.Type(), v.Len()))
			for it := v.MapRange(); it.Next(); {
				out.SetMapIndex(it.Key(), DeepCopy(it.Value()))
			}
		}
	case reflect.Slice:
		if !v.IsNil() {
			out.Set(reflect.MakeSlice(v.Type(), v.Len(), v.Len()))
			for i := range v.Len() {
				out.Index(i).Set(DeepCopy(v.Index(i)))
			}
		}
	case reflect.Struct:
		out.Set(v) // unexported fields are copied as they are
		for i := range v.NumField() {
			if out.Field(i).CanSet() {
				out.Field(i).Set(DeepCopy(v.Field(i)))
			}
		}
	case reflect.Array:
		for i := range v.Len() {
			out.Index(i).Set(DeepCopy(v.Index(i)))
		}
	default:
		out.Set(v)
	}
	return out
}

var sharers sync.Map // reflect.Type -> bool, see reachesShared

// reachesShared reports whether a value of type t can reach memory that a
// plain copy of it shares, and DeepCopy copies: through a pointer, slice,
// Go map, interface, channel or function, in an exported field, an array
// element or a Map's values. Unexported fields are copied as they are
// (time.Time's location), so they are not asked.
func reachesShared(t reflect.Type) bool {
	if v, ok := sharers.Load(t); ok {
		return v.(bool)
	}
	sharers.Store(t, true) // a recursive type reaches itself through a pointer
	var shares bool
	if mt, ok := MapTypeOf(t); ok {
		shares = reachesShared(mt.Go.Elem())
	} else {
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
			shares = true
		case reflect.Array:
			shares = reachesShared(t.Elem())
		case reflect.Struct:
			for i := range t.NumField() {
				if f := t.Field(i); f.IsExported() && reachesShared(f.Type) {
					shares = true
					break
				}
			}
		}
	}
	sharers.Store(t, shares)
	return shares
}
