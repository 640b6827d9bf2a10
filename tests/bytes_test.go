package etcdconf_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
)

type blobs struct {
	Name  string
	Blob  []byte
	Blobs map[string][]byte
}

// TestBytesRoundTrip: a []byte is a key's value as it is, UTF-8 or not:
// Register writes it, a watcher of map[string][]byte reads it back
// exactly, and Update and Set write a []byte field as raw bytes that read
// back as written (issue 18, item 13).
func TestBytesRoundTrip(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	ctx := context.Background()
	raw := []byte("\xff\x00raw,bytes\n")
	r, err := etcdconf.Register(ctx, cli, "/reg/api-1", raw, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	reg := newWatcher[map[string][]byte](t, cli, "/reg/")
	if got := reg.Current().Value["api-1"]; !bytes.Equal(got, raw) {
		t.Fatalf("map[string][]byte read %q, registered %q", got, raw)
	}

	put(t, cli, "/b/name", "n", "/b/blob", "a\xfeb")
	w := newWatcher[blobs](t, cli, "/b/")
	if got := w.Current().Value.Blob; string(got) != "a\xfeb" {
		t.Fatalf("a []byte field read %q", got)
	}
	ch := w.Subscribe(ctx)
	s, err := w.Update(ctx, func(c *blobs) error {
		c.Blob = []byte("\x80\x81")
		c.Blobs = map[string][]byte{"k": []byte("[\xfe, x]"), "e": {}}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	vals, _, _ := keysOf(t, cli, "/b/")
	if vals["/b/blob"] != "\x80\x81" || vals["/b/blobs/k"] != "[\xfe, x]" || vals["/b/blobs/e"] != "" {
		t.Fatalf("etcd holds %q", vals)
	}
	if !bytes.Equal(s.Value.Blob, []byte("\x80\x81")) || string(s.Value.Blobs["k"]) != "[\xfe, x]" {
		t.Fatalf("Update's snapshot: %q", s.Value)
	}
	if ev := recv(t, ch); len(ev.Changes) == 0 || ev.Changes[0].String() != `Blob: "a\xfeb" -> "\x80\x81"` {
		t.Fatalf("changes: %v", ev.Changes)
	}
	if s, err = w.Set(ctx, `Blobs["k"]`, []byte{0, 0xff}); err != nil || !bytes.Equal(s.Value.Blobs["k"], []byte{0, 0xff}) {
		t.Fatalf("Set of a []byte: %v, %q", err, s.Value.Blobs)
	}
	if _, err := w.Set(ctx, "Name", "\xff"); err == nil || !strings.Contains(err.Error(), "UTF-8") {
		t.Fatalf("Set of a string that is not UTF-8: %v", err)
	}
	if _, err := w.Update(ctx, func(c *blobs) error { c.Name = "\xfe"; return nil }); err == nil || !strings.Contains(err.Error(), "UTF-8") {
		t.Fatalf("Update of a string that is not UTF-8: %v", err)
	}
	put(t, cli, "/b/name", "\xff")
	time.Sleep(200 * time.Millisecond)
	if st := w.Status(); st.Rejected == nil || !strings.Contains(st.Rejected.Error(), "/b/name") || !strings.Contains(st.Rejected.Error(), "UTF-8") {
		t.Fatalf("a string field given bytes that are not UTF-8: Status().Rejected = %v", st.Rejected)
	}
}
