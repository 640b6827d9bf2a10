package release

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// DefaultMeta is the namespace etcdconf keeps its metadata in, outside
// every application's prefix.
const DefaultMeta = "/_etcdconf/"

const (
	// MaxOps is etcd's default limit of operations in one transaction
	// (--max-txn-ops).
	MaxOps = 128
	// TxnBytes is what a release lets one transaction carry: etcd refuses
	// a request over 1.5 MiB by default (--max-request-bytes), and this
	// leaves room for the request's framing.
	TxnBytes = 1 << 20
	// ChunkBytes is the size a full record's chunks stay under (a chunk
	// holds at least one key, however long).
	ChunkBytes = 256 << 10
	// MaxChain is the most releases between two full records, which bounds
	// the records read to recover a key set.
	MaxChain = 1000
)

// A Log is the releases of one prefix, under
// Meta + "releases/" + the prefix path-escaped + "/": the records at
// NNNNNNNN (the release number, zero-padded), the full records' chunks at
// full/NNNNNNNN/CCCC. The prefix is escaped into one segment so that the
// releases of /app/ and of /app/flags/ never share a range.
type Log struct {
	KV     clientv3.KV
	Meta   string // "" is DefaultMeta
	Prefix string
}

func (l *Log) dir() string {
	meta := l.Meta
	if meta == "" {
		meta = DefaultMeta
	}
	return meta + "releases/" + url.PathEscape(l.Prefix) + "/"
}

// RecordKey is the key of release n's record.
func (l *Log) RecordKey(n int64) string { return fmt.Sprintf("%s%08d", l.dir(), n) }

func (l *Log) fullDir(n int64) string { return fmt.Sprintf("%sfull/%08d/", l.dir(), n) }

// recordRange is the range of the records: the keys of the directory
// that start with a digit (":" follows "9"), which leaves full/ out.
func (l *Log) recordRange() (string, string) { return l.dir() + "0", l.dir() + ":" }

