package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/release"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Exit codes of status and apply --wait beside the common ones.
const (
	exitLagging  = 4 // status: an instance lags behind the prefix for longer than --grace; apply --wait: one rejected the write
	exitNoAnswer = 5 // apply --wait: an instance did not answer within --timeout
)

// fleetPollEvery is how often status and --wait read the records while
// instances lag.
const fleetPollEvery = 100 * time.Millisecond

var (
	errRejected     = errors.New("an instance rejected the prefix's state")
	errLagging      = errors.New("an instance lags behind the prefix's state")
	errWaitRejected = errors.New("an instance rejected the write")
	errNoAnswer     = errors.New("an instance did not answer in time")
)

// A fleet is the instances of a prefix (watchers with etcdconf.WithInstance)
// and the prefix's state they are compared with.
type fleet struct {
	prefix    string
	digest    string // of the prefix's keys now (etcdconf.Digest)
	rev       int64  // the revision the prefix was read at
	changed   int64  // the greatest mod revision of its keys: the state's own revision, as far as keys say
	release   int64  // the release whose key set the prefix holds; 0 when none does
	instances []etcdconf.InstanceStatus
}

// readFleet reads the prefix and its instances' records at one revision.
func readFleet(ctx context.Context, cli *clientv3.Client, meta, prefix string) (*fleet, error) {
	resp, err := cli.Txn(ctx).Then(
		clientv3.OpGet(prefix, clientv3.WithPrefix()),
		clientv3.OpGet(etcdconf.InstancesPrefix(meta, prefix), clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return nil, err
	}
	keys, recs := resp.Responses[0].GetResponseRange(), resp.Responses[1].GetResponseRange()
	f := &fleet{prefix: prefix, rev: resp.Header.Revision}
	all, unleased := map[string]string{}, map[string]string{}
	for _, kv := range keys.Kvs {
		f.changed = max(f.changed, kv.ModRevision)
		k := strings.TrimPrefix(string(kv.Key), prefix)
		all[k] = string(kv.Value)
		if kv.Lease == 0 {
			unleased[k] = string(kv.Value)
		}
	}
	f.digest = release.Digest(all)
	// The release the prefix holds: the last one, unless the prefix was
	// written without a record since (release digests leave leased keys out).
	last, err := (&release.Log{KV: cli, Meta: meta, Prefix: prefix}).Last(ctx)
	if err != nil {
		return nil, err
	}
	if last != nil && last.Digest == release.Digest(unleased) {
		f.release = last.Release
	}
	for _, kv := range recs.Kvs {
		var s etcdconf.InstanceStatus
		if err := json.Unmarshal(kv.Value, &s); err != nil {
			return nil, fmt.Errorf("instance record %q: %w", kv.Key, err)
		}
		f.instances = append(f.instances, s)
	}
	slices.SortFunc(f.instances, func(a, b etcdconf.InstanceStatus) int { return strings.Compare(a.Name, b.Name) })
	return f, nil
}

// An instance's standing against the prefix's state.
type standing int

const (
	applied  standing = iota // its keys' digest is the prefix's
	rejected                 // it rejected a revision at or after the state's last change
	lagging                  // neither, yet
)

func (f *fleet) standing(s etcdconf.InstanceStatus) standing {
	switch {
	case s.Digest == f.digest:
		return applied
	case s.Rejected != 0 && s.Rejected >= f.changed:
		return rejected
	}
	return lagging
}

// count returns how many instances stand so, and their names.
func (f *fleet) count(st standing) (int, []string) {
	var names []string
	for _, s := range f.instances {
		if f.standing(s) == st {
			names = append(names, s.Name)
		}
	}
	return len(names), names
}

// print writes one line per instance and the summary.
func (f *fleet) print(w io.Writer) {
	for _, s := range f.instances {
		what := "applied"
		switch f.standing(s) {
		case rejected:
			what = fmt.Sprintf("REJECTED revision %d: %s", s.Rejected, s.RejectedError)
		case lagging:
			what = "lagging"
		}
		fmt.Fprintf(w, "%-20s %s pid %d  rev %d  %s  %s  %s\n", s.Name, s.Host, s.PID, s.Revision, s.Connectivity, s.Source, what)
	}
	fmt.Fprintln(w, f.summary())
}

// summary says how the fleet stands in one line.
func (f *fleet) summary() string {
	n := len(f.instances)
	if n == 0 {
		return fmt.Sprintf("no instance of %s reports (watchers publish with etcdconf.WithInstance)", f.prefix)
	}
	na, _ := f.count(applied)
	state := fmt.Sprintf("the prefix's state (rev %d)", f.changed)
	if f.release > 0 {
		state = fmt.Sprintf("release %d (rev %d)", f.release, f.changed)
	}
	parts := []string{fmt.Sprintf("%d %s: %d on %s", n, plural(n, "instance"), na, state)}
	if nr, names := f.count(rejected); nr > 0 {
		first := ""
		for _, s := range f.instances {
			if s.Name == names[0] {
				first = s.RejectedError
			}
		}
		parts = append(parts, fmt.Sprintf("%d rejected it (%s): %s", nr, strings.Join(names, ", "), first))
	}
	if nl, names := f.count(lagging); nl > 0 {
		parts = append(parts, fmt.Sprintf("%d lagging (%s)", nl, strings.Join(names, ", ")))
	}
	return strings.Join(parts, ", ")
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}

// settle reads the fleet until no instance lags or the time is up, and
// returns the last reading.
func settle(ctx context.Context, cli *clientv3.Client, meta, prefix string, within time.Duration) (*fleet, error) {
	deadline := time.Now().Add(within)
	for {
		f, err := readFleet(ctx, cli, meta, prefix)
		if err != nil {
			return nil, err
		}
		if n, _ := f.count(lagging); n == 0 || !time.Now().Before(deadline) {
			return f, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(fleetPollEvery):
		}
	}
}

// cmdStatus prints the prefix's instances and how they stand: exit 0 when
// every one applied the prefix's state, 1 when one rejected it, 4 when one
// still lags after --grace.
func cmdStatus(ctx context.Context, c *command) error {
	f, err := settle(ctx, c.cli, c.meta, c.prefix, c.grace)
	if err != nil {
		return err
	}
	f.print(c.out)
	if n, _ := f.count(rejected); n > 0 {
		return errRejected
	}
	if n, _ := f.count(lagging); n > 0 {
		return errLagging
	}
	return nil
}

// waitFleet is apply's and rollback's --wait: it waits for every live
// instance to apply or reject what was just written, prints the fleet, and
// names the instances that rejected it (with the release to roll back to,
// when there is one) or did not answer.
func (c *command) waitFleet(ctx context.Context, previous int64) error {
	f, err := settle(ctx, c.cli, c.meta, c.prefix, c.timeout)
	if err != nil {
		return err
	}
	f.print(c.out)
	if n, names := f.count(rejected); n > 0 {
		hint := ""
		if previous > 0 {
			hint = fmt.Sprintf("; etcdconf rollback %s --release %d restores the state before it", c.prefix, previous)
		}
		return fmt.Errorf("%w: %s%s", errWaitRejected, strings.Join(names, ", "), hint)
	}
	if n, names := f.count(lagging); n > 0 {
		return fmt.Errorf("%w (%s): %s", errNoAnswer, c.timeout, strings.Join(names, ", "))
	}
	return nil
}
