package etcdconf_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

type svc struct {
	Addr   string
	Weight int
}

type writable struct {
	Name string
	DB   struct {
		Host string
		Port int
	}
	Timeout  time.Duration
	Tags     []string
	Services map[string]svc
	Flags    map[string]bool
}

func (c *writable) Validate() error {
	if c.DB.Port < 0 {
		return errors.New("negative port")
	}
	return nil
}

// keysOf reads the prefix straight from etcd: key -> value and mod revision.
func keysOf(t *testing.T, cli *clientv3.Client, prefix string) (map[string]string, map[string]int64, int64) {
	t.Helper()
	resp, err := cli.Get(context.Background(), prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	vals, revs := map[string]string{}, map[string]int64{}
	for _, kv := range resp.Kvs {
		vals[string(kv.Key)], revs[string(kv.Key)] = string(kv.Value), kv.ModRevision
	}
	return vals, revs, resp.Header.Revision
}

func TestUpdateWritesOnlyChangedKeys(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/w/Name", "demo", "/w/db/host", "h", "/w/db/port", "1", "/w/timeout", "1s")
	w := newWatcher[writable](t, cli, "/w/")
	_, before, _ := keysOf(t, cli, "/w/")

	s, err := w.Update(context.Background(), func(c *writable) error {
		c.DB.Port = 2
		c.Tags = []string{"a", "b"}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.Value.DB.Port != 2 || w.Current().Value.DB.Port != 2 {
		t.Fatalf("Update's snapshot does not include the write: %+v", s.Value)
	}
	vals, after, _ := keysOf(t, cli, "/w/")
	for _, k := range []string{"/w/Name", "/w/db/host", "/w/timeout"} {
		if after[k] != before[k] {
			t.Errorf("unchanged key %s was rewritten", k)
		}
	}
	if vals["/w/db/port"] != "2" || vals["/w/tags"] != "a,b" {
		t.Fatalf("etcd holds %v", vals)
	}
	if after["/w/db/port"] != s.Revision || after["/w/tags"] != s.Revision {
		t.Fatal("the changed keys were not written in the snapshot's one transaction")
	}
}

func TestUpdateConflictWritesNothing(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/w/db/port", "1", "/w/db/host", "h")
	w := newWatcher[writable](t, cli, "/w/")
	_, err := w.Update(context.Background(), func(c *writable) error {
		put(t, cli, "/w/db/port", "99") // someone else writes while fn runs
		c.DB.Port, c.DB.Host = 2, "mine"
		return nil
	})
	if !errors.Is(err, etcdconf.ErrConflict) {
		t.Fatalf("got %v, want ErrConflict", err)
	}
	vals, _, _ := keysOf(t, cli, "/w/")
	if vals["/w/db/port"] != "99" || vals["/w/db/host"] != "h" {
		t.Fatalf("a conflicting update was partly written: %v", vals)
	}
	// The documented retry: run Update again on the new snapshot.
	waitFor(t, w, "the concurrent write", func(s *etcdconf.Snapshot[writable]) bool { return s.Value.DB.Port == 99 })
	s, err := w.Update(context.Background(), func(c *writable) error { c.DB.Port++; return nil })
	if err != nil || s.Value.DB.Port != 100 {
		t.Fatalf("retry: %v, %+v", err, s)
	}
}

func TestUpdateCreatesAndDeletesMapEntries(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/w/services/api-1/addr", "a:1", "/w/services/api-2", `{"addr":"b:2","weight":1}`)
	w := newWatcher[writable](t, cli, "/w/")
	s, err := w.Update(context.Background(), func(c *writable) error {
		delete(c.Services, "api-1")
		c.Services["api-3"] = svc{Addr: "c:3", Weight: 5}
		e := c.Services["api-2"]
		e.Weight = 7 // lives in a JSON value: the value is re-encoded
		c.Services["api-2"] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	vals, _, _ := keysOf(t, cli, "/w/")
	if _, ok := vals["/w/services/api-1/addr"]; ok {
		t.Errorf("removed entry's key still in etcd: %v", vals)
	}
	if vals["/w/services/api-3/addr"] != "c:3" || vals["/w/services/api-3/weight"] != "5" {
		t.Errorf("new entry not written as keys: %v", vals)
	}
	if !strings.Contains(vals["/w/services/api-2"], `"weight":7`) { // a number stays a number
		t.Errorf("JSON value not re-encoded: %q", vals["/w/services/api-2"])
	}
	want := map[string]svc{"api-2": {"b:2", 7}, "api-3": {"c:3", 5}}
	if fmt.Sprint(s.Value.Services) != fmt.Sprint(want) {
		t.Fatalf("snapshot services %v, want %v", s.Value.Services, want)
	}
}

func TestUpdateReencodesDocuments(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/w/db.yaml", "host: h\nport: 1\n")
	w := newWatcher[writable](t, cli, "/w/")
	s, err := w.Update(context.Background(), func(c *writable) error { c.DB.Port = 5; return nil })
	if err != nil {
		t.Fatal(err)
	}
	vals, _, _ := keysOf(t, cli, "/w/")
	if len(vals) != 1 || !strings.Contains(vals["/w/db.yaml"], "port:") || s.Value.DB.Port != 5 || s.Value.DB.Host != "h" {
		t.Fatalf("etcd %v, snapshot %+v", vals, s.Value.DB)
	}
}

func TestUpdateRefusalsWriteNothing(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/w/db/port", "1")
	w := newWatcher[writable](t, cli, "/w/")
	_, _, rev := keysOf(t, cli, "/w/")
	ctx := context.Background()
	boom := errors.New("boom")
	if _, err := w.Update(ctx, func(c *writable) error { c.DB.Port = 3; return boom }); !errors.Is(err, boom) {
		t.Errorf("fn error: got %v", err)
	}
	if _, err := w.Update(ctx, func(c *writable) error { c.DB.Port = -1; return nil }); !errors.Is(err, etcdconf.ErrInvalid) {
		t.Errorf("invalid result: got %v", err)
	}
	_, err := w.Update(ctx, func(c *writable) error {
		c.Flags = map[string]bool{}
		for i := range 200 {
			c.Flags[fmt.Sprint("f", i)] = true
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "128") {
		t.Errorf("too many keys: got %v", err)
	}
	if _, err := w.Set(ctx, "DB.Nope", 1); err == nil {
		t.Error("Set on a path T does not have: no error")
	}
	if _, err := w.Set(ctx, "DB.Port", "eighty"); !errors.Is(err, etcdconf.ErrInvalid) {
		t.Errorf("Set of a value that does not decode: got %v", err)
	}
	if _, err := w.Set(ctx, "DB.Port", make(chan int)); err == nil {
		t.Error("Set of a channel: no error")
	}
	if _, err := w.Set(ctx, "Name", "x", etcdconf.WithTTL(500*time.Millisecond)); err == nil {
		t.Error("TTL under a second: no error")
	}
	if _, _, now := keysOf(t, cli, "/w/"); now != rev {
		t.Fatalf("refused writes changed etcd: revision %d -> %d", rev, now)
	}
	w.Close()
	if _, err := w.Update(ctx, func(*writable) error { return nil }); !errors.Is(err, etcdconf.ErrClosed) {
		t.Errorf("Update after Close: %v", err)
	}
	if _, err := w.Set(ctx, "Name", "x"); !errors.Is(err, etcdconf.ErrClosed) {
		t.Errorf("Set after Close: %v", err)
	}
}

func TestSetAndDelete(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/w/db/host", "h", "/w/services/api-1/addr", "a", "/w/services/api-1/weight", "1")
	w := newWatcher[writable](t, cli, "/w/")
	ctx := context.Background()
	s, err := w.Set(ctx, "DB.Port", 6432)
	if err != nil || s.Value.DB.Port != 6432 {
		t.Fatalf("Set: %v, %+v", err, s)
	}
	kv, _ := s.Key("db/port")
	if _, err := w.Set(ctx, "DB.Port", 1, etcdconf.IfModRevision(kv.ModRevision-1)); !errors.Is(err, etcdconf.ErrConflict) {
		t.Fatalf("stale IfModRevision: %v", err)
	}
	if s, err = w.Set(ctx, "DB.Port", 2, etcdconf.IfModRevision(kv.ModRevision)); err != nil || s.Value.DB.Port != 2 {
		t.Fatalf("current IfModRevision: %v", err)
	}
	s, err = w.Delete(ctx, `Services["api-1"]`)
	if err != nil || len(s.Value.Services) != 0 {
		t.Fatalf("Delete of a subtree: %v, %+v", err, s.Value.Services)
	}
	if vals, _, _ := keysOf(t, cli, "/w/services/"); len(vals) != 0 {
		t.Fatalf("keys left under the deleted path: %v", vals)
	}
}

func TestSetWithTTLExpires(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	w := newWatcher[writable](t, cli, "/w/")
	updates := w.Subscribe(context.Background())
	s, err := w.Set(context.Background(), `Flags["new-ui"]`, true, etcdconf.WithTTL(time.Second))
	if err != nil || !s.Value.Flags["new-ui"] {
		t.Fatalf("Set with TTL: %v, %+v", err, s)
	}
	if kv, _ := s.Key("flags/new-ui"); kv.Lease == 0 {
		t.Fatal("key has no lease")
	}
	for {
		u := recv(t, updates)
		if _, on := u.New.Value.Flags["new-ui"]; !on && u.Old.Value.Flags["new-ui"] {
			return // the override expired by itself and subscribers saw it go
		}
	}
}

func ExampleWatcher_Update() {
	srv, cli := exampleEtcd()
	defer srv.Close()
	defer cli.Close()
	ctx := context.Background()
	cli.Put(ctx, "/app/db/port", "5432")

	type Config struct{ DB struct{ Port int } }
	w, err := etcdconf.New[Config](ctx, cli, "/app/")
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	// On a conflict Update runs fn again on the newer value, itself.
	snap, err := w.Update(ctx, func(c *Config) error { c.DB.Port++; return nil })
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("port:", snap.Value.DB.Port)
	// Output: port: 5433
}

func ExampleWithTTL() {
	srv, cli := exampleEtcd()
	defer srv.Close()
	defer cli.Close()
	ctx := context.Background()

	type Config struct{ Flags map[string]bool }
	w, err := etcdconf.New[Config](ctx, cli, "/app/")
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	// Turn a flag on for ten minutes; etcd removes the key when the lease ends.
	snap, err := w.Set(ctx, `Flags["new-ui"]`, true, etcdconf.WithTTL(10*time.Minute))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("new-ui:", snap.Value.Flags["new-ui"])
	// Output: new-ui: true
}

func TestUpdateOverARejectedRevisionSaysSo(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/w/db/port", "1")
	w := newWatcher[writable](t, cli, "/w/")
	bad := put(t, cli, "/w/db/port", "-1")
	for w.Status().Seen < bad {
		time.Sleep(5 * time.Millisecond)
	}
	// The documented retry loop must end: the error is the rejection, not a conflict.
	_, err := w.Update(context.Background(), func(c *writable) error { c.DB.Port = 2; return nil })
	if errors.Is(err, etcdconf.ErrConflict) || !errors.Is(err, etcdconf.ErrInvalid) || !strings.Contains(err.Error(), "Set or Delete") {
		t.Fatalf("got %v", err)
	}
}

// TestUpdateRetriesConflicts: concurrent Updates of one counter all land,
// each fn run seeing the value that beat the last, with no ErrConflict
// reaching the caller and no rerun on a stale value.
func TestUpdateRetriesConflicts(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/ur/db/port", "0")
	ws := []*etcdconf.Watcher[writable]{newWatcher[writable](t, cli, "/ur/"), newWatcher[writable](t, srv.Client(t), "/ur/")}
	ctx := context.Background()
	var runs atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var seen []int
			_, err := ws[i%2].Update(ctx, func(c *writable) error {
				runs.Add(1)
				if len(seen) > 0 && c.DB.Port <= seen[len(seen)-1] {
					return fmt.Errorf("fn ran again on port %d after %v: a stale value", c.DB.Port, seen)
				}
				seen = append(seen, c.DB.Port)
				c.DB.Port++
				return nil
			})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	vals, _, _ := keysOf(t, cli, "/ur/")
	if vals["/ur/db/port"] != "40" {
		t.Fatalf("40 increments gave %s (fn ran %d times)", vals["/ur/db/port"], runs.Load())
	}
	t.Logf("40 concurrent Updates through 2 watchers: fn ran %d times", runs.Load())

	// A writer that always wins: Update gives up after a bound, with ErrConflict.
	n := 0
	_, err := ws[0].Update(ctx, func(c *writable) error {
		n++
		put(t, cli, "/ur/db/port", strconv.Itoa(1000+n)) // beat this very Update
		c.DB.Port = 1                                    // any change
		return nil
	})
	if !errors.Is(err, etcdconf.ErrConflict) || n != 100 {
		t.Fatalf("always beaten: %v after %d runs, want ErrConflict after 100", err, n)
	}
}

// TestWriteOptionsThatMeanNothingAreRefused: WithTTL on Delete, and
// IfModRevision on a Delete that would remove more than the guarded key.
func TestWriteOptionsThatMeanNothingAreRefused(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	rev := put(t, cli, "/wo/name", "a", "/wo/services/api-1/addr", "x", "/wo/services/api-1/weight", "1")
	w := newWatcher[writable](t, cli, "/wo/")
	ctx := context.Background()
	if _, err := w.Delete(ctx, "Name", etcdconf.WithTTL(time.Minute)); err == nil || !strings.Contains(err.Error(), "WithTTL") {
		t.Fatalf("Delete with WithTTL: %v", err)
	}
	if _, err := w.Delete(ctx, `Services["api-1"]`, etcdconf.IfModRevision(rev)); err == nil || !strings.Contains(err.Error(), "IfModRevision") {
		t.Fatalf("guarded Delete of a subtree: %v", err)
	}
	if _, _, now := keysOf(t, cli, "/wo/"); now != rev {
		t.Fatalf("refused writes moved etcd from revision %d to %d", rev, now)
	}
	if _, err := w.Delete(ctx, "Name", etcdconf.IfModRevision(rev)); err != nil {
		t.Fatalf("guarded Delete of one key: %v", err)
	}
}

// TestLoadTimeoutBoundsEvenWithALaterDeadline: WithLoadTimeout applies
// when ctx has a deadline too; the earlier one wins.
func TestLoadTimeoutBoundsEvenWithALaterDeadline(t *testing.T) {
	srv := etcdtest.Start(t)
	cli, proxy := proxiedClient(t, srv)
	put(t, cli, "/lt/a", "1")
	proxy.Pause()
	defer proxy.Resume()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	_, err := etcdconf.Load[map[string]string](ctx, cli, "/lt/", etcdconf.WithLoadTimeout(300*time.Millisecond))
	if err == nil || time.Since(start) > 30*time.Second {
		t.Fatalf("Load over a stalled link with a 1m ctx and a 300ms load timeout: %v after %v", err, time.Since(start))
	}
}
