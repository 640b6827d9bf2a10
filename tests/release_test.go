package etcdconf_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
	"github.com/etcdconf/etcdconf/release"
	"github.com/google/go-cmp/cmp"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// keysAt reads the prefix at rev as a release's key set: keys relative to
// the prefix, keys with a lease left out.
func keysAt(t *testing.T, cli *clientv3.Client, prefix string, rev int64) map[string]string {
	t.Helper()
	resp, err := cli.Get(context.Background(), prefix, clientv3.WithPrefix(), clientv3.WithRev(rev))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, kv := range resp.Kvs {
		if kv.Lease == 0 {
			out[strings.TrimPrefix(string(kv.Key), prefix)] = string(kv.Value)
		}
	}
	return out
}

// TestWithReleaseRecordsUpdateSetDelete: Update, Set and Delete with
// WithRelease each write a record in the transaction of the change (its
// revision is the change's), numbered one after another, with the
// library's author and the message; a plain Update in between shows as
// an unrecorded change (the next record starts from another digest); and
// every release's key set is recovered from the records after etcd
// compacted its history, equal to what etcd held at its revision.
func TestWithReleaseRecordsUpdateSetDelete(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	ctx := context.Background()
	const prefix = "/rel/"
	w, err := etcdconf.New[writable](ctx, cli, prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	var revs []int64
	snap, err := w.Update(ctx, func(c *writable) error {
		c.Name, c.DB.Host, c.DB.Port = "a", "db", 5432
		c.Services = map[string]svc{"api-1": {Addr: "10.0.0.1", Weight: 1}}
		return nil
	}, etcdconf.WithRelease("first"))
	if err != nil {
		t.Fatal(err)
	}
	revs = append(revs, snap.Revision)
	if snap, err = w.Set(ctx, "DB.Port", 6432, etcdconf.WithRelease("port")); err != nil {
		t.Fatal(err)
	}
	revs = append(revs, snap.Revision)
	if _, err = w.Update(ctx, func(c *writable) error { c.Name = "unrecorded"; return nil }); err != nil {
		t.Fatal(err)
	}
	if snap, err = w.Delete(ctx, `Services["api-1"]`, etcdconf.WithRelease("drop api-1")); err != nil {
		t.Fatal(err)
	}
	revs = append(revs, snap.Revision)

	log := &release.Log{KV: cli, Prefix: prefix}
	recs, err := log.Records(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	for i, r := range recs {
		if r.Release != int64(i+1) || r.Revision != revs[i] || !strings.HasPrefix(string(r.Author), "etcdconf@") {
			t.Errorf("record %d: release %d at revision %d by %q, want release %d at %d by etcdconf@...", i, r.Release, r.Revision, r.Author, i+1, revs[i])
		}
	}
	if got := []release.Text{recs[0].Message, recs[1].Message, recs[2].Message}; !cmp.Equal(got, []release.Text{"first", "port", "drop api-1"}) {
		t.Errorf("messages %q", got)
	}
	if recs[1].From != recs[0].Digest {
		t.Error("release 2 does not start where release 1 ended")
	}
	if recs[2].From == recs[1].Digest {
		t.Error("the plain Update between releases 2 and 3 left no trace in the digests")
	}
	if recs[2].Full == 0 {
		t.Error("release 3 follows an unrecorded change, and wrote no full record")
	}

	want := map[int64]map[string]string{}
	for i, rev := range revs {
		want[int64(i+1)] = keysAt(t, cli, prefix, rev)
	}
	head, err := cli.Get(ctx, "any")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, head.Header.Revision); err != nil {
		t.Fatal(err)
	}
	for n, keys := range want {
		got, rec, err := log.KeySet(ctx, n)
		if err != nil {
			t.Fatalf("release %d: %v", n, err)
		}
		if d := cmp.Diff(keys, got); d != "" || rec.Release != n {
			t.Errorf("release %d's key set after compaction (-etcd at its revision +recovered):\n%s", n, d)
		}
	}
}

// TestWithReleaseNumbersNeverShared: writers racing with WithRelease, on
// two watchers, get one release number each, with no gap: a writer that
// lost its number to another writes again under the next.
func TestWithReleaseNumbersNeverShared(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	ctx := context.Background()
	const prefix = "/race/"
	var ws []*etcdconf.Watcher[map[string]string]
	for range 2 {
		w, err := etcdconf.New[map[string]string](ctx, cli, prefix)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		ws = append(ws, w)
	}
	const each = 8
	var wg sync.WaitGroup
	errs := make(chan error, 4*each)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				key := fmt.Sprintf("k%d", i)
				_, err := ws[i%2].Set(ctx, fmt.Sprintf("[%q]", key), fmt.Sprint(j), etcdconf.WithRelease(fmt.Sprintf("writer %d, %d", i, j)))
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	recs, err := (&release.Log{KV: cli, Prefix: prefix}).Records(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4*each {
		t.Fatalf("%d records for %d releases", len(recs), 4*each)
	}
	seen := map[int64]bool{}
	for i, r := range recs {
		if r.Release != int64(i+1) || seen[r.Revision] {
			t.Errorf("record %d: release %d at revision %d (shared or out of order)", i, r.Release, r.Revision)
		}
		seen[r.Revision] = true
		if i > 0 && r.From != recs[i-1].Digest {
			t.Errorf("release %d does not start where release %d ended", r.Release, recs[i-1].Release)
		}
	}
}

// TestWithReleaseOverOneMiB: a prefix whose full record is over what one
// transaction may carry (release.TxnBytes) records its release with the
// change, and the record's chunks after it (release.Log.Finish); every
// release's key set is recovered after compaction. A full record cut
// short (a chunk missing, as after a failed Finish) is not trusted: the
// next release writes a new one, and the key sets stay recoverable from
// it.
func TestWithReleaseOverOneMiB(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	ctx := context.Background()
	const prefix = "/big/"
	value := strings.Repeat("v", 1000)
	var ops []clientv3.Op
	for i := range 1300 { // 1.3 MB of keys, past release.TxnBytes
		ops = append(ops, clientv3.OpPut(fmt.Sprintf("%slabels/k%04d", prefix, i), value))
		if len(ops) == 100 {
			if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
				t.Fatal(err)
			}
			ops = nil
		}
	}
	type big struct{ Labels map[string]string }
	w, err := etcdconf.New[big](ctx, cli, prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	log := &release.Log{KV: cli, Prefix: prefix}
	full := func(n int64) int64 {
		resp, err := cli.Get(ctx, fmt.Sprintf("%sreleases/%s/full/%08d/", release.DefaultMeta, "%2Fbig%2F", n), clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		return resp.Count
	}

	var revs []int64
	s, err := w.Set(ctx, `Labels["k0000"]`, "first", etcdconf.WithRelease("first"))
	if err != nil {
		t.Fatal(err)
	}
	revs = append(revs, s.Revision)
	recs, err := log.Records(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Full < 5 || full(1) != int64(recs[0].Full) {
		t.Fatalf("release 1: %d records, full record in %d chunks, %d written; want one record, at least 5 chunks (1.3 MB), all written",
			len(recs), recs[0].Full, full(1))
	}
	if recs[0].Revision != s.Revision {
		t.Errorf("release 1 recorded at revision %d, the change's is %d", recs[0].Revision, s.Revision)
	}
	chunks, err := cli.Get(ctx, fmt.Sprintf("%sreleases/%s/full/%08d/", release.DefaultMeta, "%2Fbig%2F", 1), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range chunks.Kvs {
		if kv.CreateRevision <= s.Revision {
			t.Errorf("chunk %s written at revision %d, in the change's transaction (%d): the record fit in it", kv.Key, kv.CreateRevision, s.Revision)
		}
	}

	// A full record cut short: release 2 must write its own.
	if _, err := cli.Delete(ctx, fmt.Sprintf("%sreleases/%s/full/%08d/%04d", release.DefaultMeta, "%2Fbig%2F", 1, 1)); err != nil {
		t.Fatal(err)
	}
	if s, err = w.Set(ctx, `Labels["k0001"]`, "second", etcdconf.WithRelease("second")); err != nil {
		t.Fatal(err)
	}
	revs = append(revs, s.Revision)
	if recs, err = log.Records(ctx); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[1].Full == 0 || full(2) != int64(recs[1].Full) {
		t.Fatalf("release 2 after a cut-short full record: %+v, %d chunks written", recs[len(recs)-1], full(2))
	}
	if s, err = w.Set(ctx, `Labels["k0002"]`, "third", etcdconf.WithRelease("third")); err != nil {
		t.Fatal(err)
	}
	revs = append(revs, s.Revision)

	want := map[int64]map[string]string{}
	for i, rev := range revs {
		want[int64(i+1)] = keysAt(t, cli, prefix, rev)
	}
	if _, err := cli.Compact(ctx, s.Revision); err != nil {
		t.Fatal(err)
	}
	if _, _, err := log.KeySet(ctx, 1); err == nil {
		t.Error("release 1's key set recovered from a full record missing a chunk")
	}
	for _, n := range []int64{2, 3} {
		got, rec, err := log.KeySet(ctx, n)
		if err != nil {
			t.Fatalf("release %d: %v", n, err)
		}
		if d := cmp.Diff(want[n], got); d != "" || rec.Release != n {
			t.Errorf("release %d's key set after compaction (-etcd at its revision +recovered):\n%s", n, d)
		}
	}
}
