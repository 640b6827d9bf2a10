package etcdconf_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
)

// TestSnapshotFilePathCheckedAtNew: a snapshot file path that can never be
// written fails New at once, with etcd up, rather than every write later.
func TestSnapshotFilePathCheckedAtNew(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	readOnly := filepath.Join(dir, "read-only")
	if err := os.Mkdir(readOnly, 0o500); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, path, says string
	}{
		{"a directory", dir, "is a directory"},
		{"a missing directory", filepath.Join(dir, "missing", "snap.json"), "does not exist"},
		{"a file for a directory", filepath.Join(file, "snap.json"), "not a directory"},
		{"an unwritable directory", filepath.Join(readOnly, "snap.json"), "permission denied"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "an unwritable directory" && os.Geteuid() == 0 {
				t.Skip("root writes in any directory")
			}
			w, err := etcdconf.New[map[string]string](context.Background(), cli, "/g/", etcdconf.WithSnapshotFile(tt.path))
			if err == nil {
				w.Close()
				t.Fatalf("New accepted the snapshot file %s", tt.path)
			}
			if !strings.Contains(err.Error(), tt.path) || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("New: %v, want an error naming %s and saying %q", err, tt.path, tt.says)
			}
		})
	}
}

// TestSnapshotFileOneWatcherPerPath: a second watcher given a file that a
// watcher of this process has — of another prefix, which would overwrite
// it, or of the same one, which would race on its writes — is refused,
// however the path is spelled; once the first closes, the file is free.
func TestSnapshotFileOneWatcherPerPath(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "snap.json")
	first := newWatcher[map[string]string](t, cli, "/a/", etcdconf.WithSnapshotFile(path))
	for _, tt := range []struct{ name, prefix, path string }{
		{"another prefix", "/b/", path},
		{"the same prefix", "/a/", path},
		{"another spelling", "/b/", filepath.Join(dir, ".", "sub", "..", "snap.json")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o700); err != nil {
				t.Fatal(err)
			}
			w, err := etcdconf.New[map[string]string](context.Background(), cli, tt.prefix, etcdconf.WithSnapshotFile(tt.path))
			if err == nil {
				w.Close()
				t.Fatal("a second watcher of the file was accepted")
			}
			if !strings.Contains(err.Error(), tt.path) || !strings.Contains(err.Error(), `watcher of "/a/"`) {
				t.Fatalf("second watcher: %v, want an error naming the file and the watcher holding it", err)
			}
		})
	}
	first.Close()
	second := newWatcher[map[string]string](t, cli, "/b/", etcdconf.WithSnapshotFile(path))
	second.Close()
}
