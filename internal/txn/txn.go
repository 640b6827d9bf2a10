// Package txn holds the guarded transactions etcdconf writes, as data:
// every key a write touches must still have the mod revision it was read
// at (or still be absent), and the whole change is one transaction, so it
// applies entirely or not at all. It knows no etcd client: the root
// package commits a Plan (see its etcd source's commitPlan).
package txn

import "fmt"

// MaxOps is etcd's default limit of operations in one transaction
// (--max-txn-ops). A change that needs more is refused rather than split,
// since a split write would not be atomic.
const MaxOps = 128

// A Plan is puts and deletes, each guarded by the mod revision its key
// must still have when the transaction runs (0: the key must not exist).
type Plan struct {
	Puts    map[string]string
	Deletes map[string]bool
	Guards  map[string]int64
}

// NewPlan returns an empty plan.
func NewPlan() *Plan {
	return &Plan{Puts: map[string]string{}, Deletes: map[string]bool{}, Guards: map[string]int64{}}
}

// Put writes value at key, which must have mod revision modRev (0: absent).
func (p *Plan) Put(key, value string, modRev int64) {
	p.Puts[key], p.Guards[key] = value, modRev
	delete(p.Deletes, key)
}

// Delete deletes key, which must have mod revision modRev.
func (p *Plan) Delete(key string, modRev int64) {
	p.Deletes[key], p.Guards[key] = true, modRev
	delete(p.Puts, key)
}

// Len is the number of operations: puts and deletes.
func (p *Plan) Len() int { return len(p.Puts) + len(p.Deletes) }

// Check refuses a plan of more than MaxOps operations.
func (p *Plan) Check() error { return CheckOps(p.Len()) }

// CheckOps refuses a change of more than MaxOps operations.
func CheckOps(n int) error {
	if n > MaxOps {
		return fmt.Errorf("%d changes; etcd allows %d operations in one transaction by default, and a split write would not be atomic: nothing was written", n, MaxOps)
	}
	return nil
}
