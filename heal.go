package etcdconf

import (
	"context"
	"errors"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdconf/etcdconf/internal/codec"
)

// errHealed cancels a reload attempt that began while etcd did not answer,
// once etcd answers again.
var errHealed = errors.New("etcdconf: etcd answers again; reloading afresh")

// reloadKeys is loadKeys for a recovery, which often begins while etcd does
// not answer: a member restarting or without a leader, a link that died.
// The attempt's own request can then stay held after etcd heals — on a
// connection that will never answer, or in a member that dropped it (a
// linearizable read begun without a leader waits for a retry of its own,
// or, in etcd 3.4, for the request timeout) — while a new request would be
// answered at once. So while the load runs, a count-only read probes etcd
// every interval (the first at once); when one is answered after one was
// not, the load starts afresh. The load timeout bounds the whole call, as
// it bounds a load; a load that is merely long, with etcd answering, is
// never restarted.
func reloadKeys(ctx context.Context, cli *clientv3.Client, prefix string, timeout, every time.Duration) (*codec.KeySet, int64, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	for restarts := 0; ; restarts++ {
		if restarts%2 == 1 {
			// Shift the balancer by one pick. The client spreads requests
			// round-robin over its connections, and the probes that find
			// etcd healed end on an answering one: with two connections,
			// one held, the next pick — this load's — is the held one
			// every time. Every other restart takes one more pick first,
			// so two restarts in a row never land on the same connection
			// for the same reason.
			pctx, pcancel := context.WithTimeout(ctx, every)
			_, _ = cli.Get(pctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
			pcancel()
		}
		actx, cancel := context.WithCancelCause(ctx)
		probed := make(chan struct{})
		go func() {
			defer close(probed)
			cancelOnHeal(actx, cancel, cli, prefix, every)
		}()
		kvs, rev, err := loadKeys(actx, cli, prefix, timeout)
		healed := errors.Is(context.Cause(actx), errHealed)
		cancel(nil)
		<-probed
		if err == nil || !healed || ctx.Err() != nil {
			return kvs, rev, err
		}
	}
}

// cancelOnHeal probes etcd with a count-only read, bounded by every, once
// every interval until ctx ends, and cancels ctx with errHealed when a read
// is answered after one was not. A restart costs at least one interval:
// reloadKeys cannot spin.
func cancelOnHeal(ctx context.Context, cancel context.CancelCauseFunc, cli *clientv3.Client, prefix string, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	failed := false
	for {
		rctx, rcancel := context.WithTimeout(ctx, every)
		_, err := cli.Get(rctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		rcancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			failed = true
		case failed:
			cancel(errHealed)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
