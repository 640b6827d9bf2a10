package codec

import (
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/etcdconf/etcdconf/internal/keytree"
)

// Layers merge the keys of sources of different precedence into the one
// key set the decoder reads: below etcd, the leaves of the defaults and of
// files (one layer, each leaf taken from the highest source that sets it);
// above etcd, the leaves of the environment. A leaf is identified by its
// canonical path (see EncodeLeaves), never by its spelling, so max_conns in
// a file and max-conns in etcd are one leaf.
//
// The merged set holds etcd's keys as they are, but for a plain key whose
// value the environment sets; the environment's leaves as plain keys at
// their canonical paths; and the leaves below that etcd does not set, as
// plain keys at their canonical paths. A key that is not etcd's has an
// Origin. etcd "sets" a leaf when one of its keys holds the leaf, a value
// above it (a JSON value in a plain key is one leaf), or a key under it (a
// flat list's "hosts/0" sets the list). A document's leaves are the
// scalars and lists inside it, so a document and a file merge leaf by leaf
// as two documents of one prefix would not. The environment wins over a
// document's value at its path as a plain key does.
//
// Merge costs what etcd changed (O(changes · log keys)); a change of the
// layers below or above costs a walk of the keys.
type Layers struct {
	t     reflect.Type
	below map[string]*KeyValue // canonical path -> leaf, Origin set
	paths []string             // below's paths, sorted
	env   map[string]*KeyValue // canonical path -> leaf, Origin set

	// The index of etcd's keys: the canonical paths of the leaves each
	// holds, and counts of those paths and of their ancestors.
	held  map[string][]string
	exact map[string]int
	under map[string]int // strictly under the path

	etcd   *KeySet // the last etcd set merged
	merged *KeySet
}

// NewLayers returns the layers of t: below and env map canonical paths to
// leaves (see LayerLeaves); either may be nil.
func NewLayers(t reflect.Type, below, env map[string]*KeyValue) *Layers {
	l := &Layers{t: t, held: map[string][]string{}, exact: map[string]int{}, under: map[string]int{}}
	l.setBelow(below)
	l.env = env
	return l
}

func (l *Layers) setBelow(below map[string]*KeyValue) {
	l.below = below
	l.paths = slices.Sorted(maps.Keys(below))
}

// SetBelow replaces the leaves below etcd and returns the merged set of
// the etcd keys last merged (a walk of the keys).
func (l *Layers) SetBelow(below map[string]*KeyValue) *KeySet {
	l.setBelow(below)
	l.merged = nil
	return l.rebuild()
}

// Copy returns layers of the same leaves below and above etcd with no
// etcd keys merged yet: for merging a set that is never published (the
// keys a write would leave, checked before it is made).
func (l *Layers) Copy() *Layers { return NewLayers(l.t, l.below, l.env) }

// Etcd returns the etcd set last merged.
func (l *Layers) Etcd() *KeySet { return l.etcd }

// Merge returns the merged set of etcd, etcd's keys relative to the prefix,
// which must not change afterwards (the next Merge compares it with the
// next set, sharing nodes: see ChangedKeys).
func (l *Layers) Merge(etcd *KeySet) *KeySet {
	if etcd == nil {
		etcd = NewKeySet()
	}
	if l.merged == nil {
		for kv := range etcd.All() {
			l.index(kv.Key, kv)
		}
		l.etcd = etcd
		return l.rebuild()
	}
	changed := ChangedKeys(l.etcd, etcd)
	touched := map[string]bool{}
	for _, k := range changed {
		for _, p := range l.held[k] {
			touched[p] = true
		}
		l.unindex(k)
		if kv, ok := etcd.Get(k); ok {
			for _, p := range l.index(k, kv) {
				touched[p] = true
			}
		}
	}
	m := l.merged.Clone()
	for _, k := range changed { // etcd's deletions first: a leaf below may take the key's place
		if _, ok := etcd.Get(k); !ok {
			if old, ok := m.Get(k); ok && old.Origin() == "" {
				m.Delete(k)
			}
		}
	}
	for _, p := range l.belowNear(touched) {
		leaf := l.below[p]
		cur, ok := m.Get(p)
		switch want := l.shows(p); {
		case want && (!ok || *cur != *leaf):
			m.Set(leaf)
		case !want && ok && *cur == *leaf:
			m.Delete(p)
		}
	}
	for _, k := range changed {
		if kv, ok := etcd.Get(k); ok && !l.shadowed(k) {
			m.Set(kv)
		} else if cur, ok := m.Get(k); ok && cur.Origin() == "" {
			m.Delete(k)
		}
	}
	l.etcd, l.merged = etcd, m
	return m
}

