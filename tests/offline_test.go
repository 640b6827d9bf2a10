package etcdconf_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// offlineOpts are fastRecovery with the snapshot file at path.
func offlineOpts(path string) []etcdconf.Option {
	return append([]etcdconf.Option{etcdconf.WithSnapshotFile(path)}, fastRecovery...)
}

func changeStrings(cs []etcdconf.Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.String())
	}
	slices.Sort(out)
	return out
}

// TestOfflineStartFromSnapshotFile: a service that ran once starts with
// etcd down, from the file; when etcd returns with changed keys, the
// subscriber gets exactly the difference and the watch goes on as usual.
func TestOfflineStartFromSnapshotFile(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	path := filepath.Join(t.TempDir(), "config.snap")
	put(t, cli, "/o/a", "1", "/o/b", "2")
	w := newWatcher[map[string]string](t, cli, "/o/", offlineOpts(path)...)
	rev := put(t, cli, "/o/a", "3")
	waitFor(t, w, "a=3", func(s *etcdconf.Snapshot[map[string]string]) bool { return s.Value["a"] == "3" })
	w.Close() // writes the last snapshot applied

	put(t, cli, "/o/b", "changed", "/o/c", "new") // while the service is down
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	w2, err := etcdconf.New[map[string]string](context.Background(), cli, "/o/", offlineOpts(path)...)
	if err != nil {
		t.Fatalf("New with etcd down and a good file: %v", err)
	}
	defer w2.Close()
	s, st := w2.Current(), w2.Status()
	if s.Revision != rev || len(s.Value) != 2 || s.Value["a"] != "3" || s.Value["b"] != "2" {
		t.Fatalf("started from %v at %d, want a=3 b=2 at %d", s.Value, s.Revision, rev)
	}
	if s.FromSnapshotFile().IsZero() || !st.FromSnapshotFile.Equal(s.FromSnapshotFile()) || st.Connected || st.Err == nil || st.Revision != rev {
		t.Fatalf("status from the file: %+v, snapshot written %v", st, s.FromSnapshotFile())
	}
	if kv, ok := s.Key("a"); !ok || kv.ModRevision != rev || kv.Version != 2 {
		t.Fatalf("key a's metadata from the file: %+v", kv)
	}

	updates := w2.Subscribe(context.Background())
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	u := recv(t, updates)
	got := changeStrings(u.Changes)
	want := []string{`["b"]: "2" -> "changed"`, `["c"]: added "new"`}
	if !slices.Equal(got, want) {
		t.Fatalf("update after etcd returned: %q, want %q", got, want)
	}
	if u.Old != s || !u.New.FromSnapshotFile().IsZero() {
		t.Fatalf("update from %p (file's %p) to a snapshot from the file at %v", u.Old, s, u.New.FromSnapshotFile())
	}
	waitConnected(t, w2)
	if st := w2.Status(); !st.FromSnapshotFile.IsZero() {
		t.Fatalf("status still says the file after etcd returned: %+v", st)
	}
	put(t, cli, "/o/a", "4")
	if got := changeStrings(recv(t, updates).Changes); !slices.Equal(got, []string{`["a"]: "3" -> "4"`}) {
		t.Fatalf("update from the watch: %q", got)
	}
}

// TestOfflineSameKeysPublishNothing: when etcd returns with the keys the
// file has, no update is published; Current stops saying it is from the
// file, and the first update is the next change.
func TestOfflineSameKeysPublishNothing(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	path := filepath.Join(t.TempDir(), "config.snap")
	put(t, cli, "/s/a", "1")
	if _, err := etcdconf.Load[map[string]string](context.Background(), cli, "/s/", offlineOpts(path)...); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	w, err := etcdconf.New[map[string]string](context.Background(), cli, "/s/", offlineOpts(path)...)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	fromFile := w.Current()
	updates := w.Subscribe(context.Background())
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, w, "a snapshot from etcd", func(s *etcdconf.Snapshot[map[string]string]) bool { return s.FromSnapshotFile().IsZero() })
	put(t, cli, "/s/a", "2")
	u := recv(t, updates)
	if u.Old != fromFile || !slices.Equal(changeStrings(u.Changes), []string{`["a"]: "1" -> "2"`}) {
		t.Fatalf("first update: %q from %+v: want only the put, from the file's snapshot", changeStrings(u.Changes), u.Old)
	}
}

