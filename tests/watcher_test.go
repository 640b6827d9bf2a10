package etcdconf_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

type appConfig struct {
	Name string
	DB   struct {
		Host string
		Port int
	}
	Debug bool
}

type validated struct {
	Port int
}

func (v *validated) Validate() error {
	if v.Port <= 0 || v.Port > 65535 {
		return fmt.Errorf("port %d out of range", v.Port)
	}
	return nil
}

func put(t *testing.T, cli *clientv3.Client, kvs ...string) int64 {
	t.Helper()
	ops := make([]clientv3.Op, 0, len(kvs)/2)
	for i := 0; i < len(kvs); i += 2 {
		ops = append(ops, clientv3.OpPut(kvs[i], kvs[i+1]))
	}
	resp, err := cli.Txn(context.Background()).Then(ops...).Commit()
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

func del(t *testing.T, cli *clientv3.Client, key string) int64 {
	t.Helper()
	resp, err := cli.Delete(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

func newWatcher[T any](t *testing.T, cli *clientv3.Client, prefix string, opts ...etcdconf.Option) *etcdconf.Watcher[T] {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := etcdconf.New[T](ctx, cli, prefix, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// waitFor polls the watcher until cond holds of the current snapshot.
func waitFor[T any](t *testing.T, w *etcdconf.Watcher[T], what string, cond func(*etcdconf.Snapshot[T]) bool) *etcdconf.Snapshot[T] {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		s := w.Current()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; current revision %d value %+v; status %+v", what, s.Revision, s.Value, w.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNewLoadsAtOneRevisionAndFollowsChanges(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	rev := put(t, cli, "/app/name", "demo", "/app/db/host", "localhost", "/app/db/port", "5432", "/apple", "not mine")

	w := newWatcher[appConfig](t, cli, "/app/")
	s := w.Current()
	if s.Revision != rev || s.Value.Name != "demo" || s.Value.DB.Host != "localhost" || s.Value.DB.Port != 5432 {
		t.Fatalf("loaded %+v at %d, want demo/localhost/5432 at %d", s.Value, s.Revision, rev)
	}
	if kv, ok := s.Key("db/port"); !ok || kv.ModRevision != rev || string(kv.Value) != "5432" {
		t.Fatalf("Key(db/port) = %+v, %v", kv, ok)
	}

	rev = put(t, cli, "/app/db/port", "6432")
	s = waitFor(t, w, "port 6432", func(s *etcdconf.Snapshot[appConfig]) bool { return s.Value.DB.Port == 6432 })
	if s.Revision != rev {
		t.Fatalf("snapshot revision %d, want %d", s.Revision, rev)
	}

	rev = del(t, cli, "/app/db/host")
	s = waitFor(t, w, "host deleted", func(s *etcdconf.Snapshot[appConfig]) bool { return s.Revision == rev })
	if s.Value.DB.Host != "" {
		t.Fatalf("deleted key still decoded: %+v", s.Value)
	}
	if _, ok := s.Key("db/host"); ok {
		t.Fatal("deleted key still in snapshot")
	}
}

func TestNoEventLostBetweenLoadAndWatch(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	const writes = 300
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; i <= writes; i++ {
			if _, err := cli.Put(context.Background(), "/app/n/"+strconv.Itoa(i%7), strconv.Itoa(i)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	// Start watchers while the writer runs: each must converge to the final state.
	var ws []*etcdconf.Watcher[map[string]string]
	for range 5 {
		ws = append(ws, newWatcher[map[string]string](t, cli, "/app/"))
		time.Sleep(3 * time.Millisecond)
	}
	wg.Wait()
	resp, err := cli.Get(context.Background(), "/app/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	var last int64 // the last write: every watcher must reach it
	for _, kv := range resp.Kvs {
		last = max(last, kv.ModRevision)
	}
	for i, w := range ws {
		s := waitFor(t, w, "final revision", func(s *etcdconf.Snapshot[map[string]string]) bool {
			return s.Revision >= last && len(s.Value) == len(resp.Kvs)
		})
		for _, kv := range resp.Kvs {
			rel := string(kv.Key)[len("/app/"):]
			if s.Value[rel] != string(kv.Value) {
				t.Errorf("watcher %d: %s = %q, etcd has %q", i, rel, s.Value[rel], kv.Value)
			}
		}
	}
}

func TestRejectedRevisionKeepsLastGood(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/v/port", "80")
	var mu sync.Mutex
	var handled []error
	w := newWatcher[validated](t, cli, "/v/", etcdconf.WithObserver(etcdconf.Observer{Error: func(err error) {
		mu.Lock()
		handled = append(handled, err)
		mu.Unlock()
	}}))
	good := w.Current()

	for _, bad := range []string{"eighty", "70000"} {
		rev := put(t, cli, "/v/port", bad)
		deadline := time.Now().Add(10 * time.Second)
		for w.Status().Seen < rev && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		st := w.Status()
		if st.Seen < rev || st.Rejected == nil || st.Rejected.Revision != rev {
			t.Fatalf("value %q: status %+v, want revision %d rejected", bad, st, rev)
		}
		if !errors.Is(st.Rejected, etcdconf.ErrInvalid) {
			t.Fatalf("rejection %v does not match ErrInvalid", st.Rejected)
		}
		if w.Current() != good {
			t.Fatalf("value %q replaced the last good snapshot: %+v", bad, w.Current())
		}
	}
	if st := w.Status(); st.Rejections != 2 {
		t.Fatalf("Rejections = %d, want 2", st.Rejections)
	}
	var n int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) { // Seen grows before the hook is called
		mu.Lock()
		n = len(handled)
		mu.Unlock()
		if n >= 2 || time.Now().After(deadline) {
			break
		}
	}
	if n != 2 {
		t.Fatalf("Error hook called %d times, want 2", n)
	}

	rev := put(t, cli, "/v/port", "8080")
	s := waitFor(t, w, "good value after bad", func(s *etcdconf.Snapshot[validated]) bool { return s.Value.Port == 8080 })
	if s.Revision != rev {
		t.Fatalf("revision %d, want %d", s.Revision, rev)
	}
}

func TestNewFailsOnInvalidInitialConfig(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	rev := put(t, cli, "/v/port", "0")
	_, err := etcdconf.New[validated](context.Background(), cli, "/v/")
	var de *etcdconf.DecodeError
	if !errors.As(err, &de) || de.Revision != rev || !errors.Is(err, etcdconf.ErrInvalid) {
		t.Fatalf("New = %v, want a DecodeError at revision %d", err, rev)
	}
}

func TestNewArgumentErrors(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	ctx := context.Background()
	if _, err := etcdconf.New[appConfig](ctx, cli, ""); err == nil {
		t.Error("empty prefix: no error")
	}
	if _, err := etcdconf.New[appConfig](ctx, nil, "/app/"); err == nil {
		t.Error("nil client: no error")
	}
	if _, err := etcdconf.New[appConfig](ctx, cli, "/app/", etcdconf.WithDefaults(validated{})); err == nil {
		t.Error("defaults of the wrong type: no error")
	}
}

func TestCloseStopsEverything(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	w := newWatcher[appConfig](t, cli, "/app/")
	ch := w.Subscribe(context.Background())
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-ch; ok {
		t.Fatal("subscriber channel still open after Close")
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, ok := <-w.Subscribe(context.Background()); ok {
		t.Fatal("Subscribe after Close returned an open channel")
	}
	select {
	case <-w.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	if w.Current() == nil {
		t.Fatal("Current is nil after Close")
	}
}

func TestClosedClientStopsWatcher(t *testing.T) {
	srv := etcdtest.Start(t)
	cli, err := srv.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	w := newWatcher[appConfig](t, cli, "/app/", etcdconf.WithBackoff(10*time.Millisecond, 50*time.Millisecond))
	cli.Close()
	select {
	case <-w.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("watcher still running after its client closed; status %+v", w.Status())
	}
	if st := w.Status(); st.Err == nil || st.Connected {
		t.Fatalf("status after client close: %+v", st)
	}
}

func TestWaitRevision(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/wr/port", "1")
	type cfg struct{ Port int }
	// A long progress interval: WaitRevision must not wait for it.
	w, err := etcdconf.New[cfg](context.Background(), cli, "/wr/", etcdconf.WithProgressInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	rev := put(t, cli, "/wr/port", "2")
	if s, err := w.WaitRevision(ctx, rev); err != nil || s.Revision != rev || s.Value.Port != 2 {
		t.Fatalf("a write to the prefix: %+v, %v", s, err)
	}
	elsewhere := put(t, cli, "/elsewhere", "x")
	if s, err := w.WaitRevision(ctx, elsewhere); err != nil || s.Revision != rev {
		t.Fatalf("a write outside the prefix: %+v, %v", s, err)
	}
	bad := put(t, cli, "/wr/port", "two")
	if s, err := w.WaitRevision(ctx, bad); !errors.Is(err, etcdconf.ErrInvalid) || s == nil || s.Value.Port != 2 {
		t.Fatalf("a rejected revision: %+v, %v", s, err)
	}
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	if _, err := w.WaitRevision(short, bad+1000); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a revision etcd has not reached: %v, want the context's deadline", err)
	}
	w.Close()
	if _, err := w.WaitRevision(ctx, bad+1000); !errors.Is(err, etcdconf.ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}
