package etcdconf_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
	"github.com/etcdconf/etcdconf/internal/rtgen"
	"github.com/google/go-cmp/cmp"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestUpdateRoundTrip is issue #10's round-trip property: from a random
// starting state (plain keys, with some values moved into documents and
// JSON values), Update to a random value, then a fresh Load, gives back
// exactly that value; or Update refuses with an error and etcd's revision
// does not move.
func TestUpdateRoundTrip(t *testing.T) {
	const cases = 200
	cli := etcdtest.Start(t).Client(t)
	w := newWatcher[rtgen.Config](t, cli, "/rt/")
	ctx := context.Background()
	r := rand.New(rand.NewPCG(10, 20))
	var wrote, refusedN int
	for i := range cases {
		start := rtgen.Gen{N: r.IntN, Tame: true}.Config()
		want := rtgen.Gen{N: r.IntN}.Config()
		// The starting state: plain keys, then some of them as documents.
		resp, err := cli.Delete(ctx, "/rt/", clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		waitRev(t, w, resp.Header.Revision)
		if _, err := w.Update(ctx, func(c *rtgen.Config) error { *c = start; return nil }); err != nil {
			t.Fatalf("case %d: writing the start state: %v", i, err)
		}
		rev := toDocuments(t, cli, start, r)
		waitRev(t, w, rev)
		if w.Status().Rejected != nil && w.Status().Rejected.Revision == rev {
			t.Fatalf("case %d: start state rejected: %v", i, w.Status().Rejected)
		}
		if got := w.Current().Value; !rtgen.Equal(got, start) {
			t.Fatalf("case %d: start state reads back differently:\n%s", i, cmp.Diff(start, got, rtgen.Options))
		}
		_, _, before := keysOf(t, cli, "/rt/")
		_, err = w.Update(ctx, func(c *rtgen.Config) error { *c = want; return nil })
		if err != nil {
			refusedN++
			if _, _, now := keysOf(t, cli, "/rt/"); now != before {
				t.Fatalf("case %d: refused (%v) but etcd's revision moved %d -> %d", i, err, before, now)
			}
			if !strings.HasPrefix(err.Error(), "etcdconf: ") || strings.Count(err.Error(), "etcdconf:") != 1 {
				t.Fatalf("case %d: error %q", i, err)
			}
			continue
		}
		wrote++
		if got := load[rtgen.Config](t, cli, "/rt/"); !rtgen.Equal(got, want) {
			vals, _, _ := keysOf(t, cli, "/rt/")
			t.Fatalf("case %d: Update succeeded but Load differs:\n%s\nkeys: %q", i, cmp.Diff(want, got, rtgen.Options), vals)
		}
	}
	t.Logf("%d cases: %d written and read back exactly, %d refused with etcd unchanged", cases, wrote, refusedN)
	if wrote < cases/3 {
		t.Fatalf("only %d of %d cases were written: the generator is too wild to test round trips", wrote, cases)
	}
}

func waitRev[T any](t *testing.T, w *etcdconf.Watcher[T], rev int64) {
	t.Helper()
	waitFor(t, w, "revision", func(s *etcdconf.Snapshot[T]) bool { return s.Revision >= rev })
}

// toDocuments moves some values of start from plain keys into documents
// (db.json, servers.yaml, tags.yaml) and JSON values (services/<k>), in
// one transaction, and returns its revision.
func toDocuments(t *testing.T, cli *clientv3.Client, start rtgen.Config, r *rand.Rand) int64 {
	t.Helper()
	ops := []clientv3.Op{}
	move := func(plain, doc string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if plain != doc {
			ops = append(ops, clientv3.OpDelete(plain))
		}
		ops = append(ops, clientv3.OpDelete(plain+"/", clientv3.WithPrefix()), clientv3.OpPut(doc, string(b)))
	}
	if r.IntN(2) == 0 {
		move("/rt/db", "/rt/db.json", start.DB)
	}
	if r.IntN(2) == 0 && start.Servers != nil {
		move("/rt/servers", "/rt/servers.yaml", start.Servers)
	}
	if r.IntN(2) == 0 && start.Tags != nil {
		move("/rt/tags", "/rt/tags.yaml", start.Tags)
	}
	for k, s := range start.Services {
		if r.IntN(2) == 0 {
			move("/rt/services/"+k, "/rt/services/"+k, s)
		}
	}
	resp, err := cli.Txn(context.Background()).Then(ops...).Commit()
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}
