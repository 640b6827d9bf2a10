package codec

import (
	"bytes"
	"encoding"
	"fmt"
	"go/token"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/etcdconf/etcdconf/internal/keytree"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Diff returns the field-level changes from old to new, sorted by
// path, naming the keys in full with prefix. A nil old stands for the
// zero T with no keys: every value of new that differs from the zero value
// is an Added change.
func Diff[T any](old *Decoded[T], new Decoded[T], prefix string) []Change {
	var o Decoded[T]
	if old != nil {
		o = *old
	}
	d := &differ{initial: old == nil, keys: indexKeys(o.Keys, new.Keys, prefix)}
	d.walk(reflect.ValueOf(&o.Value).Elem(), reflect.ValueOf(&new.Value).Elem())
	slices.SortFunc(d.changes, func(a, b Change) int { return strings.Compare(a.Path, b.Path) })
	return d.changes
}

// diffFields is diffValues of two values of a struct T that differ at
// most in fields: the walk visits those fields only, so a change to one
// field of a wide struct compares one field. old and new hold the keys of
// those fields only.
func diffFields[T any](old, new Decoded[T], prefix string, fields []*schemaField) []Change {
	d := &differ{keys: indexKeys(old.Keys, new.Keys, prefix)}
	x, y := reflect.ValueOf(&old.Value).Elem(), reflect.ValueOf(&new.Value).Elem()
	for _, f := range fields {
		d.push(pathStep{field: f})
		d.walk(x.Field(f.index), y.Field(f.index))
		d.pop()
	}
	slices.SortFunc(d.changes, func(a, b Change) int { return strings.Compare(a.Path, b.Path) })
	return d.changes
}

// differ walks two values of one type and collects their differences.
//
// The rules, in order:
//   - Unexported fields are ignored; nil and empty slices and maps are equal.
//   - A type with an Equal method, or one that marshals to text
//     (netip.Addr, time.Time, *regexp.Regexp), is one value, compared with
//     Equal or by its text.
//   - A pointer set or cleared is one Added or Removed change of the value
//     it points to; otherwise pointers are transparent.
//   - Structs and arrays are compared field by field, element by element.
//   - Maps are compared entry by entry: an entry present on one side only
//     is one Added or Removed change.
//   - A slice is one value while it has elements on both sides (config lists
//     read better whole); a slice going from or to empty is one Added or
//     Removed change per element. A []byte is one value always, shown as a
//     quoted string ("a\xff").
//   - With no old snapshot (initial), every change is Added.
type differ struct {
	initial bool
	keys    *keyNode
	steps   []pathStep // the path from the root to the values being compared
	changes []Change
}

// walk compares x and y, of one type; an invalid Value is a map entry or
// slice element that is absent on that side.
func (d *differ) walk(x, y reflect.Value) {
	switch {
	case !x.IsValid() && !y.IsValid():
		return
	case !x.IsValid():
		d.emit(Added, x, y)
		return
	case !y.IsValid():
		d.emit(Removed, x, y)
		return
	}
	t := x.Type()
	if mt, ok := MapTypeOf(t); ok {
		d.walkMap(mt, x, y)
		return
	}
	switch {
	case t.Kind() == reflect.Pointer:
		switch {
		case x.UnsafePointer() == y.UnsafePointer(): // nil both, or one value
		case x.IsNil():
			d.emit(Added, reflect.Value{}, y)
		case y.IsNil():
			d.emit(Removed, x, reflect.Value{})
		case opaque(t):
			if !equal(x, y) {
				d.emit(Modified, x, y)
			}
		default:
			d.walk(x.Elem(), y.Elem())
		}
	case opaque(t):
		if !equal(x, y) {
			d.emit(Modified, x, y)
		}
	case t.Kind() == reflect.Struct:
		// Fields tagged `etcd:"-"` are derived (by Validate, say), not
		// configuration: they are not compared.
		for _, f := range SchemaOf(t).written {
			d.push(pathStep{field: f})
			d.walk(x.Field(f.index), y.Field(f.index))
			d.pop()
		}
	case t.Kind() == reflect.Array:
		for i := range x.Len() {
			d.push(pathStep{elem: i})
			d.walk(x.Index(i), y.Index(i))
			d.pop()
		}
	case t.Kind() == reflect.Map:
		if x.UnsafePointer() == y.UnsafePointer() {
			return // one map: values are never changed once published
		}
		// One key and one value holder for every entry: a step's key is
		// read only while it is pushed.
		k, v := reflect.New(t.Key()).Elem(), reflect.New(t.Elem()).Elem()
		found := 0 // entries of y that x has
		for it := y.MapRange(); it.Next(); {
			k.SetIterKey(it)
			v.SetIterValue(it)
			xv := x.MapIndex(k)
			if xv.IsValid() {
				found++
			}
			d.push(pathStep{key: k})
			d.walk(xv, v)
			d.pop()
		}
		if found == x.Len() {
			return // no entry of x is missing from y
		}
		for it := x.MapRange(); it.Next(); {
			k.SetIterKey(it)
			if !y.MapIndex(k).IsValid() {
				v.SetIterValue(it)
				d.push(pathStep{key: k})
				d.walk(v, reflect.Value{})
				d.pop()
			}
		}
	case IsBytes(t): // one value, never a list of numbers
		switch {
		case bytes.Equal(x.Bytes(), y.Bytes()):
		case x.Len() == 0:
			d.emit(Added, reflect.Value{}, y)
		case y.Len() == 0:
			d.emit(Removed, x, reflect.Value{})
		default:
			d.emit(Modified, x, y)
		}
	case t.Kind() == reflect.Slice && (x.Len() == 0 || y.Len() == 0):
		for i := range max(x.Len(), y.Len()) {
			d.push(pathStep{elem: i})
			d.walk(Index(x, i), Index(y, i))
			d.pop()
		}
	default:
		if !equal(x, y) {
			d.emit(Modified, x, y)
		}
	}
}

func (d *differ) push(s pathStep) { d.steps = append(d.steps, s) }
func (d *differ) pop()            { d.steps = d.steps[:len(d.steps)-1] }

func Index(v reflect.Value, i int) reflect.Value {
	if i < v.Len() {
		return v.Index(i)
	}
	return reflect.Value{}
}

// emit records the change at the current path. Values are withheld when
// the path is secret, and rendered with secrets redacted when they hold a
// secret field.
func (d *differ) emit(kind Kind, x, y reflect.Value) {
	if d.initial {
		kind, x = Added, reflect.Value{}
	}
	c := Change{Kind: kind}
	var path strings.Builder
	for _, s := range d.steps {
		c.Secret = c.Secret || (s.field != nil && s.field.secret)
		s.write(&path)
	}
	c.Path = path.String()
	c.Keys = d.keys.lookup(d.steps)
	switch {
	case c.Secret:
	case mayHoldSecret(x) || mayHoldSecret(y):
		ot, oleak := RenderValue(x)
		nt, nleak := RenderValue(y)
		if oleak || nleak {
			c.Secret, c.OldText, c.NewText = true, ot, nt
			break
		}
		c.Old, c.New = valueOf(x), valueOf(y)
	default:
		c.Old, c.New = valueOf(x), valueOf(y)
	}
	d.changes = append(d.changes, c)
}

var textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()

// equalMethod returns t's method Equal(t) bool, as go-cmp would use it.
func equalMethod(t reflect.Type) (reflect.Method, bool) {
	m, ok := t.MethodByName("Equal")
	if !ok || m.Type.NumIn() != 2 || m.Type.NumOut() != 1 || m.Type.Out(0).Kind() != reflect.Bool ||
		!t.AssignableTo(m.Type.In(1)) {
		return reflect.Method{}, false
	}
	return m, true
}

// opaque reports whether values of t are compared and shown whole, by
// their Equal method or their text, never by their internals.
func opaque(t reflect.Type) bool {
	if _, ok := equalMethod(t); ok {
		return true
	}
	return t.Implements(textMarshaler) || (t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(textMarshaler))
}

// marshalText returns v's text, calling a pointer method on a copy if need be.
func marshalText(v reflect.Value) ([]byte, bool) {
	if !v.Type().Implements(textMarshaler) {
		p := reflect.New(v.Type())
		p.Elem().Set(v)
		v = p
	}
	if v.Kind() == reflect.Pointer && v.IsNil() {
		return nil, false
	}
	b, err := v.Interface().(encoding.TextMarshaler).MarshalText()
	return b, err == nil
}

// cmpOptions make go-cmp agree with the differ's rules for the values it
// compares whole (slices, interfaces).
var cmpOptions = cmp.Options{
	cmpopts.EquateEmpty(),
	cmp.FilterPath(func(p cmp.Path) bool {
		sf, ok := p.Last().(cmp.StructField)
		return ok && !token.IsExported(sf.Name())
	}, cmp.Ignore()),
	cmp.FilterPath(func(p cmp.Path) bool {
		t := p.Last().Type()
		_, hasEqual := equalMethod(t)
		return t != nil && !hasEqual && opaque(t)
	}, cmp.Comparer(func(x, y any) bool { return textEqual(reflect.ValueOf(x), reflect.ValueOf(y)) })),
}

// equal compares two values of one type by the differ's rules.
func equal(x, y reflect.Value) bool {
	t := x.Type()
	if m, ok := equalMethod(t); ok {
		return m.Func.Call([]reflect.Value{x, y})[0].Bool()
	}
	if opaque(t) {
		return textEqual(x, y)
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128, reflect.String:
		return x.Equal(y)
	}
	return cmp.Equal(x.Interface(), y.Interface(), cmpOptions)
}

// textEqual compares two values of an opaque type by their text.
func textEqual(x, y reflect.Value) bool {
	if x.Kind() == reflect.Pointer && (x.IsNil() || y.IsNil()) {
		return x.IsNil() == y.IsNil()
	}
	xt, ok1 := marshalText(x)
	yt, ok2 := marshalText(y)
	return ok1 && ok2 && string(xt) == string(yt)
}

func valueOf(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	if v.Kind() == reflect.Pointer && !v.IsNil() && !opaque(v.Type()) {
		return v.Elem().Interface()
	}
	return v.Interface()
}

var secretCache sync.Map // reflect.Type -> bool

// mayHoldSecret reports whether v's type can reach a secret field: it has
// one, or holds an interface that might.
func mayHoldSecret(v reflect.Value) bool {
	if !v.IsValid() {
		return false
	}
	return typeMayHoldSecret(v.Type(), map[reflect.Type]bool{})
}

func typeMayHoldSecret(t reflect.Type, seen map[reflect.Type]bool) bool {
	if b, ok := secretCache.Load(t); ok {
		return b.(bool)
	}
	if seen[t] {
		return false // a cycle: the answer is decided by the other fields
	}
	seen[t] = true
	var b bool
	switch t := goType(t); t.Kind() {
	case reflect.Interface:
		b = true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		b = typeMayHoldSecret(t.Elem(), seen)
	case reflect.Map:
		b = typeMayHoldSecret(t.Key(), seen) || typeMayHoldSecret(t.Elem(), seen)
	case reflect.Struct:
		for _, f := range SchemaOf(t).fields {
			if f.secret || typeMayHoldSecret(t.Field(f.index).Type, seen) {
				b = true
				break
			}
		}
	}
	secretCache.Store(t, b)
	return b
}

// RenderValue renders v as fmt's %+v would, except that secret fields show
// as [redacted], unexported fields are left out, and opaque values show as
// their String or text. It reports whether it redacted anything.
func RenderValue(v reflect.Value) (string, bool) {
	var p printer
	p.value(v, true)
	return p.String(), p.redacted
}

type printer struct {
	strings.Builder
	redacted bool
}

func (p *printer) value(v reflect.Value, top bool) {
	if !v.IsValid() {
		p.WriteString("nil")
		return
	}
	v = goValue(v)
	t := v.Type()
	if (t.Kind() == reflect.Pointer || t.Kind() == reflect.Interface || t.Kind() == reflect.Map || t.Kind() == reflect.Slice) && v.IsNil() {
		switch {
		case IsBytes(t):
			p.WriteString(`""`)
			return
		case t.Kind() == reflect.Map || t.Kind() == reflect.Slice:
			p.WriteString(map[bool]string{true: "map[]", false: "[]"}[t.Kind() == reflect.Map])
			return
		}
		p.WriteString("nil")
		return
	}
	if !typeMayHoldSecret(t, map[reflect.Type]bool{}) {
		if s, ok := v.Interface().(fmt.Stringer); ok {
			p.WriteString(s.String())
			return
		}
		if opaque(t) {
			if b, ok := marshalText(v); ok {
				p.Write(b)
				return
			}
		}
	}
	switch t.Kind() {
	case reflect.String:
		if top {
			p.WriteString(strconv.Quote(v.String()))
		} else {
			p.WriteString(v.String())
		}
	case reflect.Pointer, reflect.Interface:
		p.value(v.Elem(), top)
	case reflect.Struct:
		p.WriteByte('{')
		for i, f := range SchemaOf(t).fields {
			if i > 0 {
				p.WriteByte(' ')
			}
			p.WriteString(f.name + ":")
			if f.secret {
				p.WriteString("[redacted]")
				p.redacted = true
				continue
			}
			p.value(v.Field(f.index), false)
		}
		p.WriteByte('}')
	case reflect.Map:
		p.WriteString("map[")
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
		for i, k := range keys {
			if i > 0 {
				p.WriteByte(' ')
			}
			p.value(k, false)
			p.WriteByte(':')
			p.value(v.MapIndex(k), false)
		}
		p.WriteByte(']')
	case reflect.Slice, reflect.Array:
		if IsBytes(t) {
			p.WriteString(strconv.Quote(string(v.Bytes())))
			return
		}
		p.WriteByte('[')
		for i := range v.Len() {
			if i > 0 {
				p.WriteByte(' ')
			}
			p.value(v.Index(i), false)
		}
		p.WriteByte(']')
	default:
		fmt.Fprint(p, v.Interface())
	}
}

// A keyNode is one segment of the changed keys, as a tree: a change's keys
// are found by walking its path down it once, so attributing keys costs the
// path's depth plus the keys found, whatever the number of keys.
type keyNode struct {
	keys     []string // full keys whose path ends here (see indexKeys)
	children map[string]*keyNode
	byName   map[string][]*keyNode // children by normName; built on first use
}

// named returns the children whose segment names the field seg, loosely.
func (n *keyNode) named(seg string) []*keyNode {
	if n.byName == nil {
		n.byName = make(map[string][]*keyNode, len(n.children))
		for s, c := range n.children {
			n.byName[NormName(s)] = append(n.byName[NormName(s)], c)
		}
	}
	return n.byName[NormName(seg)]
}

// indexKeys returns the tree of keys that differ between two snapshots
// (see changedKeys: O(changes) for key sets that share nodes), each named
// in full under prefix, as Change.Keys names them. A document key
// (db.yaml) sits at the path it is merged at (db).
func indexKeys(old, new *KeySet, prefix string) *keyNode {
	root := &keyNode{}
	changed := ChangedKeys(old, new)
	size := 0
	for _, k := range changed {
		size += len(prefix) + len(k)
	}
	// A key from a file, the environment or the defaults is named by its
	// origin; a key of one layer before and another after, by both.
	named := func(k string, add func(string)) bool {
		var o, n *KeyValue
		if old != nil {
			o, _ = old.Get(k)
		}
		if new != nil {
			n, _ = new.Get(k)
		}
		if (o == nil || o.Origin() == "") && (n == nil || n.Origin() == "") {
			return false
		}
		for _, kv := range []*KeyValue{o, n} {
			switch {
			case kv == nil:
			case kv.Origin() != "":
				add(kv.Origin())
			default:
				add(prefix + k)
			}
		}
		return true
	}
	var b strings.Builder // the full keys, in one allocation
	b.Grow(size)
	for _, k := range changed {
		var names []string
		if !named(k, func(s string) {
			if !slices.Contains(names, s) {
				names = append(names, s)
			}
		}) {
			start := b.Len()
			b.WriteString(prefix)
			b.WriteString(k)
			names = append(names, b.String()[start:])
		}
		n := root
		for rest := k; rest != ""; { // the path's segments, as keytree.Segments
			seg := rest
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				seg, rest = rest[:i], rest[i+1:]
			} else {
				rest = ""
			}
			if seg == "" {
				continue
			}
			if strings.TrimLeft(rest, "/") == "" { // the last segment
				if seg = strings.TrimSuffix(seg, keytree.DocumentExt(seg)); seg == "" {
					break
				}
			}
			c := n.children[seg]
			if c == nil {
				c = &keyNode{}
				if n.children == nil {
					n.children = map[string]*keyNode{}
				}
				n.children[seg] = c
			}
			n = c
		}
		n.keys = append(n.keys, names...)
	}
	return root
}

