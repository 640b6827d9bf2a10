package codec

import (
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestOldEntries: the entries a change's old keys fed are read from the
// map they decoded to, by the names the decoder gives them, and a flat
// view's document (whose entries are named by what it holds) is left to
// the decoder.
func TestOldEntries(t *testing.T) {
	type inst struct{ Addr string }
	kvs := func(keys ...string) []*KeyValue {
		var out []*KeyValue
		for _, k := range keys {
			out = append(out, &KeyValue{Key: k})
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		m      any
		under  string
		segs   []string
		keys   []*KeyValue
		want   any
		wantOK bool
	}{
		{"entries of structs by segment", map[string]inst{"a": {"x"}, "a-1": {"y"}, "b": {"z"}}, "",
			[]string{"a", "c"}, kvs("a/addr", "a.yaml", "c/addr"), map[string]inst{"a": {"x"}}, true},
		{"none found is nil, as no key decodes", map[string]inst{"a": {"x"}}, "services/",
			[]string{"c"}, kvs("services/c/addr"), map[string]inst(nil), true},
		{"a flat view by path", map[string]string{"a": "1", "a/zone": "2", "a-1": "3", "b/zone": "4"}, "",
			[]string{"a"}, kvs("a", "a/zone"), map[string]string{"a": "1", "a/zone": "2"}, true},
		{"a flat view under a field", map[string]int{"a/zone": 2, "b": 4}, "tags/",
			[]string{"a", "b"}, kvs("tags/a/zone", "tags/b"), map[string]int{"a/zone": 2, "b": 4}, true},
		{"a document in a flat view", map[string]string{"a/x": "1"}, "",
			[]string{"a"}, kvs("a.yaml"), nil, false},
		{"not a map", inst{"x"}, "", []string{"a"}, kvs("a"), nil, false},
	} {
		got, ok := oldEntries(reflect.ValueOf(tc.m), tc.under, tc.segs, tc.keys)
		if ok != tc.wantOK {
			t.Errorf("%s: ok = %v, want %v", tc.name, ok, tc.wantOK)
			continue
		}
		if ok {
			if diff := cmp.Diff(tc.want, got.Interface()); diff != "" {
				t.Errorf("%s: (-want +got)\n%s", tc.name, diff)
			}
			if got.IsNil() != reflect.ValueOf(tc.want).IsNil() {
				t.Errorf("%s: nil = %v, want %v", tc.name, got.IsNil(), reflect.ValueOf(tc.want).IsNil())
			}
		}
	}
}
