package etcdconf

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/etcdconf/etcdconf/internal/codec"
)

// The snapshot file is one JSON document:
//
//	{"format":"etcdconf-snapshot","version":1,"sha256":"<hex>","snapshot":{...}}
//
// where sha256 is the checksum of the snapshot member's bytes exactly as they
// appear in the file, so a truncated or altered file is refused rather than
// half-used. The snapshot member holds the prefix, the revision, the time of
// writing and every key with its metadata, sorted by key: the same keys at
// the same time give the same bytes. A value that is valid UTF-8 is stored
// as a string, so an operator can read the file; any other as base64.
const (
	fileFormat  = "etcdconf-snapshot"
	fileVersion = 1
)

type fileEnvelope struct {
	Format   string          `json:"format"`
	Version  int             `json:"version"`
	SHA256   string          `json:"sha256"`
	Snapshot json.RawMessage `json:"snapshot"`
}

type fileBody struct {
	Prefix   string    `json:"prefix"`
	Revision int64     `json:"revision"`
	Written  time.Time `json:"written"`
	Keys     []fileKey `json:"keys"`
}

type fileKey struct {
	Key            string  `json:"key"`
	Value          *string `json:"value,omitempty"`  // when the value is UTF-8
	Base64         []byte  `json:"base64,omitempty"` // when it is not
	CreateRevision int64   `json:"create_revision"`
	ModRevision    int64   `json:"mod_revision"`
	Version        int64   `json:"version"`
	Lease          int64   `json:"lease,omitempty"`
}

// fileSnapshot is what a snapshot file holds.
type fileSnapshot struct {
	prefix  string
	rev     int64
	written time.Time
	kvs     *codec.KeySet
}

