package keytree

import (
	"strings"
	"testing"
)

// TestListText: the text a plain key holds for a document's list, as
// etcdconf's writer writes a list of the items' source text: a comma list
// when that reads back as the items, "" for an empty list, else a JSON
// list with each scalar a string of its source text.
func TestListText(t *testing.T) {
	for _, tt := range []struct{ doc, want string }{
		{"[a, b]", "a,b"},
		{"[1.10, 2024-01-01]", "1.10,2024-01-01"},
		{"[0x1F, 1e3, yes, 'quoted', \"d\"]", "0x1F,1e3,yes,quoted,d"},
		{"['a,b', c]", `["a,b","c"]`},
		{"[' a', b]", `[" a","b"]`},
		{"['[x', y]", `["[x","y"]`},
		{"['']", `[""]`},
		{"['', '']", ","},
		{"[\"a\\tb\", é]", "a\tb,é"},
		{"[\"a\\nb\", 'c,d']", `["a\nb","c,d"]`},
		{"[[1,2],[3]]", `[["1","2"],["3"]]`},
		{"[[1.10, 'a,b'], []]", `[["1.10","a,b"],[]]`},
		{"[{name: x, port: 1.10, sub/q: [1]}, {name: 'a,b'}]", `[{"name":"x","port":"1.10","sub":{"q":["1"]}},{"name":"a,b"}]`},
		{"[]", ""},
		{"[a, ~]", `["a",null]`},
		{"[~]", `[null]`},
	} {
		v, text, err := ParseDocument([]byte("l: " + tt.doc + "\n"))
		if err != nil {
			t.Fatalf("%s: %v", tt.doc, err)
		}
		got, err := ListText(v.(map[string]any)["l"].([]any), []string{"l"}, func(p []string) (string, bool) {
			s, ok := text[strings.Join(p, "/")]
			return s, ok
		})
		if err != nil || got != tt.want {
			t.Errorf("%s: got %q, %v; want %q", tt.doc, got, err, tt.want)
		}
	}

	// Without source text: strings as they are, numbers and bools as fmt
	// prints them; another value is an error naming its path.
	if got, err := ListText([]any{"x", 1, 1.5, true}, nil, nil); err != nil || got != "x,1,1.5,true" {
		t.Errorf("no source text: got %q, %v", got, err)
	}
	_, err := ListText([]any{"x", []any{struct{}{}}}, []string{"a", "l"}, nil)
	if err == nil || !strings.Contains(err.Error(), `"a/l/1/0"`) {
		t.Errorf("a value with no text: got %v, want an error naming a/l/1/0", err)
	}
}