// rebuild merges l.etcd, indexed, from scratch.
func (l *Layers) rebuild() *KeySet {
	var kvs []*KeyValue
	if l.etcd != nil {
		for kv := range l.etcd.All() {
			if !l.shadowed(kv.Key) {
				kvs = append(kvs, kv)
			}
		}
	}
	have := map[string]bool{}
	for _, kv := range kvs {
		have[kv.Key] = true
	}
	for _, p := range slices.Sorted(maps.Keys(l.env)) {
		if !have[p] {
			kvs = append(kvs, l.env[p])
		}
	}
	for _, p := range l.paths {
		if l.shows(p) && !have[p] {
			kvs = append(kvs, l.below[p])
		}
	}
	m := NewKeySet()
	for _, kv := range kvs {
		m.Set(kv)
	}
	l.merged = m
	return m
}

// index records the leaves etcd's key k holds, and returns their paths.
func (l *Layers) index(k string, kv *KeyValue) []string {
	ps := LeafPaths(l.t, kv)
	if len(ps) == 0 {
		return nil
	}
	l.held[k] = ps
	for _, p := range ps {
		l.exact[p]++
		for a := range ancestors(p) {
			l.under[a]++
		}
	}
	return ps
}

func (l *Layers) unindex(k string) {
	for _, p := range l.held[k] {
		if l.exact[p]--; l.exact[p] == 0 {
			delete(l.exact, p)
		}
		for a := range ancestors(p) {
			if l.under[a]--; l.under[a] == 0 {
				delete(l.under, a)
			}
		}
	}
	delete(l.held, k)
}

// ancestors yields the proper ancestors of canonical path p, nearest
// first.
func ancestors(p string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for i := strings.LastIndexByte(p, '/'); i > 0; i = strings.LastIndexByte(p[:i], '/') {
			if !yield(p[:i]) {
				return
			}
		}
	}
}

// etcdSets reports whether etcd sets the leaf at p: a key holds it, a
// value above it, or keys under it.
func (l *Layers) etcdSets(p string) bool {
	if l.exact[p] > 0 || l.under[p] > 0 {
		return true
	}
	for a := range ancestors(p) {
		if l.exact[a] > 0 {
			return true
		}
	}
	return false
}

// envSets reports whether the environment sets p or a value above it.
func (l *Layers) envSets(p string) bool {
	if l.env == nil {
		return false
	}
	if _, ok := l.env[p]; ok {
		return true
	}
	for a := range ancestors(p) {
		if _, ok := l.env[a]; ok {
			return true
		}
	}
	return false
}

// shows reports whether the leaf below at p is in the merged set.
func (l *Layers) shows(p string) bool { return !l.etcdSets(p) && !l.envSets(p) }

// shadowed reports whether etcd's key k is left out of the merged set: a
// plain key every leaf of which the environment sets.
func (l *Layers) shadowed(k string) bool {
	ps := l.held[k]
	if len(l.env) == 0 || len(ps) == 0 || keytree.DocumentExt(k) != "" || k == "" {
		return false
	}
	for _, p := range ps {
		if !l.envSets(p) {
			return false
		}
	}
	return true
}

// belowNear returns, sorted, the paths of leaves below at, under or above
// a touched path: those whose place in the merged set a change of etcd at
// the touched paths may change.
func (l *Layers) belowNear(touched map[string]bool) []string {
	if len(l.paths) == 0 {
		return nil
	}
	out := map[string]bool{}
	for p := range touched {
		if _, ok := l.below[p]; ok {
			out[p] = true
		}
		for a := range ancestors(p) {
			if _, ok := l.below[a]; ok {
				out[a] = true
			}
		}
		i, _ := slices.BinarySearch(l.paths, p+"/")
		for ; i < len(l.paths) && strings.HasPrefix(l.paths[i], p+"/"); i++ {
			out[l.paths[i]] = true
		}
	}
	return slices.Sorted(maps.Keys(out))
}

// LeafPaths returns the canonical paths of the leaves kv, a key relative
// to the prefix, holds in a t: its own path for a plain key; for a
// document, the paths of the scalars and lists inside it. A key that holds
// no field of t holds none, as does a document that does not parse (the
// decoder names it).
func LeafPaths(t reflect.Type, kv *KeyValue) []string {
	segs := keytree.Segments(kv.Key)
	doc := kv.Key == "" // the prefix itself: only a document is read there
	if n := len(segs); n > 0 {
		if ext := keytree.DocumentExt(segs[n-1]); ext != "" {
			doc = true
			if segs[n-1] = strings.TrimSuffix(segs[n-1], ext); segs[n-1] == "" {
				segs = segs[:n-1]
			}
		}
	}
	if !doc {
		p, _, ok := resolve(t, segs)
		if !ok {
			return nil
		}
		return []string{strings.Join(p, "/")}
	}
	v, _, err := keytree.ParseDocument([]byte(kv.Value))
	if err != nil {
		return nil
	}
	var out []string
	var walk func(v any, at []string)
	walk = func(v any, at []string) {
		if m, ok := v.(map[string]any); ok && len(m) > 0 {
			if _, vt, ok := resolve(t, at); ok && len(at) > 0 && !IsComposite(derefType(vt)) {
				out = append(out, leafPath(t, at)...) // a mapping where a scalar goes: one value
				return
			}
			for _, k := range slices.Sorted(maps.Keys(m)) {
				walk(m[k], append(slices.Clip(at), keytree.Segments(k)...))
			}
			return
		}
		out = append(out, leafPath(t, at)...)
	}
	walk(v, segs)
	return out
}