// encodeSnapshotFile returns the file's content for the keys of prefix at rev,
// written at the given time.
func encodeSnapshotFile(s fileSnapshot) ([]byte, error) {
	body := fileBody{Prefix: s.prefix, Revision: s.rev, Written: s.written.UTC(), Keys: make([]fileKey, 0, s.kvs.Len())}
	for kv := range s.kvs.All() {
		fk := fileKey{Key: s.prefix + kv.Key, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision, Version: kv.Version, Lease: kv.Lease()}
		if utf8.ValidString(kv.Value) {
			v := kv.Value
			fk.Value = &v
		} else {
			fk.Base64 = []byte(kv.Value)
		}
		body.Keys = append(body.Keys, fk)
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	out, err := json.Marshal(fileEnvelope{Format: fileFormat, Version: fileVersion, SHA256: hex.EncodeToString(sum[:]), Snapshot: raw})
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// decodeSnapshotFile checks data, the content of a snapshot file, and returns
// its keys if they are intact and belong to prefix.
func decodeSnapshotFile(data []byte, prefix string) (fileSnapshot, error) {
	var env fileEnvelope
	if err := json.Unmarshal(data, &env); err != nil {
		return fileSnapshot{}, fmt.Errorf("truncated or corrupt: %w", err)
	}
	if env.Format != fileFormat {
		return fileSnapshot{}, fmt.Errorf("not an etcdconf snapshot file (format %q)", env.Format)
	}
	if env.Version != fileVersion {
		return fileSnapshot{}, fmt.Errorf("format version %d, this etcdconf reads version %d", env.Version, fileVersion)
	}
	sum := sha256.Sum256(env.Snapshot)
	if want, err := hex.DecodeString(env.SHA256); err != nil || !bytes.Equal(sum[:], want) {
		return fileSnapshot{}, errors.New("checksum mismatch: the file is corrupt")
	}
	var body fileBody
	if err := json.Unmarshal(env.Snapshot, &body); err != nil {
		return fileSnapshot{}, fmt.Errorf("corrupt: %w", err)
	}
	if body.Prefix != prefix {
		return fileSnapshot{}, fmt.Errorf("holds prefix %q, not %q", body.Prefix, prefix)
	}
	s := fileSnapshot{prefix: prefix, rev: body.Revision, written: body.Written, kvs: codec.NewKeySet()}
	for _, k := range body.Keys {
		if !strings.HasPrefix(k.Key, prefix) {
			return fileSnapshot{}, fmt.Errorf("key %q is outside the prefix", k.Key)
		}
		rel := k.Key[len(prefix):] // the file holds full keys; the key set, relative ones
		if _, dup := s.kvs.Get(rel); dup {
			return fileSnapshot{}, fmt.Errorf("key %q appears twice", k.Key)
		}
		value := string(k.Base64)
		if k.Value != nil {
			value = *k.Value
		}
		s.kvs.Set(codec.KeyValue{Key: rel, Value: value, CreateRevision: k.CreateRevision,
			ModRevision: k.ModRevision, Version: k.Version}.WithLease(k.Lease))
	}
	return s, nil
}

// snapshotFile is the file named by [WithSnapshotFile].
type snapshotFile struct {
	path string
	// claimed and lock are set while the file is claimed (see claim);
	// fileClaims' mutex guards them.
	claimed string
	lock    *os.File
	// beforeRename, when set, is called with the temporary file's name once
	// it is written and synced; an error stops the write there, as a crash
	// would. Tests use it.
	beforeRename func(tmp string) error
}

// newSnapshotFile returns the file o names (see WithSnapshotFile), nil
// without the option. Whoever writes it claims it first.
func newSnapshotFile(o *options) *snapshotFile {
	if !o.hasSnapshotFile {
		return nil
	}
	return &snapshotFile{path: o.snapshotFile, beforeRename: o.beforeRename}
}

// read returns the file's snapshot of prefix, or an error that names the
// file and why it cannot be used.
func (f *snapshotFile) read(prefix string) (fileSnapshot, error) {
	data, err := os.ReadFile(f.path)
	if err != nil {
		return fileSnapshot{}, fmt.Errorf("etcdconf: snapshot file: %w", err)
	}
	s, err := decodeSnapshotFile(data, prefix)
	if err != nil {
		return fileSnapshot{}, fmt.Errorf("etcdconf: snapshot file %s refused: %w", f.path, err)
	}
	return s, nil
}

// write replaces the file with s, atomically: the content goes to a
// temporary file beside it, of a name of its own, which is synced and
// renamed over the file, and the directory is synced so the rename survives
// a crash. A crash may leave the temporary file; the next claim removes it.
func (f *snapshotFile) write(s fileSnapshot) error {
	data, err := encodeSnapshotFile(s)
	if err != nil {
		return fmt.Errorf("etcdconf: snapshot file %s: %w", f.path, err)
	}
	if err := f.replace(data); err != nil {
		return fmt.Errorf("etcdconf: snapshot file %s: %w", f.path, err)
	}
	return nil
}

func (f *snapshotFile) replace(data []byte) error {
	dir, base := filepath.Split(f.path)
	if dir == "" {
		dir = "."
	}
	t, err := os.CreateTemp(dir, base+".*.tmp") // mode 0600
	if err != nil {
		return err
	}
	tmp := t.Name()
	_, err = t.Write(data)
	if err == nil {
		err = t.Sync()
	}
	if cerr := t.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if f.beforeRename != nil {
		if err := f.beforeRename(tmp); err != nil {
			return err // as a crash would: the temporary file stays
		}
	}
	if err := os.Rename(tmp, f.path); err != nil {
		os.Remove(tmp)
		return err
	}
	d, err := os.Open(filepath.Dir(f.path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// unreachable reports whether a failed load means etcd could not be read in
// time (down, partitioned, without a leader), rather than an answer: a
// denied permission or failed login is an answer, and never falls back to
// the snapshot file, so a revoked access is not bypassed; neither does a
// caller's canceled ctx. A TLS mismatch (an expired or replaced
// certificate, say) is etcd not read, and falls back.
func unreachable(err error) bool {
	if errors.Is(err, ErrUnreachable) || errors.Is(err, ErrTLS) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	switch status.Code(err) {
	case codes.DeadlineExceeded, codes.Unavailable:
		return true
	}
	return false
}

// fileInterval is the least time between two writes of a watcher's file:
// a burst of changes costs at most one write per interval, plus the last.
// The file is a fallback for when etcd is down, so losing the last 100ms of
// changes in a crash costs little; writing a large prefix on every
// revision of a burst would cost the disk a great deal.
const fileInterval = 100 * time.Millisecond

// filePersister writes the snapshots a watcher publishes to its file from
// one goroutine, latest wins: the watch loop hands over a snapshot without
// waiting, and the snapshots offered during a write and the interval after
// it cost one more write, of the newest.
type filePersister struct {
	file   *snapshotFile
	latest atomic.Pointer[fileSnapshot]
	wake   chan struct{} // one slot: a pending wake-up
	done   chan struct{} // closed by stop
}

func newFilePersister(f *snapshotFile) *filePersister {
	return &filePersister{file: f, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// offer hands s to the writer; it never blocks.
func (p *filePersister) offer(s fileSnapshot) {
	p.latest.Store(&s)
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// stop tells run to write the last snapshot offered, if not written yet,
// and return. Nothing may be offered after it.
func (p *filePersister) stop() { close(p.done) }

// run writes offered snapshots until stop, at most one per fileInterval.
// Failed writes go to report; the next offer tries again.
func (p *filePersister) run(report func(error)) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-p.wake:
		case <-p.done:
			p.flush(report)
			return
		}
		p.flush(report)
		t.Reset(fileInterval)
		select {
		case <-t.C:
		case <-p.done: // Close does not wait out the interval
			p.flush(report)
			return
		}
	}
}

func (p *filePersister) flush(report func(error)) {
	s := p.latest.Swap(nil)
	if s == nil {
		return
	}
	s.written = time.Now()
	if err := p.file.write(*s); err != nil {
		report(err)
	}
}
