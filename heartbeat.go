package etcdconf

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/etcdconf/etcdconf/internal/keytree"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// HeartbeatKey returns the key [Heartbeat] writes for the watchers of
// prefix that use [WithHeartbeat]: the prefix's range end, the first key
// after every key under prefix ("/app0" for "/app/"). It lies outside the
// prefix, so nothing that reads the prefix sees it, and right after it, so
// one watch of [prefix, HeartbeatKey(prefix)+"\x00") covers both. A
// reader of an enclosing prefix ("/" for "/app/") sees it as any other
// key. It returns "" for an empty prefix or one that has no range end
// (all bytes 0xff). Heartbeat and WithHeartbeat refuse a prefix that does
// not end in "/": its range end is then a sibling key of the prefix
// ("/cfg/app2" for "/cfg/app1"), which another application may hold or
// read.
func HeartbeatKey(prefix string) string {
	if prefix == "" {
		return ""
	}
	end := clientv3.GetPrefixRangeEnd(prefix)
	if end == "\x00" {
		return ""
	}
	return end
}

// checkHeartbeatPrefix refuses a prefix whose heartbeat key could be
// another application's key. The range end of a prefix ending in "/" is
// that directory's name followed by "0" ("/app0" for "/app/"): no key
// under another prefix ending in "/" nor a document key. The range end of
// any other prefix is a sibling of its last segment ("/cfg/app2" for
// "/cfg/app1", "/cfg/a.yamm" for "/cfg/a.yaml"), a key that another
// application may hold, which each heartbeat would overwrite, or read under
// a prefix such as "/cfg/", which would see it as configuration.
func checkHeartbeatPrefix(what, prefix string) error {
	if strings.HasSuffix(prefix, "/") {
		return nil
	}
	if prefix == "" {
		return fmt.Errorf("etcdconf: %s: empty prefix", what)
	}
	use := fmt.Sprintf("use %q", prefix+"/")
	if keytree.DocumentExt(prefix[strings.LastIndexByte(prefix, '/')+1:]) != "" {
		use = "move the document under a directory of its own and use that directory"
	}
	return fmt.Errorf("etcdconf: %s: prefix %q does not end in \"/\": its heartbeat key (its range end, %q) would be a key beside it, which another application may hold or read; %s, or do without the heartbeat",
		what, prefix, HeartbeatKey(prefix), use)
}

// mayReadHeartbeat fails with ErrPermission when the user may read the
// prefix (it was just loaded) but not its heartbeat key: etcd would refuse
// the watch of both, and the watcher could never watch. Other failures
// are left to the watch.
func mayReadHeartbeat(ctx context.Context, cli *clientv3.Client, prefix string) error {
	key := HeartbeatKey(prefix)
	_, err := cli.Get(ctx, key, clientv3.WithCountOnly())
	if errors.Is(err, rpctypes.ErrPermissionDenied) {
		return fmt.Errorf("%w: WithHeartbeat: the user's roles may read %q but not its heartbeat key %q: %w", ErrPermission, prefix, key, err)
	}
	return nil
}

// A HeartbeatOption configures [Heartbeat].
type HeartbeatOption interface{ applyHeartbeat(*heartbeatOptions) }

type heartbeatOptionFunc func(*heartbeatOptions)

func (f heartbeatOptionFunc) applyHeartbeat(o *heartbeatOptions) { f(o) }

type heartbeatOptions struct {
	every time.Duration
	name  string
	elect bool
	ttl   time.Duration
	meta  string
}

// HeartbeatEvery sets how often [Heartbeat] writes. It must be below the
// watchers' progress interval ([WithProgressInterval], 5s by default), or
// some intervals see no heartbeat and their watchers read instead.
// Default: 4s, below the default progress interval by a margin for
// delivery delays.
func HeartbeatEvery(d time.Duration) HeartbeatOption {
	return heartbeatOptionFunc(func(o *heartbeatOptions) { o.every = d })
}

// HeartbeatName sets the writer's name, written in the heartbeat's value
// and, with [HeartbeatElect], its candidacy's. Default: host name and
// process id, "host-1234".
func HeartbeatName(name string) HeartbeatOption {
	return heartbeatOptionFunc(func(o *heartbeatOptions) { o.name = name })
}

// HeartbeatElect makes [Heartbeat] one candidate among several (processes
// that each run it with the option, for the same prefix): only the elected
// one writes, and when it stops another takes over. The election is
// etcd's (go.etcd.io/etcd/client/v3/concurrency) under the metadata
// namespace meta ("" is [DefaultMetaPrefix]; like [WithMetaPrefix], it
// must end in "/" and lie outside prefix, or Heartbeat fails), at
// meta+"heartbeat/"+url.PathEscape(prefix)+"/". ttl is the candidates'
// session lease (rounded up to whole seconds, at least 1s; 0 or less
// means 60s, the concurrency package's default): a leader that resigns
// (its ctx ended) hands over at once, one that vanished (crash,
// partition) after ttl, while the watchers prove their currency by reads.
// Each candidate renews its lease every ttl/3, one request to etcd each:
// the price of the failover, which a longer ttl lowers and a shorter one
// speeds up.
func HeartbeatElect(meta string, ttl time.Duration) HeartbeatOption {
	return heartbeatOptionFunc(func(o *heartbeatOptions) {
		o.elect, o.meta = true, meta
		if ttl > 0 {
			o.ttl = ttl
		}
	})
}