func leafPath(t reflect.Type, segs []string) []string {
	if p, _, ok := resolve(t, segs); ok && len(p) > 0 {
		return []string{strings.Join(p, "/")}
	}
	return nil
}

func derefType(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return goType(t)
}

// LayerLeaves returns the leaves of v, decoded from kvs (keys relative to
// the prefix), that kvs set (see LeafPaths): a leaf a key holds, every leaf
// under a value a key holds whole, and a leaf keys under it make up (a
// flat list). Each is a plain key at its canonical path holding the text a
// plain key holds for it, with the Origin origin gives the key that sets
// it.
func LayerLeaves[T any](v T, kvs *KeySet, origin func(*KeyValue) string) (map[string]*KeyValue, error) {
	all := map[string]Leaf{}
	if err := EncodeLeaves(reflect.ValueOf(&v).Elem(), nil, "", all); err != nil {
		return nil, err
	}
	t := reflect.TypeFor[T]()
	set := map[string]*KeyValue{}   // leaf paths the keys set
	under := map[string]*KeyValue{} // their proper ancestors
	for kv := range kvs.All() {
		for _, p := range LeafPaths(t, kv) {
			set[p] = kv
			for a := range ancestors(p) {
				under[a] = kv
			}
		}
	}
	out := map[string]*KeyValue{}
	for _, p := range slices.Sorted(maps.Keys(all)) {
		by := set[p]
		if by == nil {
			by = under[p]
		}
		for a := range ancestors(p) {
			if by != nil {
				break
			}
			by = set[a]
		}
		if by == nil {
			continue
		}
		leaf := all[p]
		text, err := LeafText(leaf.V, leaf.Field)
		if err != nil {
			return nil, err
		}
		out[p] = KeyValue{Key: p, Value: text}.WithOrigin(origin(by))
	}
	return out, nil
}

// DefaultLeaves returns the leaves of v that differ from the zero T's, as
// plain keys at their canonical paths with Origin "default".
func DefaultLeaves[T any](v T) (map[string]*KeyValue, error) {
	all, zero := map[string]Leaf{}, map[string]Leaf{}
	if err := EncodeLeaves(reflect.ValueOf(&v).Elem(), nil, "", all); err != nil {
		return nil, err
	}
	var z T
	_ = EncodeLeaves(reflect.ValueOf(&z).Elem(), nil, "", zero)
	out := map[string]*KeyValue{}
	for p, leaf := range all {
		text, err := LeafText(leaf.V, leaf.Field)
		if err != nil {
			return nil, err
		}
		if zl, ok := zero[p]; ok {
			if zt, err := LeafText(zl.V, zl.Field); err == nil && zt == text {
				continue
			}
		}
		out[p] = KeyValue{Key: p, Value: text}.WithOrigin("default")
	}
	return out, nil
}

// SourceOf returns the key of kvs (a merged set) that sets the leaf at
// canonical path p in a t: one holding it, a value above it, or a key
// under it; nil if none does.
func SourceOf(t reflect.Type, kvs *KeySet, p string) *KeyValue {
	var above, below *KeyValue
	for kv := range kvs.All() {
		for _, q := range LeafPaths(t, kv) {
			switch {
			case q == p:
				return kv
			case strings.HasPrefix(p, q+"/"):
				above = kv
			case strings.HasPrefix(q, p+"/") && below == nil:
				below = kv
			}
		}
	}
	if above != nil {
		return above
	}
	return below
}

// A StructLeaf is a struct field of a type that is not itself a struct:
// what one environment variable can set.
type StructLeaf struct {
	Key    string // canonical key path
	GoPath string
}

// StructLeaves returns the struct fields of t, nested structs' included,
// that are not structs, in field order: the fields the environment can
// set. Map entries are not among them.
func StructLeaves(t reflect.Type) []StructLeaf {
	var out []StructLeaf
	var walk func(t reflect.Type, key []string, goPath string, seen map[reflect.Type]bool)
	walk = func(t reflect.Type, key []string, goPath string, seen map[reflect.Type]bool) {
		t = derefType(t)
		if t.Kind() != reflect.Struct || !IsComposite(t) || seen[t] {
			if len(key) > 0 {
				out = append(out, StructLeaf{Key: strings.Join(key, "/"), GoPath: goPath})
			}
			return
		}
		seen[t] = true
		for _, f := range SchemaOf(t).written {
			walk(f.typ, append(slices.Clip(key), f.canon), JoinPath(goPath, f.name), seen)
		}
		delete(seen, t)
	}
	walk(t, nil, "", map[reflect.Type]bool{})
	return out
}

// GoPathOfKey returns the Go path of what key, relative to the prefix,
// holds in a t ("Labels[\"a\"]"), or the key itself where it holds no
// field.
func GoPathOfKey(t reflect.Type, key string) string {
	if p, ok := goPathOf(t, keytree.Segments(key)); ok && p != "" {
		return p
	}
	return key
}
