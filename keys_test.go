package etcdconf

import (
	"slices"
	"testing"

	"github.com/etcdconf/etcdconf/internal/codec"
)

// TestKeysRelativeToThePrefix: the key set holds keys relative to the
// prefix; the API gives them back in full (Snapshot.Keys, Snapshot.Key).
func TestKeysRelativeToThePrefix(t *testing.T) {
	s := codec.KeySetOf(map[string]*codec.KeyValue{
		"a":       {Key: "a", Value: "1", ModRevision: 2},
		"a.yaml":  {Key: "a.yaml", Value: "x: 1", ModRevision: 3},
		"b/c":     {Key: "b/c", Value: "2", ModRevision: 4},
		"b/d/e":   {Key: "b/d/e", Value: "3", ModRevision: 5},
		"b0":      {Key: "b0", Value: "4", ModRevision: 6},
		"zz/y/.x": {Key: "zz/y/.x", Value: "5", ModRevision: 7},
	})
	snap := &Snapshot[map[string]string]{prefix: "/app/", kvs: s}
	var keys []string
	for _, kv := range snap.Keys() {
		keys = append(keys, kv.Key)
	}
	wantKeys := []string{"/app/a", "/app/a.yaml", "/app/b/c", "/app/b/d/e", "/app/b0", "/app/zz/y/.x"}
	if !slices.Equal(keys, wantKeys) {
		t.Fatalf("Keys() = %q, want %q", keys, wantKeys)
	}
	if kv, ok := snap.Key("b/c"); !ok || kv.Key != "/app/b/c" || string(kv.Value) != "2" || kv.ModRevision != 4 {
		t.Fatalf(`Key("b/c") = %+v, %v; want the full key /app/b/c`, kv, ok)
	}
	if got, _ := s.Get("b/c"); got.Key != "b/c" {
		t.Fatalf("Key(...) changed the key set's key to %q", got.Key)
	}
	for _, k := range []string{"", "/a", "a//b", "a/", "a/.yaml"} {
		if !codec.OddKey(k) {
			t.Errorf("oddKey(%q) = false, want true", k)
		}
	}
	for _, k := range []string{"a", "a/b", "a.yaml", "a/b.json"} {
		if codec.OddKey(k) {
			t.Errorf("oddKey(%q) = true, want false", k)
		}
	}
}
