package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/etcdconf/etcdconf/release"
)

// releaseLog is the release log of the command's prefix.
func (c *command) releaseLog() (*release.Log, error) {
	if !strings.HasSuffix(c.meta, "/") {
		return nil, fmt.Errorf("--meta-prefix %q must end in \"/\"", c.meta)
	}
	if strings.HasPrefix(c.meta, c.prefix) || strings.HasPrefix(c.prefix, c.meta) {
		return nil, fmt.Errorf("--meta-prefix %q and the prefix %q overlap: the records would be written as configuration", c.meta, c.prefix)
	}
	return &release.Log{KV: c.cli, Meta: c.meta, Prefix: c.prefix}, nil
}

// defaultAuthor is --author's default: $USER@hostname.
func defaultAuthor() string {
	user := os.Getenv("USER")
	if user == "" {
		user = "unknown"
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return user + "@" + host
}

// unleased is a state's key set as a release records it: the keys
// without a lease, which belong to the processes that keep them alive.
func unleased(s *state) map[string]string {
	out := make(map[string]string, len(s.values))
	for p, v := range s.values {
		if s.leases[p] == 0 {
			out[p] = v
		}
	}
	return out
}

// prepareRelease prepares the record of the release that writes ops to
// cur: the record and, when it fits, a full record of the key set, in the
// transaction of the change.
func (c *command) prepareRelease(ctx context.Context, cur *state, ops []op, rollback int64) (*release.Pending, error) {
	log, err := c.releaseLog()
	if err != nil {
		return nil, err
	}
	in := release.Input{
		Start: unleased(cur), Author: c.author, Message: c.message, Time: time.Now(),
		Rollback: rollback, Ops: len(ops),
	}
	for _, o := range ops {
		ch := release.Change{Key: release.Text(o.path), Leased: o.keepLease}
		if cur.leases[o.path] == 0 {
			if v, ok := cur.values[o.path]; ok {
				ch.Old = release.TextOf(v)
			}
		}
		if !o.del && !o.keepLease {
			ch.New = release.TextOf(o.value)
		}
		in.Changes = append(in.Changes, ch)
		in.Bytes += len(c.prefix) + len(o.path) + len(o.value)
	}
	p, err := log.Prepare(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("record the release: %w", err)
	}
	return p, nil
}

// finishRelease writes what of the release's full record did not fit in
// its transaction; a failure is reported, not fatal: the change and its
// record are written, and the next release writes a full record again.
func (c *command) finishRelease(ctx context.Context, p *release.Pending) {
	log, err := c.releaseLog()
	if err == nil {
		err = log.Finish(ctx, p)
	}
	if err != nil {
		fmt.Fprintf(c.errOut, "etcdconf %s: warning: release %d is recorded, but not its full record (the next release writes one): %v\n", c.name, p.Record.Release, err)
	}
}

// cmdReleases lists the prefix's releases from their records, which
// etcd's compaction leaves alone, and the writes made without a record
// between them; or, with --prune-before or --keep, prunes them.
func cmdReleases(ctx context.Context, c *command) error {
	log, err := c.releaseLog()
	if err != nil {
		return err
	}
	if c.pruneBefore > 0 || c.keep > 0 {
		return pruneReleases(ctx, c, log)
	}
	recs, err := log.Records(ctx)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		fmt.Fprintf(c.out, "%s has no recorded release (history --etcd shows etcd's own history)\n", c.prefix)
		return nil
	}
	for i, r := range recs {
		if i > 0 && r.From != recs[i-1].Digest {
			fmt.Fprintf(c.out, "unrecorded changes before release %d\n", r.Release)
		}
		printRecord(c, r)
	}
	last := recs[len(recs)-1]
	cur, err := read(ctx, c.cli, c.prefix, 0)
	if err != nil {
		return err
	}
	if release.Digest(unleased(cur)) != last.Digest {
		fmt.Fprintf(c.out, "unrecorded changes since release %d (at revision %d now)\n", last.Release, cur.rev)
	}
	return nil
}

// printRecord prints one release: its number, time, author, revision,
// message and the keys it changed (never their values: a record holds
// secrets in the clear).
func printRecord(c *command, r *release.Record) {
	fmt.Fprintf(c.out, "release %d  %s  %s  revision %d", r.Release, r.Time.Local().Format(time.RFC3339), showValue(string(r.Author)), r.Revision)
	if r.Rollback != 0 {
		fmt.Fprintf(c.out, "  (rollback to release %d)", r.Rollback)
	}
	fmt.Fprintln(c.out)
	if r.Message != "" {
		fmt.Fprintf(c.out, "  %s\n", showValue(string(r.Message)))
	}
	keys := make([]string, len(r.Changes))
	for i, ch := range r.Changes {
		mark := "~"
		switch {
		case ch.Old == nil && ch.New != nil:
			mark = "+"
		case ch.New == nil && ch.Old != nil:
			mark = "-"
		}
		keys[i] = mark + showKey(c.prefix+string(ch.Key))
	}
	fmt.Fprintf(c.out, "  %d key(s): %s\n", len(keys), strings.Join(keys, " "))
}

// pruneReleases deletes the records before --prune-before, or all but the
// last --keep, keeping what recovering the rest needs.
func pruneReleases(ctx context.Context, c *command, log *release.Log) error {
	before := c.pruneBefore
	if c.keep > 0 {
		last, err := log.Last(ctx)
		if err != nil || last == nil {
			return err
		}
		before = last.Release - c.keep + 1
	}
	kept, n, err := log.Prune(ctx, before)
	if err != nil {
		return err
	}
	switch {
	case kept == 0:
		fmt.Fprintf(c.out, "%s has no recorded release: nothing to prune\n", c.prefix)
	case kept < before:
		fmt.Fprintf(c.out, "pruned %d release record(s); kept releases from %d, whose full record the releases from %d are recovered from\n", n, kept, before)
	default:
		fmt.Fprintf(c.out, "pruned %d release record(s); kept releases from %d\n", n, kept)
	}
	return nil
}

// releaseState is the prefix as release n left it, read from the release
// records (so after any compaction), as a state of keys without leases.
func releaseState(ctx context.Context, c *command, cur *state, n int64) (*state, error) {
	log, err := c.releaseLog()
	if err != nil {
		return nil, err
	}
	keys, rec, err := log.KeySet(ctx, n)
	if err != nil {
		return nil, err
	}
	if cur.doc {
		for k := range keys {
			if k != "" {
				return nil, fmt.Errorf("release %d holds %q, which is not the document key %s", n, k, c.prefix)
			}
		}
	}
	return &state{rev: rec.Revision, doc: cur.doc, values: keys, mods: map[string]int64{}, leases: map[string]int64{}}, nil
}
