package etcdconf

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdconf/etcdconf/internal/codec"
)

// A Registration keeps a key in etcd for as long as the process lives:
// service discovery's "I am here". See [Register].
type Registration[V any] struct {
	cli       *clientv3.Client
	key       string
	ttl       int64 // seconds
	exclusive bool

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	done   chan struct{} // closed when the keep-alive loop has returned

	closeOnce sync.Once
	closeErr  error

	mu         sync.Mutex // guards the fields below
	value      string     // encoded
	lease      clientv3.LeaseID
	err        error
	recoveries int
}

// A RegisterOption configures [Register].
type RegisterOption interface{ applyRegister(*Registration[struct{}]) }

type registerOptionFunc func(*Registration[struct{}])

func (f registerOptionFunc) applyRegister(r *Registration[struct{}]) { f(r) }

// Exclusive makes [Register] fail with [ErrKeyHeld] (which matches
// [ErrConflict]) when the key exists, instead of taking it over: one holder
// at a time. After a lost lease it registers again only once the key is
// free.
func Exclusive() RegisterOption {
	return registerOptionFunc(func(r *Registration[struct{}]) { r.exclusive = true })
}

// Register puts key = value under a lease of ttl (at least one second,
// rounded up to whole seconds) and keeps the lease alive. value is encoded
// as a watcher decodes it: a string or []byte as it is, anything else as
// JSON with fields named as in etcd (their `etcd` tag, else the lower-cased
// Go name), so that a Watcher of map[string]V reads back exactly value.
// Without [Exclusive], a key that exists is taken over: the newest
// registration of a key holds it.
//
// Register's goroutine watches the key and keeps it registered until Close:
//
//   - If the lease is lost (etcd was unreachable for longer than ttl,
//     restarted and expired it, or someone revoked it), it registers again
//     under a new lease, with backoff.
//   - If the key is deleted while the lease lives (etcdctl del, a prune),
//     it puts the key back under the same lease at once.
//   - If someone else puts the key (a second Register of it, or a plain
//     put), the key is theirs: the registration does not fight for it, and
//     puts its value back, under its lease, once their key is deleted (the
//     other holder closed, or its lease expired).
//
// Each return counts in [Registration.Recoveries]; meanwhile
// [Registration.Err] says why the key is not registered. ctx bounds the
// first registration only. Register fails with [ErrKeyHeld] under
// Exclusive when the key exists, and with etcd's error when it cannot
// grant the lease or put the key.
//
// A crashed process stops the keep-alives, so its key expires after ttl;
// Close revokes the lease, so the key is gone at once.
func Register[V any](ctx context.Context, cli *clientv3.Client, key string, value V, ttl time.Duration, opts ...RegisterOption) (*Registration[V], error) {
	if ttl < time.Second {
		return nil, fmt.Errorf("etcdconf: register %q: TTL %v is under etcd's one-second minimum", key, ttl)
	}
	enc, err := encodeValue(value)
	if err != nil {
		return nil, fmt.Errorf("etcdconf: register %q: %w", key, err)
	}
	var o Registration[struct{}]
	for _, opt := range opts {
		opt.applyRegister(&o)
	}
	rctx, cancel := context.WithCancel(context.Background())
	r := &Registration[V]{
		cli: cli, key: key, value: enc, ttl: int64((ttl + time.Second - 1) / time.Second), exclusive: o.exclusive,
		ctx: rctx, cancel: cancel, done: make(chan struct{}),
	}
	ka, rev, err := r.register(ctx, r.exclusive)
	if err != nil {
		cancel()
		return nil, err
	}
	go r.run(ka, rev)
	return r, nil
}

