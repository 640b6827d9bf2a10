package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	planner "github.com/etcdconf/etcdconf/plan"
)

// An op is one write of a plan: a put of value at path (relative to the
// prefix), or a delete.
type op struct {
	path  string
	value string
	del   bool
	// keepLease puts the value keeping the key's lease (WithIgnoreLease),
	// so a TTL key keeps expiring.
	keepLease bool
}

// A plan is what a command shows and what it writes. Under a prefix the
// changes are the operations, one per key; under a document key they are
// the paths inside the document, and the operation is one write of the key.
type plan struct {
	show string   // what the changes' paths are shown under
	cs   []change // what changes, as shown
	ops  []op     // what is written
	left []string // keys left alone, each with why
}

// keyPlan writes each change as one operation on its key, keeping the
// lease of a leased key it puts.
func keyPlan(prefix string, cur *state, cs []change) *plan {
	p := &plan{show: prefix, cs: cs}
	for _, c := range cs {
		p.ops = append(p.ops, op{path: c.path, value: c.new, del: !c.has, keepLease: c.has && cur.leases[c.path] != 0})
	}
	return p
}

// leaveLeased drops from cs the changes to keys with a lease in any of
// states, and says so: a leased key belongs to a process that keeps it
// alive (a registration, a TTL override), which a file or an old revision
// must not delete, create again without its lease, or make permanent.
// Only removals are dropped when onlyRemovals is set.
func leaveLeased(prefix string, cs []change, onlyRemovals bool, why string, states ...*state) ([]change, []string) {
	var left []string
	cs = slices.DeleteFunc(cs, func(c change) bool {
		if onlyRemovals && c.has {
			return false
		}
		for _, s := range states {
			if s.leases[c.path] != 0 {
				left = append(left, fmt.Sprintf("%s (%s)", showKey(prefix+c.path), why))
				return true
			}
		}
		return false
	})
	return cs, left
}

// showDocument is how the paths inside a document key are shown:
// /app/config.yaml#db/port.
func showDocument(prefix string) string { return prefix + "#" }

// planFile plans writing the file named c.file to the prefix as it is now,
// through the library's planner (package plan): keys equal under loose
// matching are one key, a value held as one JSON or YAML value is compared
// as a structure and rewritten in place, and a plan whose result the
// library would not decode is refused. Under a document key, the document
// is replaced whole by the file's content, and its paths the file lacks
// are shown as removals. A file named "-" is standard input, so that get's
// output pipes into apply (get PREFIX | apply PREFIX -f - --yes).
func planFile(c *command, cur *state) (*plan, error) {
	var b []byte
	var err error
	if c.file == "-" {
		b, err = io.ReadAll(c.stdin)
	} else {
		b, err = os.ReadFile(c.file)
	}
	if err != nil {
		return nil, err
	}
	f, err := planner.ParseFile(c.file, b)
	if err != nil {
		return nil, err
	}
	if err := c.checkSchema(b); err != nil {
		return nil, err
	}
	if !cur.doc {
		const why = "leased: --prune never deletes a key with a lease"
		pl, err := planner.Keys(cur.values, f, planner.Options{
			Prune:  c.prune,
			Prefix: c.prefix,
			Keep:   func(k string) bool { return cur.leases[k] != 0 },
		})
		if err != nil {
			return nil, fmt.Errorf("%s cannot be written to %s as it is: %w; nothing was written", c.file, c.prefix, err)
		}
		p := fromPlanner(c.prefix, cur, pl)
		for _, k := range pl.Kept {
			p.left = append(p.left, fmt.Sprintf("%s (%s)", showKey(c.prefix+k), why))
		}
		return p, nil
	}
	if strings.EqualFold(filepath.Ext(c.prefix), ".json") && !strings.EqualFold(filepath.Ext(c.file), ".json") {
		if err := planner.CheckJSON(b); err != nil {
			return nil, fmt.Errorf("%s holds JSON, and %s is not JSON: %w", c.prefix, c.file, err)
		}
	}
	have, err := documentKeys(cur, c.prefix)
	if err != nil {
		return nil, err
	}
	p := &plan{show: showDocument(c.prefix), cs: diff(have, f.Keys(), true)}
	if len(p.cs) > 0 {
		p.ops = []op{{value: string(b), keepLease: cur.leases[""] != 0}}
	}
	return p, nil
}

// fromPlanner is the plan the package plan made, as shown and written
// here: a put keeps the lease of a leased key.
func fromPlanner(prefix string, cur *state, pl *planner.Plan) *plan {
	p := &plan{show: prefix}
	for _, ch := range pl.Changes {
		p.cs = append(p.cs, change{path: ch.Path, old: ch.Old, new: ch.New, had: ch.Had, has: ch.Has})
	}
	for _, o := range pl.Ops {
		p.ops = append(p.ops, op{path: o.Key, value: o.Value, del: o.Delete, keepLease: !o.Delete && cur.leases[o.Key] != 0})
	}
	return p
}

// removals lists the paths a plan's changes remove.
func (p *plan) removals() []string {
	var out []string
	for _, c := range p.cs {
		if !c.has {
			out = append(out, p.show+c.path)
		}
	}
	return out
}

// planRollback plans restoring the prefix as it was in old. Under a
// document key, the key's old value is written back whole (or the key
// deleted when it did not exist then).
// A key leased then or now is left alone.
func planRollback(prefix string, cur, old *state) (*plan, error) {
	const why = "leased at the target revision or now: rollback leaves it to the process that holds its lease"
	if !cur.doc {
		cs, left := leaveLeased(prefix, diff(cur.values, old.values, true), false, why, cur, old)
		p := keyPlan(prefix, cur, cs)
		p.left = left
		if len(p.ops) > 0 {
			// Leased keys left alone, the result may differ from what the
			// prefix held then: it is checked as apply's is.
			ops := make([]planner.Op, len(p.ops))
			for i, o := range p.ops {
				ops[i] = planner.Op{Key: o.path, Value: o.value, Delete: o.del}
			}
			if err := planner.Check(prefix, planner.Apply(cur.values, ops)); err != nil {
				return nil, fmt.Errorf("rolling %s back would leave keys the library cannot decode: %w; nothing was written", prefix, err)
			}
		}
		return p, nil
	}
	if cur.leases[""] != 0 || old.leases[""] != 0 {
		return &plan{show: prefix, left: []string{fmt.Sprintf("%s (%s)", showKey(prefix), why)}}, nil
	}
	raw, existed := old.values[""]
	var p *plan
	have, err1 := documentKeys(cur, prefix)
	then, err2 := documentKeys(old, prefix)
	if err1 == nil && err2 == nil {
		p = &plan{show: showDocument(prefix), cs: diff(have, then, true)}
	} else { // a document that does not parse is shown as its key's value
		p = &plan{show: prefix, cs: diff(cur.values, old.values, true)}
	}
	if len(p.cs) == 0 && cur.values[""] != raw {
		p = &plan{show: prefix, cs: diff(cur.values, old.values, true)} // the same keys, other text
	}
	if len(p.cs) > 0 {
		p.ops = []op{{value: raw, del: !existed}}
	}
	return p, nil
}

// printLeft lists the keys a plan leaves alone.
func printLeft(c *command, p *plan) {
	if len(p.left) == 0 {
		return
	}
	fmt.Fprintf(c.out, "left alone, %d key(s):\n", len(p.left))
	for _, l := range p.left {
		fmt.Fprintf(c.out, "  %s\n", l)
	}
}
