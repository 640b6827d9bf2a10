package etcdconf

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/etcdconf/etcdconf/internal/codec"
)

type blobCfg struct {
	Blob  []byte
	Ptr   *[]byte
	Blobs map[string][]byte
	Doc   struct{ Data []byte }
}

// TestDecodeBytes: a []byte takes a key's value as it is, UTF-8 or not, in
// a field, a map of them (the flat view of a prefix) and a document (issue
// 18, item 13).
func TestDecodeBytes(t *testing.T) {
	v, err := decodeWith[blobCfg](t, newOptions(nil), "blob", "a\xff\x00b", "ptr", "p,q", "blobs/x", "\xfe", "blobs/y/z", "[1, 2]",
		"doc.yaml", "data: 1.10\n")
	if err != nil {
		t.Fatal(err)
	}
	if string(v.Blob) != "a\xff\x00b" || v.Ptr == nil || string(*v.Ptr) != "p,q" || string(v.Blobs["x"]) != "\xfe" ||
		string(v.Blobs["y/z"]) != "[1, 2]" || string(v.Doc.Data) != "1.10" {
		t.Fatalf("decoded %+v", v)
	}
	m, err := decodeWith[map[string][]byte](t, newOptions(nil), "a", "\xff\xfe", "b/c", "x, y", "e", "")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string][]byte{"a": []byte("\xff\xfe"), "b/c": []byte("x, y"), "e": {}}; !reflect.DeepEqual(m, want) {
		t.Fatalf("map[string][]byte: %q, want %q", m, want)
	}
}

// TestDiffBytes: a []byte changes as one value, shown as a quoted string.
func TestDiffBytes(t *testing.T) {
	old := blobCfg{Blob: []byte("ab"), Blobs: map[string][]byte{"x": []byte("1")}}
	new := blobCfg{Blob: []byte("a\xff"), Blobs: map[string][]byte{"x": []byte("1"), "y": {}}}
	new.Doc.Data = []byte("d")
	got := fmt.Sprint(diffSnapshots(snap(old, 1), snap(new, 2)))
	if want := `[Blob: "ab" -> "a\xff" Blobs["y"]: added "" Doc.Data: added "d"]`; got != want {
		t.Fatalf("changes %s\nwant    %s", got, want)
	}
	if got := fmt.Sprint(diffSnapshots(snap(new, 2), snap(blobCfg{}, 3))); got != `[Blob: removed (was "a\xff") Blobs["x"]: removed (was "1") Blobs["y"]: removed (was "") Doc.Data: removed (was "d")]` {
		t.Fatalf("removed: %s", got)
	}
}

// TestEncodeBytes: a []byte is written to its own key as it is, UTF-8 or
// not, and reads back exactly; a document, which holds text, refuses bytes
// that are not UTF-8.
func TestEncodeBytes(t *testing.T) {
	v := blobCfg{Blob: []byte("a\xff\x00,b"), Blobs: map[string][]byte{"x": []byte("[\xfe]")}}
	leaves := map[string]codec.Leaf{}
	if err := codec.EncodeLeaves(reflect.ValueOf(v), nil, "", leaves); err != nil {
		t.Fatal(err)
	}
	var pairs []string
	for k, l := range leaves {
		s, err := codec.LeafText(l.V, l.Field)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		pairs = append(pairs, k, s)
	}
	back, err := decodeWith[blobCfg](t, newOptions(nil), pairs...)
	if err != nil || !bytes.Equal(back.Blob, v.Blob) || !bytes.Equal(back.Blobs["x"], v.Blobs["x"]) {
		t.Fatalf("read back %+v, %v; wrote %q", back, err, pairs)
	}
	if _, err := codec.ValueNode(reflect.ValueOf(v), ""); err == nil || !strings.Contains(err.Error(), "Blob") {
		t.Fatalf("a document of bytes that are not UTF-8: %v", err)
	}
	if _, err := codec.LeafText(reflect.ValueOf("a\xff"), "Name"); err == nil {
		t.Fatal("a string that is not UTF-8 was written")
	}
}
