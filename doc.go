// Package etcdconf keeps a typed configuration value in step with a key
// prefix in etcd.
//
// [New] loads every key under a prefix at one revision into a value of type T,
// then watches the prefix from the next revision and swaps in a freshly
// decoded, immutable [Snapshot] for every revision that decodes and validates:
//
//	w, err := etcdconf.New[AppConfig](ctx, cli, "/myapp/config/")
//	cfg := w.Current().Value // lock-free; never nil
//	for ev := range w.Subscribe(ctx) {
//		fmt.Println(ev.New.Revision, ev.Changes)
//	}
//
// # Key layout
//
// Each key under the prefix feeds the field its path names:
// <prefix>db/host = localhost and <prefix>db/port = 5432 decode into
// struct{ DB struct{ Host string; Port int } }. A segment matches a field
// name ignoring case, '-' and '_' (max-conns fills MaxConns), or the
// field's tag:
//
//	type Config struct {
//		MaxConns int    `etcd:"max-conns"`       // the key's segment, exactly
//		Password string `etcd:"password,secret"` // withheld from diffs, logs and errors
//		Internal string `etcd:"-"`               // never read nor written
//	}
//
// Values are strings converted by the field's type: integers (range
// checked), floats, bools (true/false/on/off/yes/no/1/0), time.Duration,
// time.Time (RFC 3339), anything implementing encoding.TextUnmarshaler, and
// comma lists (or JSON lists) into slices. A key ending in .yaml, .yml or
// .json holds a document merged at its path without the extension. A
// map[string]V takes one entry per key segment (services/api-1/addr, or
// services/api-1 holding a JSON or YAML value): that is how service
// discovery is typed. New[map[string]string] is a flat view of the prefix:
// an entry per key, named by its path, and a document's list is one entry
// holding what a plain key would for it (a comma list, else a JSON list).
//
// Precedence is the same for every T and option, whatever the order of the
// keys: spellings of one field merge; map keys are exact; a plain key
// overrides a document at the same path; two keys setting one value, or a
// value and a subtree at one path, are a [*DecodeError] naming both keys.
// Absent keys mean the default ([WithDefaults]) or the zero value, never a
// stale value; unknown keys are ignored unless [WithStrict].
//
// # Layers
//
// Below etcd, [WithDefaults] and files ([WithFile], [WithOptionalFile],
// [WithDir], checked every [WithFileInterval]); above it, the environment
// ([WithEnv]). The highest layer that sets a leaf wins it, leaf by leaf,
// maps entry by entry; [Snapshot.Source] names the layer of a leaf.
//
// # Validation
//
// If *T has a method Validate() error, every decoded value is validated
// before it is published. A value that fails is rejected like one that does
// not decode: [New] and [Load] return the error; a watcher keeps its last
// good snapshot, records a [*DecodeError] (matching [ErrInvalid]) in
// [Watcher.Status], and applies the next good revision normally. Validate
// runs on the watcher's goroutine, on a value nobody else sees yet, which
// shares no map, slice or pointer with a published snapshot: it may
// normalise in place and fill derived fields (a compiled regexp, say),
// which are then part of the snapshot. Tag derived fields `etcd:"-"`:
// they are not compared in an [Event]'s Changes. A panic in Validate is
// its error (matching [ErrInvalid]), with the stack.
//
// # Guarantees
//
// A snapshot's revision never decreases and its generation always increases
// (a file layer's change is a new generation at the same revision); each
// snapshot's etcd keys are what etcd held at its revision; no change between the load and the watch is lost; one
// etcd transaction is at most one snapshot. Compaction, leader loss, a
// restarted server, a stalled link or an expired token end in one recovery
// with backoff. Where nothing fails, nothing recovers: no reload on a quiet
// store, under transactions, or behind etcd's grpc-proxy. The README gives
// the details and the figures.
package etcdconf
