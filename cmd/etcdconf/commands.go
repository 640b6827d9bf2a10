package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	planner "github.com/etcdconf/etcdconf/plan"
	"github.com/etcdconf/etcdconf/release"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func cmdGet(ctx context.Context, c *command) error {
	if c.output != "yaml" && c.output != "json" && c.output != "keys" {
		return fmt.Errorf("-o %q: want yaml, json or keys", c.output)
	}
	s, err := read(ctx, c.cli, c.prefix, c.rev)
	if err != nil {
		return err
	}
	body, err := renderGet(c, s)
	if err != nil {
		return fmt.Errorf("%s at revision %d: %w", c.prefix, s.rev, err)
	}
	printReadRevision(c, s.rev)
	_, err = c.out.Write(body)
	return err
}

// renderGet formats what get read, whole, so that an error prints nothing.
// A value that is not UTF-8 is a YAML !!binary (base64) scalar, which apply
// -f writes back as the same bytes; JSON has no way to hold it.
func renderGet(c *command, s *state) ([]byte, error) {
	var b bytes.Buffer
	if c.output == "keys" {
		for _, p := range sortedPaths(s.values) {
			fmt.Fprintf(&b, "%s%s = %s\n", c.prefix, p, s.values[p])
		}
		return b.Bytes(), nil
	}
	for _, p := range sortedPaths(s.values) {
		v := s.values[p]
		if !utf8.ValidString(p) {
			return nil, fmt.Errorf("key %q is not UTF-8, which -o %s cannot name: use -o keys", c.prefix+p, c.output)
		}
		if c.output == "json" && !utf8.ValidString(v) {
			return nil, fmt.Errorf("key %q: value is not UTF-8, which JSON cannot hold: use -o yaml (!!binary)", c.prefix+p)
		}
	}
	tree, err := planner.Tree(c.prefix, s.values)
	var ue *planner.UnrepresentableError
	if errors.As(err, &ue) {
		return nil, fmt.Errorf("%w: -o %s would rename it, so apply -f of the output would not write it back; use -o keys", err, c.output)
	}
	if err != nil {
		return nil, err
	}
	if c.output == "json" {
		return planner.JSON(tree)
	}
	return planner.YAML(tree)
}

// printReadRevision says which revision get read: as a comment line on
// stdout for yaml and keys, on stderr for json, which has no comments, so
// that stdout is a JSON document alone.
func printReadRevision(c *command, rev int64) {
	w := c.out
	if c.output == "json" {
		w = c.errOut
	}
	fmt.Fprintf(w, "# %s at revision %d\n", c.prefix, rev)
}

func cmdDiff(ctx context.Context, c *command) error {
	cur, err := read(ctx, c.cli, c.prefix, 0)
	if err != nil {
		return err
	}
	p, err := planFile(c, cur)
	if err != nil {
		return err
	}
	if len(p.cs) == 0 {
		fmt.Fprintf(c.out, "%s at revision %d matches %s\n", c.prefix, cur.rev, c.file)
		printLeft(c, p)
		return nil
	}
	fmt.Fprintf(c.out, "%s at revision %d -> %s:\n", c.prefix, cur.rev, c.file)
	printChanges(c.out, p.show, p.cs, "  ")
	printLeft(c, p)
	return errDiffers
}

func cmdApply(ctx context.Context, c *command) error {
	cur, err := read(ctx, c.cli, c.prefix, 0)
	if err != nil {
		return err
	}
	p, err := planFile(c, cur)
	if err != nil {
		return err
	}
	if rm := p.removals(); cur.doc && len(rm) > 0 && !c.prune {
		return fmt.Errorf("%s is one document, which apply replaces whole, and it holds %s, which %s does not: pass --prune to remove them", c.prefix, strings.Join(rm, ", "), c.file)
	}
	return c.writeChanges(ctx, cur, p, "apply "+c.file, 0)
}

