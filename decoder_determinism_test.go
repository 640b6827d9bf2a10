package etcdconf

import (
	"fmt"
	"testing"
)

// TestDecodeDeterministic is issue #10's determinism property: for each set
// of keys, 100 decodes with the keys fed in every rotation of their order
// (so every map and modification order differs) give one value or one
// error text.
func TestDecodeDeterministic(t *testing.T) {
	sets := [][]string{
		{"db/host", "h", "DB/port", "1"},
		{"db/port", "1", "DB/Port", "2", "Db/host", "h"},
		{"db.yaml", "port: 1\nPort: 2\n"},
		{"db.yaml", "port: 1\n", "db.json", `{"port": 2}`},
		{"db.yaml", "port: 1\nhost: a\n", "DB/port", "2", "db/HOST", "b"},
		{"x.yaml", "a/b: doc\n", "x/a/b", "plain", "labels/x", "1", "Labels/y", "2"},
		{"x.yaml", "a/b: 1\na: {b: 2}\n"},
		{"db", "1", "db/host", "h", "z.yaml", "k: v\n"},
		{"services/API-1/addr", "a", "services/api-1/addr", "b", "Services/api-1/weight", "x"},
		{"services/a", `{"addr": 1.10, "Addr": 2}`, "services/b/weight", "1"},
		{"max-conns", "x", "ratio", "y", "enabled", "z", "db/port", "w"},
		{"labels/a/b", "1", "LABELS.yaml", "a: {c: 2}\nd: 2024-01-01\n", "hosts", "a,b"},
		{"config.yaml", "name: n\ndb: {port: 1}\n", "name", "m", "DB/host", "h"},
		{"nope", "1", "NOPE/x", "2", "db/hots", "3"},
		{"labels.yaml", "hosts: [a, 'b,c']\nl: [{x: 1.10}, []]\n", "app.yaml", "hosts: [a, b]\nports: [1.10, 2]\n", "app/hosts", "z", "hosts", "c,d"},
		{"app.yaml", "hosts: [a, b]\n", "app.json", `{"hosts": ["c"]}`, "app/ports/x", "1", "app.yml", "ports: [1]\n"},
	}
	types := []struct {
		name   string
		decode func(o *options, pairs []string) string
	}{
		{"struct", func(o *options, pairs []string) string {
			v, err := decodeWith[fullConfig](t, o, pairs...)
			return fmt.Sprintf("%+v %v", v, err)
		}},
		{"flat map", func(o *options, pairs []string) string {
			v, err := decodeWith[map[string]string](t, o, pairs...)
			return fmt.Sprintf("%v %v", v, err)
		}},
		{"map of any", func(o *options, pairs []string) string {
			v, err := decodeWith[map[string]any](t, o, pairs...)
			return fmt.Sprintf("%v %v", v, err)
		}},
	}
	runs := 0
	for _, pairs := range sets {
		for _, typ := range types {
			for _, o := range []*options{newOptions(nil), newOptions([]Option{WithStrict()})} {
				var first string
				n := len(pairs) / 2
				for i := range 100 {
					r := 2 * (i % n)
					got := typ.decode(o, append(append([]string{}, pairs[r:]...), pairs[:r]...))
					runs++
					if i == 0 {
						first = got
					} else if got != first {
						t.Fatalf("%s %q, run %d: got\n%s\nthen\n%s", typ.name, pairs, i, first, got)
					}
				}
			}
		}
	}
	t.Logf("%d decodes of %d key sets", runs, len(sets))
}