// encodeValue encodes a registered value: strings and bytes as they are,
// other scalars as their text, anything else as the JSON a watcher of
// map[string]V reads back as v.
func encodeValue[V any](v V) (string, error) {
	switch x := any(v).(type) {
	case string:
		return x, nil
	case []byte:
		return string(x), nil
	}
	rv := reflect.ValueOf(v)
	for rv.IsValid() && rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	if !rv.IsValid() || rv.Kind() == reflect.Pointer {
		return "", errors.New("a nil value cannot be registered")
	}
	if !codec.IsComposite(rv.Type()) {
		return codec.LeafText(rv, "")
	}
	n, err := codec.ValueNode(rv, "")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	codec.FlowJSON(&b, n)
	return b.String(), nil
}

// register grants a lease, puts the key under it (only if the key does not
// exist, when onlyIfFree) and starts keeping it alive, returning the
// keep-alive channel and the revision of the put.
func (r *Registration[V]) register(ctx context.Context, onlyIfFree bool) (<-chan *clientv3.LeaseKeepAliveResponse, int64, error) {
	lease, err := r.cli.Grant(ctx, r.ttl)
	if err != nil {
		return nil, 0, fmt.Errorf("etcdconf: register %q: grant a lease: %w", r.key, err)
	}
	r.mu.Lock()
	value := r.value
	r.mu.Unlock()
	txn := r.cli.Txn(ctx)
	if onlyIfFree {
		txn = txn.If(clientv3.Compare(clientv3.CreateRevision(r.key), "=", 0))
	}
	resp, err := txn.Then(clientv3.OpPut(r.key, value, clientv3.WithLease(lease.ID))).Else(clientv3.OpGet(r.key)).Commit()
	if err == nil && !resp.Succeeded {
		err = heldBy(resp)
	}
	if err != nil {
		r.cli.Revoke(context.WithoutCancel(ctx), lease.ID)
		return nil, 0, fmt.Errorf("etcdconf: register %q: %w", r.key, err)
	}
	ka, err := r.cli.KeepAlive(r.ctx, lease.ID)
	if err != nil {
		return nil, 0, fmt.Errorf("etcdconf: register %q: keep the lease alive: %w", r.key, err)
	}
	r.mu.Lock()
	r.lease, r.err = lease.ID, nil
	r.mu.Unlock()
	return ka, resp.Header.Revision, nil
}

// heldBy explains a put refused because the key exists: resp is a failed
// transaction whose Else branch read the key.
func heldBy(resp *clientv3.TxnResponse) error {
	if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) == 1 {
		return fmt.Errorf("%w (put at revision %d under lease %x)", ErrKeyHeld, kvs[0].ModRevision, kvs[0].Lease)
	}
	return fmt.Errorf("%w: the key was deleted; the registration puts it back", ErrConflict)
}

// Set changes the registered value in place, under the same lease: the key
// never disappears, so watchers see one modification, not a removal and an
// addition. A registration recovered later puts the new value. Set fails
// while the key is not registered (see [Registration.Err]): with
// [ErrKeyHeld] while someone else holds it, and with [ErrRegistrationClosed]
// after Close.
func (r *Registration[V]) Set(ctx context.Context, value V) error {
	enc, err := encodeValue(value)
	if err != nil {
		return fmt.Errorf("etcdconf: register %q: %w", r.key, err)
	}
	if r.ctx.Err() != nil {
		return fmt.Errorf("etcdconf: register %q: %w", r.key, ErrRegistrationClosed)
	}
	r.mu.Lock()
	defer r.mu.Unlock() // one Set at a time, and none racing a re-registration's value
	if r.err != nil {
		return r.err
	}
	// Guarded by the lease: a key taken over meanwhile is left alone.
	resp, err := r.cli.Txn(ctx).If(clientv3.Compare(clientv3.LeaseValue(r.key), "=", r.lease)).
		Then(clientv3.OpPut(r.key, enc, clientv3.WithLease(r.lease))).Else(clientv3.OpGet(r.key)).Commit()
	if err == nil && !resp.Succeeded {
		err = heldBy(resp)
	}
	if err != nil {
		return fmt.Errorf("etcdconf: register %q: %w", r.key, err)
	}
	r.value = enc
	return nil
}

