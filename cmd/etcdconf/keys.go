package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	planner "github.com/etcdconf/etcdconf/plan"
	"github.com/etcdconf/etcdconf/release"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A state is a prefix's keys at one revision: path -> value and mod
// revision. When the prefix is a document key, the state holds that one
// key at path "".
type state struct {
	rev    int64
	doc    bool
	values map[string]string
	mods   map[string]int64
	leases map[string]int64 // the lease of a key that has one
}

// read reads the prefix at rev (0: now): the keys under it, or the one key
// it names when it is a document key (a single-key Get, which
// /app/config.yaml.bak does not match).
func read(ctx context.Context, cli *clientv3.Client, prefix string, rev int64) (*state, error) {
	var opts []clientv3.OpOption
	doc := isDocumentKey(prefix)
	if !doc {
		opts = append(opts, clientv3.WithPrefix())
	}
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	resp, err := cli.Get(ctx, prefix, opts...)
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", prefix, revisionName(rev), err)
	}
	s := &state{rev: resp.Header.Revision, doc: doc, values: map[string]string{}, mods: map[string]int64{}, leases: map[string]int64{}}
	if rev > 0 {
		s.rev = rev
	}
	for _, kv := range resp.Kvs {
		p := strings.TrimPrefix(string(kv.Key), prefix)
		s.values[p], s.mods[p] = string(kv.Value), kv.ModRevision
		if kv.Lease != 0 {
			s.leases[p] = kv.Lease
		}
	}
	return s, nil
}

// rangeOpts are the options that make a watch or read cover the prefix:
// the keys under it, or the one document key it names.
func rangeOpts(prefix string) []clientv3.OpOption {
	if isDocumentKey(prefix) {
		return nil
	}
	return []clientv3.OpOption{clientv3.WithPrefix()}
}

// documentKeys flattens the document a document key holds into the keys
// it stands for, as the file's keys are (none when the key is absent).
func documentKeys(s *state, prefix string) (map[string]string, error) {
	raw, ok := s.values[""]
	if !ok {
		return map[string]string{}, nil
	}
	doc, err := planner.ParseDocument([]byte(raw))
	if err != nil {
		return nil, fmt.Errorf("key %q at revision %d: %w", prefix, s.rev, err)
	}
	return doc.Keys(), nil
}

// revisionName names the revision a read asked for: rev 0 is the current
// one, whose number is known only from the answer.
func revisionName(rev int64) string {
	if rev == 0 {
		return "the current revision"
	}
	return fmt.Sprintf("revision %d", rev)
}

// A change is one key's difference.
type change struct {
	path     string
	old, new string
	had, has bool
}

// diff lists the changes that make from equal to to; keys only in from
// are removals when prune is set.
func diff(from, to map[string]string, prune bool) []change {
	var cs []change
	for p, v := range to {
		if old, ok := from[p]; !ok || old != v {
			cs = append(cs, change{path: p, old: old, new: v, had: ok, has: true})
		}
	}
	if prune {
		for p, v := range from {
			if _, ok := to[p]; !ok {
				cs = append(cs, change{path: p, old: v, had: true})
			}
		}
	}
	slices.SortFunc(cs, func(a, b change) int { return strings.Compare(a.path, b.path) })
	return cs
}

// printChanges writes changes as "+ key = value", "~ key: old -> new",
// "- key", coloured green, yellow and red when w is a terminal. Values are
// quoted (see [showValue]) and keys quoted when they need it (see
// [showKey]), so every change is one line that says what it writes.
func printChanges(w io.Writer, prefix string, cs []change, indent string) {
	paint := painter(w)
	for _, c := range cs {
		key := showKey(prefix + c.path)
		switch {
		case !c.had:
			fmt.Fprintf(w, "%s%s\n", indent, paint("32", fmt.Sprintf("+ %s = %s", key, showValue(c.new))))
		case !c.has:
			fmt.Fprintf(w, "%s%s\n", indent, paint("31", fmt.Sprintf("- %s", key)))
		default:
			fmt.Fprintf(w, "%s%s\n", indent, paint("33", fmt.Sprintf("~ %s: %s -> %s", key, showValue(c.old), showValue(c.new))))
		}
	}
}

// painter returns the function that colours a line (by an ANSI code) for
// w: none unless w is a terminal and NO_COLOR is unset.
func painter(w io.Writer) func(code, s string) string {
	if f, ok := w.(*os.File); ok && isTerminal(f) && os.Getenv("NO_COLOR") == "" {
		return func(code, s string) string { return "\x1b[" + code + "m" + s + "\x1b[0m" }
	}
	return func(code, s string) string { return s }
}

// showValue quotes a value as Go does: a newline cannot start a line of
// its own, and an empty or space-padded value, a control character or a
// byte that is not UTF-8 is visible.
func showValue(v string) string { return strconv.Quote(v) }

