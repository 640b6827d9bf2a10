package codec

import (
	"iter"
	"maps"
	"slices"
	"strings"

	"github.com/etcdconf/etcdconf/internal/keytree"
	"github.com/etcdconf/etcdconf/internal/ordmap"
)

// A KeySet is the keys of a prefix at one revision, ordered by key. Keys
// are relative to the prefix ("db/host"), as the source stored them when
// they arrived; the prefix is added back only where etcd is called and
// where the API returns a key (see Snapshot.Keys).
//
// It is a persistent ordered map (internal/ordmap): clone is O(1) and every
// change copies only the O(log keys) nodes on its path, so the watch loop's
// next state shares every node a batch did not touch with the published
// snapshot, and a batch costs O(keys changed · log keys) instead of a copy
// of every key. A KeySet held by a snapshot is never modified; the nil
// *KeySet is the empty set.
type KeySet struct {
	m ordmap.Tree[KeyValue, *KeyValue]
	// odd counts the keys spelled so that they may feed a path other
	// than the one their spelling sorts under (see oddKey): while there is
	// one, no change is applied incrementally.
	odd int
}

// OddKey reports whether key, relative to the prefix, is spelled so that
// its path is not the one its characters name: the key at the prefix
// itself (""), an empty segment ("a//b", "a/", "/a"), which the tree
// drops, or a last segment that is a bare document extension ("a/.yaml"),
// which merges into its parent.
func OddKey(key string) bool {
	if key == "" || key[0] == '/' || strings.Contains(key, "//") || strings.HasSuffix(key, "/") {
		return true
	}
	last := key[strings.LastIndexByte(key, '/')+1:]
	return last != "" && keytree.DocumentExt(last) == last
}

func NewKeySet() *KeySet { return &KeySet{} }

// KeySetOf returns the set of the keys of m.
func KeySetOf(m map[string]*KeyValue) *KeySet {
	vals := make([]KeyValue, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		vals = append(vals, *m[k])
	}
	return KeySetOfSorted(vals)
}

// KeySetOfSorted returns the set of kvs, which etcd returned in key order
// (a range is sorted by key): built in O(n), with no sort.
func KeySetOfSorted(kvs []KeyValue) *KeySet {
	if !slices.IsSortedFunc(kvs, func(a, b KeyValue) int { return strings.Compare(a.Key, b.Key) }) {
		m := make(map[string]*KeyValue, len(kvs))
		for i := range kvs {
			m[kvs[i].Key] = &kvs[i]
		}
		return KeySetOf(m) // not what etcd promises, but never a wrong set
	}
	odd := 0
	for i := range kvs {
		if OddKey(kvs[i].Key) {
			odd++
		}
	}
	return &KeySet{m: ordmap.TreeOf[KeyValue](kvs), odd: odd}
}

func (s *KeySet) Len() int {
	if s == nil {
		return 0
	}
	return s.m.Len()
}

// Get returns the key named key, if the set has it. The KeyValue is the
// set's: it must not be modified.
func (s *KeySet) Get(key string) (*KeyValue, bool) {
	if s == nil {
		return nil, false
	}
	kv := s.m.Find(key)
	return kv, kv != nil
}

// All yields every key in key order.
func (s *KeySet) All() iter.Seq[*KeyValue] {
	return func(yield func(*KeyValue) bool) {
		if s != nil {
			s.m.Ascend("", yield)
		}
	}
}

// Clone returns a copy of s that shares its nodes until either changes.
func (s *KeySet) Clone() *KeySet {
	if s == nil {
		return NewKeySet()
	}
	c := *s
	return &c
}

func (s *KeySet) Set(kv *KeyValue) {
	var replaced bool
	if s.m, _, replaced = s.m.Set(*kv); replaced && OddKey(kv.Key) {
		s.odd--
	}
	if OddKey(kv.Key) {
		s.odd++
	}
}

func (s *KeySet) Delete(key string) {
	var ok bool
	if s.m, _, ok = s.m.Delete(key); ok && OddKey(key) {
		s.odd--
	}
}

// ChangedKeys returns, sorted, the keys that differ between a and b: in
// one of them only, or in both at different mod revisions or with other
// values. Sets that share nodes (one derived from the other by the watch
// loop) cost O(changes · log keys); others a walk of both.
func ChangedKeys(a, b *KeySet) []string {
	var am, bm ordmap.Tree[KeyValue, *KeyValue]
	if a != nil {
		am = a.m
	}
	if b != nil {
		bm = b.m
	}
	var out []string
	ordmap.DiffTrees(am, bm, func(x, y *KeyValue) bool {
		return x.ModRevision == y.ModRevision && x.Value == y.Value
	}, func(k string) bool { out = append(out, k); return true })
	slices.Sort(out)
	return out
}

// A group is a run of keys under a path prefix (a relative key prefix, ""
// for the whole set) with one first path segment (seg, as spelled, a
// document's extension kept): the one key under+seg (sub false), or every
// key under under+seg+"/" (sub true).
type group struct {
	seg string
	sub bool
}

// groups yields the groups of the keys under under in key order: plain
// keys one by one, and each subtree once, seeking past it, so the cost is
// O(groups · log keys) however many keys the subtrees hold.
func (s *KeySet) groups(under string) iter.Seq[group] {
	return func(yield func(group) bool) {
		if s == nil {
			return
		}
		for from, more := under, true; more; {
			more = false
			s.m.Ascend(from, func(kv *KeyValue) bool {
				k := kv.Key
				if !strings.HasPrefix(k, under) {
					return false
				}
				rel := k[len(under):]
				i := strings.IndexByte(rel, '/')
				if i < 0 {
					return yield(group{seg: rel})
				}
				if yield(group{seg: rel[:i], sub: true}) {
					from, more = under+rel[:i]+"0", true // '0' follows '/': past the subtree
				}
				return false
			})
		}
	}
}

// groupKeys yields the keys of group g under under.
func (s *KeySet) groupKeys(under string, g group) iter.Seq[*KeyValue] {
	if g.sub {
		return s.WithPrefix(under + g.seg + "/")
	}
	return func(yield func(*KeyValue) bool) {
		if kv, ok := s.Get(under + g.seg); ok {
			yield(kv)
		}
	}
}

// WithPrefix yields, in key order, the keys that start with p.
func (s *KeySet) WithPrefix(p string) iter.Seq[*KeyValue] {
	return func(yield func(*KeyValue) bool) {
		if s == nil {
			return
		}
		s.m.Ascend(p, func(kv *KeyValue) bool {
			return strings.HasPrefix(kv.Key, p) && yield(kv)
		})
	}
}
