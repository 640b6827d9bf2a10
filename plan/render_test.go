package plan

import (
	"math/rand/v2"
	"testing"
)

// TestGetOutputReappliesAsNoOp: what get prints (Tree, then YAML) planned
// back over the plain keys it came from (JSON values among them) is no
// change, with --prune too, for random prefixes the library decodes.
// Document keys are left out: Tree gives their scalars as YAML read them
// (0x10 as 16), not their source text, which is #20 item 8's to fix.
func TestGetOutputReappliesAsNoOp(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(seed, 3))}
	for range 2000 {
		cur := g.keys()
		for k := range cur {
			if DocumentExt(k) != "" {
				delete(cur, k)
			}
		}
		if Check("", cur) != nil {
			continue
		}
		tree, err := Tree("/app/", cur)
		if err != nil {
			t.Fatalf("%v: %v", cur, err)
		}
		y, err := YAML(tree)
		if err != nil {
			t.Fatal(err)
		}
		f, err := ParseFile("get.yaml", y)
		if err != nil {
			t.Fatalf("%v -> %s: %v", cur, y, err)
		}
		p, err := Keys(cur, f, Options{Prune: true})
		if err != nil || len(p.Ops)+len(p.Changes) != 0 {
			t.Fatalf("%v -> %s: %+v, %v", cur, y, p, err)
		}
	}
}