// TestOfflineStaleFileIgnoredWhenEtcdIsUp: with etcd up the file is not
// read; the watcher serves etcd and rewrites the file, which Load then
// falls back to when etcd is down.
func TestOfflineStaleFileIgnoredWhenEtcdIsUp(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	path := filepath.Join(t.TempDir(), "config.snap")
	put(t, cli, "/t/a", "old")
	if _, err := etcdconf.Load[map[string]string](context.Background(), cli, "/t/", offlineOpts(path)...); err != nil {
		t.Fatal(err)
	}
	rev := put(t, cli, "/t/a", "new")
	w := newWatcher[map[string]string](t, cli, "/t/", offlineOpts(path)...)
	if s, st := w.Current(), w.Status(); s.Value["a"] != "new" || s.Revision != rev || !s.FromSnapshotFile().IsZero() || !st.FromSnapshotFile.IsZero() {
		t.Fatalf("with etcd up: %v at %d from file %v, status %+v", s.Value, s.Revision, s.FromSnapshotFile(), st)
	}
	w.Close()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	s, err := etcdconf.Load[map[string]string](context.Background(), cli, "/t/", offlineOpts(path)...)
	if err != nil {
		t.Fatalf("Load with etcd down: %v", err)
	}
	if s.Value["a"] != "new" || s.Revision != rev || s.FromSnapshotFile().IsZero() {
		t.Fatalf("Load from the file: %v at %d, written %v", s.Value, s.Revision, s.FromSnapshotFile())
	}
}

// TestOfflineRefusesBadFiles: with etcd down, a file that is truncated,
// corrupt, for another prefix, missing or does not decode into T is never
// used: New and Load fail with the etcd error and the file's name and fault.
func TestOfflineRefusesBadFiles(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.snap")
	put(t, cli, "/r/port", "99999") // fine for a map, out of range for validated
	if _, err := etcdconf.Load[map[string]string](context.Background(), cli, "/r/", offlineOpts(good)...); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	file := func(name string, content []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	type tcase struct {
		name, path, prefix, why string
		newT                    func(context.Context, *clientv3.Client, string, ...etcdconf.Option) error
	}
	flat := func(ctx context.Context, cli *clientv3.Client, prefix string, opts ...etcdconf.Option) error {
		w, err := etcdconf.New[map[string]string](ctx, cli, prefix, opts...)
		if err == nil {
			w.Close()
		}
		return err
	}
	cases := []tcase{
		{"truncated", file("truncated", data[:len(data)/2]), "/r/", "truncated", flat},
		{"corrupt", file("corrupt", []byte(strings.Replace(string(data), "99999", "11111", 1))), "/r/", "checksum mismatch", flat},
		{"other prefix", good, "/other/", `holds prefix "/r/"`, flat},
		{"missing", filepath.Join(dir, "missing"), "/r/", "no such file", flat},
		{"does not decode", good, "/r/", "does not decode into etcdconf_test.validated", func(ctx context.Context, cli *clientv3.Client, prefix string, opts ...etcdconf.Option) error {
			w, err := etcdconf.New[validated](ctx, cli, prefix, opts...)
			if err == nil {
				w.Close()
			}
			if err != nil && !errors.Is(err, etcdconf.ErrInvalid) {
				t.Errorf("undecodable file: %v does not match ErrInvalid", err)
			}
			return err
		}},
		{"Load, corrupt", file("corrupt2", []byte(strings.Replace(string(data), "99999", "11111", 1))), "/r/", "checksum mismatch", func(ctx context.Context, cli *clientv3.Client, prefix string, opts ...etcdconf.Option) error {
			_, err := etcdconf.Load[map[string]string](ctx, cli, prefix, opts...)
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.newT(context.Background(), cli, c.prefix, offlineOpts(c.path)...)
			if err == nil {
				t.Fatal("a bad file was used")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.path) || !strings.Contains(msg, c.why) || !errors.Is(err, etcdconf.ErrUnreachable) {
				t.Fatalf("error %q: want etcd's error, the file's name and %q", msg, c.why)
			}
		})
	}
}

// TestLoadSurvivesAPanickingErrorHandler: Load reports a snapshot file it
// could not write to the Observer.Error hook, and a panic there is logged, not
// passed on: the load succeeded.
func TestLoadSurvivesAPanickingErrorHandler(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/lp/a", "1")
	called := false
	handler := etcdconf.WithObserver(etcdconf.Observer{Error: func(error) { called = true; panic("a buggy handler") }})
	file := etcdconf.WithSnapshotFile(filepath.Join(t.TempDir(), "no-such-dir", "snap.json"))
	s, err := etcdconf.Load[map[string]string](context.Background(), cli, "/lp/", file, handler)
	if err != nil || s.Value["a"] != "1" {
		t.Fatalf("Load: %+v, %v", s, err)
	}
	if !called {
		t.Fatal("the failed file write was not reported to the Error hook")
	}
}
