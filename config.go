package etcdconf

import (
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/etcdconf/etcdconf/internal/codec"
)

// An Option configures [New] and [Load].
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// options is what the options say, as plain data: the watcher and Load act
// on it, it does nothing itself.
type options struct {
	defaults    any // a T, checked against the watcher's type by New and Load
	strict      bool
	logger      *slog.Logger
	backoffMin  time.Duration
	backoffMax  time.Duration
	loadTimeout time.Duration
	progress    time.Duration
	observer    Observer
	recheck     time.Duration
	heartbeat   bool // see WithHeartbeat
	// snapshotFile is the path given to WithSnapshotFile, if hasSnapshotFile
	// (an empty path is an error, not the absence of the option).
	snapshotFile    string
	hasSnapshotFile bool
	// layers are the files and directories below etcd, lowest first;
	// envPrefix the environment's prefix, if hasEnv (see layers.go).
	layers       []layerSpec
	envPrefix    string
	hasEnv       bool
	fileInterval time.Duration
	// instance and instanceTTL: see WithInstance.
	instance    string
	instanceTTL time.Duration
	// meta is the metadata namespace (WithMetaPrefix); "" is the default.
	meta string
	// beforeRename is passed to the snapshot file (see snapshotFile); tests
	// set it.
	beforeRename func(tmp string) error
}

func newOptions(opts []Option) *options {
	o := &options{
		backoffMin:   100 * time.Millisecond,
		backoffMax:   5 * time.Second,
		loadTimeout:  15 * time.Second,
		progress:     5 * time.Second,
		fileInterval: time.Second,
		instanceTTL:  10 * time.Second,
	}
	for _, opt := range opts {
		opt.apply(o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// decodeConfig is what the decoder takes of the options.
func (o *options) decodeConfig() codec.Config {
	return codec.Config{Strict: o.strict} // the defaults are a layer (see layers.go)
}

// checkDefaults reports whether the defaults given with WithDefaults have type T.
func checkDefaults[T any](o *options) error {
	if o.defaults == nil {
		return nil
	}
	if _, ok := o.defaults.(T); !ok {
		return fmt.Errorf("etcdconf: WithDefaults: got a %T, want a %v", o.defaults, reflect.TypeFor[T]())
	}
	return nil
}

// WithDefaults sets the value every snapshot starts from: the lowest layer,
// below files, etcd and the environment (see [WithFile]), so an absent key
// means its default, never a stale value. v must have the watcher's type
// T; [New] and [Load] fail otherwise. v is copied and never modified. A
// key present in etcd replaces the default leaf at its path; maps merge
// entry by entry (an entry in etcd beside the default entries), and a
// list is one leaf, replaced whole. Default: the zero T.
func WithDefaults[T any](v T) Option {
	return optionFunc(func(o *options) { o.defaults = v })
}

// WithStrict makes keys under the prefix that match no field of T an error:
// a revision with such a key is rejected with a [*DecodeError] naming it.
// Default: unknown keys are ignored.
func WithStrict() Option {
	return optionFunc(func(o *options) { o.strict = true })
}

// WithLogger sets the logger for the watcher's events: load, reload,
// rejection, reconnect and backoff, compaction recovery. Default: silent.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) { o.logger = l })
}

// WithBackoff sets the bounds of the exponential, jittered backoff between
// attempts to recover a lost watch. Default: 100ms to 5s.
func WithBackoff(minDelay, maxDelay time.Duration) Option {
	return optionFunc(func(o *options) {
		o.backoffMin, o.backoffMax = minDelay, max(minDelay, maxDelay)
	})
}

// WithLoadTimeout bounds every read of the whole prefix: the initial load of
// [New] and [Load] (together with their ctx: the earlier deadline wins), so
// an unreachable etcd gives an error rather than a hang, and each reload a
// watcher makes to recover, so one stalled reload cannot hold up recovery.
// A reload that began while etcd did not answer starts afresh, within that
// bound, as soon as a read shows that etcd answers again (they are tried
// once every [WithProgressInterval] while it runs): its own request may
// have been dropped, or be held by a dead connection.
// With [WithSnapshotFile], it is also how long New waits for etcd before
// starting from the file. New and Load return by then: the probe of the
// endpoint that explains a timeout (see [ErrUnreachable], [ErrTLS]) runs
// within it. Zero or less: no bound but ctx's. Default: 15s.
func WithLoadTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) { o.loadTimeout = d })
}

// WithRecheck makes the watcher check every d that it may still read the
// prefix. etcd keeps an open watch delivering events after the user's role
// loses permission; only new requests are refused. With a recheck, a
// revoked permission ends the watch within d: the watcher reports the
// error in [Status], keeps the last snapshot, and retries with backoff
// until access returns. Default: no recheck.
func WithRecheck(d time.Duration) Option {
	return optionFunc(func(o *options) { o.recheck = d })
}

