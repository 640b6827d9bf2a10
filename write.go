package etcdconf

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdconf/etcdconf/internal/codec"
	"github.com/etcdconf/etcdconf/internal/keytree"
	"github.com/etcdconf/etcdconf/release"
)

// A WriteOption configures [Watcher.Update], [Watcher.Set] and
// [Watcher.Delete].
type WriteOption interface{ applyWrite(*writeOptions) }

type writeOptions struct {
	ttl     time.Duration
	guarded bool
	modRev  int64
	// release records the write as a release, with message (WithRelease).
	release bool
	message string
}

type writeOptionFunc func(*writeOptions)

func (f writeOptionFunc) applyWrite(o *writeOptions) { f(o) }

// WithTTL attaches a lease of d to the written key, which then expires by
// itself: a temporary override (a flag on for ten minutes) needs no
// cleanup, and subscribers see it go. d is rounded up to whole seconds and
// must be at least one second. Delete and Update refuse it: a deleted key
// has no lease, and Update writes many. Default: no lease.
func WithTTL(d time.Duration) WriteOption {
	return writeOptionFunc(func(o *writeOptions) { o.ttl = d })
}

// IfModRevision makes the write conditional on the key's mod revision
// being rev (0: the key must not exist), so a concurrent change gives
// [ErrConflict] instead of being overwritten. With Delete it is refused
// when the path holds more than one key (a subtree, or other spellings),
// since it guards one; Update refuses it, as it guards every key it
// writes. Default: unconditional.
func IfModRevision(rev int64) WriteOption {
	return writeOptionFunc(func(o *writeOptions) { o.guarded, o.modRev = true, rev })
}

