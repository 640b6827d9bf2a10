package etcdconf

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"time"

	"github.com/etcdconf/etcdconf/internal/keytree"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// maxTxnOps is etcd's default limit of operations in one transaction
// (--max-txn-ops). A write that needs more fails rather than half-applies.
const maxTxnOps = 128

// A WriteOption configures [Watcher.Set] and [Watcher.Delete].
type WriteOption interface{ applyWrite(*writeOptions) }

type writeOptions struct {
	ttl     time.Duration
	guarded bool
	modRev  int64
}

type writeOptionFunc func(*writeOptions)

func (f writeOptionFunc) applyWrite(o *writeOptions) { f(o) }

// WithTTL attaches a lease of d to the written key, which then expires by
// itself: a temporary override (a flag on for ten minutes) needs no
// cleanup, and subscribers see it go. d is rounded up to whole seconds and
// must be at least one second. Default: no lease.
func WithTTL(d time.Duration) WriteOption {
	return writeOptionFunc(func(o *writeOptions) { o.ttl = d })
}

// IfModRevision makes the write conditional on the key's mod revision
// being rev (0: the key must not exist), so a concurrent change gives
// [ErrConflict] instead of being overwritten. Default: unconditional.
func IfModRevision(rev int64) WriteOption {
	return writeOptionFunc(func(o *writeOptions) { o.guarded, o.modRev = true, rev })
}

// Update changes the configuration by running fn on a copy of the current
// value, and writes back only the keys that changed, in one transaction
// guarded by their mod revisions (and by the absence of keys it creates).
//
// If any of those keys changed in etcd since the snapshot fn saw, nothing
// is written and Update returns [ErrConflict]: call Update again, and fn
// runs on the new value. If the change was a revision the watcher
// rejected, Update returns that rejection instead ([ErrInvalid]): fix the
// key with [Watcher.Set] or [Watcher.Delete], which do not need a good
// snapshot to guard against. If fn returns an error, or the result does not
// validate ([ErrInvalid]) or cannot be encoded, nothing is written. A
// change that needs more keys than etcd allows in one transaction (128 by
// default) fails whole. On success Update returns the snapshot that
// includes the write: read-your-writes holds for the caller.
//
// Fields are written as the decoder reads them: to the key they were read
// from, else to the tag name or lower-cased field name; a value that came
// from a document (.yaml, .json, or a JSON value) is re-encoded into it.
// After Close, Update returns [ErrClosed].
func (w *Watcher[T]) Update(ctx context.Context, fn func(*T) error) (*Snapshot[T], error) {
	if w.ctx.Err() != nil {
		return nil, ErrClosed
	}
	cur := w.Current()
	next := deepCopy(reflect.ValueOf(&cur.Value).Elem()).Interface().(T)
	if err := fn(&next); err != nil {
		return nil, err
	}
	if err := validate(&next); err != nil {
		return nil, &DecodeError{Err: err}
	}
	oldTree, err := encodeTree(reflect.ValueOf(cur.Value), "")
	if err != nil {
		return nil, fmt.Errorf("etcdconf: update: %w", err)
	}
	newTree, err := encodeTree(reflect.ValueOf(next), "")
	if err != nil {
		return nil, fmt.Errorf("etcdconf: update: %w", err)
	}
	ops, guards, err := w.plan(cur, oldTree, newTree)
	if err != nil {
		return nil, err
	}
	if len(ops) == 0 {
		return cur, nil
	}
	return w.commit(ctx, guards, ops)
}

