// Package ordmap is a persistent ordered map from string keys: every
// change returns a new map that shares all it did not touch with the old
// one, which stays as it was. Copying a map is copying a pointer; a change
// costs O(log n) new nodes. It is a treap whose priorities are a hash of the
// key, so a set of keys has one shape, whatever the order of changes.
//
// A Tree holds entries that carry their own key (the key state's
// KeyValue), so a node is the entry and two children, nothing more: the
// key is not stored twice and the priority is computed from the key where
// a rotation needs it. Map is a Tree of key-value pairs.
package ordmap

import "hash/maphash"

// Keyed is the constraint on a Tree's entries: *E names E's key.
type Keyed[E any] interface {
	*E
	OrdKey() string
}

// A Tree is an immutable ordered set of entries by key; the zero Tree is
// empty and ready.
type Tree[E any, P Keyed[E]] struct {
	root *node[E]
	n    int
}

type node[E any] struct {
	e           E
	left, right *node[E]
}

var seed = maphash.MakeSeed()

func prio(key string) uint64 { return maphash.String(seed, key) }

func keyOf[E any, P Keyed[E]](n *node[E]) string { return P(&n.e).OrdKey() }

// Len returns the number of entries.
func (t Tree[E, P]) Len() int { return t.n }

// Find returns the entry at key, nil if there is none. The entry is the
// tree's: it must not be modified.
func (t Tree[E, P]) Find(key string) *E {
	for n := t.root; n != nil; {
		switch k := keyOf[E, P](n); {
		case key < k:
			n = n.left
		case key > k:
			n = n.right
		default:
			return &n.e
		}
	}
	return nil
}

// Set returns t with e at its key, the entry it replaced, and whether
// there was one.
func (t Tree[E, P]) Set(e E) (Tree[E, P], E, bool) {
	key := P(&e).OrdKey()
	root, old, replaced, _ := insert[E, P](t.root, e, key, prio(key))
	n := t.n
	if !replaced {
		n++
	}
	return Tree[E, P]{root: root, n: n}, old, replaced
}

// insert returns n with e inserted, the entry it replaced, whether there
// was one, and whether the root it returns is the new node (which alone
// may have to rotate up: every other node keeps its place in the heap).
func insert[E any, P Keyed[E]](n *node[E], e E, key string, p uint64) (*node[E], E, bool, bool) {
	if n == nil {
		var zero E
		return &node[E]{e: e}, zero, false, true
	}
	c := *n // path copy: n stays as it was
	var old E
	var replaced, up bool
	switch k := keyOf[E, P](n); {
	case key < k:
		c.left, old, replaced, up = insert[E, P](n.left, e, key, p)
		if up && p > prio(k) { // rotate right; both nodes are fresh copies
			l := c.left
			c.left, l.right = l.right, &c
			return l, old, replaced, true
		}
	case key > k:
		c.right, old, replaced, up = insert[E, P](n.right, e, key, p)
		if up && p > prio(k) { // rotate left
			r := c.right
			c.right, r.left = r.left, &c
			return r, old, replaced, true
		}
	default:
		old, replaced = n.e, true
		c.e = e
	}
	return &c, old, replaced, false
}

// Delete returns t without key, the entry it held, and whether it was
// there.
func (t Tree[E, P]) Delete(key string) (Tree[E, P], E, bool) {
	root, old, ok := remove[E, P](t.root, key)
	if !ok {
		return t, old, false
	}
	return Tree[E, P]{root: root, n: t.n - 1}, old, true
}

func remove[E any, P Keyed[E]](n *node[E], key string) (*node[E], E, bool) {
	var zero E
	if n == nil {
		return nil, zero, false
	}
	switch k := keyOf[E, P](n); {
	case key < k:
		l, old, ok := remove[E, P](n.left, key)
		if !ok {
			return n, zero, false
		}
		c := *n
		c.left = l
		return &c, old, true
	case key > k:
		r, old, ok := remove[E, P](n.right, key)
		if !ok {
			return n, zero, false
		}
		c := *n
		c.right = r
		return &c, old, true
	}
	return join[E, P](n.left, n.right), n.e, true
}

// join joins two treaps whose keys are all below (a) and above (b) each
// other, copying the nodes along the seam.
func join[E any, P Keyed[E]](a, b *node[E]) *node[E] {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case prio(keyOf[E, P](a)) > prio(keyOf[E, P](b)):
		c := *a
		c.right = join[E, P](a.right, b)
		return &c
	}
	c := *b
	c.left = join[E, P](a, b.left)
	return &c
}

// Ascend calls yield for each entry at or above from, in key order, until
// it returns false. The entries are the tree's: they must not be modified.
func (t Tree[E, P]) Ascend(from string, yield func(*E) bool) {
	ascend[E, P](t.root, from, yield)
}

func ascend[E any, P Keyed[E]](n *node[E], from string, yield func(*E) bool) bool {
	for n != nil {
		if keyOf[E, P](n) < from {
			n = n.right
			continue
		}
		if !ascend[E, P](n.left, from, yield) || !yield(&n.e) {
			return false
		}
		from, n = "", n.right // everything to the right is above from
	}
	return true
}