// Update changes the configuration by running fn on a copy of the current
// value, and writes back only the keys that changed, in one transaction
// guarded by their mod revisions (and by the absence of keys it creates).
//
// If any of those keys changed in etcd since the snapshot fn saw, nothing
// is written; Update waits until the watcher holds the change that won and
// runs fn again on the new value, as etcd's STM does, up to 100 times in
// all, then returns [ErrConflict]. So fn may run more than once: it must
// only change the value it is given. Update stops with ctx's error when
// ctx ends while it waits. If the change was a revision the watcher
// rejected, Update returns that rejection instead ([ErrInvalid]): fix the
// key with [Watcher.Set] or [Watcher.Delete], which do not need a good
// snapshot to guard against. If fn returns an error, or the result does not
// validate ([ErrInvalid]) or cannot be encoded, nothing is written. A
// change that needs more keys than etcd allows in one transaction (128 by
// default) fails whole. On success Update returns the snapshot that
// includes the write: read-your-writes holds for the caller.
//
// Only the values that changed are written, each to the key that holds it
// now: a plain key, else the document (.yaml, .yml, .json, or a JSON value)
// it came from, edited in place so the rest of the document keeps its
// text and types; a new value gets a new key spelled by the etcd tag, else
// the lower-cased field name, and map keys as they are. Lists that a
// comma list cannot hold exactly are written as a JSON list.
//
// Before anything is sent, the keys as they would be after the write are
// decoded: if they would be rejected, or would not read back as exactly
// the value fn made (nil and empty maps and slices are one value), Update
// refuses with an error naming the field. Examples: a map key holding "/"
// or ending in .yaml, a string that is not UTF-8, and a map, slice or
// pointer set to nil or empty where that would not read back: it writes
// no key, and absent keys read back as nothing (a map entry holding a nil
// pointer disappears) or as a default. After Close, Update returns [ErrClosed]. If etcd committed the
// write but the watcher was closed, or ctx ended, before it applied it,
// Update returns an [*UnappliedError] (see [ErrUnapplied]): the write is
// in etcd, and fn must not be run again for it.
//
// [WithRelease] records the write as a release in the same transaction;
// [WithTTL] and [IfModRevision] are refused.
func (w *Watcher[T]) Update(ctx context.Context, fn func(*T) error, opts ...WriteOption) (*Snapshot[T], error) {
	if w.ctx.Err() != nil {
		return nil, ErrClosed
	}
	wr, err := w.src.writer()
	if err != nil {
		return nil, err
	}
	var o writeOptions
	for _, opt := range opts {
		opt.applyWrite(&o)
	}
	if o.ttl != 0 || o.guarded {
		return nil, &opError{op: "update", err: errors.New("WithTTL and IfModRevision mean nothing for Update, which guards every key it writes and writes no lease")}
	}
	for attempt := 1; ; attempt++ {
		snap, err := w.updateOnce(ctx, wr, fn, &o)
		var c *conflictError
		if !errors.As(err, &c) || attempt == maxUpdateAttempts {
			return snap, err
		}
		// Another writer won: wait until the watcher holds its revision, so
		// fn runs on the value that beat it, not on the same one again.
		if _, err := w.waitSeen(ctx, c.rev); err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// maxUpdateAttempts bounds how often Update runs fn against writers that
// keep winning, before it gives up with ErrConflict.
const maxUpdateAttempts = 100

// updateOnce runs fn on the current value and writes the result, guarded.
func (w *Watcher[T]) updateOnce(ctx context.Context, wr keyWriter, fn func(*T) error, o *writeOptions) (*Snapshot[T], error) {
	cur := w.Current()
	next := codec.CopyOf(cur.Value)
	if err := fn(&next); err != nil {
		return nil, err
	}
	if err := codec.Validate(&next); err != nil {
		return nil, &DecodeError{Err: err}
	}
	p, err := w.dec.Plan(cur.decoded(), next)
	if err != nil {
		return nil, &opError{op: "update", err: err}
	}
	if err := layerWrites(cur, p); err != nil {
		return nil, &opError{op: "update", err: err}
	}
	if err := w.revealed(cur, func(k string) bool { return p.Deletes[k] }); err != nil {
		return nil, &opError{op: "update", err: err}
	}
	// Verified even when nothing is written: a default cleared is no change
	// of keys, and would come back.
	if err := w.dec.Verify(cur.decoded(), next, p); err != nil {
		return nil, &opError{op: "update", err: err}
	}
	if p.Len() == 0 {
		return cur, nil
	}
	var rel *release.Pending
	if o.release {
		if rel, err = w.planRelease(ctx, wr, o, cur, p); err != nil {
			if _, ok := errors.AsType[*conflictError](err); ok {
				return nil, err
			}
			return nil, &opError{op: "update", err: err}
		}
	}
	guards, more := releaseTxn(rel)
	resp, err := wr.commitPlan(ctx, p, guards, more)
	w.finishRelease(ctx, wr, rel, resp, err)
	return w.committed(ctx, resp, err)
}

// planRelease prepares the release record of an Update's plan.
func (w *Watcher[T]) planRelease(ctx context.Context, wr keyWriter, o *writeOptions, cur *Snapshot[T], p *codec.WritePlan) (*release.Pending, error) {
	kvs := cur.etcdKeys()
	var cs []release.Change
	bytes := 0
	for k, v := range p.Puts {
		cs = append(cs, keyChange(kvs, k, &v, false))
		bytes += len(w.prefix) + len(k) + len(v)
	}
	for k := range p.Deletes {
		cs = append(cs, keyChange(kvs, k, nil, false))
		bytes += len(w.prefix) + len(k)
	}
	return w.prepareRelease(ctx, wr, o, kvs, cur.Revision, cs, p.Len(), bytes)
}

// layerWrites refuses a plan that writes what another layer than etcd
// holds: a value the environment sets (the write would not take effect),
// or the removal of one a file or the defaults set (it would stay). A
// change of such a value is written to etcd as a new key, guarded to be
// absent (see codec.LayerLeaves).
func layerWrites[T any](cur *Snapshot[T], p *codec.WritePlan) error {
	for _, k := range slices.Sorted(maps.Keys(p.Puts)) {
		if kv, ok := cur.kvs.Get(k); ok && strings.HasPrefix(kv.Origin(), "env ") {
			return fmt.Errorf("environment variable %s sets %s, and wins over etcd: the write would not take effect",
				strings.TrimPrefix(kv.Origin(), "env "), codec.GoPathOfKey(reflect.TypeFor[T](), k))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(p.Deletes)) {
		if kv, ok := cur.kvs.Get(k); ok && kv.Origin() != "" {
			return fmt.Errorf("%s comes from %s, which a write to etcd cannot remove: set it to another value instead",
				codec.GoPathOfKey(reflect.TypeFor[T](), k), layerName(kv))
		}
	}
	return nil
}

// onlyInLayers refuses a delete of keys that only a file or the defaults
// hold (no etcd key among them): it would remove nothing, and the value
// would stay.
func onlyInLayers[T any](cur *Snapshot[T], deleted func(key string) bool) error {
	var held *codec.KeyValue
	for kv := range cur.kvs.All() {
		if !deleted(kv.Key) {
			continue
		}
		if kv.Origin() == "" {
			return nil // etcd's: see revealed
		}
		if held == nil {
			held = kv
		}
	}
	if held == nil {
		return nil
	}
	return fmt.Errorf("%s comes from %s, not from etcd: a delete in etcd cannot remove it; set it to another value instead",
		codec.GoPathOfKey(reflect.TypeFor[T](), held.Key), layerName(held))
}

// layerName names the layer a merged key comes from, for an error: its
// origin (file /etc/app/base.yaml), or the defaults by their option.
func layerName(kv *codec.KeyValue) string {
	if from := kv.Origin(); from != "default" {
		return from
	}
	return "the defaults (WithDefaults)"
}

// revealed refuses a write that deletes etcd's keys where a file or the
// defaults hold a value too: with etcd's key gone, theirs would come back,
// and the write would not take effect. The keys the write leaves are
// merged with the layers anew and compared with the current ones.
func (w *Watcher[T]) revealed(cur *Snapshot[T], deleted func(key string) bool) error {
	if w.layers == nil {
		return nil
	}
	etcd := cur.etcdKeys().Clone()
	n := 0
	for kv := range cur.etcdKeys().All() {
		if deleted(kv.Key) {
			etcd.Delete(kv.Key)
			n++
		}
	}
	if n == 0 {
		return nil
	}
	w.pmu.Lock() // the file layers' leaves change under it
	layers := w.layers.merge.Copy()
	w.pmu.Unlock()
	for kv := range layers.Merge(etcd).All() {
		if kv.Origin() == "" {
			continue
		}
		if old, ok := cur.kvs.Get(kv.Key); ok && old.Origin() == kv.Origin() && old.Value == kv.Value {
			continue
		}
		return fmt.Errorf("%s is also set by %s, which a write to etcd cannot remove: removing etcd's value brings it back; set it to another value instead",
			codec.GoPathOfKey(reflect.TypeFor[T](), kv.Key), layerName(kv))
	}
	return nil
}

// A conflictError is a guarded write that lost: etcd was at rev, past the
// snapshot the guards came from. It matches [ErrConflict].
type conflictError struct{ rev int64 }

func (e *conflictError) Error() string {
	return fmt.Sprintf("%v (etcd at revision %d)", ErrConflict, e.rev)
}

func (e *conflictError) Is(target error) bool { return target == ErrConflict }

// An opError is a write's error with the operation it failed in, and the
// package prefix once.
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string {
	return "etcdconf: " + e.op + ": " + strings.TrimPrefix(e.err.Error(), "etcdconf: ")
}

func (e *opError) Unwrap() error { return e.err }

// committed waits until the watcher has applied a transaction that
// succeeded, and explains one that did not.
func (w *Watcher[T]) committed(ctx context.Context, resp *clientv3.TxnResponse, err error) (*Snapshot[T], error) {
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
		return nil, &conflictError{rev: resp.Header.Revision}
	}
	rev := resp.Header.Revision
	snap, err := w.waitSeen(ctx, rev)
	switch {
	case errors.Is(err, ErrClosed):
		return nil, &UnappliedError{Revision: rev, Err: errStopped}
	case err != nil && ctx.Err() != nil:
		return nil, &UnappliedError{Revision: rev, Err: err}
	}
	return snap, err
}

// Set writes value to the key that holds the value at path, a Go path
// into T as [Change.Path] prints it ("DB.Port", `Services["api-1"].Addr`,
// `Flags["beta"]`), and returns the snapshot that includes it. value is
// formatted as the decoder reads it (a string as it is, a []byte as its
// bytes, UTF-8 or not, numbers, bools, durations, times; a list as a comma
// list, or a JSON list when an item holds a comma or spaces at its ends).
// The write goes to the key that holds the value now, whatever its
// spelling; a new key is spelled by the etcd tag, else the lower-cased
// field name, and map keys as they are.
//
// The write is checked first: a path that is not a Go path into T (a
// key-style path, "db/port", gets a hint naming the Go path meant), a path
// with no key of its own (the whole value "", a list element "Hosts[0]"), a
// value that does not decode into its field, or a result that fails
// Validate is an error naming the path, and nothing is written. See
// [WithTTL], [IfModRevision] and [WithRelease]; a failed condition gives [ErrConflict].
// After Close, Set returns [ErrClosed]; a write committed but not applied,
// as Update.
func (w *Watcher[T]) Set(ctx context.Context, path string, value any, opts ...WriteOption) (*Snapshot[T], error) {
	v := reflect.ValueOf(value)
	if value == nil || (codec.IsComposite(v.Type()) && v.Kind() != reflect.Slice) {
		return nil, fmt.Errorf("etcdconf: set %q: a %T cannot be one key's value", path, value)
	}
	s, err := codec.LeafText(v, "")
	if err != nil {
		return nil, &opError{op: fmt.Sprintf("set %q", path), err: err}
	}
	return w.write(ctx, path, &s, opts)
}

// Delete removes the value at path, a Go path into T as for
// [Watcher.Set], and everything under it: every key that holds it,
// whatever its spelling (`Services["api-1"]` removes services/api-1 and
// services/api-1/...), and returns the snapshot without them. The path
// must hold a key of its own: Delete("") is an error, never the whole
// prefix. The result is checked before anything is written: a value that
// a file or [WithDefaults] also holds, or holds alone, is an error, since
// deleting etcd's keys cannot remove it. After Close, Delete returns
// [ErrClosed].
func (w *Watcher[T]) Delete(ctx context.Context, path string, opts ...WriteOption) (*Snapshot[T], error) {
	return w.write(ctx, path, nil, opts)
}

// write puts value at path (deletes path and its subtree when value is nil).
func (w *Watcher[T]) write(ctx context.Context, path string, value *string, opts []WriteOption) (*Snapshot[T], error) {
	if w.ctx.Err() != nil {
		return nil, ErrClosed
	}
	wr, err := w.src.writer()
	if err != nil {
		return nil, err
	}
	var o writeOptions
	for _, opt := range opts {
		opt.applyWrite(&o)
	}
	op := fmt.Sprintf("set %q", path)
	if value == nil {
		op = fmt.Sprintf("delete %q", path)
		if o.ttl != 0 {
			return nil, &opError{op: op, err: errors.New("WithTTL means nothing for Delete: a deleted key has no lease")}
		}
	}
	canon, at, err := codec.KeySegments(reflect.TypeFor[T](), path)
	if err != nil {
		return nil, &opError{op: op, err: err}
	}
	if value != nil && !utf8.ValidString(*value) && !codec.IsBytes(at) { // a []byte holds any bytes
		return nil, &opError{op: op, err: errors.New("the value is not valid UTF-8, which etcd values are read as")}
	}
	if value != nil && keytree.DocumentExt(canon[len(canon)-1]) != "" {
		return nil, &opError{op: op, err: errors.New("a path ending in .yaml, .yml or .json is a document; Set writes one value")}
	}
	if value != nil {
		// A map entry named like a document (Services["b.yaml"]) reads
		// back from its keys, but the encoder cannot write it: every
		// Update after it would fail. Delete still removes one.
		for _, s := range canon[:len(canon)-1] {
			if ext := keytree.DocumentExt(s); ext != "" {
				return nil, &opError{op: op, err: fmt.Errorf("the map key %q ends in %s, which makes a key a document: Update could not write the value back", s, ext)}
			}
		}
	}
	if v := w.layers.envShadows(strings.Join(canon, "/")); v != "" {
		return nil, &opError{op: op, err: fmt.Errorf("environment variable %s sets %s, and wins over etcd: the write would not take effect", v, path)}
	}
	cur := w.Current()
	key := strings.Join(canon, "/") // relative to the prefix, as the key set's keys
	var under []string              // other keys the delete removes: other spellings, documents
	for _, h := range codec.HeldKeys[T](cur.kvs, w.prefix) {
		switch {
		case !h.Doc && slices.Equal(h.Path, canon):
			key = h.KV.Key // the key that holds the value now
		case value == nil && codec.HasPrefix(h.Path, canon):
			under = append(under, h.KV.Key)
		}
	}
	var others []string // the keys a delete removes beside key and key/...
	if value == nil {
		for _, k := range under {
			if k != key && !strings.HasPrefix(k, key+"/") {
				others = append(others, k)
			}
		}
	}
	if value == nil {
		sub := key + "/"
		gone := func(k string) bool { return k == key || strings.HasPrefix(k, sub) || slices.Contains(others, k) }
		if err := onlyInLayers(cur, gone); err != nil {
			return nil, &opError{op: op, err: err}
		}
		if err := w.revealed(cur, gone); err != nil {
			return nil, &opError{op: op, err: err}
		}
	}
	if err := w.check(cur, key, value, others); err != nil {
		return nil, &opError{op: op, err: err}
	}
	var ops []clientv3.Op // the prefix is added here, where etcd is called
	if value == nil {
		ops = []clientv3.Op{clientv3.OpDelete(w.prefix + key), clientv3.OpDelete(w.prefix+key+"/", clientv3.WithPrefix())}
		for _, k := range others {
			ops = append(ops, clientv3.OpDelete(w.prefix+k))
		}
	}
	var guards []clientv3.Cmp
	if o.guarded {
		// The guard is on one key: a Delete that removes more than that key
		// would remove the others unguarded.
		if value == nil {
			sub := key + "/"
			for kv := range cur.kvs.All() {
				if kv.Key != key && (strings.HasPrefix(kv.Key, sub) || slices.Contains(under, kv.Key)) {
					return nil, &opError{op: op, err: fmt.Errorf("IfModRevision guards one key, and %q holds more (%s): delete them one by one", path, w.prefix+kv.Key)}
				}
			}
		}
		guards = append(guards, clientv3.Compare(clientv3.ModRevision(w.prefix+key), "=", o.modRev))
	}
	if value != nil {
		var putOpts []clientv3.OpOption
		if o.ttl != 0 {
			if o.ttl < time.Second {
				return nil, &opError{op: op, err: fmt.Errorf("TTL %v is under etcd's one-second minimum", o.ttl)}
			}
			lease, err := wr.grant(ctx, int64((o.ttl+time.Second-1)/time.Second))
			if err != nil {
				return nil, &opError{op: op, err: fmt.Errorf("grant a lease: %w", err)}
			}
			putOpts = append(putOpts, clientv3.WithLease(lease))
		}
		ops = []clientv3.Op{clientv3.OpPut(w.prefix+key, *value, putOpts...)}
	}
	for attempt := 1; ; attempt++ {
		var rel *release.Pending
		var behind int64 // the revision of a release the snapshot lacks
		if o.release {
			rel, err = w.prepareRelease(ctx, wr, &o, cur.etcdKeys(), cur.Revision, writeChanges(cur, key, value, others, o.ttl != 0), len(ops), opBytes(ops))
			c, ok := errors.AsType[*conflictError](err)
			switch {
			case ok && !o.guarded && attempt < maxUpdateAttempts:
				behind = c.rev
			case ok:
				return nil, err
			case err != nil:
				return nil, &opError{op: op, err: err}
			}
		}
		if behind == 0 {
			g, more := releaseTxn(rel)
			resp, err := wr.commit(ctx, slices.Concat(guards, g), slices.Concat(ops, more))
			w.finishRelease(ctx, wr, rel, resp, err)
			if rel == nil || o.guarded || err != nil || resp.Succeeded || attempt == maxUpdateAttempts {
				return w.committed(ctx, resp, err)
			}
			behind = resp.Header.Revision
		}
		// Unguarded, the write lost only its release number to another
		// release, or was about to start before it: once the watcher holds
		// that one, record this one after it.
		if _, err := w.waitSeen(ctx, behind); err != nil {
			return nil, err
		}
		cur = w.Current()
	}
}

// writeChanges are the keys of cur's etcd keys a Set (value) or Delete
// (nil: key, the keys under key/ and others) changes, as a release
// records them; leased is a Set with a TTL.
func writeChanges[T any](cur *Snapshot[T], key string, value *string, others []string, leased bool) []release.Change {
	kvs := cur.etcdKeys()
	if value != nil {
		return []release.Change{keyChange(kvs, key, value, leased)}
	}
	var cs []release.Change
	for kv := range kvs.All() {
		if kv.Key == key || strings.HasPrefix(kv.Key, key+"/") || slices.Contains(others, kv.Key) {
			cs = append(cs, keyChange(kvs, kv.Key, nil, false))
		}
	}
	return cs
}

// opBytes is what ops carry: keys and values.
func opBytes(ops []clientv3.Op) int {
	n := 0
	for _, o := range ops {
		n += len(o.KeyBytes()) + len(o.ValueBytes())
	}
	return n
}

// check decodes the current keys with the write applied (a put of value
// at key, or with value nil a delete of key, the keys under key/ and
// others), so a write that would be rejected is refused before it
// reaches etcd. It walks the sorted key set; keys are relative.
func (w *Watcher[T]) check(cur *Snapshot[T], key string, value *string, others []string) error {
	kvs := make([]*codec.KeyValue, 0, cur.kvs.Len()+1)
	sub := key + "/"
	for kv := range cur.kvs.All() {
		switch {
		case kv.Key == key:
		case value == nil && (strings.HasPrefix(kv.Key, sub) || slices.Contains(others, kv.Key)):
		default:
			kvs = append(kvs, kv)
		}
	}
	if value != nil {
		kvs = append(kvs, &codec.KeyValue{Key: key, Value: *value})
	}
	_, err := w.dec.DecodeKeys(len(kvs), slices.Values(kvs), 0)
	return err
}
