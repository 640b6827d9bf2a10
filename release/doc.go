// Package release records the releases of an etcd prefix: each write made
// through etcdconf (the CLI's apply and rollback, the library's writes
// with WithRelease) puts, in the transaction that changes the prefix, a
// record of who changed what and why. The records live outside the
// prefix, under a metadata namespace ([DefaultMeta]), so that they
// survive etcd's compaction, which erases the prefix's own history.
//
// A record holds the changed keys with their old and new values (in the
// clear: secrets included), the digest of the key set it started from
// and of the one it left, and, every so often, a full record of the key
// set, chunked to stay inside etcd's limits of one request. Any
// release's key set is recovered from the latest full record before it
// and the changes after ([Log.KeySet]); a record whose starting digest
// differs from the release before's result shows a write that bypassed
// etcdconf.
//
// The CLI and the library both read and write records through this
// package, so they share one format.
package release