// Heartbeat writes prefix's heartbeat ([HeartbeatKey]) every interval (see
// [HeartbeatEvery]) until ctx ends, for the watchers that use
// [WithHeartbeat]. Each write is one put of a short text (the writer's
// name and the time), with no lease: the cheapest request that moves
// etcd's revision, and the only request etcd receives for the liveness of
// every watcher of the prefix, however many, while it runs. Running more
// than one writer is harmless (each write is a proof for every watcher)
// but multiplies the cost; [HeartbeatElect] makes one of several write.
//
// Heartbeat returns nil when ctx ends (an elected writer resigns first).
// It returns an error at once for a prefix that does not end in "/" (see
// [HeartbeatKey]), and when etcd refuses the writer's user
// ([ErrPermission]: it needs write permission on the heartbeat key, and
// with HeartbeatElect read and write on the election's keys; [ErrAuth]).
// Other failures (etcd unreachable, no leader) are retried every interval:
// meanwhile the watchers prove their currency by reads, as without a
// heartbeat.
func Heartbeat(ctx context.Context, cli *clientv3.Client, prefix string, opts ...HeartbeatOption) error {
	o := heartbeatOptions{every: 4 * time.Second, ttl: time.Minute}
	for _, opt := range opts {
		opt.applyHeartbeat(&o)
	}
	key := HeartbeatKey(prefix)
	if err := checkHeartbeatPrefix("Heartbeat", prefix); err != nil {
		return err
	}
	switch {
	case cli == nil:
		return errors.New("etcdconf: Heartbeat: nil *clientv3.Client")
	case o.every <= 0:
		return fmt.Errorf("etcdconf: HeartbeatEvery(%v): want a positive interval", o.every)
	}
	if o.name == "" {
		host, _ := os.Hostname()
		o.name = host + "-" + strconv.Itoa(os.Getpid())
	}
	if !o.elect {
		return beat(ctx, cli, key, &o, nil)
	}
	if o.meta == "" {
		o.meta = DefaultMetaPrefix
	}
	if m := o.meta; !strings.HasSuffix(m, "/") || strings.HasPrefix(m, prefix) || strings.HasPrefix(prefix, m) {
		return fmt.Errorf("etcdconf: HeartbeatElect: meta prefix %q: it must end in \"/\" and lie outside the prefix %q", m, prefix)
	}
	ttl := max(1, int((o.ttl+time.Second-1)/time.Second))
	pfx := o.meta + "heartbeat/" + url.PathEscape(prefix) + "/"
	for ctx.Err() == nil {
		err := lead(ctx, cli, key, pfx, ttl, &o)
		if denied(err) {
			return heartbeatError(err)
		}
		if !sleep(ctx, o.every) {
			break
		}
	}
	return nil
}

// lead campaigns in a new session and, once elected, writes heartbeats
// until ctx ends (it resigns then) or the session or the leadership is
// lost, which it returns.
func lead(ctx context.Context, cli *clientv3.Client, key, pfx string, ttl int, o *heartbeatOptions) error {
	s, err := concurrency.NewSession(cli, concurrency.WithTTL(ttl), concurrency.WithContext(ctx))
	if err != nil {
		return err
	}
	defer func() {
		// Revoked, not left to expire: the candidacy ends with it, even
		// when ctx has ended (Session.Close would revoke under ctx).
		s.Orphan()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.every)
		cli.Revoke(rctx, s.Lease())
		cancel()
	}()
	e := concurrency.NewElection(s, pfx)
	if err := e.Campaign(ctx, o.name); err != nil {
		return err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.every)
		e.Resign(rctx)
		cancel()
	}()
	// The put is guarded by the leader's key, so a leader whose lease
	// expired while it was cut off writes nothing once it is back.
	leader := clientv3.Compare(clientv3.CreateRevision(e.Key()), "=", e.Rev())
	return beat(ctx, cli, key, o, &elected{guard: leader, done: s.Done()})
}

// elected is what an elected writer's heartbeats depend on.
type elected struct {
	guard clientv3.Cmp
	done  <-chan struct{} // closed when the session's lease is lost
}

var errDeposed = errors.New("etcdconf: heartbeat: no longer the elected writer")

// beat writes the heartbeat key every interval until ctx ends (nil), etcd
// refuses the writer (the error), or, when el is not nil, the writer is no
// longer elected (errDeposed or the failure).
func beat(ctx context.Context, cli *clientv3.Client, key string, o *heartbeatOptions, el *elected) error {
	t := time.NewTicker(o.every)
	defer t.Stop()
	var done <-chan struct{}
	if el != nil {
		done = el.done
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, o.every)
		value := o.name + " " + time.Now().UTC().Format(time.RFC3339Nano)
		var err error
		if el == nil {
			_, err = cli.Put(wctx, key, value)
		} else {
			var resp *clientv3.TxnResponse
			resp, err = cli.Txn(wctx).If(el.guard).Then(clientv3.OpPut(key, value)).Commit()
			if err == nil && !resp.Succeeded {
				err = errDeposed
			}
		}
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case denied(err):
			return heartbeatError(err)
		case errors.Is(err, errDeposed):
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-done:
			return errDeposed
		case <-t.C:
		}
	}
}

// denied reports whether etcd refused the user: retrying cannot help.
func denied(err error) bool {
	return errors.Is(err, rpctypes.ErrPermissionDenied) || errors.Is(err, rpctypes.ErrAuthFailed) ||
		errors.Is(err, rpctypes.ErrUserNotFound) || errors.Is(err, rpctypes.ErrInvalidAuthToken)
}

func heartbeatError(err error) error {
	if errors.Is(err, rpctypes.ErrPermissionDenied) {
		return fmt.Errorf("%w: heartbeat: %w", ErrPermission, err)
	}
	return fmt.Errorf("%w: heartbeat: %w", ErrAuth, err)
}
