package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// An op is one write of a plan: a put of value at path (relative to the
// prefix), or a delete.
type op struct {
	path  string
	value string
	del   bool
}

// A plan is what a command shows and what it writes. Under a prefix the
// changes are the operations, one per key; under a document key they are
// the paths inside the document, and the operation is one write of the key.
type plan struct {
	show string   // what the changes' paths are shown under
	cs   []change // what changes, as shown
	ops  []op     // what is written
}

// keyPlan writes each change as one operation on its key.
func keyPlan(prefix string, cs []change) *plan {
	p := &plan{show: prefix, cs: cs}
	for _, c := range cs {
		p.ops = append(p.ops, op{path: c.path, value: c.new, del: !c.has})
	}
	return p
}

// showDocument is how the paths inside a document key are shown:
// /app/config.yaml#db/port.
func showDocument(prefix string) string { return prefix + "#" }

// planFile plans writing the file named c.file to the prefix as it is now.
// Under a document key, the document is replaced whole by the file's
// content, and its paths the file lacks are shown as removals.
func planFile(c *command, cur *state) (*plan, error) {
	b, err := os.ReadFile(c.file)
	if err != nil {
		return nil, err
	}
	want, err := documentFileKeys(c.file, b)
	if err != nil {
		return nil, err
	}
	if !cur.doc {
		return keyPlan(c.prefix, diff(cur.values, want, c.prune)), nil
	}
	if strings.EqualFold(filepath.Ext(c.prefix), ".json") && !strings.EqualFold(filepath.Ext(c.file), ".json") {
		if err := checkJSON(b); err != nil {
			return nil, fmt.Errorf("%s holds JSON, and %s is not JSON: %w", c.prefix, c.file, err)
		}
	}
	have, err := documentKeys(cur, c.prefix)
	if err != nil {
		return nil, err
	}
	p := &plan{show: showDocument(c.prefix), cs: diff(have, want, true)}
	if len(p.cs) > 0 {
		p.ops = []op{{value: string(b)}}
	}
	return p, nil
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
func planRollback(prefix string, cur, old *state) *plan {
	if !cur.doc {
		return keyPlan(prefix, diff(cur.values, old.values, true))
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
	return p
}
