package etcdconf

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A Registration keeps a key in etcd for as long as the process lives:
// service discovery's "I am here". See [Register].
type Registration struct {
	cli        *clientv3.Client
	key, value string
	ttl        int64 // seconds

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	done   chan struct{} // closed when the keep-alive loop has returned

	closeOnce sync.Once
	closeErr  error

	mu    sync.Mutex // guards the fields below
	lease clientv3.LeaseID
	err   error
	count int
}

// Register puts key = value under a lease of ttl (at least one second,
// rounded up to whole seconds) and keeps the lease alive. If the lease is
// lost — etcd was unreachable for longer than ttl, restarted and expired
// it, or someone revoked it — Register's goroutine registers again, with
// backoff, until Close. ctx bounds the first registration only.
//
// A crashed process stops the keep-alives, so its key expires after ttl;
// Close revokes the lease, so the key is gone at once.
func Register(ctx context.Context, cli *clientv3.Client, key, value string, ttl time.Duration) (*Registration, error) {
	if ttl < time.Second {
		return nil, fmt.Errorf("etcdconf: register %q: TTL %v is under etcd's one-second minimum", key, ttl)
	}
	rctx, cancel := context.WithCancel(context.Background())
	r := &Registration{
		cli: cli, key: key, value: value, ttl: int64((ttl + time.Second - 1) / time.Second),
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

// register grants a lease, puts the key under it and starts keeping it
// alive, returning the keep-alive channel.
func (r *Registration) register(ctx context.Context) (<-chan *clientv3.LeaseKeepAliveResponse, error) {
	lease, err := r.cli.Grant(ctx, r.ttl)
	if err != nil {
		return nil, fmt.Errorf("etcdconf: register %q: grant a lease: %w", r.key, err)
	}
	if _, err := r.cli.Put(ctx, r.key, r.value, clientv3.WithLease(lease.ID)); err != nil {
		return nil, fmt.Errorf("etcdconf: register %q: %w", r.key, err)
	}
	ka, err := r.cli.KeepAlive(r.ctx, lease.ID)
	if err != nil {
		return nil, fmt.Errorf("etcdconf: register %q: keep the lease alive: %w", r.key, err)
	}
	r.mu.Lock()
	r.lease, r.err = lease.ID, nil
	r.count++
	r.mu.Unlock()
	return ka, nil
}

// keepAlive drains keep-alive answers; when the channel closes while the
// registration is open, the lease is gone and the key is registered again.
func (r *Registration) keepAlive(ka <-chan *clientv3.LeaseKeepAliveResponse) {
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

func (r *Registration) setErr(err error) {
	r.mu.Lock()
	r.err = err
	r.mu.Unlock()
}

// Lease returns the lease the key is currently registered under.
func (r *Registration) Lease() clientv3.LeaseID {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lease
}

// Err returns why the key is not registered right now, or nil while it is.
func (r *Registration) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Registrations returns how many times the key was registered: 1 after
// Register, one more for every lost lease recovered.
func (r *Registration) Registrations() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count
}

// Done returns a channel closed once the registration has stopped: after
// Close, or when its etcd client was closed.
func (r *Registration) Done() <-chan struct{} { return r.done }

// Close stops keeping the key alive and revokes its lease, so the key is
// deleted at once. It waits up to five seconds for etcd; if etcd cannot be
// reached, the key expires after the TTL instead and the error says so.
// Close is idempotent; later calls return the first call's result.
func (r *Registration) Close() error {
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
