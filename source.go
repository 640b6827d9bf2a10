package etcdconf

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdconf/etcdconf/internal/codec"
)

// A source is where a watcher's keys come from and how it learns that they
// changed: etcd (source_etcd.go, with loader.go, watchqueue.go and
// liveness.go), or the values NewStatic is handed (source_static.go). The
// watcher owns what every source shares — the current snapshot, publishing,
// subscribers, Status, the snapshot file — and asks its source only what
// this interface says; the source tells the watcher of changes through a
// [sink]. What is particular to a store (etcd's revisions, its watch, proofs
// of currency, a reload after compaction) stays inside its source.
type source interface {
	// run delivers the source's changes until ctx ends, and returns nil
	// then. It returns an error only when the source can never deliver
	// again (etcd's client was closed): the watcher then stops. A source
	// whose changes are handed in by calls (the static source) returns at
	// once.
	run(ctx context.Context) error
	// current proves, by asking the store, that the watcher holds every
	// change up to the revision it returns. ok is false when it cannot:
	// the store did not answer, a change is on its way, or the source has
	// no store to ask.
	current(ctx context.Context) (rev int64, ok bool)
	// alwaysCurrent reports whether the watcher cannot miss a change of the
	// source, its changes being handed in by calls: it is then confirmed
	// current whenever asked (see Watcher.Status).
	alwaysCurrent() bool
	// writer returns where writes go, or the error every write returns,
	// before anything is planned, when the source takes none.
	writer() (keyWriter, error)
}

// A sink is the watcher as its sources see it: where a source delivers
// keys, and where it records what Status reports of it. A source is given
// its sink when it is made, so a watcher of several sources can give each
// a sink of its own (its layer). A source delivers whole key sets, each
// its keys after a batch of changes (a persistent keySet shares what the
// batch did not change, so a delivery costs what changed), at a revision
// of its own that increases with every delivery: etcd's revision for the
// etcd source; a file or the environment can count theirs.
type sink interface {
	// publish hands the watcher kvs, the source's keys at rev, to decode,
	// validate and publish, or reject. It reports whether a published
	// snapshot now holds kvs: the source must then copy it before changing
	// it (see keySet.clone).
	publish(kvs *codec.KeySet, rev int64) (held bool)
	// unchanged tells the watcher that the source's keys at rev are kvs,
	// equal to those it delivered last (a reload found nothing new). The
	// watcher records rev as seen; it publishes kvs only when its current
	// snapshot did not come from the source (the snapshot file), and then
	// reports true, held as by publish.
	unchanged(kvs *codec.KeySet, rev int64) (published bool)
	// idle tells the watcher the source is about to wait for changes: the
	// time to prepare the next publish (see decoder.makeSpares).
	idle()
	// confirmed records that the watcher held every change of the source
	// at t, and that the source is connected.
	confirmed(t time.Time)
	// disconnected records that the source lost its store.
	disconnected()
	// updateStatus changes the watcher's Status under its lock: the
	// source's counters (Reloads, Retries, Probes).
	updateStatus(func(*Status))
	// report records err in Status, logs msg with attrs, and passes err to
	// the error handler.
	report(err error, msg string, attrs ...any)
}

// A keyWriter commits writes to the store of a watcher's keys: etcd.
type keyWriter interface {
	// commit runs one transaction: ops, if every guard holds.
	commit(ctx context.Context, guards []clientv3.Cmp, ops []clientv3.Op) (*clientv3.TxnResponse, error)
	// commitPlan runs p as one transaction, with more guards and ops (a
	// release's record) beside its own (see etcdSource.commitPlan).
	commitPlan(ctx context.Context, p *codec.WritePlan, guards []clientv3.Cmp, ops []clientv3.Op) (*clientv3.TxnResponse, error)
	// kv reads and writes outside the prefix: the release records.
	kv() clientv3.KV
	// grant creates a lease of ttl seconds.
	grant(ctx context.Context, ttl int64) (clientv3.LeaseID, error)
}
