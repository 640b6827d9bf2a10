//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package etcdconf_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
)

// TestSnapshotFileLockedByAnotherProcess: a watcher holds an advisory lock
// beside its snapshot file, so a second process given the same path fails
// at New, naming it. The other process is played by a flock on a
// descriptor of our own: flock locks belong to open files, so it conflicts
// exactly as another process's would.
func TestSnapshotFileLockedByAnotherProcess(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	path := filepath.Join(t.TempDir(), "snap.json")
	lock, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	w, err := etcdconf.New[map[string]string](context.Background(), cli, "/l/", etcdconf.WithSnapshotFile(path))
	if err == nil {
		w.Close()
		t.Fatal("New took a file another process holds")
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "another process") {
		t.Fatalf("New: %v, want an error naming %s and another process", err, path)
	}
	// The watcher's own lock is taken the same way: the other process cannot
	// take the file while it lives, and can once it closes.
	syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	w = newWatcher[map[string]string](t, cli, "/l/", etcdconf.WithSnapshotFile(path))
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		t.Fatal("the watcher holds no lock on its snapshot file")
	}
	w.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatalf("the lock outlived Close: %v", err)
	}
}
