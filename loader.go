package etcdconf

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/etcdconf/etcdconf/internal/codec"
)

// pageSize is the number of keys per request when a prefix is too large for
// one response. A single Get is tried first: on this machine it loads 100k
// keys in about a sixth of the time paging takes, because every page makes
// etcd count the rest of the range again.
const pageSize = 10000

// Load reads every key under prefix at one revision and decodes it into a
// [Snapshot]. It is what [New] does first, without the watch.
//
// ctx bounds the load, and so does [WithLoadTimeout]: the earlier wins.
// Errors: an empty prefix or an unusable T or option; etcd unreachable or
// denying access (the error says which); a [*DecodeError] (matching
// [ErrInvalid]) when the keys do not decode or validate.
//
// With [WithSnapshotFile], Load writes the snapshot it read to the file (a
// failed write, or a file a watcher or another process holds, is logged and
// passed to [Observer].Error; Load still succeeds), and when etcd cannot be
// read it returns the file's snapshot instead, if the file is usable:
// [Snapshot.FromSnapshotFile] then says when the file was written, and the
// logger why etcd was not read.
func Load[T any](ctx context.Context, cli *clientv3.Client, prefix string, opts ...Option) (*Snapshot[T], error) {
	o := newOptions(opts)
	dec, lay, err := prepare[T](cli, prefix, o)
	if err != nil {
		return nil, err
	}
	file := newSnapshotFile(o)
	snap, loadErr, err := initial(ctx, cli, prefix, o, file, dec, lay)
	if err != nil {
		return nil, err
	}
	if file == nil {
		return snap, nil
	}
	if loadErr != nil {
		o.logger.Warn("etcdconf: etcd unreachable; using the snapshot file", "prefix", prefix,
			"file", file.path, "written", snap.written, "revision", snap.Revision, "err", loadErr)
		return snap, nil
	}
	err = file.claim(prefix)
	if err == nil {
		err = file.write(fileSnapshot{prefix: prefix, rev: snap.Revision, written: time.Now(), kvs: snap.etcdKeys()})
		file.release()
	}
	if err != nil {
		o.logger.Warn("etcdconf: snapshot file not written", "prefix", prefix, "err", err)
		o.observer.error(err, o.logger)
	}
	return snap, nil
}

// initial reads the first snapshot of New and Load from etcd; when etcd
// cannot be read (see unreachable) and file, the one WithSnapshotFile
// names, is usable, it reads it from the file instead, and loadErr is why
// etcd was not read.
func initial[T any](ctx context.Context, cli *clientv3.Client, prefix string, o *options, file *snapshotFile, dec *codec.Decoder[T], lay *layered[T]) (snap *Snapshot[T], loadErr, err error) {
	kvs, rev, err := loadKeys(ctx, cli, prefix, o.loadTimeout)
	if err == nil {
		start := time.Now()
		merged := lay.mergeEtcd(kvs)
		v, err := dec.DecodeSet(merged, rev)
		o.observer.decoded(rev, time.Since(start), err)
		if err != nil {
			return nil, nil, err
		}
		return &Snapshot[T]{Value: v, Revision: rev, Generation: 1, prefix: prefix, kvs: merged, etcd: kvs}, nil, nil
	}
	if file == nil || !unreachable(err) {
		return nil, nil, err
	}
	loadErr = err
	fs, err := file.read(prefix)
	if err != nil {
		return nil, nil, fmt.Errorf("%w; %w", loadErr, err)
	}
	merged := lay.mergeEtcd(fs.kvs) // the file holds etcd's keys only: the other layers as they are now
	v, err := dec.DecodeSet(merged, fs.rev)
	if err != nil {
		return nil, nil, fmt.Errorf("%w; etcdconf: snapshot file %s refused: does not decode into %v: %w",
			loadErr, file.path, reflect.TypeFor[T](), err)
	}
	return &Snapshot[T]{Value: v, Revision: fs.rev, Generation: 1, prefix: prefix, kvs: merged, etcd: fs.kvs, written: fs.written}, loadErr, nil
}