// keyState is what a registration last knew of its key.
type keyState int

const (
	keyOurs    keyState = iota // under the registration's lease
	keyMissing                 // deleted while the lease lived: to be put back
	keyHeld                    // put by someone else: theirs until it is deleted
)

// run keeps the registration until Close: it drains keep-alive answers and
// watches the key from the revision after rev. A closed keep-alive channel
// means the lease is gone: the key is registered again under a new lease. A
// deleted key is put back under the same lease. Every wait backs off.
func (r *Registration[V]) run(ka <-chan *clientv3.LeaseKeepAliveResponse, rev int64) {
	defer close(r.done)
	b := backoff{min: 100 * time.Millisecond, max: time.Duration(r.ttl) * time.Second}
	state := keyOurs
	lastTrouble := time.Now()
	for {
		// Watch until the lease is lost or the watch ends.
		wctx, wcancel := context.WithCancel(r.ctx)
		wch := r.cli.Watch(wctx, r.key, clientv3.WithRev(rev+1))
		up := time.Now()
		leaseLost := false
	watch:
		for {
			select {
			case _, ok := <-ka:
				if !ok {
					leaseLost = true
					break watch
				}
			case resp, ok := <-wch:
				if !ok || resp.Err() != nil {
					break watch // canceled, compacted, or the client is closing: read the key again
				}
				rev = resp.Header.Revision
				for _, ev := range resp.Events {
					state = r.observe(state, ev.Type, ev.Kv)
				}
				if state == keyMissing {
					b.settle(time.Since(lastTrouble))
					lastTrouble = time.Now()
					if state, leaseLost = r.putBack(&b); leaseLost {
						break watch
					}
				}
			}
		}
		wcancel()
		if r.ctx.Err() != nil {
			return
		}
		if r.cli.Ctx().Err() != nil {
			r.setErr(fmt.Errorf("etcdconf: register %q: the etcd client was closed; the key expires after its TTL", r.key))
			return
		}
		if !leaseLost {
			// The watch ended: read the key again, then watch from there,
			// at once after a long watch, later after each short one.
			if time.Since(up) > time.Second {
				b.reset()
			}
			if !sleep(r.ctx, b.next()) {
				return
			}
			ctx, cancel := context.WithTimeout(r.ctx, time.Duration(r.ttl)*time.Second)
			resp, err := r.cli.Get(ctx, r.key)
			cancel()
			if err != nil {
				continue // watch again from the last revision seen; the watch's own failure backs off
			}
			rev = resp.Header.Revision
			var kv *mvccpb.KeyValue
			if len(resp.Kvs) == 1 {
				kv = resp.Kvs[0]
			}
			typ := mvccpb.PUT
			if kv == nil {
				typ = mvccpb.DELETE
			}
			if state = r.observe(state, typ, kv); state != keyMissing {
				continue
			}
			if state, leaseLost = r.putBack(&b); !leaseLost {
				continue
			}
		}
		// The lease is gone: register again under a new one. A key someone
		// else holds stays theirs.
		onlyIfFree := r.exclusive || state == keyHeld
		r.setErr(fmt.Errorf("etcdconf: register %q: lease lost; registering again", r.key))
		for {
			if !sleep(r.ctx, b.next()) {
				return
			}
			ctx, cancel := context.WithTimeout(r.ctx, time.Duration(r.ttl)*time.Second)
			next, nextRev, err := r.register(ctx, onlyIfFree)
			cancel()
			if err == nil {
				ka, rev, state = next, nextRev, keyOurs
				r.recovered()
				b.reset()
				break
			}
			if r.ctx.Err() != nil {
				return
			}
			r.setErr(err)
		}
	}
}