// TreeOf builds a tree of es, whose keys must be sorted and distinct, in
// O(n): what a load of a whole prefix needs.
func TreeOf[E any, P Keyed[E]](es []E) Tree[E, P] {
	// The Cartesian tree of the keys by priority, built left to right with
	// the stack of the rightmost path.
	type top struct {
		n *node[E]
		p uint64
	}
	var stack []top
	var chunk []node[E]
	for i := range es {
		// Nodes come in chunks of 32: fewer allocations for a load, and
		// no rounding up to an allocation size class (a 56-byte node costs
		// 56, not 64). A chunk lives while any of its nodes does, so a
		// tree whose loaded keys have mostly changed may keep its dead
		// loaded nodes: never more than the load allocated, since the
		// nodes of later changes are allocated one by one.
		if len(chunk) == 0 {
			chunk = make([]node[E], min(32, len(es)-i))
		}
		n := &chunk[0]
		chunk = chunk[1:]
		n.e = es[i]
		p := prio(P(&n.e).OrdKey())
		var last *node[E]
		for len(stack) > 0 && stack[len(stack)-1].p < p {
			last = stack[len(stack)-1].n
			stack = stack[:len(stack)-1]
		}
		n.left = last
		if len(stack) > 0 {
			stack[len(stack)-1].n.right = n
		}
		stack = append(stack, top{n, p})
	}
	if len(stack) == 0 {
		return Tree[E, P]{}
	}
	return Tree[E, P]{root: stack[0].n, n: len(es)}
}

// DiffTrees calls yield with the key of every entry that differs between
// a and b: a key in one of them only, or in both with entries same
// reports unequal. Keys come in no particular order, until yield returns
// false. Subtrees that a and b share (one derived from the other by
// changes) are skipped whole, so the cost is O(changes · log n) for trees
// that share all else.
func DiffTrees[E any, P Keyed[E]](a, b Tree[E, P], same func(x, y *E) bool, yield func(key string) bool) {
	diff[E, P](a.root, b.root, same, yield)
}

func diff[E any, P Keyed[E]](a, b *node[E], same func(x, y *E) bool, yield func(string) bool) bool {
	all := func(e *E) bool { return yield(P(e).OrdKey()) }
	switch {
	case a == b:
		return true
	case a == nil:
		return ascend[E, P](b, "", all)
	case b == nil:
		return ascend[E, P](a, "", all)
	}
	// Both cover the same range of keys. Split the one whose root has the
	// lower priority at the other's root key: with hash priorities, a key
	// in both is the root of both, and then the split copies nothing.
	ak, bk := keyOf[E, P](a), keyOf[E, P](b)
	if ak == bk {
		if !same(&a.e, &b.e) && !yield(ak) {
			return false
		}
		return diff[E, P](a.left, b.left, same, yield) && diff[E, P](a.right, b.right, same, yield)
	}
	if ap, bp := prio(ak), prio(bk); ap > bp || (ap == bp && ak < bk) {
		bl, bm, br := split[E, P](b, ak)
		if bm == nil || !same(&a.e, &bm.e) {
			if !yield(ak) {
				return false
			}
		}
		return diff[E, P](a.left, bl, same, yield) && diff[E, P](a.right, br, same, yield)
	}
	al, am, ar := split[E, P](a, bk)
	if am == nil || !same(&am.e, &b.e) {
		if !yield(bk) {
			return false
		}
	}
	return diff[E, P](al, b.left, same, yield) && diff[E, P](ar, b.right, same, yield)
}

// split returns the treaps of n's keys below key and above it, and the
// node at key if there is one. Nodes off the search path are shared; the
// root is returned as it is when it holds key.
func split[E any, P Keyed[E]](n *node[E], key string) (lo, at, hi *node[E]) {
	if n == nil {
		return nil, nil, nil
	}
	switch k := keyOf[E, P](n); {
	case key < k:
		l, m, h := split[E, P](n.left, key)
		c := *n
		c.left = h
		return l, m, &c
	case key > k:
		l, m, h := split[E, P](n.right, key)
		c := *n
		c.right = l
		return &c, m, h
	}
	return n.left, n, n.right
}

// A Pair is an entry of a Map: a key and its value.
type Pair[V any] struct {
	Key string
	Val V
}

// OrdKey returns p's key.
func (p *Pair[V]) OrdKey() string { return p.Key }

// A Map is an immutable ordered map; the zero Map is empty and ready.
type Map[V any] struct {
	t Tree[Pair[V], *Pair[V]]
}

// Len returns the number of keys.
func (m Map[V]) Len() int { return m.t.n }

// Get returns the value at key, and whether there is one.
func (m Map[V]) Get(key string) (V, bool) {
	if p := m.t.Find(key); p != nil {
		return p.Val, true
	}
	var zero V
	return zero, false
}

// Set returns m with key set to val, the value it replaced, and whether
// there was one.
func (m Map[V]) Set(key string, val V) (Map[V], V, bool) {
	t, old, replaced := m.t.Set(Pair[V]{key, val})
	return Map[V]{t}, old.Val, replaced
}

// Delete returns m without key, the value it held, and whether it was
// there.
func (m Map[V]) Delete(key string) (Map[V], V, bool) {
	t, old, ok := m.t.Delete(key)
	return Map[V]{t}, old.Val, ok
}

// Ascend calls yield for each key at or above from, in order, until it
// returns false.
func (m Map[V]) Ascend(from string, yield func(key string, val V) bool) {
	m.t.Ascend(from, func(p *Pair[V]) bool { return yield(p.Key, p.Val) })
}

// FromSorted builds a map of keys, which must be sorted and distinct,
// with vals, in O(n).
func FromSorted[V any](keys []string, vals []V) Map[V] {
	ps := make([]Pair[V], len(keys))
	for i, k := range keys {
		ps[i] = Pair[V]{k, vals[i]}
	}
	return Map[V]{TreeOf[Pair[V]](ps)}
}

// Diff calls yield with every key whose value differs between a and b: a
// key in one of them only, or in both with values same reports unequal,
// as DiffTrees does.
func Diff[V any](a, b Map[V], same func(x, y V) bool, yield func(key string) bool) {
	DiffTrees(a.t, b.t, func(x, y *Pair[V]) bool { return same(x.Val, y.Val) }, yield)
}
