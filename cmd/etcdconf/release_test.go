package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
	"github.com/etcdconf/etcdconf/release"
	"github.com/google/go-cmp/cmp"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// mustRun runs a command that must exit with want.
func mustRun(t *testing.T, srv *etcdtest.Server, want int, args ...string) string {
	t.Helper()
	out, code := cli(t, srv, args...)
	if code != want {
		t.Fatalf("etcdconf %s: exit %d, want %d\n%s", strings.Join(args, " "), code, want, out)
	}
	return out
}

// TestReleasesSurviveCompaction: three applies with messages and authors,
// a write by another client between the second and the third, then etcd
// compacted to its head and defragmented: history lists the three
// releases from their records, with the write shown as unrecorded;
// rollback --release 1 restores release 1's keys exactly, leaves a leased
// key alone and says so, and is itself release 4.
func TestReleasesSurviveCompaction(t *testing.T) {
	srv := etcdtest.Start(t)
	etcd := srv.Client(t)
	ctx := context.Background()
	dir := t.TempDir()
	v1 := writeFile(t, dir, "v1.yaml", "db:\n  host: db.internal\n  port: 5432\nfeatures:\n  new-ui: false\n")
	v2 := writeFile(t, dir, "v2.yaml", "db:\n  host: db.internal\n  port: 6432\nfeatures:\n  new-ui: true\n  beta: on\n")
	v3 := writeFile(t, dir, "v3.yaml", "db:\n  host: db2.internal\n  port: 6432\nfeatures:\n  new-ui: true\n")

	out := mustRun(t, srv, exitOK, "apply", "/app/", "-f", v1, "--yes", "-m", "first cut", "--author", "alice")
	if !strings.Contains(out, ": release 1\n") {
		t.Fatalf("apply does not name its release:\n%s", out)
	}
	wantV1 := mustRun(t, srv, exitOK, "get", "/app/", "-o", "keys")
	mustRun(t, srv, exitOK, "apply", "/app/", "-f", v2, "--yes", "-m", "port 6432, beta on", "--author", "bob")
	if _, err := etcd.Put(ctx, "/app/db/pool", "10"); err != nil { // as etcdctl would
		t.Fatal(err)
	}
	mustRun(t, srv, exitOK, "apply", "/app/", "-f", v3, "--prune", "--yes", "-m", "move the database", "--author", "carol")

	if err := srv.Compact(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := etcd.Defragment(ctx, srv.Endpoints()[0]); err != nil {
		t.Fatal(err)
	}

	out = mustRun(t, srv, exitOK, "history", "/app/")
	for _, want := range []string{
		`release 1 `, `"alice"`, `"first cut"`, "3 key(s): +/app/db/host +/app/db/port +/app/features/new-ui",
		`release 2 `, `"bob"`, `"port 6432, beta on"`,
		"unrecorded changes before release 3\nrelease 3 ", `"carol"`, `"move the database"`, "-/app/db/pool",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("history lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "db2.internal") {
		t.Errorf("history prints a value, which may be a secret:\n%s", out)
	}

	lease, err := etcd.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := etcd.Put(ctx, "/app/services/api-1", "10.0.0.1", clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	out = mustRun(t, srv, exitOK, "rollback", "/app/", "--release", "1", "--yes", "-m", "back to the first cut")
	for _, want := range []string{"keys with a lease (registrations, TTL overrides) belong to live processes", "/app/services/api-1 (leased", "release 4\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("rollback output lacks %q:\n%s", want, out)
		}
	}
	got := mustRun(t, srv, exitOK, "get", "/app/", "-o", "keys")
	got = strings.Replace(got, "/app/services/api-1 = 10.0.0.1\n", "", 1)
	if d := cmp.Diff(body(wantV1), body(got)); d != "" {
		t.Errorf("after rollback --release 1 (-release 1 +now):\n%s", d)
	}
	out = mustRun(t, srv, exitOK, "history", "/app/")
	if !strings.Contains(out, "release 4 ") || !strings.Contains(out, "(rollback to release 1)") || strings.Contains(out, "unrecorded changes before release 4") {
		t.Errorf("history after the rollback:\n%s", out)
	}
	mustRun(t, srv, exitError, "rollback", "/app/", "--release", "9", "--yes")

	// Pruning keeps the latest release, recoverable: on a prefix this
	// small each release's record weighs more than the key set, so each
	// wrote a full record, and release 4 needs no other.
	out = mustRun(t, srv, exitOK, "history", "/app/", "--keep", "1")
	if !strings.Contains(out, "pruned 3 release record(s); kept releases from 4") {
		t.Errorf("history --keep 1:\n%s", out)
	}
	out = mustRun(t, srv, exitOK, "history", "/app/")
	if strings.Contains(out, "release 3 ") || !strings.Contains(out, "release 4 ") {
		t.Errorf("history after --keep 1:\n%s", out)
	}
	mustRun(t, srv, exitOK, "rollback", "/app/", "--release", "4", "--yes")
	mustRun(t, srv, exitError, "rollback", "/app/", "--release", "1", "--yes")
}

// body is get's output without its revision line.
func body(s string) string { return s[strings.Index(s, "\n")+1:] }

// TestConcurrentAppliesNeverShareARelease: applies racing on one prefix
// either write under their own release number or fail with the conflict
// exit code, nothing written; the records are numbered 1..n with no gap,
// one per apply that succeeded.
func TestConcurrentAppliesNeverShareARelease(t *testing.T) {
	srv := etcdtest.Start(t)
	t.Setenv("ETCDCTL_ENDPOINTS", srv.Endpoints()[0])
	dir := t.TempDir()
	const writers, each = 4, 6
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				f := writeFile(t, dir, fmt.Sprintf("w%d-%d.yaml", i, j), fmt.Sprintf("w%d: %d\n", i, j))
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				var out bytes.Buffer
				code := run(ctx, []string{"apply", "/race/", "-f", f, "--yes", "-m", f}, strings.NewReader(""), &out, &out)
				cancel()
				mu.Lock()
				codes[code]++
				mu.Unlock()
				if code != exitOK && code != exitConflict {
					t.Errorf("apply: exit %d\n%s", code, out.String())
				}
			}
		}()
	}
	wg.Wait()
	recs, err := (&release.Log{KV: srv.Client(t), Prefix: "/race/"}).Records(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != codes[exitOK] {
		t.Fatalf("%d records for %d applies written (%d conflicts)", len(recs), codes[exitOK], codes[exitConflict])
	}
	revs := map[int64]bool{}
	for i, r := range recs {
		if r.Release != int64(i+1) || revs[r.Revision] || (i > 0 && r.From != recs[i-1].Digest) {
			t.Errorf("record %d: release %d at revision %d", i, r.Release, r.Revision)
		}
		revs[r.Revision] = true
	}
	t.Logf("%d applies written, %d conflicts", codes[exitOK], codes[exitConflict])
}

