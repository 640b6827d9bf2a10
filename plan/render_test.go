package plan

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// reapply plans what get prints for cur (Tree, then YAML or JSON) back over
// cur, with --prune, and fails unless that is no change.
func reapply(t *testing.T, cur map[string]string, render func(map[string]any) ([]byte, error)) {
	t.Helper()
	tree, err := Tree("/app/", cur)
	if err != nil {
		t.Fatalf("%q: %v", cur, err)
	}
	out, err := render(tree)
	if err != nil {
		t.Fatalf("%q: %v", cur, err)
	}
	f, err := ParseFile("-", out)
	if err != nil {
		t.Fatalf("%q -> %s: %v", cur, out, err)
	}
	p, err := Keys(cur, f, Options{Prune: true})
	if err != nil || len(p.Ops)+len(p.Changes) != 0 {
		t.Fatalf("%q -> %s: %+v, %v", cur, out, p, err)
	}
}

// TestGetOutputReappliesAsNoOp: what get prints (Tree, then YAML or JSON)
// planned back over the keys it came from (JSON values and document keys
// among them) is no change, with --prune too, for random prefixes the
// library decodes (#20 item 8).
func TestGetOutputReappliesAsNoOp(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(seed, 3))}
	n := 0
	for range 2000 {
		cur := g.keys()
		if Check("", cur) != nil {
			continue
		}
		n++
		reapply(t, cur, YAML)
		reapply(t, cur, JSON)
	}
	if n < 500 {
		t.Fatalf("only %d prefixes decode", n)
	}
}

// TestGetKeepsDocumentText: a document key's scalars are printed as their
// source text, quoted where YAML would read them otherwise, and characters
// YAML reads as line breaks are escaped in JSON (#20 item 8 (a), (b)).
func TestGetKeepsDocumentText(t *testing.T) {
	cur := map[string]string{
		"db.yaml":   "port: 0x10\nv: 1.10\nb: yes\nc: True\ne: \"\"\nsp: \" x\"\nn: ~\nf: 1e3\nd: 2024-01-01\nu: \"a\\u0085  b\"\nl: [0x1, 1.10, \"a,b\"]\nm: {k: 007}\n",
		"j.json":    `{"a": 1.10, "s": "x\u2028  y", "t": "p\u2029 q", "l": [1, "2"]}`,
		"plain":     "x\u2028  y\u0085 z",
		"obj":       `{"addr":"b","port":1.10}`,
		"db2/x.yml": "- 0x10\n- no\n",
	}
	cur["db2/x.yml"] = "k: [0x10, no]\n"
	reapply(t, cur, YAML)
	reapply(t, cur, JSON)
	tree, err := Tree("/app/", cur)
	if err != nil {
		t.Fatal(err)
	}
	y, _ := YAML(tree)
	if !strings.Contains(string(y), "port: 0x10\n") || !strings.Contains(string(y), "v: 1.10\n") {
		t.Errorf("YAML does not keep the source text:\n%s", y)
	}
	j, _ := JSON(tree)
	if strings.ContainsAny(string(j), "\u0085\u2028\u2029") {
		t.Errorf("JSON holds a raw line break character:\n%s", j)
	}
	if !strings.Contains(string(j), `"port": "0x10"`) || !strings.Contains(string(j), `"v": 1.10`) {
		t.Errorf("JSON does not keep the source text:\n%s", j)
	}
}

// TestTreeRefusesKeysItWouldRename: a key with an empty segment, or the
// prefix itself, is an error naming it, never a renamed key (#20 item 8 (c)).
func TestTreeRefusesKeysItWouldRename(t *testing.T) {
	for _, k := range []string{"a//b", "c/", "/x", ""} {
		_, err := Tree("/app/", map[string]string{k: "1", "ok": "2"})
		var ue *UnrepresentableError
		if !errors.As(err, &ue) || ue.Key != "/app/"+k {
			t.Errorf("%q: %v", k, err)
		}
	}
	if _, err := Tree("/app/c.yaml", map[string]string{"": "a: 1"}); err != nil {
		t.Errorf("a document prefix: %v", err)
	}
}
