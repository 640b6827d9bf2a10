package etcdconf

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"gopkg.in/yaml.v3"

	"github.com/etcdconf/etcdconf/internal/codec"
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
	wantKeyErr(t, err, "/app/app.yaml", `["app"]`)

	// A value a merge key brought in keeps its source text as well.
	m, err := decodeEvery[map[string]string](t, 10, newOptions(nil), "app.yaml", "base: &b {d: [2024-01-01]}\nx:\n  <<: *b\n")
	if want := map[string]string{"app/base/d": "2024-01-01", "app/x/d": "2024-01-01"}; err != nil || !maps.Equal(m, want) {
		t.Fatalf("merged list: got %q, %v; want %q", m, err, want)
	}

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

// genItem returns a string of a few pieces from an alphabet of the texts
// a comma list cannot hold, or that YAML reads as another type.
func genItem(r *rand.Rand) string {
	pieces := []string{"a", "b", ",", " ", "[", "]", "", "é", "日本", "\t", `"`, "'", ":", "#", "-", "null", "1.10", "true", "~", "{", "\\", "2024-01-01"}
	var b strings.Builder
	for range r.IntN(4) {
		b.WriteString(pieces[r.IntN(len(pieces))])
	}
	return b.String()
}

// TestFlatViewListTextRoundTrips is the property behind the flat view's
// text for a list: a plain key holding it reads back, into a []string (or
// [][]string) field, as the list the document holds, and so as the field
// reads the document itself. Lists are written as YAML and as JSON.
func TestFlatViewListTextRoundTrips(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 14))
	type one struct{ L []string }
	type two struct{ L [][]string }
	check := func(t *testing.T, list any, readPlain func(text string) (any, error), readDoc func(pairs ...string) (any, error)) {
		t.Helper()
		y, err := yaml.Marshal(map[string]any{"l": list})
		if err != nil {
			t.Fatal(err)
		}
		j, err := json.Marshal(map[string]any{"l": list})
		if err != nil {
			t.Fatal(err)
		}
		for _, pairs := range [][]string{{"x.yaml", string(y)}, {"x.json", string(j)}} {
			flat, err := decodeWith[map[string]string](t, newOptions(nil), pairs...)
			if err != nil {
				t.Fatalf("%q: %v", pairs, err)
			}
			text, ok := flat["x/l"]
			if !ok {
				t.Fatalf("%q: no entry x/l in %q", pairs, flat)
			}
			got, err := readPlain(text)
			if err != nil {
				t.Fatalf("%q: entry %q: %v", pairs, text, err)
			}
			if !cmp.Equal(got, list, cmpopts.EquateEmpty()) {
				t.Fatalf("%q: entry %q reads back as %q, want %q", pairs, text, got, list)
			}
			doc, err := readDoc(pairs...)
			if err != nil || !cmp.Equal(doc, got, cmpopts.EquateEmpty()) {
				t.Fatalf("%q: the field reads the document as %q, %v; the entry %q as %q", pairs, doc, err, text, got)
			}
		}
	}
	for range 500 {
		list := make([]string, r.IntN(5))
		for i := range list {
			list[i] = genItem(r)
		}
		check(t, list, func(text string) (any, error) {
			c, err := decodeWith[struct{ X one }](t, newOptions(nil), "x/l", text)
			return c.X.L, err
		}, func(pairs ...string) (any, error) {
			c, err := decodeWith[struct{ X one }](t, newOptions(nil), pairs...)
			return c.X.L, err
		})
	}
	for range 200 {
		list := make([][]string, r.IntN(4))
		for i := range list {
			list[i] = make([]string, r.IntN(3))
			for j := range list[i] {
				list[i][j] = genItem(r)
			}
		}
		check(t, list, func(text string) (any, error) {
			c, err := decodeWith[struct{ X two }](t, newOptions(nil), "x/l", text)
			return c.X.L, err
		}, func(pairs ...string) (any, error) {
			c, err := decodeWith[struct{ X two }](t, newOptions(nil), pairs...)
			return c.X.L, err
		})
	}
}

// TestDecodeFlatViewListsShuffled: keys with documents holding lists,
// plain keys overriding them and colliding with them, fed to the decoder
// in 100 shuffled orders, give one value or one error text.
func TestDecodeFlatViewListsShuffled(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 9))
	sets := [][]string{
		{"app.yaml", "hosts: [a, 'b,c']\nports: [1.10, 2]\nl: [{x: 1}, [2]]\nempty: []\n", "app/hosts", "z", "app/port", "1", "db.json", `{"tags": ["x", "y"]}`, "db/host", "h"},
		{"app.yaml", "hosts: [a, b]\n", "app.json", `{"hosts": ["c"]}`, "other", "o"},
		{"app.yaml", "hosts: [a, b]\n", "app/hosts/x", "1", "app/hosts/y", "2"},
		{"a.yaml", "- x\n- 'y,z'\n", "b.yml", "- 1\n", "a/c", "3"},
	}
	d, err := codec.NewDecoder[map[string]string]("/app/", codec.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, pairs := range sets {
		kvs := slices.Collect(maps.Values(kvsOf(pairs...)))
		var first string
		for i := range 100 {
			r.Shuffle(len(kvs), func(i, j int) { kvs[i], kvs[j] = kvs[j], kvs[i] })
			v, err := d.DecodeKeys(len(kvs), slices.Values(kvs), 42)
			got := fmt.Sprintf("%q %v", v, err)
			if i == 0 {
				first = got
			} else if got != first {
				t.Fatalf("%q, run %d: got\n%s\nthen\n%s", pairs, i, first, got)
			}
		}
	}
}

// TestOracleFlatViewLists drives the flat view through documents holding
// lists, plain keys over them and their deletion, applying each change
// incrementally and by the full decode (see oracle.step).
func TestOracleFlatViewLists(t *testing.T) {
	o := newOracle[map[string]string](t)
	put := func(path, v string) oracleOp { return oracleOp{path: path, value: &v} }
	del := func(path string) oracleOp { return oracleOp{path: path} }
	for _, ops := range [][]oracleOp{
		{put("a.yaml", "hosts: [x, y]\n"), put("e/c", "1")},
		{put("a/hosts", "z")},
		{del("a/hosts")},
		{put("a.yaml", "hosts: ['x,y', [1]]\nport: 2\n")},
		{put("b.yaml", "- 1.10\n- 2024-01-01\n")},
		{put("b/d", "2")}, // b is a list and b/d a key under it: rejected
		{del("b/d")},
		{put("a/hosts/0", "q")}, // rejected
		{put("a.yaml", "hosts: []\n"), del("a/hosts/0")},
		{del("a.yaml"), put("c.json", `{"l": [{"k": "v"}]}`)},
	} {
		o.step(t, ops)
	}
	t.Logf("%d transactions, %d applied incrementally", o.steps, o.inc)
	got := o.prev.Value
	want := map[string]string{"b": "1.10,2024-01-01", "e/c": "1", "c/l": `[{"k":"v"}]`}
	if !maps.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