func cmdRollback(ctx context.Context, c *command) error {
	cur, err := read(ctx, c.cli, c.prefix, 0)
	if err != nil {
		return err
	}
	if c.release > 0 {
		old, err := releaseState(ctx, c, cur, c.release)
		if err != nil {
			return err
		}
		p, err := planRollback(c.prefix, cur, old)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.out, "release %d's keys, as its records hold them; keys with a lease (registrations, TTL overrides) belong to live processes and are left as they are\n", c.release)
		return c.writeChanges(ctx, cur, p, fmt.Sprintf("roll back to release %d", c.release), c.release)
	}
	old, err := read(ctx, c.cli, c.prefix, c.rev)
	if errors.Is(err, rpctypes.ErrCompacted) {
		return fmt.Errorf("revision %d was compacted: etcd no longer has it", c.rev)
	}
	if err != nil {
		return err
	}
	p, err := planRollback(c.prefix, cur, old)
	if err != nil {
		return err
	}
	return c.writeChanges(ctx, cur, p, fmt.Sprintf("roll back to revision %d", c.rev), 0)
}

// writeChanges shows the changes (with every key --prune removes) before
// asking and, unless --dry-run, writes them with their release record
// (unless --no-release; rollback is the release a rollback restores).
func (c *command) writeChanges(ctx context.Context, cur *state, p *plan, what string, rollback int64) error {
	if len(p.cs) == 0 {
		fmt.Fprintf(c.out, "%s at revision %d: nothing to change\n", c.prefix, cur.rev)
		printLeft(c, p)
		return nil
	}
	fmt.Fprintf(c.out, "%s at revision %d: %s changes %d key(s):\n", c.prefix, cur.rev, what, len(p.cs))
	printChanges(c.out, p.show, p.cs, "  ")
	printLeft(c, p)
	// The operations the write would make, counted as write makes them (one
	// for a document key, however many paths change in it), are checked
	// before asking, and by --dry-run, which fails as the write would.
	if err := planner.CheckOps(len(p.ops)); err != nil {
		return err
	}
	// The release record is one more operation of the transaction.
	if !c.noRelease && planner.CheckOps(len(p.ops)+1) != nil {
		return fmt.Errorf("%d changes and their release record; etcd allows %d operations in one transaction by default, and a split write would not be atomic: nothing was written (--no-release writes them without a record)", len(p.ops), planner.MaxOps)
	}
	if c.dryRun {
		fmt.Fprintln(c.out, "dry run: nothing written")
		return nil
	}
	if err := c.confirm(what); err != nil {
		return err
	}
	var rel *release.Pending
	if !c.noRelease {
		var err error
		if rel, err = c.prepareRelease(ctx, cur, p.ops, rollback); err != nil {
			return err
		}
	}
	rev, err := write(ctx, c.cli, c.prefix, cur, p.ops, rel)
	if rel != nil && rev != 0 {
		c.finishRelease(ctx, rel)
	}
	if err != nil {
		return err
	}
	if rel == nil {
		fmt.Fprintf(c.out, "written at revision %d, without a release record\n", rev)
	} else {
		fmt.Fprintf(c.out, "written at revision %d: release %d\n", rev, rel.Record.Release)
	}
	if !c.wait {
		return nil
	}
	var previous int64
	if rel != nil {
		previous = rel.Record.Release - 1
	}
	return c.waitFleet(ctx, previous)
}

func cmdWatch(ctx context.Context, c *command) error {
	cur, err := read(ctx, c.cli, c.prefix, 0)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.out, "watching %s from revision %d\n", c.prefix, cur.rev+1)
	opts := append(rangeOpts(c.prefix), clientv3.WithRev(cur.rev+1), clientv3.WithPrevKV())
	wch := c.cli.Watch(clientv3.WithRequireLeader(ctx), c.prefix, opts...)
	for resp := range wch {
		if err := resp.Err(); err != nil {
			return err
		}
		printEvents(c, resp.Events)
	}
	return nil
}

// printEvents prints events grouped by revision.
func printEvents(c *command, evs []*clientv3.Event) {
	var rev int64
	for _, ev := range evs {
		if ev.Kv.ModRevision != rev {
			rev = ev.Kv.ModRevision
			fmt.Fprintf(c.out, "revision %d:\n", rev)
		}
		printEvent(c.out, c.prefix, ev, "  ")
	}
}

