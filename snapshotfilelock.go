package etcdconf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// fileClaims holds the snapshot files claimed in this process, by the
// cleaned absolute path (its directory's symlinks resolved), with the
// prefix of the watcher that claimed each.
var fileClaims = struct {
	sync.Mutex
	m map[string]string
}{m: make(map[string]string)}

// errFileLocked is what lockFile returns when another process holds the lock.
var errFileLocked = errors.New("locked")

// check refuses, before anything is read, a path that cannot be written:
// a directory, or one whose directory is missing or not a directory.
func (f *snapshotFile) check() error {
	if fi, err := os.Stat(f.path); err == nil && fi.IsDir() {
		return fmt.Errorf("etcdconf: WithSnapshotFile: %s is a directory: name a file", f.path)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("etcdconf: WithSnapshotFile: %w", err)
	}
	dir := filepath.Dir(f.path)
	di, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("etcdconf: WithSnapshotFile: %s: directory %s does not exist", f.path, dir)
	case err != nil:
		return fmt.Errorf("etcdconf: WithSnapshotFile: %s: %w", f.path, err)
	case !di.IsDir():
		return fmt.Errorf("etcdconf: WithSnapshotFile: %s: %s is not a directory", f.path, dir)
	}
	return nil
}

// claim reserves the file for one writer until release: in this process
// (a second claim of the same path fails, naming the prefix that holds it)
// and across processes, by an advisory lock on path+".lock" where the
// system has flock (a second process's claim fails). Creating the lock
// file also proves the directory writable. Holding the claim, it removes
// the temporary files a crashed writer left.
func (f *snapshotFile) claim(prefix string) error {
	key, err := filepath.Abs(f.path)
	if err != nil {
		return fmt.Errorf("etcdconf: snapshot file %s: %w", f.path, err)
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(key)); err == nil {
		key = filepath.Join(dir, filepath.Base(key))
	}
	fileClaims.Lock()
	defer fileClaims.Unlock()
	if other, ok := fileClaims.m[key]; ok {
		return fmt.Errorf("etcdconf: snapshot file %s is in use by the watcher of %q in this process: give each watcher a file of its own", f.path, other)
	}
	lock, err := os.OpenFile(f.path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("etcdconf: snapshot file %s: cannot create its lock file: %w", f.path, err)
	}
	if err := lockFile(lock); err != nil {
		lock.Close()
		if errors.Is(err, errFileLocked) {
			return fmt.Errorf("etcdconf: snapshot file %s is in use by another process (it holds %s): give each process a file of its own", f.path, lock.Name())
		}
		return fmt.Errorf("etcdconf: snapshot file %s: lock %s: %w", f.path, lock.Name(), err)
	}
	fileClaims.m[key] = prefix
	f.claimed, f.lock = key, lock
	f.removeLeftovers()
	return nil
}

// release gives up the claim; it does nothing when none is held.
func (f *snapshotFile) release() {
	fileClaims.Lock()
	defer fileClaims.Unlock()
	if f.lock == nil {
		return
	}
	f.lock.Close() // closing the descriptor drops the flock
	delete(fileClaims.m, f.claimed)
	f.claimed, f.lock = "", nil
}

// removeLeftovers removes temporary files of this path that a writer
// stopped by a crash left behind. Only the holder of the claim calls it.
func (f *snapshotFile) removeLeftovers() {
	dir, base := filepath.Split(f.path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if name := e.Name(); strings.HasPrefix(name, base+".") && strings.HasSuffix(name, ".tmp") && !e.IsDir() {
			os.Remove(filepath.Join(dir, name))
		}
	}
}
