package plan

import (
	"reflect"
	"testing"
)

// TestRewriteKeepsLayout: a change inside a held value is written through
// the library's planner, which edits the value in place: a YAML document
// keeps its comments and its order, a JSON value its order and indentation,
// and a scalar JSON cannot hold as written (0x10, True) is a string of its
// text, so the value stays JSON.
func TestRewriteKeepsLayout(t *testing.T) {
	for _, tc := range []struct {
		cur       map[string]string
		body      string
		key, want string
	}{
		{map[string]string{"db.yaml": "# the primary\nport: 1\nhost: x # here\n"}, "db: {port: 2, host: x}",
			"db.yaml", "# the primary\nport: 2\nhost: x # here\n"},
		{map[string]string{"svc": "{\n  \"z\": 1,\n  \"a\": \"b\"\n}\n"}, "svc: {z: 2, a: b}",
			"svc", "{\n  \"z\": 2,\n  \"a\": \"b\"\n}\n"},
		{map[string]string{"svc": `{"addr":"b"}`}, "svc: {addr: b, port: 0x10, on: True}",
			"svc", `{"addr":"b","on":"True","port":"0x10"}`},
		{map[string]string{"svc": `{"addr":"b"}`}, "svc: {addr: \"a\\u2028b\"}",
			"svc", `{"addr":"a\u2028b"}`},
	} {
		p := mustPlan(t, tc.cur, tc.body, Options{})
		if want := []Op{{Key: tc.key, Value: tc.want}}; !reflect.DeepEqual(p.Ops, want) {
			t.Errorf("%v -> %q: ops %+v, want %+v", tc.cur, tc.body, p.Ops, want)
		}
		if again := mustPlan(t, Apply(tc.cur, p.Ops), tc.body, Options{}); len(again.Ops) != 0 {
			t.Errorf("%v -> %q: planned again: %+v", tc.cur, tc.body, again.Ops)
		}
	}
}
