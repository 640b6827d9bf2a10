package etcdconf

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/etcdconf/etcdconf/internal/keytree"
	"github.com/etcdconf/etcdconf/internal/txn"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	clientv3 "go.etcd.io/etcd/client/v3"
	"gopkg.in/yaml.v3"
)

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
// must be at least one second. Delete refuses it: a deleted key has no
// lease. Default: no lease.
func WithTTL(d time.Duration) WriteOption {
	return writeOptionFunc(func(o *writeOptions) { o.ttl = d })
}

// IfModRevision makes the write conditional on the key's mod revision
// being rev (0: the key must not exist), so a concurrent change gives
// [ErrConflict] instead of being overwritten. With Delete it is refused
// when the path holds more than one key (a subtree, or other spellings),
// since it guards one. Default: unconditional.
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
// pointer set to nil or empty over a default, which absent keys bring
// back. After Close, Update returns [ErrClosed].
func (w *Watcher[T]) Update(ctx context.Context, fn func(*T) error) (*Snapshot[T], error) {
	if w.ctx.Err() != nil {
		return nil, ErrClosed
	}
	if w.cli == nil {
		return nil, errStatic
	}
	for attempt := 1; ; attempt++ {
		snap, err := w.updateOnce(ctx, fn)
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
func (w *Watcher[T]) updateOnce(ctx context.Context, fn func(*T) error) (*Snapshot[T], error) {
	cur := w.Current()
	next := deepCopy(reflect.ValueOf(&cur.Value).Elem()).Interface().(T)
	if err := fn(&next); err != nil {
		return nil, err
	}
	if err := validate(&next); err != nil {
		return nil, &DecodeError{Err: err}
	}
	p, err := w.plan(cur, next)
	if err != nil {
		return nil, &opError{op: "update", err: err}
	}
	// Verified even when nothing is written: a default cleared is no change
	// of keys, and would come back.
	if err := w.verify(cur, next, p); err != nil {
		return nil, &opError{op: "update", err: err}
	}
	if p.Len() == 0 {
		return cur, nil
	}
	resp, err := p.Commit(ctx, w.cli)
	return w.committed(ctx, resp, err)
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

// A writePlan is the puts and deletes that make etcd hold a new value,
// each guarded by the mod revision its key must still have (0: absent).
type writePlan struct{ *txn.Plan }

// A heldKey is a key of the snapshot with the canonical path of what it
// holds.
type heldKey struct {
	kv   *KeyValue
	path []string
	typ  reflect.Type
	doc  bool       // a .yaml, .yml or .json key: merged under plain keys
	root *yaml.Node // the parsed value, once a leaf inside it is edited
}

// heldKeys resolves the keys of kvs against T; keys that name no field
// (ignored by the decoder) are left out.
func heldKeys[T any](kvs map[string]*KeyValue, prefix string) []*heldKey {
	var out []*heldKey
	for _, k := range sortedKeys(kvs) {
		segs := keytree.Segments(strings.TrimPrefix(k, prefix))
		doc := false
		if n := len(segs); n > 0 {
			if ext := keytree.DocumentExt(segs[n-1]); ext != "" {
				doc = true
				segs[n-1] = strings.TrimSuffix(segs[n-1], ext)
				if segs[n-1] == "" {
					segs = segs[:n-1]
				}
			}
		} else if keytree.DocumentExt(k) == "" {
			continue
		} else {
			doc = true
		}
		path, typ, ok := resolve(reflect.TypeFor[T](), segs)
		if !ok {
			continue
		}
		out = append(out, &heldKey{kv: kvs[k], path: path, typ: typ, doc: doc})
	}
	return out
}

// parsed returns the key's value as a YAML node, parsing it once.
func (h *heldKey) parsed() (*yaml.Node, error) {
	if h.root == nil {
		var doc yaml.Node
		if err := yaml.Unmarshal(h.kv.Value, &doc); err != nil {
			return nil, fmt.Errorf("key %q: %w", h.kv.Key, err)
		}
		if doc.Kind == 0 || len(doc.Content) == 0 {
			doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
		}
		h.root = &doc
	}
	return h.root, nil
}

// plan turns the difference between the current value and next into the
// puts and deletes that make etcd hold next: only leaves that changed are
// written, each where it is held now (see [Watcher.Update]).
func (w *Watcher[T]) plan(cur *Snapshot[T], next T) (*writePlan, error) {
	oldL, newL := map[string]leaf{}, map[string]leaf{}
	if err := encodeLeaves(reflect.ValueOf(&next).Elem(), nil, "", newL); err != nil {
		return nil, err
	}
	// The current value decoded from keys, so it encodes; if some part of
	// it does not, that leaf counts as changed.
	_ = encodeLeaves(reflect.ValueOf(&cur.Value).Elem(), nil, "", oldL)
	p := &writePlan{txn.NewPlan()}
	held := heldKeys[T](cur.kvs.toMap(), w.prefix)
	plain := map[string]*heldKey{}
	for _, h := range held {
		if !h.doc {
			plain[strings.Join(h.path, "/")] = h
		}
	}
	edited := map[*heldKey]bool{}
	for _, k := range sortedKeys(newL) {
		nl := newL[k]
		text, err := leafText(nl.v, nl.field)
		if err != nil {
			return nil, err
		}
		if ol, ok := oldL[k]; ok {
			if s, err := leafText(ol.v, ol.field); err == nil && s == text {
				continue
			}
		}
		if h := plain[k]; h != nil {
			p.put(h.kv, text)
			continue
		}
		h, at, err := w.holderOf(held, nl.path)
		if err != nil {
			return nil, err
		}
		if h == nil {
			p.create(w.prefix+k, text)
			continue
		}
		n, err := valueNode(nl.v, nl.field)
		if err != nil {
			return nil, err
		}
		*at = *n
		edited[h] = true
	}
	for _, k := range sortedKeys(oldL) {
		if _, ok := newL[k]; ok {
			continue
		}
		if h := plain[k]; h != nil {
			p.delete(h.kv)
		}
		// Remove it from every document too, or it would show through.
		for _, h := range held {
			if !hasPrefix(oldL[k].path, h.path) || (!h.doc && (len(h.path) == len(oldL[k].path) || !isComposite(h.typ))) {
				continue
			}
			if len(h.path) == len(oldL[k].path) { // the document holds the leaf whole
				edited[h] = true
				continue
			}
			root, err := h.parsed()
			if err != nil {
				return nil, err
			}
			if removeIn(root.Content[0], h.typ, oldL[k].path[len(h.path):]) {
				edited[h] = true
			}
		}
	}
	for _, h := range held {
		if !edited[h] {
			continue
		}
		if !anyUnder(newL, h.path) {
			p.delete(h.kv)
			continue
		}
		var b strings.Builder
		if ext := keytree.DocumentExt(h.kv.Key); ext == ".yaml" || ext == ".yml" {
			doc, err := keytree.Marshal(h.root)
			if err != nil {
				return nil, fmt.Errorf("key %q: %w", h.kv.Key, err)
			}
			b.Write(doc)
		} else {
			flowJSON(&b, h.root)
		}
		p.put(h.kv, b.String())
	}
	if err := p.Check(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *writePlan) put(kv *KeyValue, v string) { p.Put(kv.Key, v, kv.ModRevision) }
func (p *writePlan) create(key, v string)       { p.Put(key, v, 0) }
func (p *writePlan) delete(kv *KeyValue)        { p.Delete(kv.Key, kv.ModRevision) }

// anyUnder reports whether a leaf lies at or under canonical path at.
func anyUnder(leaves map[string]leaf, at []string) bool {
	for _, l := range leaves {
		if hasPrefix(l.path, at) {
			return true
		}
	}
	return false
}

// holderOf finds the key whose value holds the leaf at path, when no plain
// key does: a JSON value above it (which must hold it: a key cannot have
// keys under it), else a document that has a value there. It returns the
// node to overwrite, creating the mappings on the way in a JSON value; a
// nil key means the leaf gets a key of its own.
func (w *Watcher[T]) holderOf(held []*heldKey, path []string) (*heldKey, *yaml.Node, error) {
	var inDoc *heldKey
	for _, h := range held {
		if !hasPrefix(path, h.path) || (!h.doc && (len(h.path) == len(path) || !isComposite(h.typ))) {
			continue // a scalar's key holds no leaf under it
		}
		root, err := h.parsed()
		if err != nil {
			return nil, nil, err
		}
		if !h.doc {
			return h, nodeAt(root.Content[0], h.typ, path[len(h.path):], true), nil
		}
		if inDoc == nil && nodeAt(root.Content[0], h.typ, path[len(h.path):], false) != nil {
			inDoc = h
		}
	}
	if inDoc == nil {
		return nil, nil, nil
	}
	return inDoc, nodeAt(inDoc.root.Content[0], inDoc.typ, path[len(inDoc.path):], false), nil
}

// nodeAt returns the node at canonical path rel under n, a value of type
// t, matching mapping keys as [resolve] does; with create, missing
// mappings are added with canonical names, else it returns nil.
func nodeAt(n *yaml.Node, t reflect.Type, rel []string, create bool) *yaml.Node {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if len(rel) == 0 {
		return n
	}
	if n.Kind != yaml.MappingNode {
		if !create {
			return nil
		}
		*n = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	best, bestLen := -1, 0
	var bestType reflect.Type
	for i := 0; i+1 < len(n.Content); i += 2 {
		cp, ct, ok := resolve(t, keytree.Segments(n.Content[i].Value))
		if ok && len(cp) > bestLen && hasPrefix(rel, cp) {
			best, bestLen, bestType = i, len(cp), within(t, ct)
		}
	}
	if best >= 0 {
		if got := nodeAt(n.Content[best+1], bestType, rel[bestLen:], create); got != nil || !create {
			return got
		}
	}
	if !create {
		return nil
	}
	_, ct, _ := resolve(t, rel[:1])
	ct = within(t, ct)
	if ct == nil {
		ct = t
	}
	child := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	n.Content = append(n.Content, keytree.StringNode(rel[0]), child)
	return nodeAt(child, ct, rel[1:], true)
}

// removeIn removes the value at canonical path rel from n, a value of type
// t, and every mapping the removal leaves empty. It reports whether it
// removed anything.
func removeIn(n *yaml.Node, t reflect.Type, rel []string) bool {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode || len(rel) == 0 {
		return false
	}
	removed := false
	for i := 0; i+1 < len(n.Content); {
		cp, ct, ok := resolve(t, keytree.Segments(n.Content[i].Value))
		switch {
		case ok && slices.Equal(cp, rel):
			removed = true
		case ok && hasPrefix(rel, cp) && removeIn(n.Content[i+1], within(t, ct), rel[len(cp):]):
			removed = true
			if c := n.Content[i+1]; c.Kind != yaml.MappingNode || len(c.Content) > 0 {
				i += 2
				continue
			}
		default:
			i += 2
			continue
		}
		n.Content = slices.Delete(n.Content, i, i+2)
	}
	return removed
}

// verify decodes the keys as they would be after p and refuses p unless
// they decode, validate, and read back as next.
func (w *Watcher[T]) verify(cur *Snapshot[T], next T, p *writePlan) error {
	kvs := cur.kvs.toMap()
	for k := range p.Deletes {
		delete(kvs, k)
	}
	for k, v := range p.Puts {
		kvs[k] = &KeyValue{Key: k, Value: []byte(v)}
	}
	got, err := w.dec.decode(kvs, 0)
	if err != nil {
		return fmt.Errorf("the keys written would be rejected: %w", err)
	}
	if cmp.Equal(next, got, cmpOptions, cmpopts.EquateNaNs()) {
		return nil
	}
	// Name the field, never the values: they may be secret.
	field, how := "the value", "changed"
	if cs := diffSnapshots(&Snapshot[T]{Value: next, prefix: w.prefix}, &Snapshot[T]{Value: got, prefix: w.prefix}); len(cs) > 0 {
		field, how = cs[0].Path, cs[0].Kind.String()
	}
	return fmt.Errorf("%s would not read back as written (%s after the write); "+
		"a map, slice or pointer set to nil or empty over a default cannot be written, since absent keys bring the default back",
		field, how)
}

// commit runs one guarded transaction and waits until the watcher has
// applied it.
func (w *Watcher[T]) commit(ctx context.Context, guards []clientv3.Cmp, ops []clientv3.Op) (*Snapshot[T], error) {
	resp, err := w.cli.Txn(ctx).If(guards...).Then(ops...).Commit()
	return w.committed(ctx, resp, err)
}

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
	return w.waitSeen(ctx, resp.Header.Revision)
}

// Set writes value to the key at path, relative to the prefix ("db/port"),
// and returns the snapshot that includes it. value is formatted as the
// decoder reads it (a string as it is, numbers, bools, durations, times;
// a list as a comma list, or a JSON list when an item holds a comma or
// spaces at its ends). path names fields loosely, as keys do ("DB/Port" is
// db/port), and map keys exactly. The write goes to the key that holds the
// value now, whatever its spelling; a new key is spelled by the etcd tag,
// else the lower-cased field name.
//
// The write is checked first: a path that matches no field of T, a value
// that does not decode into its field, or a result that fails Validate is
// an error naming the path, and nothing is written. See [WithTTL] and
// [IfModRevision]; a failed condition gives [ErrConflict]. After Close,
// Set returns [ErrClosed].
func (w *Watcher[T]) Set(ctx context.Context, path string, value any, opts ...WriteOption) (*Snapshot[T], error) {
	v := reflect.ValueOf(value)
	if value == nil || (isComposite(v.Type()) && v.Kind() != reflect.Slice) {
		return nil, fmt.Errorf("etcdconf: set %q: a %T cannot be one key's value", path, value)
	}
	s, err := leafText(v, "")
	if err != nil {
		return nil, &opError{op: fmt.Sprintf("set %q", path), err: err}
	}
	return w.write(ctx, path, &s, opts)
}

// Delete removes the value at path, relative to the prefix, and everything
// under it: every key that holds it, whatever its spelling
// ("services/api-1" and "services/api-1/..."), and returns the snapshot
// without them. Like [Watcher.Set], path must name a field of T, and the
// result is checked before anything is written. After Close, Delete
// returns [ErrClosed].
func (w *Watcher[T]) Delete(ctx context.Context, path string, opts ...WriteOption) (*Snapshot[T], error) {
	return w.write(ctx, path, nil, opts)
}

// write puts value at path (deletes path and its subtree when value is nil).
func (w *Watcher[T]) write(ctx context.Context, path string, value *string, opts []WriteOption) (*Snapshot[T], error) {
	if w.ctx.Err() != nil {
		return nil, ErrClosed
	}
	if w.cli == nil {
		return nil, errStatic
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
	segs := keytree.Segments(path)
	if len(segs) == 0 {
		return nil, &opError{op: op, err: errors.New("empty path")}
	}
	canon, _, ok := resolve(reflect.TypeFor[T](), segs)
	if !ok {
		return nil, &opError{op: op, err: fmt.Errorf("no field of %v matches the path", reflect.TypeFor[T]())}
	}
	if value != nil && keytree.DocumentExt(segs[len(segs)-1]) != "" {
		return nil, &opError{op: op, err: errors.New("a path ending in .yaml, .yml or .json is a document; Set writes one value")}
	}
	cur := w.Current()
	key := w.prefix + strings.Join(canon, "/")
	var under []string // other keys the delete removes: other spellings, documents
	for _, h := range heldKeys[T](cur.kvs.toMap(), w.prefix) {
		switch {
		case !h.doc && slices.Equal(h.path, canon):
			key = h.kv.Key // the key that holds the value now
		case value == nil && hasPrefix(h.path, canon):
			under = append(under, h.kv.Key)
		}
	}
	var ops []clientv3.Op
	if value == nil {
		ops = []clientv3.Op{clientv3.OpDelete(key), clientv3.OpDelete(key+"/", clientv3.WithPrefix())}
		for _, k := range under {
			if k != key && !strings.HasPrefix(k, key+"/") {
				ops = append(ops, clientv3.OpDelete(k))
			}
		}
	}
	if err := w.check(cur, key, value, ops); err != nil {
		return nil, &opError{op: op, err: err}
	}
	var guards []clientv3.Cmp
	if o.guarded {
		// The guard is on one key: a Delete that removes more than that key
		// would remove the others unguarded.
		if value == nil {
			for _, kv := range cur.Keys() {
				if kv.Key != key && (strings.HasPrefix(kv.Key, key+"/") || slices.Contains(under, kv.Key)) {
					return nil, &opError{op: op, err: fmt.Errorf("IfModRevision guards one key, and %q holds more (%s): delete them one by one", path, kv.Key)}
				}
			}
		}
		guards = append(guards, clientv3.Compare(clientv3.ModRevision(key), "=", o.modRev))
	}
	if value != nil {
		var putOpts []clientv3.OpOption
		if o.ttl != 0 {
			if o.ttl < time.Second {
				return nil, &opError{op: op, err: fmt.Errorf("TTL %v is under etcd's one-second minimum", o.ttl)}
			}
			lease, err := w.cli.Grant(ctx, int64((o.ttl+time.Second-1)/time.Second))
			if err != nil {
				return nil, &opError{op: op, err: fmt.Errorf("grant a lease: %w", err)}
			}
			putOpts = append(putOpts, clientv3.WithLease(lease.ID))
		}
		ops = []clientv3.Op{clientv3.OpPut(key, *value, putOpts...)}
	}
	return w.commit(ctx, guards, ops)
}

// check decodes the current keys with the write applied (a put of value
// at key, or the deletes ops), so a write that would be rejected is
// refused before it reaches etcd.
func (w *Watcher[T]) check(cur *Snapshot[T], key string, value *string, ops []clientv3.Op) error {
	kvs := cur.kvs.toMap()
	if value != nil {
		if !utf8.ValidString(*value) {
			return errors.New("the value is not valid UTF-8, which etcd values are read as")
		}
		kvs[key] = &KeyValue{Key: key, Value: []byte(*value)}
	}
	for _, op := range ops {
		k := string(op.KeyBytes())
		for existing := range kvs {
			if existing == k || (len(op.RangeBytes()) > 0 && strings.HasPrefix(existing, k)) {
				delete(kvs, existing)
			}
		}
	}
	_, err := w.dec.decode(kvs, 0)
	return err
}