// Last returns the latest release's record, or nil when there is none.
func (l *Log) Last(ctx context.Context) (*Record, error) {
	from, end := l.recordRange()
	resp, err := l.KV.Get(ctx, from, clientv3.WithRange(end),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(1))
	if err != nil {
		return nil, fmt.Errorf("read the last release of %s: %w", l.Prefix, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	return decodeKV(resp.Kvs[0].Key, resp.Kvs[0].Value, resp.Kvs[0].CreateRevision)
}

func decodeKV(key, value []byte, rev int64) (*Record, error) {
	r, err := Decode(value)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	r.Revision = rev
	return r, nil
}

// Records returns every release's record, oldest first, read in pages at
// one revision.
func (l *Log) Records(ctx context.Context) ([]*Record, error) {
	var out []*Record
	from, end := l.recordRange()
	var rev int64
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(500)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := l.KV.Get(ctx, from, opts...)
		if err != nil {
			return nil, fmt.Errorf("read the releases of %s: %w", l.Prefix, err)
		}
		rev = resp.Header.Revision
		for _, kv := range resp.Kvs {
			r, err := decodeKV(kv.Key, kv.Value, kv.CreateRevision)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return out, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// A BehindError is a release prepared from a key set read before the
// latest release: it would not start where that one ended. Read the key
// set again at Revision or later.
type BehindError struct{ Release, Revision int64 }

func (e *BehindError) Error() string {
	return fmt.Sprintf("release %d was recorded at revision %d, after the key set this release starts from", e.Release, e.Revision)
}

// An Input is a release to prepare: the key set it starts from, what it
// changes, and who makes it why.
type Input struct {
	// Start is the prefix's key set before the release: keys relative to
	// the prefix, keys with a lease left out.
	Start   map[string]string
	Changes []Change
	Author  string
	Message string
	Time    time.Time
	// Rollback is the release whose key set this one restores (0: none).
	Rollback int64
	// Seen is the revision Start was read at: a release recorded after it
	// is a [*BehindError] (0: not checked, the transaction guards it).
	Seen int64
	// Ops and Bytes are what the caller's own part of the transaction
	// uses: operations, and bytes of keys and values.
	Ops, Bytes int
}

// A Pending release is what to add to the transaction that makes the
// change: Cmps (the record key must not exist, so two releases never
// share a number) and Ops (the record, and the full record when it fits).
// After the transaction succeeded, [Log.Finish] writes the rest.
type Pending struct {
	Record *Record
	Cmps   []clientv3.Cmp
	Ops    []clientv3.Op
	after  [][]byte // chunks of the full record that did not fit
}

// Prepare numbers the release after the latest one and returns what the
// transaction must add to record it. A full record of the key set after
// the release is written with it when there is no release before, when
// the prefix changed since the last one without a record, when the
// records since the last full record together reach the size of a full
// record (so a release costs the order of its change, amortized), or
// after MaxChain releases. It is written in the transaction when it fits
// in etcd's limits beside the change, else after it, by Finish. Prepare
// refuses a release that cannot fit in one transaction.
func (l *Log) Prepare(ctx context.Context, in Input) (*Pending, error) {
	last, err := l.Last(ctx)
	if err != nil {
		return nil, err
	}
	n := int64(1)
	if last != nil {
		n = last.Release + 1
	}
	if last != nil && in.Seen != 0 && last.Revision > in.Seen {
		return nil, &BehindError{Release: last.Release, Revision: last.Revision}
	}
	if n > 99_999_999 {
		return nil, fmt.Errorf("release %d: the log of %s is full (8-digit release numbers)", n, l.Prefix)
	}
	start := maps.Clone(in.Start)
	if start == nil {
		start = map[string]string{}
	}
	cs := slices.Clone(in.Changes)
	slices.SortFunc(cs, func(a, b Change) int { return strings.Compare(string(a.Key), string(b.Key)) })
	r := &Record{
		Release: n, Time: in.Time.UTC(), Author: Text(in.Author), Message: Text(in.Message),
		From: Digest(start), Rollback: in.Rollback, Changes: cs,
	}
	after := r.Apply(start)
	r.Digest = Digest(after)
	b, err := r.Encode()
	if err != nil {
		return nil, err
	}
	due := last == nil || last.Digest != r.From || n-last.Base >= MaxChain || last.Chain+int64(len(b)) >= size(after)
	if !due && last.Base == last.Release && last.Full > 0 {
		// The last release wrote a full record, maybe after its
		// transaction: if that was cut short, the chain needs another.
		resp, err := l.KV.Get(ctx, l.fullDir(last.Release), clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return nil, fmt.Errorf("read the full record of release %d of %s: %w", last.Release, l.Prefix, err)
		}
		due = resp.Count != int64(last.Full)
	}
	var parts [][]byte
	if due {
		if parts, err = chunks(n, after, ChunkBytes); err != nil {
			return nil, err
		}
		r.Full, r.Base, r.Chain = len(parts), n, 0
	} else {
		r.Base, r.Chain = last.Base, last.Chain+int64(len(b))
	}
	if b, err = r.Encode(); err != nil {
		return nil, err
	}
	key := l.RecordKey(n)
	if in.Ops+1 > MaxOps {
		return nil, fmt.Errorf("%d changes and the release record; etcd allows %d operations in one transaction by default, and a split write would not be atomic: nothing was written", in.Ops, MaxOps)
	}
	if t := in.Bytes + len(key) + len(b); t > TxnBytes {
		return nil, fmt.Errorf("the change with its release record is %d bytes, over the %d one transaction may carry: nothing was written", t, TxnBytes)
	}
	p := &Pending{
		Record: r,
		Cmps:   []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", 0)},
		Ops:    []clientv3.Op{clientv3.OpPut(key, string(b))},
	}
	ops, bytes := in.Ops+1, in.Bytes+len(key)+len(b)
	for _, c := range parts {
		bytes += len(c) + 64
	}
	if ops+len(parts) <= MaxOps && bytes <= TxnBytes {
		for i, c := range parts {
			p.Ops = append(p.Ops, clientv3.OpPut(l.chunkKey(n, i), string(c)))
		}
	} else {
		p.after = parts
	}
	return p, nil
}

func (l *Log) chunkKey(n int64, i int) string { return fmt.Sprintf("%s%04d", l.fullDir(n), i) }

// size is what a full record of keys weighs, about.
func size(keys map[string]string) int64 {
	var n int64
	for k, v := range keys {
		n += int64(len(k) + len(v) + 8)
	}
	return n
}

// Finish writes the chunks of p's full record that did not fit in its
// transaction, in as few transactions as etcd's limits allow. A release
// whose Finish failed is recorded all the same; its key set is recovered
// from an earlier full record, and the next release writes a new one.
func (l *Log) Finish(ctx context.Context, p *Pending) error {
	var ops []clientv3.Op
	bytes := 0
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		if _, err := l.KV.Txn(ctx).Then(ops...).Commit(); err != nil {
			return fmt.Errorf("write the full record of release %d of %s: %w", p.Record.Release, l.Prefix, err)
		}
		ops, bytes = nil, 0
		return nil
	}
	for i, c := range p.after {
		if len(ops) == MaxOps || (len(ops) > 0 && bytes+len(c) > TxnBytes) {
			if err := flush(); err != nil {
				return err
			}
		}
		ops = append(ops, clientv3.OpPut(l.chunkKey(p.Record.Release, i), string(c)))
		bytes += len(c)
	}
	return flush()
}

// full reads release n's full record of parts chunks; ok is false when it
// is incomplete.
func (l *Log) full(ctx context.Context, n int64, parts int) (map[string]string, bool, error) {
	resp, err := l.KV.Get(ctx, l.fullDir(n), clientv3.WithPrefix())
	if err != nil {
		return nil, false, fmt.Errorf("read the full record of release %d of %s: %w", n, l.Prefix, err)
	}
	if len(resp.Kvs) != parts {
		return nil, false, nil
	}
	keys := map[string]string{}
	for i, kv := range resp.Kvs {
		var c chunk
		if err := json.Unmarshal(kv.Value, &c); err != nil || c.Chunk != i || c.Of != parts || c.Release != n {
			return nil, false, nil
		}
		for _, e := range c.Keys {
			keys[string(e[0])] = string(e[1])
		}
	}
	return keys, true, nil
}

// KeySet returns release n's key set (keys relative to the prefix, leased
// keys aside) and its record: the latest complete full record at or
// before n, with the changes of the releases after it replayed, each
// checked against its record's digests. It fails when n was pruned, or
// when the prefix was written without a record between that full record
// and n (so no record holds what the prefix held).
func (l *Log) KeySet(ctx context.Context, n int64) (map[string]string, *Record, error) {
	recs, err := l.Records(ctx)
	if err != nil {
		return nil, nil, err
	}
	byNum := map[int64]*Record{}
	for _, r := range recs {
		byNum[r.Release] = r
	}
	target := byNum[n]
	if target == nil {
		if len(recs) > 0 && n >= recs[0].Release && n <= recs[len(recs)-1].Release {
			return nil, nil, fmt.Errorf("release %d of %s has no record", n, l.Prefix)
		}
		return nil, nil, fmt.Errorf("%s has no release %d (%s)", l.Prefix, n, span(recs))
	}
	for f := n; f >= 1; f-- {
		base := byNum[f]
		if base == nil {
			break
		}
		if base.Full == 0 {
			continue
		}
		keys, ok, err := l.full(ctx, f, base.Full)
		if err != nil {
			return nil, nil, err
		}
		if !ok || Digest(keys) != base.Digest {
			continue // cut short, or damaged: an earlier one may do
		}
		for i := f + 1; i <= n; i++ {
			r := byNum[i]
			if r == nil {
				return nil, nil, fmt.Errorf("release %d of %s has no record, and release %d is recovered through it", i, l.Prefix, n)
			}
			if d := Digest(keys); d != r.From {
				return nil, nil, fmt.Errorf("%s was changed without a record before release %d, and no full record between that and release %d holds the result: release %d's key set cannot be recovered", l.Prefix, i, n, n)
			}
			keys = r.Apply(keys)
			if Digest(keys) != r.Digest {
				return nil, nil, fmt.Errorf("release %d of %s does not replay to its digest", i, l.Prefix)
			}
		}
		return keys, target, nil
	}
	return nil, nil, fmt.Errorf("no full record of %s at or before release %d is left: its key set cannot be recovered", l.Prefix, n)
}

// span describes the releases a log holds.
func span(recs []*Record) string {
	if len(recs) == 0 {
		return "it has none"
	}
	return fmt.Sprintf("it has releases %d to %d", recs[0].Release, recs[len(recs)-1].Release)
}

// Prune deletes the records of releases before before, and the full
// records before them, keeping what recovering the releases from before
// on needs: the latest full record at or before it, and the records
// after that. The latest release is always kept, so numbers are never
// reused. It returns the first release kept, and how many records it
// deleted.
func (l *Log) Prune(ctx context.Context, before int64) (int64, int64, error) {
	recs, err := l.Records(ctx)
	if err != nil {
		return 0, 0, err
	}
	if len(recs) == 0 {
		return 0, 0, nil
	}
	cut := min(before, recs[len(recs)-1].Release)
	for i := len(recs) - 1; i >= 0; i-- {
		if r := recs[i]; r.Release <= cut && r.Full > 0 {
			cut = r.Release
			break
		}
	}
	from, _ := l.recordRange()
	resp, err := l.KV.Txn(ctx).Then(
		clientv3.OpDelete(from, clientv3.WithRange(l.RecordKey(cut))),
		clientv3.OpDelete(l.dir()+"full/", clientv3.WithRange(l.fullDir(cut))),
	).Commit()
	if err != nil {
		return 0, 0, fmt.Errorf("prune the releases of %s: %w", l.Prefix, err)
	}
	return cut, resp.Responses[0].GetResponseDeleteRange().Deleted, nil
}
