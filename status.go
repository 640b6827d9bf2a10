package etcdconf

import (
	"strconv"
	"time"
)

// Status describes a [Watcher]'s health; see [Watcher.Status].
type Status struct {
	// Revision is the revision of the current snapshot.
	Revision int64
	// Seen is the last etcd revision of the prefix the watcher has processed,
	// including rejected ones; it is at least Revision.
	Seen int64
	// Confirmed is the last time the watcher knew it had every change up to
	// Seen: a load, an event, a heartbeat ([WithHeartbeat]), etcd's answer
	// to a progress request, or a linearizable read that found nothing new
	// (see Probes).
	Confirmed time.Time
	// Connected reports that the watch is established and has been proved
	// current within three progress intervals.
	Connected bool
	// FromSnapshotFile is when the snapshot file the current snapshot came
	// from was written (see [WithSnapshotFile]): New could not read etcd
	// and started from the file. It is zero once a snapshot from etcd is
	// current. While it is set, Confirmed is FromSnapshotFile too, and Err
	// is why etcd was not read.
	FromSnapshotFile time.Time
	// Err is the last error the watcher met, and ErrTime when; nil when none.
	// It stays after recovery: compare ErrTime with Confirmed.
	Err     error
	ErrTime time.Time
	// Rejected is the last rejected revision's error, nil when none.
	Rejected *DecodeError
	// Reloads counts full reloads after the first load (after a compaction,
	// a lost watch, a restart); Retries counts failed attempts to recover;
	// Rejections counts rejected revisions.
	Reloads, Retries, Rejections int64
	// Probes counts the linearizable reads the watcher made to prove itself
	// current where etcd left a progress request unanswered: on a quiet
	// store, and always behind a grpc-proxy, which answers none. At most
	// one per progress interval; each reads no values, and only reads the
	// prefix's keys when etcd's revision moved. None while heartbeats
	// arrive ([WithHeartbeat]).
	Probes int64
}

// Connectivity returns how the watcher stands with etcd, as the fields
// Connected and FromSnapshotFile say: [ServingSnapshotFile] while
// FromSnapshotFile is set, else [Connected] or [Disconnected].
// [Observer].Connectivity hears of every change of it.
func (s Status) Connectivity() Connectivity {
	switch {
	case !s.FromSnapshotFile.IsZero():
		return ServingSnapshotFile
	case s.Connected:
		return Connected
	}
	return Disconnected
}

// Connectivity is how a watcher stands with etcd; see
// [Status.Connectivity].
type Connectivity int

const (
	// Disconnected: the watch is lost, or was not proved current for three
	// progress intervals (see [WithProgressInterval]); the watcher serves
	// its last snapshot and recovers with backoff.
	Disconnected Connectivity = iota
	// Connected: the watch is established and proved current.
	Connected
	// ServingSnapshotFile: New could not read etcd and serves the snapshot
	// read from the file named by [WithSnapshotFile] until it can.
	ServingSnapshotFile
)

// String returns "disconnected", "connected" or "serving_snapshot_file".
func (c Connectivity) String() string {
	switch c {
	case Disconnected:
		return "disconnected"
	case Connected:
		return "connected"
	case ServingSnapshotFile:
		return "serving_snapshot_file"
	}
	return "Connectivity(" + strconv.Itoa(int(c)) + ")"
}

// Stale reports whether the watcher has not known itself current for longer
// than maxAge at now: use it as a readiness check. A connected watcher on a
// quiet prefix stays fresh: etcd answers its progress requests, or a read
// proves it current.
func (s Status) Stale(now time.Time, maxAge time.Duration) bool {
	return now.Sub(s.Confirmed) > maxAge
}
