package etcdconf

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

// TestDecodeFlatViewLists: in a flat view a document's list is one entry
// at its path holding the text a plain key holds for it, as the encoder
// writes it: a comma list of the items' source text when that reads back
// as the items, else a JSON list; "" for an empty list.
func TestDecodeFlatViewLists(t *testing.T) {
	tests := []struct {
		name  string
		pairs []string
		want  map[string]string
	}{
		{"block list", []string{"app.yaml", "hosts:\n  - a\n  - b\n"}, map[string]string{"app/hosts": "a,b"}},
		{"flow list of ints", []string{"app.yaml", "a: [1, 2]\n"}, map[string]string{"app/a": "1,2"}},
		{"a document that is a list", []string{"app.yaml", "- x\n- y\n"}, map[string]string{"app": "x,y"}},
		{"a list deep in a map", []string{"app.yaml", "db:\n  ports: [1,2]\n  host: h\n"}, map[string]string{"app/db/ports": "1,2", "app/db/host": "h"}},
		{"a JSON document", []string{"app.json", `{"l": ["a", 1.10, true]}`}, map[string]string{"app/l": "a,1.10,true"}},
		{"a document under a path", []string{"x/y/app.yml", "l: [a]\n"}, map[string]string{"x/y/app/l": "a"}},
		{"source text", []string{"app.yaml", "v: [1.10, 2024-01-01, 0x1F, 1e3, yes, 'quoted']\n"}, map[string]string{"app/v": "1.10,2024-01-01,0x1F,1e3,yes,quoted"}},
		{"unicode", []string{"app.yaml", "l: [é, 日本, \"a\\tb\"]\n"}, map[string]string{"app/l": "é,日本,a\tb"}},
		{"an item with a comma", []string{"app.yaml", "l: ['a,b', c]\n"}, map[string]string{"app/l": `["a,b","c"]`}},
		{"an item with a space at its end", []string{"app.yaml", "l: [' a', b]\n"}, map[string]string{"app/l": `[" a","b"]`}},
		{"a list starting with [", []string{"app.yaml", "l: ['[x', y]\n"}, map[string]string{"app/l": `["[x","y"]`}},
		{"one empty item", []string{"app.yaml", "l: ['']\n"}, map[string]string{"app/l": `[""]`}},
		{"two empty items", []string{"app.yaml", "l: ['', '']\n"}, map[string]string{"app/l": ","}},
		{"a null item", []string{"app.yaml", "l: [a, ~]\n"}, map[string]string{"app/l": `["a",null]`}},
		{"nested lists", []string{"app.yaml", "l: [[1, 2], [3.10], []]\n"}, map[string]string{"app/l": `[["1","2"],["3.10"],[]]`}},
		{"a list of maps", []string{"app.yaml", "l:\n  - name: x\n    port: 1.10\n    sub/q: [1]\n  - {name: 'a,b'}\n"},
			map[string]string{"app/l": `[{"name":"x","port":"1.10","sub":{"q":["1"]}},{"name":"a,b"}]`}},
		{"empty list", []string{"app.yaml", "l: []\nm: x\n"}, map[string]string{"app/l": "", "app/m": "x"}},
		{"an alias of a list", []string{"app.yaml", "a: &x [2024-01-01, b]\nb: *x\n"}, map[string]string{"app/a": "2024-01-01,b", "app/b": "2024-01-01,b"}},
		{"a plain key overrides the list", []string{"app.yaml", "hosts: [a, b]\nport: 1\n", "app/hosts", "c"}, map[string]string{"app/hosts": "c", "app/port": "1"}},
		{"a plain key overrides a JSON list", []string{"app.yaml", "hosts: ['a,b']\n", "app/hosts", "[\"z\"]"}, map[string]string{"app/hosts": `["z"]`}},
		{"plain keys beside", []string{"app.yaml", "hosts: [a, b]\n", "app/port", "1", "other", "o"}, map[string]string{"app/hosts": "a,b", "app/port": "1", "other": "o"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeEvery[map[string]string](t, 10, newOptions(nil), tt.pairs...)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			// A map of another string kind, or of pointers to one, is the same view.
			type name string
			named, err := decodeEvery[map[string]name](t, 1, newOptions(nil), tt.pairs...)
			if err != nil || len(named) != len(tt.want) {
				t.Fatalf("map[string]name: got %q, %v", named, err)
			}
			ptrs, err := decodeEvery[map[string]*string](t, 1, newOptions(nil), tt.pairs...)
			if err != nil || len(ptrs) != len(tt.want) {
				t.Fatalf("map[string]*string: got %v, %v", ptrs, err)
			}
			for k, v := range tt.want {
				if string(named[k]) != v || ptrs[k] == nil || *ptrs[k] != v {
					t.Fatalf("entry %q: map[string]name %q, map[string]*string %v; want %q", k, named[k], ptrs[k], v)
				}
			}
		})
	}
}

// TestDecodeFlatViewListsInAField: a map of strings inside a struct is the
// same flat view, from a document key or from a plain key holding a
// document value.
func TestDecodeFlatViewListsInAField(t *testing.T) {
	for _, pairs := range [][]string{
		{"labels.yaml", "hosts: [a, 'b,c']\nzone: z\n"},
		{"labels", `{"hosts": ["a", "b,c"], "zone": "z"}`},
	} {
		c, err := decodeEvery[fullConfig](t, 10, newOptions(nil), pairs...)
		want := map[string]string{"hosts": `["a","b,c"]`, "zone": "z"}
		if err != nil || !maps.Equal(c.Labels, want) {
			t.Fatalf("%q: got %q, %v; want %q", pairs, c.Labels, err, want)
		}
	}
}

// TestDecodeFlatViewListErrors: a list stays an error where it cannot be
// one entry of text, naming the key and the path; precedence errors name
// both keys, as they do for scalars.
func TestDecodeFlatViewListErrors(t *testing.T) {
	_, err := decodeEvery[map[string]int](t, 10, newOptions(nil), "app.yaml", "port: 1\nhosts: [1, 2]\n")
	wantKeyErr(t, err, "/app/app.yaml", "app/hosts")
	_, err = decodeEvery[map[string]int](t, 10, newOptions(nil), "app.yaml", "- 1\n")
	wantKeyErr(t, err, "/app/app.yaml", "[app]")

	// A value a merge key brought in has no source text; a string field
	// cannot take a time from a document either.
	_, err = decodeEvery[map[string]string](t, 10, newOptions(nil), "app.yaml", "base: &b {d: [2024-01-01]}\nx:\n  <<: *b\n")
	wantKeyErr(t, err, "/app/app.yaml", "app/x/d/0")

	_, err = decodeEvery[map[string]string](t, 10, newOptions(nil), "app.yaml", "hosts: [a, b]\n", "app/hosts/x", "1")
	wantBothKeys(t, err, "/app/app.yaml", "/app/app/hosts/x", "cannot hold both")
	_, err = decodeEvery[map[string]string](t, 10, newOptions(nil), "app.yaml", "hosts: [a, b]\n", "app.json", `{"hosts": ["c"]}`)
	wantBothKeys(t, err, "/app/app.yaml", "/app/app.json", "both set")
}

func wantKeyErr(t *testing.T, err error, key, path string) {
	t.Helper()
	var de *DecodeError
	if !errors.As(err, &de) || de.Key != key || de.Revision != 42 || !strings.Contains(err.Error(), path) {
		t.Fatalf("got %v, want a *DecodeError for key %s at revision 42 naming %s", err, key, path)
	}
}