// WithProgressInterval sets how often the watcher asks etcd to confirm that
// its watch is current (a progress request). A watcher that hears nothing for
// three intervals reports itself disconnected in [Status]. Default: 5s.
func WithProgressInterval(d time.Duration) Option {
	return optionFunc(func(o *options) { o.progress = d })
}

// WithHeartbeat makes the watcher take its proof of currency from a
// heartbeat that someone writes (see [Heartbeat], or `etcdconf heartbeat`)
// instead of a read of its own per progress interval. It is for fleets:
// through a grpc-proxy, which answers no progress request and coalesces
// watches but not reads, N watchers on a quiet prefix otherwise send etcd N
// linearizable reads per interval (see [WithProgressInterval]); with the
// heartbeat, etcd sees one write per heartbeat whatever N.
//
// The heartbeat key is [HeartbeatKey](prefix), the prefix's range end
// ("/app0" for "/app/"): outside the prefix for every other reader (Load,
// the CLI, release history, Snapshot.Keys, the snapshot file), yet next to
// it, so the watcher watches the one range [prefix, HeartbeatKey+"\x00")
// and receives config and heartbeat events on one watch, in etcd's order.
// A heartbeat event at revision R therefore proves that the watch has
// delivered every change of the prefix up to R; a heartbeat seen on a
// second watch would prove nothing about the first. Heartbeat events are
// never configuration: they cause no reload, no snapshot, no Change and
// no error, and count only as a sign of life.
//
// When heartbeats stop (no writer, or it lost its election), the watcher
// falls back to reads as without the option, each after a random delay
// within the progress interval, so a fleet does not read all at once.
// Heartbeats cannot be written while etcd has no leader, so a watcher
// behind a leaderless etcd or a stalled link still reports itself
// disconnected after three intervals.
//
// The prefix must end in "/", or [New] fails: the range end of any other
// prefix is a key beside it ("/cfg/app2" for "/cfg/app1", "/cfg/a.yamm"
// for the document key "/cfg/a.yaml"), which another application may hold
// or read. To use a heartbeat with a single document key, move the
// document under a directory of its own and watch that directory.
//
// The writer's interval must be below the watchers' progress interval;
// the watcher's role needs read permission on HeartbeatKey(prefix) besides
// the prefix, or [New] fails with [ErrPermission] (etcd would refuse the
// watch). [Load] reads no heartbeat and otherwise ignores the option (it
// refuses the same prefixes as New). Default: off; the watch covers the
// prefix only.
func WithHeartbeat() Option {
	return optionFunc(func(o *options) { o.heartbeat = true })
}

// WithSnapshotFile keeps the last good snapshot in the file at path, so a
// service can start when etcd is down. Default: no file.
//
// The watcher writes the snapshots it applies to path from a goroutine of
// its own, so neither the watch nor readers wait for the disk; a burst of
// snapshots costs at most one write per 100ms, of the newest. Each write
// goes to a temporary file of its own beside path, is synced and renamed
// over path, and the directory is synced: a crash leaves the previous file
// whole. A failed write is reported
// like any watcher error (see [Observer].Error, [Watcher.Status]) and the
// next snapshot tries again. [Watcher.Close] writes the last snapshot
// applied before it returns. [Load] writes the snapshot it read.
//
// The file holds every value under the prefix in the clear, secrets
// included; it is created with mode 0600, and belongs where only the
// service can read it.
//
// When [New] or [Load] cannot read etcd within the load timeout (it does not
// answer, or has no leader), they use the file instead, if it holds this
// prefix, is intact and decodes and validates into T: New returns a watcher
// serving it (see [Status].FromSnapshotFile) that keeps trying etcd with
// the usual backoff, then loads a fresh revision, publishes the difference
// to subscribers as a normal update and watches as usual; Load returns it
// (see [Snapshot.FromSnapshotFile]). A denial by etcd (permission, login)
// or keys in etcd that do not decode never fall back to the file. A file that is missing,
// truncated, corrupt, for another prefix or of another format version, or
// that does not decode into T, is never used: New and Load fail as without
// the option, with an error naming the file and why it was refused.
// An empty path makes New and Load fail.
//
// One file serves one watcher. New fails at once, before reading etcd, when
// path is a directory, when its directory is missing or not writable, when
// another watcher of this process has the file (until that watcher's
// Close), and, where the system has flock (Linux, macOS, the BSDs), when
// another process has it: the watcher holds an advisory lock on
// path+".lock" until Close. The lock guards writing; reading the file
// needs none, since every write replaces it whole. Load takes the file
// only for its one write, which is skipped and reported like a failed
// write when the file is held.
func WithSnapshotFile(path string) Option {
	return optionFunc(func(o *options) { o.snapshotFile, o.hasSnapshotFile = path, true })
}
