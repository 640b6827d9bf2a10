package etcdconf

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSnapshotFileBurstCoalesces: while one file write hangs, the watcher
// applies a burst of 1000 revisions (neither the watch nor readers wait for
// the disk), and the whole burst then costs one more write, of the newest.
func TestSnapshotFileBurstCoalesces(t *testing.T) {
	cli := etcdClient(t)
	path := t.TempDir() + "/snap.json"
	var writes atomic.Int64
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock()
	hang := optionFunc(func(o *options) {
		o.beforeRename = func(string) error {
			if writes.Add(1) == 1 {
				<-release // the first write, of the initial load, hangs
			}
			return nil
		}
	})
	ctx := context.Background()
	w, err := New[map[string]string](ctx, cli, "/b/", WithSnapshotFile(path), hang)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := range 1000 {
		if _, err := cli.Put(ctx, "/b/k", strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(15 * time.Second); w.Current().Value["k"] != "999"; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the burst was not applied while a file write hung: %v", w.Current().Value)
		}
	}
	unblock()
	w.Close()
	if n := writes.Load(); n != 2 {
		t.Fatalf("%d file writes for the initial load and a burst of 1000, want 2", n)
	}
	s, err := (&snapshotFile{path: path}).read("/b/")
	if err != nil {
		t.Fatal(err)
	}
	if kv, _ := s.kvs.Get("k"); kv == nil || string(kv.Value) != "999" || s.rev != w.Current().Revision {
		t.Fatalf("file at %d holds %+v, want the last value at %d", s.rev, kv, w.Current().Revision)
	}
}

// TestSnapshotFileWriteFailureIsReported: a file that cannot be written
// (its directory removed after New) is reported in Status and to the Error
// hook; the watcher goes on.
func TestSnapshotFileWriteFailureIsReported(t *testing.T) {
	cli := etcdClient(t)
	dir := filepath.Join(t.TempDir(), "dir")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 10)
	w, err := New[map[string]string](context.Background(), cli, "/f/", WithSnapshotFile(filepath.Join(dir, "snap.json")),
		WithObserver(Observer{Error: func(err error) {
			select {
			case errs <- err:
			default:
			}
		}}))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// The first write may still be creating its temporary file in dir:
	// RemoveAll then finds the directory not empty, and is tried again.
	for tries := 0; ; tries++ {
		err := os.RemoveAll(dir)
		if err == nil {
			break
		}
		if tries == 100 {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := cli.Put(context.Background(), "/f/a", "1"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if st := w.Status(); st.Err == nil || !st.Connected {
			t.Fatalf("after a failed write (%v): status %+v", err, st)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("a failed file write was never reported")
	}
	if _, err := cli.Put(context.Background(), "/f/b", "2"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(15 * time.Second); w.Current().Value["b"] != "2"; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the watcher stopped applying after a failed file write")
		}
	}
}
