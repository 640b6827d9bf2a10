package etcdconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf/internal/codec"
)

// randomSnapshot returns a snapshot of prefix with up to 50 keys of random
// values (UTF-8 and not, empty and not) and metadata.
func randomSnapshot(r *rand.Rand, prefix string) fileSnapshot {
	s := fileSnapshot{prefix: prefix, rev: r.Int64N(1 << 40), written: time.Unix(r.Int64N(1<<32), r.Int64N(1e9)), kvs: codec.NewKeySet()}
	for range r.IntN(50) {
		key := fmt.Sprintf("k%d/%c", r.IntN(100), 'a'+r.IntN(26))
		value := make([]byte, r.IntN(40))
		for i := range value {
			if r.IntN(2) == 0 {
				value[i] = byte(r.IntN(256)) // often not UTF-8
			} else {
				value[i] = "ab\"\\\n é"[r.IntN(7)]
			}
		}
		create := r.Int64N(s.rev + 1)
		s.kvs.Set(codec.KeyValue{Key: key, Value: string(value), CreateRevision: create,
			ModRevision: create + r.Int64N(s.rev-create+1), Version: r.Int64N(1000)}.WithLease(r.Int64N(3) * r.Int64()))
	}
	return s
}

func sameFileSnapshot(a, b fileSnapshot) string {
	if a.prefix != b.prefix || a.rev != b.rev || !a.written.Equal(b.written) || a.kvs.Len() != b.kvs.Len() {
		return fmt.Sprintf("header %q %d %v %d keys, want %q %d %v %d keys",
			b.prefix, b.rev, b.written, b.kvs.Len(), a.prefix, a.rev, a.written, a.kvs.Len())
	}
	for x := range a.kvs.All() {
		k := x.Key
		y, ok := b.kvs.Get(k)
		switch {
		case !ok:
			return fmt.Sprintf("key %q lost", k)
		case x.Value != y.Value:
			return fmt.Sprintf("key %q: value %q, want %q", k, y.Value, x.Value)
		case x.Key != y.Key || x.CreateRevision != y.CreateRevision || x.ModRevision != y.ModRevision ||
			x.Version != y.Version || x.Lease() != y.Lease():
			return fmt.Sprintf("key %q: metadata %+v, want %+v", k, *y, *x)
		}
	}
	return ""
}

// TestSnapshotFileRoundTrip: whatever the keys, values and metadata, what
// is written reads back the same.
func TestSnapshotFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	f := &snapshotFile{path: filepath.Join(dir, "snap.json")}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		want := randomSnapshot(r, "/app/")
		if err := f.write(want); err != nil {
			t.Fatal(err)
		}
		got, err := f.read("/app/")
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if d := sameFileSnapshot(want, got); d != "" {
			t.Fatalf("case %d: %s", i, d)
		}
	}
}

// TestSnapshotFileDeterministic: the same snapshot gives the same bytes,
// whatever the order of its map.
func TestSnapshotFileDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 100 {
		s := randomSnapshot(r, "/app/")
		first, err := encodeSnapshotFile(s)
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			copied := s
			m := make(map[string]*codec.KeyValue, s.kvs.Len())
			for v := range s.kvs.All() {
				kv := *v
				m[kv.Key] = &kv
			}
			copied.kvs = codec.KeySetOf(m)
			again, err := encodeSnapshotFile(copied)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(first, again) {
				t.Fatalf("two encodings of one snapshot differ:\n%s\n%s", first, again)
			}
		}
	}
}