// showKey returns a key as it is when it is printable with no space or
// quote (so the separators " = ", ": " and " -> " cannot be part of it),
// else quoted as showValue quotes values.
func showKey(k string) string {
	if k == "" || !utf8.ValidString(k) || strings.ContainsFunc(k, func(r rune) bool {
		return !unicode.IsGraphic(r) || unicode.IsSpace(r) || r == '"'
	}) {
		return strconv.Quote(k)
	}
	return k
}

// beforeCommit, when set, runs between reading and writing: tests use it
// to make a concurrent change.
var beforeCommit func()

// write applies a plan's operations to the prefix in one transaction and
// returns its revision. The transaction is guarded by the revision cur was
// read at, with one compare over the whole prefix (ModRevision < rev+1 on
// its range), so a key put or created under the prefix since, whether the
// plan touches it or not, makes it fail with nothing written (exit 3). A
// key deleted since leaves nothing for a compare to see: it is found after
// the commit, by reading the prefix's keys at the commit's revision, and
// reported as a conflict (exit 3) naming the key. A release record (rel,
// nil for none) is written in the same transaction, guarded by its
// number's absence: a release that took the number first is a conflict.
func write(ctx context.Context, cli *clientv3.Client, prefix string, cur *state, ops []op, rel *release.Pending) (int64, error) {
	var cmps []clientv3.Cmp
	var more []clientv3.Op
	if rel != nil {
		cmps, more = rel.Cmps, rel.Ops
	}
	if err := planner.CheckOps(len(ops) + len(more)); err != nil {
		return 0, err
	}
	guard := clientv3.Compare(clientv3.ModRevision(prefix), "<", cur.rev+1)
	if !cur.doc {
		guard = guard.WithPrefix()
	}
	tops := make([]clientv3.Op, 0, len(ops))
	for _, o := range ops {
		if o.del {
			tops = append(tops, clientv3.OpDelete(prefix+o.path))
		} else if o.keepLease {
			tops = append(tops, clientv3.OpPut(prefix+o.path, o.value, clientv3.WithIgnoreLease()))
		} else {
			tops = append(tops, clientv3.OpPut(prefix+o.path, o.value))
		}
	}
	if beforeCommit != nil {
		beforeCommit()
	}
	resp, err := cli.Txn(ctx).If(append(cmps, guard)...).Then(append(tops, more...)...).Commit()
	if errors.Is(err, rpctypes.ErrKeyNotFound) { // a leased key, written keeping its lease, expired meanwhile
		return 0, fmt.Errorf("%w (read at revision %d; a key with a lease expired since)", errConflict, cur.rev)
	}
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", prefix, err)
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("%w (read at revision %d)", errConflict, cur.rev)
	}
	rev := resp.Header.Revision
	if err := checkDeletes(ctx, cli, prefix, cur, ops, rev); err != nil {
		return rev, err
	}
	return rev, nil
}

// checkDeletes finds keys of cur deleted by another client between the
// read and the commit at rev: a key the plan leaves alone that is gone at
// rev, or a key the plan puts that rev created anew (its CreateRevision is
// rev, though it existed when read).
func checkDeletes(ctx context.Context, cli *clientv3.Client, prefix string, cur *state, ops []op, rev int64) error {
	resp, err := cli.Get(ctx, prefix, append(rangeOpts(prefix), clientv3.WithKeysOnly(), clientv3.WithRev(rev))...)
	if err != nil {
		return fmt.Errorf("written at revision %d, but checking for keys deleted meanwhile failed: %w", rev, err)
	}
	created := map[string]int64{}
	for _, kv := range resp.Kvs {
		created[strings.TrimPrefix(string(kv.Key), prefix)] = kv.CreateRevision
	}
	touched := map[string]op{}
	for _, o := range ops {
		touched[o.path] = o
	}
	var lost []string
	for _, p := range sortedPaths(cur.values) {
		o, ok := touched[p]
		switch {
		case ok && o.del:
			// deleted by the plan: gone either way
		case ok:
			if created[p] == rev {
				lost = append(lost, fmt.Sprintf("%s (deleted meanwhile; this write created it again with %s)", showKey(prefix+p), showValue(o.value)))
			}
		default:
			if _, held := created[p]; !held {
				lost = append(lost, fmt.Sprintf("%s (deleted meanwhile; etcd no longer holds it)", showKey(prefix+p)))
			}
		}
	}
	if len(lost) > 0 {
		return &deletedError{rev: rev, read: cur.rev, keys: lost}
	}
	return nil
}

// A deletedError reports keys deleted by another client between the read
// and the commit: the write was made, on a prefix other than the one read.
type deletedError struct {
	rev, read int64
	keys      []string
}

func (e *deletedError) Error() string {
	return fmt.Sprintf("written at revision %d, but another client deleted key(s) after revision %d, which this plan was made from: %s; check the prefix (etcdconf get) and apply again",
		e.rev, e.read, strings.Join(e.keys, ", "))
}

func (e *deletedError) Unwrap() error { return errConflict }