// plan turns the difference between two encoded values into the puts and
// deletes that make etcd hold the new one, with a guard for every key.
func (w *Watcher[T]) plan(cur *Snapshot[T], oldTree, newTree any) ([]clientv3.Op, []clientv3.Cmp, error) {
	oldLeaves, newLeaves := leaves(oldTree), leaves(newTree)
	kvs := cur.Keys()
	puts := map[string]string{}   // key -> value
	deletes := map[string]bool{}  // key
	holders := map[string]bool{}  // keys holding a document to re-encode
	guarded := map[string]int64{} // key -> mod revision it must have (0: absent)
	touch := func(path string, removed bool) {
		segs := keytree.Segments(path)
		kv, holder := keyFor(kvs, w.prefix, segs)
		switch {
		case holder:
			holders[kv.Key] = true
			guarded[kv.Key] = kv.ModRevision
		case kv != nil && removed:
			deletes[kv.Key] = true
			guarded[kv.Key] = kv.ModRevision
		case kv != nil:
			puts[kv.Key] = newLeaves[path]
			guarded[kv.Key] = kv.ModRevision
		case !removed:
			key := w.prefix + strings.Join(segs, "/")
			puts[key] = newLeaves[path]
			guarded[key] = 0
		}
	}
	for _, p := range sortedKeys(newLeaves) {
		if old, ok := oldLeaves[p]; !ok || old != newLeaves[p] {
			touch(p, false)
		}
	}
	for _, p := range sortedKeys(oldLeaves) {
		if _, ok := newLeaves[p]; !ok {
			touch(p, true)
		}
	}
	for key := range holders {
		segs := keytree.Segments(strings.TrimPrefix(key, w.prefix))
		if n := len(segs); n > 0 {
			segs[n-1] = strings.TrimSuffix(segs[n-1], keytree.DocumentExt(segs[n-1]))
			if segs[n-1] == "" {
				segs = segs[:n-1]
			}
		}
		n := subtree(newTree, segs)
		if n == nil {
			deletes[key] = true
			continue
		}
		doc, err := marshalDocument(key, n)
		if err != nil {
			return nil, nil, fmt.Errorf("etcdconf: update: re-encode %q: %w", key, err)
		}
		puts[key] = string(doc)
	}
	if n := len(puts) + len(deletes); n > maxTxnOps {
		return nil, nil, fmt.Errorf("etcdconf: update writes %d keys; etcd allows %d operations in one transaction by default, and a split write would not be atomic", n, maxTxnOps)
	}
	var ops []clientv3.Op
	for _, k := range sortedKeys(puts) {
		ops = append(ops, clientv3.OpPut(k, puts[k]))
	}
	for _, k := range sortedKeys(deletes) {
		ops = append(ops, clientv3.OpDelete(k))
	}
	var guards []clientv3.Cmp
	for _, k := range sortedKeys(guarded) {
		if rev := guarded[k]; rev == 0 {
			guards = append(guards, clientv3.Compare(clientv3.CreateRevision(k), "=", 0))
		} else {
			guards = append(guards, clientv3.Compare(clientv3.ModRevision(k), "=", rev))
		}
	}
	return ops, guards, nil
}

// commit runs one guarded transaction and waits until the watcher has
// applied it.
func (w *Watcher[T]) commit(ctx context.Context, guards []clientv3.Cmp, ops []clientv3.Op) (*Snapshot[T], error) {
	resp, err := w.cli.Txn(ctx).If(guards...).Then(ops...).Commit()
	if err != nil {
		return nil, fmt.Errorf("etcdconf: write %q: %w", w.prefix, err)
	}
	if !resp.Succeeded {
		// Retrying cannot help while etcd holds a rejected revision: the
		// snapshot the guards came from stays behind it until the bad key
		// is fixed. Say so, instead of a conflict that a retry loop would
		// meet forever.
		st := w.Status()
		if st.Rejected != nil && st.Rejected.Revision > w.Current().Revision {
			return nil, fmt.Errorf("etcdconf: write %q: etcd holds revision %d, which was rejected; fix it with Set or Delete first: %w",
				w.prefix, st.Rejected.Revision, st.Rejected)
		}
		return nil, ErrConflict
	}
	return w.waitSeen(ctx, resp.Header.Revision)
}

