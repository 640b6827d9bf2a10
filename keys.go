package etcdconf

import (
	"iter"
	"strings"

	"github.com/etcdconf/etcdconf/internal/keytree"
	"github.com/google/btree"
)

// keyDegree is the B-tree's degree: nodes hold up to 2*keyDegree-1 keys.
// Measured in BenchmarkKeyState: a one-key batch at 100k keys costs about
// the same at degree 8 and 16 and grows above (each copied node is larger);
// 16 keeps the tree shallower, with fewer allocations, for lookups.
const keyDegree = 16

// A keySet is the keys of a prefix at one revision, ordered by key.
//
// It is a persistent B-tree: clone is O(1) and lazily copy-on-write, so the
// watch loop's next state shares every node a batch did not touch with the
// published snapshot, and a batch costs O(keys changed · log keys) instead
// of a copy of every key. A keySet held by a snapshot is never modified;
// the nil *keySet is the empty set.
type keySet struct {
	t *btree.BTreeG[*KeyValue]
	// odd counts the keys spelled so that they may feed a path other
	// than the one their spelling sorts under (see oddKey): while there is
	// one, no change is applied incrementally.
	odd int
}

// oddKey reports whether key is spelled so that its path is not the one
// its characters name: an empty segment ("a//b", "a/"), which the tree
// drops, or a last segment that is a bare document extension ("a/.yaml"),
// which merges into its parent.
func oddKey(key string) bool {
	if strings.Contains(key, "//") || strings.HasSuffix(key, "/") {
		return true
	}
	last := key[strings.LastIndexByte(key, '/')+1:]
	return last != "" && keytree.DocumentExt(last) == last
}

func lessKey(a, b *KeyValue) bool { return a.Key < b.Key }

func newKeySet() *keySet {
	return &keySet{t: btree.NewG(keyDegree, lessKey)}
}

// keySetOf returns the set of the keys of m.
func keySetOf(m map[string]*KeyValue) *keySet {
	s := newKeySet()
	for _, kv := range m {
		s.set(kv)
	}
	return s
}

func (s *keySet) len() int {
	if s == nil {
		return 0
	}
	return s.t.Len()
}

// get returns the key named key, if the set has it.
func (s *keySet) get(key string) (*KeyValue, bool) {
	if s == nil {
		return nil, false
	}
	return s.t.Get(&KeyValue{Key: key})
}

// all yields every key in key order.
func (s *keySet) all() iter.Seq[*KeyValue] {
	return func(yield func(*KeyValue) bool) {
		if s != nil {
			s.t.Ascend(yield)
		}
	}
}

// clone returns a copy of s that shares its nodes until either changes.
func (s *keySet) clone() *keySet {
	if s == nil {
		return newKeySet()
	}
	return &keySet{t: s.t.Clone(), odd: s.odd}
}

func (s *keySet) set(kv *KeyValue) {
	if old, ok := s.t.ReplaceOrInsert(kv); ok && oddKey(old.Key) {
		s.odd--
	}
	if oddKey(kv.Key) {
		s.odd++
	}
}

func (s *keySet) delete(key string) {
	if _, ok := s.t.Delete(&KeyValue{Key: key}); ok && oddKey(key) {
		s.odd--
	}
}

// withPrefix yields, in key order, the keys that start with p.
func (s *keySet) withPrefix(p string) iter.Seq[*KeyValue] {
	return func(yield func(*KeyValue) bool) {
		if s == nil {
			return
		}
		s.t.AscendGreaterOrEqual(&KeyValue{Key: p}, func(kv *KeyValue) bool {
			return strings.HasPrefix(kv.Key, p) && yield(kv)
		})
	}
}

// toMap returns the keys as a map from key to key.
func (s *keySet) toMap() map[string]*KeyValue {
	m := make(map[string]*KeyValue, s.len())
	for kv := range s.all() {
		m[kv.Key] = kv
	}
	return m
}
