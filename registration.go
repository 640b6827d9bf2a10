package etcdconf

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
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

// Exclusive makes [Register] fail with [ErrConflict] when the key exists,
// instead of taking it over: one holder at a time. After a lost lease it
// registers again only once the key is free.
func Exclusive() RegisterOption {
	return registerOptionFunc(func(r *Registration[struct{}]) { r.exclusive = true })
}

// Register puts key = value under a lease of ttl (at least one second,
// rounded up to whole seconds) and keeps the lease alive. value is encoded
// as a watcher decodes it: a string or []byte as it is, anything else as
// JSON with fields named as in etcd (their `etcd` tag, else the lower-cased
// Go name), so that a Watcher of map[string]V reads back exactly value.
//
// If the lease is lost — etcd was unreachable for longer than ttl,
// restarted and expired it, or someone revoked it — Register's goroutine
// registers again, with backoff, until Close. ctx bounds the first
// registration only.
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
	ka, err := r.register(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	go r.keepAlive(ka)
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
	if !isComposite(rv.Type()) {
		return leafText(rv, "")
	}
	n, err := valueNode(rv, "")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	flowJSON(&b, n)
	return b.String(), nil
}

// register grants a lease, puts the key under it and starts keeping it
// alive, returning the keep-alive channel.
func (r *Registration[V]) register(ctx context.Context) (<-chan *clientv3.LeaseKeepAliveResponse, error) {
	lease, err := r.cli.Grant(ctx, r.ttl)
	if err != nil {
		return nil, fmt.Errorf("etcdconf: register %q: grant a lease: %w", r.key, err)
	}
	r.mu.Lock()
	value := r.value
	r.mu.Unlock()
	put := clientv3.OpPut(r.key, value, clientv3.WithLease(lease.ID))
	txn := r.cli.Txn(ctx)
	if r.exclusive {
		txn = txn.If(clientv3.Compare(clientv3.CreateRevision(r.key), "=", 0))
	}
	resp, err := txn.Then(put).Commit()
	if err == nil && !resp.Succeeded {
		err = fmt.Errorf("%w: the key is held by another registration", ErrConflict)
	}
	if err != nil {
		r.cli.Revoke(context.WithoutCancel(ctx), lease.ID)
		return nil, fmt.Errorf("etcdconf: register %q: %w", r.key, err)
	}
	ka, err := r.cli.KeepAlive(r.ctx, lease.ID)
	if err != nil {
		return nil, fmt.Errorf("etcdconf: register %q: keep the lease alive: %w", r.key, err)
	}
	r.mu.Lock()
	r.lease, r.err = lease.ID, nil
	r.mu.Unlock()
	return ka, nil
}

// Set changes the registered value in place, under the same lease: the key
// never disappears, so watchers see one modification, not a removal and an
// addition. A registration recovered later puts the new value. Set fails
// while the key is not registered (see [Registration.Err]) and after Close.
func (r *Registration[V]) Set(ctx context.Context, value V) error {
	enc, err := encodeValue(value)
	if err != nil {
		return fmt.Errorf("etcdconf: register %q: %w", r.key, err)
	}
	if r.ctx.Err() != nil {
		return fmt.Errorf("etcdconf: register %q: %w", r.key, ErrClosed)
	}
	r.mu.Lock()
	defer r.mu.Unlock() // one Set at a time, and none racing a re-registration's value
	if r.err != nil {
		return r.err
	}
	// Guarded by the lease: a key taken over meanwhile is left alone.
	resp, err := r.cli.Txn(ctx).If(clientv3.Compare(clientv3.LeaseValue(r.key), "=", r.lease)).
		Then(clientv3.OpPut(r.key, enc, clientv3.WithLease(r.lease))).Commit()
	if err == nil && !resp.Succeeded {
		err = fmt.Errorf("%w: the key is no longer under this registration's lease", ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("etcdconf: register %q: %w", r.key, err)
	}
	r.value = enc
	return nil
}

// keepAlive drains keep-alive answers; when the channel closes while the
// registration is open, the lease is gone and the key is registered again.
func (r *Registration[V]) keepAlive(ka <-chan *clientv3.LeaseKeepAliveResponse) {
	defer close(r.done)
	b := backoff{min: 100 * time.Millisecond, max: time.Duration(r.ttl) * time.Second}
	for {
		for range ka {
		}
		if r.ctx.Err() != nil {
			return
		}
		if r.cli.Ctx().Err() != nil {
			r.setErr(fmt.Errorf("etcdconf: register %q: the etcd client was closed; the key expires after its TTL", r.key))
			return
		}
		r.setErr(fmt.Errorf("etcdconf: register %q: lease lost; registering again", r.key))
		for {
			if !sleep(r.ctx, b.next()) {
				return
			}
			ctx, cancel := context.WithTimeout(r.ctx, time.Duration(r.ttl)*time.Second)
			next, err := r.register(ctx)
			cancel()
			if err == nil {
				ka = next
				r.mu.Lock()
				r.recoveries++
				r.mu.Unlock()
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

// Err returns why the key is not registered right now, or nil while it is.
func (r *Registration[V]) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Recoveries returns how many times a lost lease was recovered by
// registering again: 0 after Register.
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