// Set writes value to the key at path, relative to the prefix ("db/port"),
// and returns the snapshot that includes it. value is formatted as the
// decoder reads it (a string as it is, numbers, bools, durations, times,
// comma lists).
//
// The write is checked first: a path that matches no field of T, a value
// that does not decode into its field, or a result that fails Validate is
// an error and nothing is written. See [WithTTL] and [IfModRevision]; a
// failed condition gives [ErrConflict]. After Close, Set returns [ErrClosed].
func (w *Watcher[T]) Set(ctx context.Context, path string, value any, opts ...WriteOption) (*Snapshot[T], error) {
	s, ok, err := encodeScalar(reflect.ValueOf(value))
	if value == nil || (!ok && err == nil) {
		return nil, fmt.Errorf("etcdconf: set %q: a %T cannot be one key's value", path, value)
	}
	if err != nil {
		return nil, fmt.Errorf("etcdconf: set %q: %w", path, err)
	}
	return w.write(ctx, path, &s, opts)
}

// Delete removes the key at path, relative to the prefix, and every key
// under it ("services/api-1" and "services/api-1/..."), and returns the
// snapshot without them. Like [Watcher.Set], the result is checked before
// anything is written. After Close, Delete returns [ErrClosed].
func (w *Watcher[T]) Delete(ctx context.Context, path string, opts ...WriteOption) (*Snapshot[T], error) {
	return w.write(ctx, path, nil, opts)
}

// write puts value at path (deletes path and its subtree when value is nil).
func (w *Watcher[T]) write(ctx context.Context, path string, value *string, opts []WriteOption) (*Snapshot[T], error) {
	if w.ctx.Err() != nil {
		return nil, ErrClosed
	}
	var o writeOptions
	for _, opt := range opts {
		opt.applyWrite(&o)
	}
	verb := "set"
	if value == nil {
		verb = "delete"
	}
	segs := keytree.Segments(path)
	if len(segs) == 0 {
		return nil, fmt.Errorf("etcdconf: %s: empty path", verb)
	}
	key := w.prefix + strings.Join(segs, "/")
	if err := w.check(key, value); err != nil {
		return nil, fmt.Errorf("etcdconf: %s %q: %w", verb, path, err)
	}
	var guards []clientv3.Cmp
	if o.guarded {
		guards = append(guards, clientv3.Compare(clientv3.ModRevision(key), "=", o.modRev))
	}
	var ops []clientv3.Op
	if value == nil {
		ops = []clientv3.Op{clientv3.OpDelete(key), clientv3.OpDelete(key+"/", clientv3.WithPrefix())}
	} else {
		var putOpts []clientv3.OpOption
		if o.ttl != 0 {
			if o.ttl < time.Second {
				return nil, fmt.Errorf("etcdconf: set %q: TTL %v is under etcd's one-second minimum", path, o.ttl)
			}
			lease, err := w.cli.Grant(ctx, int64((o.ttl+time.Second-1)/time.Second))
			if err != nil {
				return nil, fmt.Errorf("etcdconf: set %q: grant a lease: %w", path, err)
			}
			putOpts = append(putOpts, clientv3.WithLease(lease.ID))
		}
		ops = []clientv3.Op{clientv3.OpPut(key, *value, putOpts...)}
	}
	return w.commit(ctx, guards, ops)
}

// check decodes the current keys with the write applied, so a write that
// would be rejected is refused before it reaches etcd. Unknown paths are
// caught by decoding strictly, counting only errors about key itself.
func (w *Watcher[T]) check(key string, value *string) error {
	cur := w.Current()
	kvs := maps.Clone(cur.kvs)
	if value == nil {
		for k := range kvs {
			if k == key || strings.HasPrefix(k, key+"/") {
				delete(kvs, k)
			}
		}
	} else {
		kvs[key] = &KeyValue{Key: key, Value: []byte(*value)}
	}
	strict := *w.dec
	strict.strict = true
	_, err := strict.decode(kvs, 0)
	var de *DecodeError
	if errors.As(err, &de) && de.Key == key {
		return err
	}
	_, err = w.dec.decode(kvs, 0)
	return err
}
