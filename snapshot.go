package etcdconf

import (
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/etcdconf/etcdconf/internal/codec"
)

// A Snapshot is the configuration as etcd held it at one revision.
//
// A published snapshot is shared by every reader and never modified: treat
// Value, and everything reachable from it, as read-only. To change the
// configuration, write to etcd (see [Watcher.Update]).
type Snapshot[T any] struct {
	// Value is the decoded configuration.
	Value T
	// Revision is the etcd revision this value reflects: the revision of the
	// last change to the prefix that it includes, or of the load.
	// The revision never decreases from one snapshot to the next.
	Revision int64
	// Generation counts the snapshots a watcher published, from 1: it
	// increases with every snapshot, also one a file layer's change made
	// at an unchanged etcd revision (see [WithFile]).
	Generation uint64

	prefix string
	// kvs are the keys the value was decoded from, relative to the prefix:
	// etcd's merged with the layers' (see layers.go); etcd's alone are etcd
	// (nil: kvs, no layers). Never modified after publication; they share
	// nodes with other snapshots.
	kvs, etcd *codec.KeySet

	// delta is the diff from the snapshot of generation deltaFrom, when the
	// watcher computed it from the keys it changed; nil else.
	delta     []Change
	deltaFrom uint64

	// written is when the snapshot file this snapshot was read from was
	// written; zero for a snapshot read from etcd.
	written time.Time
}

// A KeyValue is one etcd key of a snapshot with its metadata.
// Value is shared with the snapshot and must not be modified.
type KeyValue struct {
	Key            string // the full etcd key
	Value          []byte
	CreateRevision int64 // revision of the key's creation
	ModRevision    int64 // revision of the key's last modification
	Version        int64 // number of modifications since creation
	Lease          int64 // lease ID attached to the key; 0 for none
}

// publicKeyValue returns kv with its key still relative to the prefix.
func publicKeyValue(kv *codec.KeyValue) KeyValue {
	return KeyValue{Key: kv.Key, Value: []byte(kv.Value), CreateRevision: kv.CreateRevision,
		ModRevision: kv.ModRevision, Version: kv.Version, Lease: kv.Lease()}
}

// decoded returns the snapshot's value with its keys, for the decoder; the
// zero decoded for nil.
func (s *Snapshot[T]) decoded() codec.Decoded[T] {
	if s == nil {
		return codec.Decoded[T]{}
	}
	return codec.Decoded[T]{Value: s.Value, Keys: s.kvs}
}

// diffSnapshots is diffValues of two snapshots; a nil old stands for the
// zero T with no keys.
func diffSnapshots[T any](old, new *Snapshot[T]) []Change {
	var o *codec.Decoded[T]
	if old != nil {
		d := old.decoded()
		o = &d
	}
	return changesOf(codec.Diff(o, new.decoded(), new.prefix))
}

// Prefix returns the key prefix the snapshot was read from.
func (s *Snapshot[T]) Prefix() string { return s.prefix }

// FromSnapshotFile returns when the snapshot file it was read from was
// written, if etcd could not be read and the snapshot came from the file
// named by [WithSnapshotFile]; it returns the zero time for a snapshot read
// from etcd.
func (s *Snapshot[T]) FromSnapshotFile() time.Time { return s.written }

// etcdKeys returns the snapshot's keys read from etcd.
func (s *Snapshot[T]) etcdKeys() *codec.KeySet {
	if s.etcd != nil {
		return s.etcd
	}
	return s.kvs
}

// Key returns the etcd key at path, relative to the prefix ("db/port"), and
// whether the snapshot has it.
func (s *Snapshot[T]) Key(path string) (KeyValue, bool) {
	kv, ok := s.etcdKeys().Get(path)
	if !ok {
		return KeyValue{}, false
	}
	out := publicKeyValue(kv)
	out.Key = s.prefix + kv.Key
	return out, true
}

// Keys returns every etcd key of the snapshot, sorted by key.
func (s *Snapshot[T]) Keys() []KeyValue {
	kvs := s.etcdKeys()
	out := make([]KeyValue, 0, kvs.Len())
	n := 0
	for kv := range kvs.All() {
		n += len(s.prefix) + len(kv.Key)
	}
	var b strings.Builder // the full keys, in one allocation
	b.Grow(n)
	for kv := range kvs.All() {
		start := b.Len()
		b.WriteString(s.prefix)
		b.WriteString(kv.Key)
		full := publicKeyValue(kv)
		full.Key = b.String()[start:]
		out = append(out, full)
	}
	return out
}

