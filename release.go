package etcdconf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdconf/etcdconf/internal/codec"
	"github.com/etcdconf/etcdconf/release"
)

// WithRelease records the write as a release of the prefix, with message
// saying why: a record under the metadata namespace (see [WithMetaPrefix])
// written in the same transaction as the change, which etcdconf history
// lists and etcdconf rollback --release restores, also after etcd
// compacted its own history (the record format is package release's, the
// CLI's). The author is "etcdconf@HOST/PID" of the process. Two releases
// never share a number: a write whose number another release took first
// is a conflict, which [Watcher.Update] runs again, as [Watcher.Set] and
// [Watcher.Delete] do unless [IfModRevision] guards them. The writer needs
// read and write permission on the metadata namespace; without it the
// write fails and nothing is written. Default: no record.
func WithRelease(message string) WriteOption {
	return writeOptionFunc(func(o *writeOptions) { o.release, o.message = true, message })
}

// WithMetaPrefix moves the namespace etcdconf keeps its metadata in (the
// release records of [WithRelease]), which must end in "/" and lie
// outside the watched prefix. Default: "/_etcdconf/", as the CLI's
// --meta-prefix.
func WithMetaPrefix(p string) Option {
	return optionFunc(func(o *options) { o.meta = p })
}

// author is the author of the library's releases: etcdconf@HOST/PID.
var author = sync.OnceValue(func() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return fmt.Sprintf("etcdconf@%s/%d", host, os.Getpid())
})

// releaseLog returns the release log of the watcher's prefix, or an error
// when the metadata namespace cannot hold it.
func (w *Watcher[T]) releaseLog(wr keyWriter) (*release.Log, error) {
	meta := w.o.meta
	if meta == "" {
		meta = release.DefaultMeta
	}
	if !strings.HasSuffix(meta, "/") {
		return nil, fmt.Errorf("WithMetaPrefix %q must end in \"/\"", meta)
	}
	if strings.HasPrefix(meta, w.prefix) || strings.HasPrefix(w.prefix, meta) {
		return nil, fmt.Errorf("the metadata namespace %q and the prefix %q overlap: the records would be read as configuration", meta, w.prefix)
	}
	return &release.Log{KV: wr.kv(), Meta: meta, Prefix: w.prefix}, nil
}

// startKeys is the key set a release starts from: etcd's keys of the
// snapshot, relative to the prefix, without the keys that have a lease.
func startKeys(kvs *codec.KeySet) map[string]string {
	out := make(map[string]string, kvs.Len())
	for kv := range kvs.All() {
		if kv.Lease() == 0 {
			out[kv.Key] = kv.Value
		}
	}
	return out
}

// keyChange is the change of one key of kvs to value (nil: deleted), with
// leased set when the key has a lease after the write: a key with a lease
// is no part of a key set, before or after.
func keyChange(kvs *codec.KeySet, key string, value *string, leased bool) release.Change {
	c := release.Change{Key: release.Text(key), Leased: leased}
	if kv, ok := kvs.Get(key); ok && kv.Lease() == 0 {
		c.Old = release.TextOf(kv.Value)
	}
	if value != nil && !leased {
		c.New = release.TextOf(*value)
	}
	return c
}

// prepareRelease prepares the release record of a write of changes, from
// the key set kvs read at rev, whose own operations are ops and carry
// bytes. A release recorded after rev is a conflict.
func (w *Watcher[T]) prepareRelease(ctx context.Context, wr keyWriter, o *writeOptions, kvs *codec.KeySet, rev int64, changes []release.Change, ops, bytes int) (*release.Pending, error) {
	log, err := w.releaseLog(wr)
	if err != nil {
		return nil, err
	}
	p, err := log.Prepare(ctx, release.Input{
		Start: startKeys(kvs), Changes: changes, Seen: rev,
		Author: author(), Message: o.message, Time: time.Now(),
		Ops: ops, Bytes: bytes,
	})
	if be, ok := errors.AsType[*release.BehindError](err); ok {
		// Another writer's release is ahead of the snapshot: a conflict,
		// so the write runs again once the watcher holds it.
		return nil, &conflictError{rev: be.Revision}
	}
	return p, err
}

// releaseTxn is what a release adds to a write's transaction: nothing
// without one.
func releaseTxn(p *release.Pending) ([]clientv3.Cmp, []clientv3.Op) {
	if p == nil {
		return nil, nil
	}
	return p.Cmps, p.Ops
}

// finishRelease writes what of a committed release's full record did not
// fit in its transaction. Its failure is logged, not returned: the write
// and its record are in etcd, and the next release writes a full record
// again (see release.Log.Finish).
func (w *Watcher[T]) finishRelease(ctx context.Context, wr keyWriter, p *release.Pending, resp *clientv3.TxnResponse, err error) {
	if p == nil || err != nil || !resp.Succeeded {
		return
	}
	log, lerr := w.releaseLog(wr)
	if lerr == nil {
		lerr = log.Finish(ctx, p)
	}
	if lerr != nil {
		w.o.logger.Warn("etcdconf: release recorded without its full record", "prefix", w.prefix, "release", p.Record.Release, "err", lerr)
	}
}
