// Package ordmap is a persistent ordered map from string keys: every
// change returns a new map that shares all it did not touch with the old
// one, which stays as it was. Copying a map is copying a pointer; a change
// costs O(log n) new nodes. It is a treap whose priorities are a hash of the
// key, so a set of keys has one shape, whatever the order of changes.
package ordmap

import "hash/maphash"

// A Map is an immutable ordered map; the zero Map is empty and ready.
type Map[V any] struct {
	root *node[V]
	n    int
}

type node[V any] struct {
	key         string
	val         V
	prio        uint64
	left, right *node[V]
}

var seed = maphash.MakeSeed()

func prio(key string) uint64 { return maphash.String(seed, key) }

// Len returns the number of keys.
func (m Map[V]) Len() int { return m.n }

// Get returns the value at key, and whether there is one.
func (m Map[V]) Get(key string) (V, bool) {
	for n := m.root; n != nil; {
		switch {
		case key < n.key:
			n = n.left
		case key > n.key:
			n = n.right
		default:
			return n.val, true
		}
	}
	var zero V
	return zero, false
}

// Set returns m with key set to val, the value it replaced, and whether
// there was one.
func (m Map[V]) Set(key string, val V) (Map[V], V, bool) {
	root, old, replaced := insert(m.root, key, val, prio(key))
	n := m.n
	if !replaced {
		n++
	}
	return Map[V]{root: root, n: n}, old, replaced
}

func insert[V any](n *node[V], key string, val V, p uint64) (*node[V], V, bool) {
	if n == nil {
		var zero V
		return &node[V]{key: key, val: val, prio: p}, zero, false
	}
	c := *n // path copy: n stays as it was
	var old V
	var replaced bool
	switch {
	case key < n.key:
		c.left, old, replaced = insert(n.left, key, val, p)
		if c.left.prio > c.prio { // rotate right; both nodes are fresh copies
			l := c.left
			c.left, l.right = l.right, &c
			return l, old, replaced
		}
	case key > n.key:
		c.right, old, replaced = insert(n.right, key, val, p)
		if c.right.prio > c.prio { // rotate left
			r := c.right
			c.right, r.left = r.left, &c
			return r, old, replaced
		}
	default:
		old, replaced = n.val, true
		c.val = val
	}
	return &c, old, replaced
}

// Delete returns m without key, the value it held, and whether it was
// there.
func (m Map[V]) Delete(key string) (Map[V], V, bool) {
	root, old, ok := remove(m.root, key)
	if !ok {
		return m, old, false
	}
	return Map[V]{root: root, n: m.n - 1}, old, true
}

func remove[V any](n *node[V], key string) (*node[V], V, bool) {
	var zero V
	if n == nil {
		return nil, zero, false
	}
	switch {
	case key < n.key:
		l, old, ok := remove(n.left, key)
		if !ok {
			return n, zero, false
		}
		c := *n
		c.left = l
		return &c, old, true
	case key > n.key:
		r, old, ok := remove(n.right, key)
		if !ok {
			return n, zero, false
		}
		c := *n
		c.right = r
		return &c, old, true
	}
	return join(n.left, n.right), n.val, true
}

// join joins two treaps whose keys are all below (a) and above (b) each
// other, copying the nodes along the seam.
func join[V any](a, b *node[V]) *node[V] {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case a.prio > b.prio:
		c := *a
		c.right = join(a.right, b)
		return &c
	}
	c := *b
	c.left = join(a, b.left)
	return &c
}

// Ascend calls yield for each key at or above from, in order, until it
// returns false.
func (m Map[V]) Ascend(from string, yield func(key string, val V) bool) {
	ascend(m.root, from, yield)
}

func ascend[V any](n *node[V], from string, yield func(string, V) bool) bool {
	for n != nil {
		if n.key < from {
			n = n.right
			continue
		}
		if !ascend(n.left, from, yield) || !yield(n.key, n.val) {
			return false
		}
		from, n = "", n.right // everything to the right is above from
	}
	return true
}

// FromSorted builds a map of keys, which must be sorted and distinct,
// with vals, in O(n): what a load of a whole prefix needs.
func FromSorted[V any](keys []string, vals []V) Map[V] {
	// The Cartesian tree of the keys by priority, built left to right with
	// the stack of the rightmost path.
	var stack []*node[V]
	for i, k := range keys {
		n := &node[V]{key: k, val: vals[i], prio: prio(k)}
		var last *node[V]
		for len(stack) > 0 && stack[len(stack)-1].prio < n.prio {
			last = stack[len(stack)-1]
			stack = stack[:len(stack)-1]
		}
		n.left = last
		if len(stack) > 0 {
			stack[len(stack)-1].right = n
		}
		stack = append(stack, n)
	}
	if len(stack) == 0 {
		return Map[V]{}
	}
	return Map[V]{root: stack[0], n: len(keys)}
}

// Diff calls yield with every key whose value differs between a and b: a
// key in one of them only, or in both with values same reports unequal.
// Keys come in no particular order, until yield returns false. Subtrees
// that a and b share (one derived from the other by changes) are skipped
// whole, so the cost is O(changes · log n) for maps that share all else.
func Diff[V any](a, b Map[V], same func(x, y V) bool, yield func(key string) bool) {
	diff(a.root, b.root, same, yield)
}

func diff[V any](a, b *node[V], same func(x, y V) bool, yield func(string) bool) bool {
	switch {
	case a == b:
		return true
	case a == nil:
		return ascend(b, "", func(k string, _ V) bool { return yield(k) })
	case b == nil:
		return ascend(a, "", func(k string, _ V) bool { return yield(k) })
	}
	// Both cover the same range of keys. Split the one whose root has the
	// lower priority at the other's root key: with hash priorities, a key
	// in both is the root of both, and then the split copies nothing.
	if a.prio > b.prio || (a.prio == b.prio && a.key <= b.key) {
		bl, bm, br := split(b, a.key)
		if bm == nil || !same(a.val, bm.val) {
			if !yield(a.key) {
				return false
			}
		}
		return diff(a.left, bl, same, yield) && diff(a.right, br, same, yield)
	}
	al, am, ar := split(a, b.key)
	if am == nil || !same(am.val, b.val) {
		if !yield(b.key) {
			return false
		}
	}
	return diff(al, b.left, same, yield) && diff(ar, b.right, same, yield)
}

// split returns the treaps of n's keys below key and above it, and the
// node at key if there is one. Nodes off the search path are shared; the
// root is returned as it is when it holds key.
func split[V any](n *node[V], key string) (lo, at, hi *node[V]) {
	if n == nil {
		return nil, nil, nil
	}
	switch {
	case key < n.key:
		l, m, h := split(n.left, key)
		c := *n
		c.left = h
		return l, m, &c
	case key > n.key:
		l, m, h := split(n.right, key)
		c := *n
		c.right = l
		return &c, m, h
	}
	return n.left, n, n.right
}
