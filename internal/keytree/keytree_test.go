package keytree

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func entries(pairs ...string) []Entry {
	var es []Entry
	for i := 0; i < len(pairs); i += 2 {
		es = append(es, Entry{Key: "/p/" + pairs[i], Path: pairs[i], Value: []byte(pairs[i+1])})
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
	got, err := Flatten(map[string]any{"db": map[string]any{"port": 5432, "on": true, "ratio": 0.5}, "hosts": []any{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"db/port": "5432", "db/on": "true", "db/ratio": "0.5", "hosts": "a,b"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if _, err := Flatten(map[string]any{"l": []any{map[string]any{"x": 1}}}); err == nil || !strings.Contains(err.Error(), ".yaml") {
		t.Fatalf("a list of maps: %v", err)
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
		flat, err := Flatten(tree.Root)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{k1: v1, k2: v2}
		if !reflect.DeepEqual(flat, want) {
			t.Fatalf("round trip: got %v, want %v", flat, want)
		}
	})
}