// printEvent prints one event as a change. Whether a put added or modified
// its key is read from the key itself (created in this revision iff
// CreateRevision == ModRevision), not from the previous value, which etcd
// no longer has when this revision is the oldest it keeps after a
// compaction; a modification whose old value is gone says so.
func printEvent(w io.Writer, prefix string, ev *clientv3.Event, indent string) {
	p := strings.TrimPrefix(string(ev.Kv.Key), prefix)
	ch := change{path: p, new: string(ev.Kv.Value), has: ev.Type != mvccpb.DELETE}
	if ev.PrevKv != nil {
		ch.old = string(ev.PrevKv.Value)
	}
	switch {
	case !ch.has:
		ch.had = true // a delete removes a key, known before or not
	case ev.Kv.CreateRevision != ev.Kv.ModRevision:
		ch.had = true
		if ev.PrevKv == nil {
			line := fmt.Sprintf("~ %s: (earlier value compacted) -> %s", showKey(prefix+p), showValue(ch.new))
			fmt.Fprintf(w, "%s%s\n", indent, painter(w)("33", line))
			return
		}
	}
	printChanges(w, prefix, []change{ch}, indent)
}

func cmdHistory(ctx context.Context, c *command) error {
	if !c.etcd {
		return cmdReleases(ctx, c)
	}
	now, err := c.cli.Get(ctx, c.prefix, clientv3.WithCountOnly())
	if err != nil {
		return fmt.Errorf("read the current revision: %w", err)
	}
	// The history ends at the revision read now, R. It may be a write
	// outside the prefix, which no event of the watch will carry: only a
	// progress notification at R or later proves the watch has caught up.
	end := now.Header.Revision
	wctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	from := max(c.rev, 1)
	for {
		done, compacted, err := c.history(wctx, from, end)
		if err != nil {
			if ctx.Err() == nil && wctx.Err() != nil {
				return fmt.Errorf("the watch did not reach revision %d within %v (--timeout): the history printed may be incomplete", end, c.timeout)
			}
			return err
		}
		if done {
			return nil
		}
		fmt.Fprintf(c.out, "history before revision %d was compacted\n", compacted)
		from = compacted
	}
}

// progressEvery is how often history asks etcd for a progress notification
// until one proves the watch caught up: etcd answers only a watch that has
// sent every event up to its current revision, so one request made before
// that is never answered.
const progressEvery = 150 * time.Millisecond

// history prints the changes to the prefix from one revision to another,
// or reports the revision history was compacted to.
func (c *command) history(ctx context.Context, from, end int64) (bool, int64, error) {
	if from > end {
		return true, 0, nil
	}
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	opts := append(rangeOpts(c.prefix), clientv3.WithRev(from), clientv3.WithPrevKV(), clientv3.WithProgressNotify())
	wch := c.cli.Watch(ctx, c.prefix, opts...)
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	for {
		var resp clientv3.WatchResponse
		select {
		case <-ctx.Done():
			return false, 0, ctx.Err()
		case <-tick.C:
			if err := c.cli.RequestProgress(ctx); err != nil {
				return false, 0, fmt.Errorf("request watch progress: %w", err)
			}
			continue
		case r, ok := <-wch:
			if !ok {
				if err := ctx.Err(); err != nil {
					return false, 0, err
				}
				return false, 0, errors.New("the watch ended before reaching the current revision")
			}
			resp = r
		}
		if resp.CompactRevision != 0 {
			return false, resp.CompactRevision, nil
		}
		if err := resp.Err(); err != nil {
			return false, 0, err
		}
		if resp.IsProgressNotify() {
			if resp.Header.Revision >= end {
				return true, 0, nil
			}
			continue
		}
		var evs []*clientv3.Event
		for _, ev := range resp.Events {
			if ev.Kv.ModRevision <= end {
				evs = append(evs, ev)
			}
		}
		printEvents(c, evs)
		if n := len(resp.Events); n > 0 && resp.Events[n-1].Kv.ModRevision >= end {
			return true, 0, nil
		}
	}
}

func sortedPaths(m map[string]string) []string {
	ps := make([]string, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}