// observe returns the key's state after a change of it (kv is its new
// version; nil or typ DELETE when it is gone), and records why the key is
// not registered, or a recovery.
func (r *Registration[V]) observe(state keyState, typ mvccpb.Event_EventType, kv *mvccpb.KeyValue) keyState {
	switch {
	case typ == mvccpb.DELETE:
		if state != keyMissing {
			at := ""
			if kv != nil {
				at = fmt.Sprintf(" at revision %d", kv.ModRevision)
			}
			r.setErr(fmt.Errorf("etcdconf: register %q: the key was deleted%s while its lease lived; putting it back", r.key, at))
		}
		return keyMissing
	case clientv3.LeaseID(kv.Lease) == r.Lease():
		if state != keyOurs {
			r.recovered()
		}
		return keyOurs
	}
	r.setErr(fmt.Errorf("etcdconf: register %q: %w (put at revision %d under lease %x); registering again once it is deleted",
		r.key, ErrKeyHeld, kv.ModRevision, kv.Lease))
	return keyHeld
}

// putBack puts a deleted key back under the same lease, guarded by its
// absence, retrying with backoff. It returns the key's state after, and
// whether the lease turned out to be gone.
func (r *Registration[V]) putBack(b *backoff) (state keyState, leaseLost bool) {
	for {
		if !sleep(r.ctx, b.next()) {
			return keyMissing, false
		}
		r.mu.Lock()
		value, lease := r.value, r.lease
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(r.ctx, time.Duration(r.ttl)*time.Second)
		resp, err := r.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(r.key), "=", 0)).
			Then(clientv3.OpPut(r.key, value, clientv3.WithLease(lease))).Else(clientv3.OpGet(r.key)).Commit()
		cancel()
		switch {
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			return keyMissing, true
		case err != nil:
			if r.ctx.Err() != nil {
				return keyMissing, false
			}
			r.setErr(fmt.Errorf("etcdconf: register %q: the key was deleted while its lease lived; putting it back: %w", r.key, err))
			continue
		case resp.Succeeded:
			r.recovered()
			return keyOurs, false
		}
		// Someone put the key meanwhile.
		kv := resp.Responses[0].GetResponseRange().GetKvs()[0]
		return r.observe(keyMissing, mvccpb.PUT, kv), false
	}
}

// recovered counts a return of the key and clears the error.
func (r *Registration[V]) recovered() {
	r.mu.Lock()
	r.recoveries++
	r.err = nil
	r.mu.Unlock()
}

func (r *Registration[V]) setErr(err error) {
	r.mu.Lock()
	r.err = err
	r.mu.Unlock()
}

// Lease returns the lease the key is currently registered under.
func (r *Registration[V]) Lease() clientv3.LeaseID {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lease
}

// Err returns why the key is not registered right now, or nil while it is:
// the lease was lost, the key was deleted, or (matching [ErrKeyHeld])
// someone else holds it.
func (r *Registration[V]) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Recoveries returns how many times the key came back after it was lost:
// a lost lease registered again, a deleted key put back, a key taken over
// by someone else put back once they deleted it. 0 after Register.
func (r *Registration[V]) Recoveries() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.recoveries
}

// Done returns a channel closed once the registration has stopped: after
// Close, or when its etcd client was closed.
func (r *Registration[V]) Done() <-chan struct{} { return r.done }

// Close stops keeping the key alive and revokes its lease, so the key is
// deleted at once. It waits up to five seconds for etcd; if etcd cannot be
// reached, the key expires after the TTL instead and the error says so.
// Close is idempotent; later calls return the first call's result.
func (r *Registration[V]) Close() error {
	r.closeOnce.Do(func() {
		r.cancel()
		<-r.done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := r.cli.Revoke(ctx, r.Lease())
		if err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			r.closeErr = fmt.Errorf("etcdconf: unregister %q: revoke the lease (the key expires after its TTL): %w", r.key, err)
		}
	})
	return r.closeErr
}