// LogValue renders the snapshot for log/slog as its revision, prefix and
// number of keys, and when it was read from a snapshot file, its time;
// never its Value, which may hold secrets. (slog.Any of the Value itself
// prints what it holds.)
func (s *Snapshot[T]) LogValue() slog.Value {
	if s == nil {
		return slog.Value{}
	}
	attrs := []slog.Attr{slog.Int64("revision", s.Revision), slog.String("prefix", s.prefix), slog.Int("keys", s.etcdKeys().Len())}
	if !s.written.IsZero() {
		attrs = append(attrs, slog.Time("from_snapshot_file", s.written))
	}
	return slog.GroupValue(attrs...)
}

// Source returns which layer set the leaf at path, a Go path such as
// "DB.Port": "env " and the variable ([WithEnv]); "etcd " and the key in
// full with its mod revision, "etcd /app/db/port@42" (a document's key
// when the value came from a document); "file " and the file ([WithFile],
// [WithDir]); or "default" ([WithDefaults], or the zero value). It returns
// "" for a path T does not have, and for one that is not a leaf (a struct,
// a map; a list is one leaf). It reads the keys: for a log line, not a hot
// path.
func (s *Snapshot[T]) Source(path string) string {
	segs, at, err := codec.KeySegments(reflect.TypeFor[T](), path)
	if err != nil || at == nil {
		return ""
	}
	if _, ok, err := codec.LookupValue(reflect.ValueOf(&s.Value).Elem(), path, at); err != nil || !ok {
		return "" // nothing there: a missing map entry, a nil pointer
	}
	for at.Kind() == reflect.Pointer {
		at = at.Elem()
	}
	if codec.IsComposite(at) && at.Kind() != reflect.Slice && at.Kind() != reflect.Array {
		return ""
	}
	kv := codec.SourceOf(reflect.TypeFor[T](), s.kvs, strings.Join(segs, "/"))
	switch {
	case kv == nil:
		return "default"
	case kv.Origin() != "":
		return kv.Origin()
	}
	return fmt.Sprintf("etcd %s%s@%d", s.prefix, kv.Key, kv.ModRevision)
}

// newKeyValue returns etcd's kv, a key under prefix, with its key relative
// to the prefix: the one place a key read from etcd loses its prefix.
func newKeyValue(kv *mvccpb.KeyValue, prefix string) codec.KeyValue {
	// The key and the value in one allocation: the key state keeps both
	// for as long as the key is unchanged.
	kl := len(kv.Key) - len(prefix)
	s := string(append(kv.Key[len(prefix):len(kv.Key):len(kv.Key)], kv.Value...))
	c := codec.KeyValue{
		Key:            s[:kl],
		Value:          s[kl:],
		CreateRevision: kv.CreateRevision,
		ModRevision:    kv.ModRevision,
		Version:        kv.Version,
	}
	if kv.Lease != 0 {
		c = *c.WithLease(kv.Lease)
	}
	return c
}

// Lookup returns the value at path, a Go path such as "DB.Port" or
// `Services["api-1"]`, in the snapshot's value, as a V: a typed read of one
// field, for code that is handed a path. Every [Change.Path] is one.
//
// The value at path is given as it is when its type is V, and else, if it
// is a pointer, as the value it points to. It reports false when the path
// holds nothing in this snapshot: a missing map entry, an index past the
// end, a nil pointer on the way or at the end (whatever V is), a nil
// interface, or an interface holding a value that is not a V. It returns an error when the
// path does not lead into T, or when T's type at path cannot hold a V;
// both are bugs in the caller, found from the types alone, whatever the
// snapshot holds.
//
//	port, ok, err := etcdconf.Lookup[int](w.Current(), "DB.Port")
func Lookup[V, T any](s *Snapshot[T], path string) (V, bool, error) {
	var out V
	v, ok, err := codec.LookupValue(reflect.ValueOf(&s.Value).Elem(), path, reflect.TypeFor[V]())
	if err != nil || !ok {
		return out, false, err
	}
	reflect.ValueOf(&out).Elem().Set(v)
	return out, true, nil
}
