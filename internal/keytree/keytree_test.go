package keytree

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func entries(pairs ...string) []Entry {
	var es []Entry
	for i := 0; i < len(pairs); i += 2 {
		es = append(es, Entry{Key: "/p/" + pairs[i], Path: pairs[i], Value: pairs[i+1]})
	}
	return es
}

func TestBuild(t *testing.T) {
	tests := []struct {
		name  string
		pairs []string
		want  map[string]any
	}{
		{"nesting", []string{"a/b", "1", "a/c", "2", "d", "3"}, map[string]any{"a": map[string]any{"b": "1", "c": "2"}, "d": "3"}},
		{"empty segments", []string{"/a//b/", "1"}, map[string]any{"a": map[string]any{"b": "1"}}},
		{"document merged", []string{"db.yaml", "host: h\nport: 1\n"}, map[string]any{"db": map[string]any{"host": "h", "port": 1}}},
		{"key over document", []string{"db.json", `{"host":"h"}`, "db/host", "k"}, map[string]any{"db": map[string]any{"host": "k"}}},
		{"documents merge", []string{"a.yaml", "x: 1", "a/b.yaml", "y: 2"}, map[string]any{"a": map[string]any{"x": 1, "b": map[string]any{"y": 2}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree, err := Build(entries(tt.pairs...))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(tree.Root, tt.want) {
				t.Fatalf("got %v, want %v", tree.Root, tt.want)
			}
		})
	}
}

func TestBuildErrorsNameTheKey(t *testing.T) {
	for _, tt := range []struct {
		pairs []string
		key   string
	}{
		{[]string{"a", "1", "a/b", "2"}, "/p/a/b"},
		{[]string{"a/b", "2", "a", "1"}, "/p/a/b"},
		{[]string{"x.yaml", ": : :"}, "/p/x.yaml"},
		{[]string{"v", "\xff"}, "/p/v"},
	} {
		_, err := Build(entries(tt.pairs...))
		var ke *Error
		if !errors.As(err, &ke) || ke.Key != tt.key {
			t.Errorf("%v: got %v, want an error naming %s", tt.pairs, err, tt.key)
		}
	}
}

func TestFlatten(t *testing.T) {
	got, err := Flatten(map[string]any{"db": map[string]any{"port": 5432, "on": true, "ratio": 0.5}, "hosts": []any{"a", "b"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"db/port": "5432", "db/on": "true", "db/ratio": "0.5", "hosts": "a,b"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	// A list no comma list holds is a JSON list, as the library writes it.
	got, err = Flatten(map[string]any{"l": []any{map[string]any{"x": 1}}, "m": []any{"a,b"}}, nil)
	want = map[string]string{"l": `[{"x":"1"}]`, "m": `["a,b"]`}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, %v; want %v", got, err, want)
	}
}

// TestFlattenKeepsSourceText: with a document's source text, scalars and
// list items are the text the document wrote; a path in a mapping key
// ("a/b") finds its text too.
func TestFlattenKeepsSourceText(t *testing.T) {
	v, text, err := ParseDocument([]byte("d: 2024-01-01\nv: 1.10\nn: ~\na/b: [1.10, 'x,y']\nl: [[0x1F], {k: yes}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Flatten(v.(map[string]any), text)
	want := map[string]string{"d": "2024-01-01", "v": "1.10", "n": "", "a/b": `["1.10","x,y"]`, "l": `[["0x1F"],{"k":"yes"}]`}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
}

// FuzzBuild checks that Build never panics, and that for trees of plain
// keys Flatten gives back exactly the keys Build was given.
func FuzzBuild(f *testing.F) {
	f.Add("a/b", "1", "a/c", "2")
	f.Add("a", "x", "a/b", "y")
	f.Add("d.yaml", "k: v", "d/k", "w")
	f.Add("x.json", "[1,2]", "", "")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		tree, err := Build(entries(k1, v1, k2, v2))
		if err != nil {
			var ke *Error
			if !errors.As(err, &ke) {
				t.Fatalf("error without a key: %v", err)
			}
			return
		}
		plain := true
		for _, k := range []string{k1, k2} {
			s := Segments(k)
			if len(s) == 0 || DocumentExt(k) != "" || strings.Join(s, "/") != k {
				plain = false
			}
		}
		if !plain || k1 == k2 {
			return
		}
		flat, err := Flatten(tree.Root, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{k1: v1, k2: v2}
		if !reflect.DeepEqual(flat, want) {
			t.Fatalf("round trip: got %v, want %v", flat, want)
		}
	})
}

// Issue 10, defect 3: Flatten of two spellings of one path is an error
// naming both, every time, never a random winner.
func TestFlattenSpellingsOfOnePath(t *testing.T) {
	for range 100 {
		_, err := Flatten(map[string]any{"a/b": 1, "a": map[string]any{"b": 2}}, nil)
		if err == nil || !strings.Contains(err.Error(), `"a/b"`) || !strings.Contains(err.Error(), `"a"`) {
			t.Fatalf("got %v, want an error naming a/b and a", err)
		}
		_, err = Flatten(map[string]any{"a": 1, "a/b": 2}, nil)
		if err == nil || !strings.Contains(err.Error(), "cannot hold both") {
			t.Fatalf("got %v, want a value-and-subtree error", err)
		}
	}
	got, err := Flatten(map[string]any{"a/b": 1, "a": map[string]any{"c": 2}}, nil)
	if err != nil || !reflect.DeepEqual(got, map[string]string{"a/b": "1", "a/c": "2"}) {
		t.Fatalf("got %v, %v", got, err)
	}
}

// TestBuildPrecedence: Build gives one result for a set of keys whatever
// their order: plain keys override documents, and two documents setting
// one value are an error naming both.
func TestBuildPrecedence(t *testing.T) {
	for _, tt := range []struct {
		pairs []string
		want  map[string]any
		err   []string // substrings of the error
	}{
		{pairs: []string{"db.yaml", "port: 1\n", "db.json", `{"port": 2}`}, err: []string{"/p/db.yaml", "/p/db.json", "both set"}},
		{pairs: []string{"db.yaml", "port: 1\n", "db/port", "2"}, want: map[string]any{"db": map[string]any{"port": "2"}}},
		{pairs: []string{"x.yaml", "a/b: doc\n", "x/a/b", "plain"}, want: map[string]any{"x": map[string]any{"a": map[string]any{"b": "plain"}}}},
		{pairs: []string{"x.yaml", "a/b: 1\na: {b: 2}\n"}, err: []string{"/p/x.yaml", `"a/b"`, `"a"`, "both set"}},
		{pairs: []string{"db", "1", "db/host", "h"}, err: []string{"/p/db/host", "/p/db", "cannot hold both"}},
		{pairs: []string{"db.yaml", "host: {a: 1}\n", "db/host", "h"}, err: []string{"/p/db/host", "/p/db.yaml", "cannot hold both"}},
	} {
		var first string
		for i := range len(tt.pairs) / 2 {
			es := entries(tt.pairs...)
			es = append(es[i:], es[:i]...)
			for range 20 {
				tree, err := Build(es)
				got := fmt.Sprint(err)
				if err == nil {
					got = fmt.Sprint(tree.Root)
					if !reflect.DeepEqual(tree.Root, tt.want) {
						t.Fatalf("%q: got %v, want %v", tt.pairs, tree.Root, tt.want)
					}
				}
				for _, s := range tt.err {
					if err == nil || !strings.Contains(err.Error(), s) {
						t.Fatalf("%q: got %v, want an error with %s", tt.pairs, err, s)
					}
				}
				if first == "" {
					first = got
				} else if got != first {
					t.Fatalf("%q: got %s, then %s", tt.pairs, first, got)
				}
			}
		}
	}
}

// TestParseDocumentKeepsSourceText: scalars keep the text they were
// written with, by path.
func TestParseDocumentKeepsSourceText(t *testing.T) {
	_, text, err := ParseDocument([]byte("v: 1.10\nd: 2024-01-01\nl: [0x1F, ~]\na/b: yes\nn: ~\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"v": "1.10", "d": "2024-01-01", "l/0": "0x1F", "a/b": "yes"}
	if !reflect.DeepEqual(text, want) {
		t.Fatalf("got %v, want %v", text, want)
	}
}

// TestParseDocumentMergeKeysKeepSourceText: values a merge key brings in
// keep their text too, with YAML's precedence (the mapping's own keys,
// then the first of a list of merged mappings).
func TestParseDocumentMergeKeysKeepSourceText(t *testing.T) {
	doc := "base: &b\n  port: 1.10\n  host: h\n  when: 2024-01-01\n" +
		"other: &o\n  port: 2.50\n  tag: 0x1F\n" +
		"svc:\n  <<: *b\n  host: i\n" +
		"two:\n  <<: [*o, *b]\n"
	v, text, err := ParseDocument([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"svc/port": "1.10", "svc/host": "i", "svc/when": "2024-01-01",
		"two/port": "2.50", "two/tag": "0x1F", "two/host": "h",
	} {
		if text[path] != want {
			t.Errorf("text[%q] = %q, want %q", path, text[path], want)
		}
	}
	// The values themselves are YAML's merge, which the text must match.
	two := v.(map[string]any)["two"].(map[string]any)
	if two["port"] != 2.5 || two["host"] != "h" {
		t.Errorf("two = %v: the first merged mapping wins", two)
	}
}

// TestOneDocument: a second document that is not empty is an error naming
// its line, wherever documents are parsed (files, keys in etcd); a leading
// "---" and empty documents are valid (#20 item 3).
func TestOneDocument(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want any
		err  string
	}{
		{"a: 1\n", map[string]any{"a": 1}, ""},
		{"---\na: 1\n", map[string]any{"a": 1}, ""},
		{"a: 1\n---\n", map[string]any{"a": 1}, ""},
		{"---\n---\na: 1\n---\n# only a comment\n", map[string]any{"a": 1}, ""},
		{"", nil, ""},
		{"a: \"1\"\n---\nb: \"2\"\n", nil, "line 2: a second YAML document"},
		{"---\na: 1\n...\n---\n\nb: 2\n", nil, "line 4: a second YAML document"},
	} {
		v, _, err := ParseDocument([]byte(tt.in))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(v, tt.want) {
			t.Errorf("%q: %v, %v; want %v", tt.in, v, err, tt.want)
		}
	}
	_, err := Build([]Entry{{Key: "/app/db.yaml", Path: "db.yaml", Value: "host: x\n---\nport: 1\n"}})
	var ke *Error
	if !errors.As(err, &ke) || ke.Key != "/app/db.yaml" || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a document key with two documents: %v", err)
	}
}