// lookup returns, sorted, the keys under the path of steps and the keys
// that supplied a value at or above it (a document, or one value decoded
// into a struct). Field segments match loosely, map keys exactly.
func (root *keyNode) lookup(steps []pathStep) []string {
	var out []string
	level := []*keyNode{root}
	for _, s := range steps {
		for _, seg := range s.segs() {
			for _, n := range level {
				out = append(out, n.keys...)
			}
			var next []*keyNode
			for _, n := range level {
				if s.field != nil {
					next = append(next, n.named(seg)...)
				} else if c := n.children[seg]; c != nil {
					next = append(next, c)
				}
			}
			if level = next; len(level) == 0 {
				slices.Sort(out)
				return out
			}
		}
	}
	var all func(*keyNode)
	all = func(n *keyNode) {
		out = append(out, n.keys...)
		for _, c := range n.children {
			all(c)
		}
	}
	for _, n := range level {
		all(n)
	}
	slices.Sort(out)
	return out
}

// DiffReflect is Diff of x and y, two values of one type, with no keys to
// name; with initial, x stands for no value at all (every change of y
// from the zero value is Added).
func DiffReflect(x, y reflect.Value, initial bool) []Change {
	d := &differ{initial: initial, keys: &keyNode{}}
	d.walk(x, y)
	return d.changes
}