// TestLibraryReleasesInHistory: a write by the library with WithRelease
// is listed by history with the library's author and its message, and
// chains with the CLI's releases.
func TestLibraryReleasesInHistory(t *testing.T) {
	srv := etcdtest.Start(t)
	ctx := context.Background()
	f := writeFile(t, t.TempDir(), "c.yaml", "flags:\n  beta: false\n")
	mustRun(t, srv, exitOK, "apply", "/lib/", "-f", f, "--yes", "-m", "from the CLI")
	w, err := etcdconf.New[struct{ Flags map[string]bool }](ctx, srv.Client(t), "/lib/")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Set(ctx, `Flags["beta"]`, true, etcdconf.WithRelease("beta on from the admin page")); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, srv, exitOK, "history", "/lib/")
	for _, want := range []string{"release 2 ", `"etcdconf@`, `"beta on from the admin page"`, "~/lib/flags/beta"} {
		if !strings.Contains(out, want) {
			t.Errorf("history lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "unrecorded") {
		t.Errorf("the library's release does not chain with the CLI's:\n%s", out)
	}
}

// TestReleaseStorage measures what the records cost: a 1000-key prefix,
// one key changed by release 1 (with the full record a first release
// writes), then one key changed per release. Each release stores its record; a full record is written
// again only when the records since the last one weigh as much, so the
// storage per release stays of the order of the change.
func TestReleaseStorage(t *testing.T) {
	srv := etcdtest.Start(t)
	etcd := srv.Client(t)
	ctx := context.Background()
	dir := t.TempDir()
	var b strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&b, "key%04d: value-%04d-of-the-configuration\n", i, i)
		// Seeded as etcdctl would: more keys than one transaction holds.
		if _, err := etcd.Put(ctx, fmt.Sprintf("/big/key%04d", i), fmt.Sprintf("value-%04d-of-the-configuration", i)); err != nil {
			t.Fatal(err)
		}
	}
	f := writeFile(t, dir, "c.yaml", strings.Replace(b.String(), "key0001: value", "key0001: first", 1))
	mustRun(t, srv, exitOK, "apply", "/big/", "-f", f, "--yes", "-m", "the first release")
	stored := func() (int, int) {
		resp, err := etcd.Get(ctx, release.DefaultMeta, clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		n, full := 0, 0
		for _, kv := range resp.Kvs {
			n += len(kv.Key) + len(kv.Value)
			if strings.Contains(string(kv.Key), "/full/") {
				full += len(kv.Key) + len(kv.Value)
			}
		}
		return n, full
	}
	first, full1 := stored()
	// The next releases are written as apply writes them, without
	// planning a 1000-key file each time.
	log := &release.Log{KV: etcd, Prefix: "/big/"}
	const releases = 150
	for i := range releases {
		cur, err := read(ctx, etcd, "/big/", 0)
		if err != nil {
			t.Fatal(err)
		}
		o := op{path: "key0500", value: fmt.Sprintf("changed-%04d", i)}
		c := &command{prefix: "/big/", cli: etcd, meta: release.DefaultMeta, author: "ops", message: "one key"}
		rel, err := c.prepareRelease(ctx, cur, []op{o}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := write(ctx, etcd, "/big/", cur, []op{o}, rel); err != nil {
			t.Fatal(err)
		}
		c.finishRelease(ctx, rel)
	}
	total, fulls := stored()
	recs, err := log.Records(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nfull := 0
	for _, r := range recs[1:] {
		if r.Full > 0 {
			nfull++
		}
	}
	perRelease := float64(total-first) / releases
	t.Logf("1000-key prefix: release 1 stores %d bytes (full record %d bytes, %d chunk(s)); a 1-key release stores %.0f bytes on average over %d, records alone %.0f, %d full record(s) among them",
		first, full1, recs[0].Full, perRelease, releases, float64(total-first-(fulls-full1))/releases, nfull)
	if perRelease > float64(full1)/10 {
		t.Errorf("a 1-key release costs %.0f bytes, not of the order of its change", perRelease)
	}
	keys, _, err := log.KeySet(ctx, releases+1)
	if err != nil {
		t.Fatal(err)
	}
	if now, err := read(ctx, etcd, "/big/", 0); err != nil || !cmp.Equal(keys, now.values) {
		t.Fatalf("the last release's key set is not the prefix's (%v)", err)
	}

	// Pruning before the last release keeps the full record it is
	// recovered from and the records after it.
	kept, n, err := log.Prune(ctx, releases+1)
	if err != nil || kept >= releases+1 || kept <= 1 || n != kept-1 {
		t.Fatalf("prune before %d: kept from %d, deleted %d, %v", releases+1, kept, n, err)
	}
	if again, _, err := log.KeySet(ctx, releases+1); err != nil || !cmp.Equal(keys, again) {
		t.Fatalf("after pruning: %v", err)
	}
}
