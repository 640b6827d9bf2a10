// Package txn builds the guarded transactions etcdconf and its CLI write:
// every key a write touches must still have the mod revision it was read
// at (or still be absent), and the whole change is one transaction, so it
// applies entirely or not at all.
package txn

import (
	"context"
	"fmt"
	"maps"
	"slices"

	clientv3 "go.etcd.io/etcd/client/v3"
)

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

// Commit checks the plan's size and runs it as one transaction, keys in
// order; Succeeded is false when a guard failed, and then nothing was
// written.
func (p *Plan) Commit(ctx context.Context, cli *clientv3.Client) (*clientv3.TxnResponse, error) {
	return p.CommitUnder(ctx, cli, "")
}

// CommitUnder is Commit of a plan whose keys are relative to prefix: the
// prefix is added to each key as the transaction is made.
func (p *Plan) CommitUnder(ctx context.Context, cli *clientv3.Client, prefix string) (*clientv3.TxnResponse, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	var guards []clientv3.Cmp
	for _, k := range slices.Sorted(maps.Keys(p.Guards)) {
		if rev := p.Guards[k]; rev == 0 {
			guards = append(guards, clientv3.Compare(clientv3.CreateRevision(prefix+k), "=", 0))
		} else {
			guards = append(guards, clientv3.Compare(clientv3.ModRevision(prefix+k), "=", rev))
		}
	}
	var ops []clientv3.Op
	for _, k := range slices.Sorted(maps.Keys(p.Puts)) {
		ops = append(ops, clientv3.OpPut(prefix+k, p.Puts[k]))
	}
	for _, k := range slices.Sorted(maps.Keys(p.Deletes)) {
		ops = append(ops, clientv3.OpDelete(prefix+k))
	}
	return cli.Txn(ctx).If(guards...).Then(ops...).Commit()
}