// prepare checks the arguments common to Load and New, builds the decoder
// and reads the layers (nil when there are none).
func prepare[T any](cli *clientv3.Client, prefix string, o *options) (*codec.Decoder[T], *layered[T], error) {
	if cli == nil {
		return nil, nil, errors.New("etcdconf: nil *clientv3.Client")
	}
	if prefix == "" {
		return nil, nil, errors.New(`etcdconf: empty prefix: give the key prefix to watch, such as "/myapp/config/"`)
	}
	if err := checkDefaults[T](o); err != nil {
		return nil, nil, err
	}
	if o.hasSnapshotFile && o.snapshotFile == "" {
		return nil, nil, errors.New("etcdconf: WithSnapshotFile: empty path")
	}
	if m := o.meta; m != "" && (!strings.HasSuffix(m, "/") || strings.HasPrefix(m, prefix) || strings.HasPrefix(prefix, m)) {
		return nil, nil, fmt.Errorf("etcdconf: WithMetaPrefix %q: it must end in \"/\" and lie outside the watched prefix %q", m, prefix)
	}
	if o.heartbeat {
		if err := checkHeartbeatPrefix("WithHeartbeat", prefix); err != nil {
			return nil, nil, err
		}
	}
	dec, err := codec.NewDecoder[T](prefix, o.decodeConfig())
	if err != nil {
		return nil, nil, err
	}
	lay, err := newLayered[T](o)
	if err != nil {
		return nil, nil, err
	}
	return dec, lay, nil
}

// loadKeys reads every key under prefix at one revision, which it returns.
// A compaction while paging restarts the read at a fresh revision.
func loadKeys(ctx context.Context, cli *clientv3.Client, prefix string, timeout time.Duration) (*codec.KeySet, int64, error) {
	if timeout > 0 { // with ctx's own deadline, the earlier wins
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var kvs *codec.KeySet
	var rev int64
	hosts := endpointHosts(cli)
	err, why := ClientConfig{}.diagnosed(ctx, hosts, nil, false, func(ctx context.Context) (err error) {
		for {
			kvs, rev, err = readPrefix(ctx, cli, prefix)
			if !errors.Is(err, rpctypes.ErrCompacted) {
				return err
			}
			// the revision we paged at is gone: read again at a new one
		}
	})
	if err != nil {
		return nil, 0, loadError(prefix, hosts, err, why)
	}
	return kvs, rev, nil
}

// endpointHosts returns the client's endpoints as "host:port".
func endpointHosts(cli *clientv3.Client) []string {
	var hosts []string
	for _, ep := range cli.Endpoints() {
		hosts = append(hosts, strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(ep, "https://"), "http://"), "/"))
	}
	return hosts
}

func readPrefix(ctx context.Context, cli *clientv3.Client, prefix string) (*codec.KeySet, int64, error) {
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
	if status.Code(err) == codes.ResourceExhausted {
		return readPages(ctx, cli, prefix)
	}
	if err != nil {
		return nil, 0, err
	}
	kvs := make([]codec.KeyValue, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		kvs[i] = newKeyValue(kv, prefix)
	}
	return codec.KeySetOfSorted(kvs), resp.Header.Revision, nil
}

// readPages reads the prefix in pages, all at the revision of the first.
func readPages(ctx context.Context, cli *clientv3.Client, prefix string) (*codec.KeySet, int64, error) {
	end := clientv3.GetPrefixRangeEnd(prefix)
	var kvs []codec.KeyValue
	var rev int64
	for key := prefix; ; {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(pageSize)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := cli.Get(ctx, key, opts...)
		if err != nil {
			return nil, 0, err
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			kvs = append(kvs, newKeyValue(kv, prefix))
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return codec.KeySetOfSorted(kvs), rev, nil
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// loadError gives a failed read a message that says what to check, and
// the sentinel that matches it. A read that timed out is explained by why,
// what probing the first endpoint found while the read ran (see
// ClientConfig.diagnosed), or by a brief probe now.
func loadError(prefix string, hosts []string, err, why error) error {
	switch {
	case timedOut(err):
		if len(hosts) == 0 {
			return fmt.Errorf("%w: load %q: the client has no endpoint: %w", ErrUnreachable, prefix, err)
		}
		if why == nil {
			ctx, cancel := context.WithTimeout(context.Background(), afterDeadline)
			defer cancel()
			why = ClientConfig{}.diagnose(ctx, hosts, nil, err)
		}
		return fmt.Errorf("%w (loading %q)", why, prefix)
	case errors.Is(err, rpctypes.ErrPermissionDenied):
		return fmt.Errorf("%w: load %q: the user's roles may not read this prefix: %w", ErrPermission, prefix, err)
	case errors.Is(err, rpctypes.ErrAuthFailed), errors.Is(err, rpctypes.ErrInvalidAuthToken), errors.Is(err, rpctypes.ErrUserEmpty),
		errors.Is(err, rpctypes.ErrAuthOldRevision), errors.Is(err, rpctypes.ErrUserNotFound):
		return fmt.Errorf("%w: load %q: %w", ErrAuth, prefix, err)
	}
	return fmt.Errorf("etcdconf: load %q: %w", prefix, err)
}