// TestSnapshotFileRefused: a file that is not whole, not intact, not ours
// or not for this prefix is refused with an error naming it and the reason.
func TestSnapshotFileRefused(t *testing.T) {
	s := fileSnapshot{prefix: "/app/", rev: 7, written: time.Unix(1, 0), kvs: codec.KeySetOf(map[string]*codec.KeyValue{
		"a": {Key: "a", Value: "1", CreateRevision: 2, ModRevision: 5, Version: 3},
		"b": {Key: "b", Value: "two", CreateRevision: 7, ModRevision: 7, Version: 1},
	})}
	good, err := encodeSnapshotFile(s)
	if err != nil {
		t.Fatal(err)
	}
	replace := func(old, new string) []byte {
		if !bytes.Contains(good, []byte(old)) {
			t.Fatalf("%q not in %s", old, good)
		}
		return bytes.Replace(good, []byte(old), []byte(new), 1)
	}
	cases := []struct {
		name, prefix string
		data         []byte
		why          string
	}{
		{"empty", "/app/", nil, "truncated or corrupt"},
		{"truncated", "/app/", good[:len(good)/2], "truncated or corrupt"},
		{"truncated at the end", "/app/", good[:len(good)-3], "truncated or corrupt"},
		{"value changed", "/app/", replace(`"two"`, `"six"`), "checksum mismatch"},
		{"revision changed", "/app/", replace(`"revision":7`, `"revision":8`), "checksum mismatch"},
		{"checksum not hex", "/app/", replace(`"sha256":"`, `"sha256":"z`), "checksum mismatch"},
		{"other prefix", "/other/", good, `holds prefix "/app/", not "/other/"`},
		{"other version", "/app/", replace(`"version":1,`, `"version":2,`), "format version 2"},
		{"other format", "/app/", []byte(`{"format":"x"}`), "not an etcdconf snapshot file"},
		{"not JSON", "/app/", []byte("db/port=5432\n"), "truncated or corrupt"},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &snapshotFile{path: filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))}
			if err := os.WriteFile(f.path, c.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := f.read(c.prefix)
			if err == nil {
				t.Fatal("refused nothing")
			}
			if !strings.Contains(err.Error(), f.path) || !strings.Contains(err.Error(), c.why) {
				t.Fatalf("error %q: want the file's name and %q", err, c.why)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		f := &snapshotFile{path: filepath.Join(dir, "missing")}
		_, err := f.read("/app/")
		if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), f.path) {
			t.Fatalf("error %v: want the file's name and ErrNotExist", err)
		}
	})
	// Every truncation is refused, never half-used.
	f := &snapshotFile{path: filepath.Join(dir, "cut")}
	for n := range len(good) - 1 {
		if err := os.WriteFile(f.path, good[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := f.read("/app/"); err == nil {
			t.Fatalf("the first %d of %d bytes accepted", n, len(good))
		}
	}
}

// TestSnapshotFileCrashBeforeRename: a write that stops between writing
// the temporary file and renaming it, as a crash would, leaves the previous
// file whole and readable; the next write succeeds, and the next claim of
// the file (a restarted watcher) removes the leftover.
func TestSnapshotFileCrashBeforeRename(t *testing.T) {
	dir := t.TempDir()
	f := &snapshotFile{path: filepath.Join(dir, "snap.json")}
	old := fileSnapshot{prefix: "/app/", rev: 3, written: time.Unix(3, 0), kvs: codec.KeySetOf(map[string]*codec.KeyValue{
		"a": {Key: "a", Value: "old", CreateRevision: 3, ModRevision: 3, Version: 1},
	})}
	if err := f.write(old); err != nil {
		t.Fatal(err)
	}
	crash := errors.New("killed")
	f.beforeRename = func(string) error { return crash }
	next := old
	next.rev, next.kvs = 4, codec.KeySetOf(map[string]*codec.KeyValue{
		"a": {Key: "a", Value: "new", CreateRevision: 3, ModRevision: 4, Version: 2},
	})
	if err := f.write(next); !errors.Is(err, crash) {
		t.Fatalf("write: %v, want the crash", err)
	}
	if tmps, _ := filepath.Glob(f.path + ".*.tmp"); len(tmps) != 1 {
		t.Fatalf("the crash left temporary files %q, want one", tmps)
	}
	got, err := f.read("/app/")
	if err != nil {
		t.Fatal(err)
	}
	if d := sameFileSnapshot(old, got); d != "" {
		t.Fatalf("after a crash before rename: %s", d)
	}
	f.beforeRename = nil
	if err := f.write(next); err != nil {
		t.Fatal(err)
	}
	if got, err = f.read("/app/"); err != nil {
		t.Fatal(err)
	}
	if d := sameFileSnapshot(next, got); d != "" {
		t.Fatal(d)
	}
	if tmps, _ := filepath.Glob(f.path + ".*.tmp"); len(tmps) != 1 {
		t.Fatalf("after a good write, temporary files %q, want the crash's leftover alone", tmps)
	}
	if err := f.claim("/app/"); err != nil {
		t.Fatal(err)
	}
	defer f.release()
	if tmps, _ := filepath.Glob(f.path + ".*.tmp"); len(tmps) != 0 {
		t.Fatalf("temporary files %q after a claim", tmps)
	}
}

// TestSnapshotFileMode: the file holds secrets: only its owner may read it,
// even when the file it replaces was readable by all.
func TestSnapshotFileMode(t *testing.T) {
	dir := t.TempDir()
	f := &snapshotFile{path: filepath.Join(dir, "snap.json")}
	if err := os.WriteFile(f.path, []byte("before"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.write(fileSnapshot{prefix: "/app/", rev: 1}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(f.path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Fatalf("mode %v, want 0600", m)
	}
}

// FuzzSnapshotFile: no content makes reading panic, and what is accepted
// is what a write of the accepted snapshot gives back.
func FuzzSnapshotFile(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 5 {
		data, err := encodeSnapshotFile(randomSnapshot(r, "/app/"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"format":"etcdconf-snapshot","version":1,"sha256":"","snapshot":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := decodeSnapshotFile(data, "/app/")
		if err != nil {
			return
		}
		again, err := encodeSnapshotFile(s)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := decodeSnapshotFile(again, "/app/")
		if err != nil {
			t.Fatalf("a re-encoded accepted file is refused: %v", err)
		}
		if d := sameFileSnapshot(s, s2); d != "" {
			t.Fatal(d)
		}
	})
}

// TestSnapshotFileKeepsFullKeys: the file holds full keys, as it always
// has, and reads back into keys relative to the prefix; a key outside the
// prefix is refused.
func TestSnapshotFileKeepsFullKeys(t *testing.T) {
	s := fileSnapshot{prefix: "/app/", rev: 7, written: time.Unix(1, 0), kvs: codec.KeySetOf(map[string]*codec.KeyValue{
		"db/host": {Key: "db/host", Value: "h", CreateRevision: 2, ModRevision: 5, Version: 3},
	})}
	data, err := encodeSnapshotFile(s)
	if err != nil {
		t.Fatal(err)
	}
	var env struct{ Snapshot json.RawMessage }
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(env.Snapshot, []byte(`"key":"/app/db/host"`)) {
		t.Fatalf("the file does not hold the full key: %s", env.Snapshot)
	}
	got, err := decodeSnapshotFile(data, "/app/")
	if err != nil {
		t.Fatal(err)
	}
	if kv, ok := got.kvs.Get("db/host"); !ok || kv.Key != "db/host" || string(kv.Value) != "h" {
		t.Fatalf("read back %+v, %v; want the relative key db/host", kv, ok)
	}
}
