package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	planner "github.com/etcdconf/etcdconf/plan"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"gopkg.in/yaml.v3"
)

// cmdValidate checks a file against a JSON Schema (etcdconf.JSONSchema's)
// without etcd: exit 0 when it fits, 1 listing each violation.
func cmdValidate(_ context.Context, c *command) error {
	b, err := readFile(c)
	if err != nil {
		return err
	}
	vs, err := c.validate(b)
	if err != nil {
		return err
	}
	if len(vs) == 0 {
		fmt.Fprintf(c.out, "%s fits %s\n", c.file, c.schema)
		return nil
	}
	fmt.Fprintf(c.out, "%s does not fit %s: %d violation(s):\n", c.file, c.schema, len(vs))
	for _, v := range vs {
		fmt.Fprintf(c.out, "  %s\n", v)
	}
	return errDiffers // exit 1, as diff's differences
}

// checkSchema refuses a file that does not fit --schema, if one is given,
// before diff or apply plans anything.
func (c *command) checkSchema(b []byte) error {
	if c.schema == "" {
		return nil
	}
	vs, err := c.validate(b)
	if err != nil || len(vs) == 0 {
		return err
	}
	lines := make([]string, len(vs))
	for i, v := range vs {
		lines[i] = "  " + v.String()
	}
	return fmt.Errorf("%s does not fit %s: %d violation(s):\n%s\nnothing was written", c.file, c.schema, len(vs), strings.Join(lines, "\n"))
}

func readFile(c *command) ([]byte, error) {
	if c.file == "-" {
		return io.ReadAll(c.stdin)
	}
	return os.ReadFile(c.file)
}

// A violation is one way a file does not fit a schema: where (the line of
// the key, 0 when unknown, and the key's path in the file) and why.
type violation struct {
	file   string
	line   int
	path   string
	reason string
}

func (v violation) String() string {
	var b strings.Builder
	b.WriteString(v.file)
	if v.line > 0 {
		fmt.Fprintf(&b, ":%d", v.line)
	}
	if v.path != "" {
		b.WriteString(": " + v.path)
	}
	return b.String() + ": " + v.reason
}

// validate checks b, the file, against the schema: a file that apply
// would refuse anyway (not YAML, not a mapping) is an error, as apply's.
func (c *command) validate(b []byte) ([]violation, error) {
	if _, err := planner.ParseFile(c.file, b); err != nil {
		return nil, err
	}
	sch, doc, err := compileSchema(c.schema, c.strict)
	if err != nil {
		return nil, err
	}
	inst, lines, err := instance(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.file, err)
	}
	err = sch.Validate(inst)
	if err == nil {
		return nil, nil
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return nil, err
	}
	var vs []violation
	collect(ve, message.NewPrinter(language.English), func(e *jsonschema.ValidationError, loc []string, reason string) {
		if secretAt(doc, e.SchemaURL) {
			reason = "the value does not fit the schema (a secret: the reason, which could quote it, is withheld)"
		}
		vs = append(vs, violation{file: c.file, line: lines[locKey(loc)], path: strings.Join(loc, "/"), reason: reason})
	})
	slices.SortStableFunc(vs, func(a, b violation) int {
		if a.line != b.line {
			return a.line - b.line
		}
		return strings.Compare(a.path, b.path)
	})
	return slices.CompactFunc(vs, func(a, b violation) bool { return a == b }), nil
}

// compileSchema reads and compiles a JSON Schema. strict closes every
// object the schema lists properties of (a struct's), so that an unknown
// key is a violation, as etcdconf.WithStrict makes it a decode error.
func compileSchema(path string, strict bool) (*jsonschema.Schema, any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, nil, fmt.Errorf("schema %s: %w", path, err)
	}
	if strict {
		closeObjects(doc)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, err
	}
	comp := jsonschema.NewCompiler()
	comp.DefaultDraft(jsonschema.Draft2020)
	comp.AssertFormat()
	if err := comp.AddResource(abs, doc); err != nil {
		return nil, nil, fmt.Errorf("schema %s: %w", path, err)
	}
	sch, err := comp.Compile(abs)
	if err != nil {
		return nil, nil, fmt.Errorf("schema %s: %w", path, err)
	}
	return sch, doc, nil
}

// secretAt reports whether the schema at url (a location in doc, as a
// ValidationError's SchemaURL names it) is within one marked secret
// (etcdconf.JSONSchema marks secret fields "x-etcdconf-secret").
func secretAt(doc any, url string) bool {
	_, frag, _ := strings.Cut(url, "#")
	v := doc
	for _, tok := range strings.Split(strings.TrimPrefix(frag, "/"), "/") {
		if m, ok := v.(map[string]any); ok && m["x-etcdconf-secret"] == true {
			return true
		}
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch x := v.(type) {
		case map[string]any:
			v = x[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(x) {
				return false
			}
			v = x[i]
		default:
			return false
		}
	}
	m, ok := v.(map[string]any)
	return ok && m["x-etcdconf-secret"] == true
}

// closeObjects sets "additionalProperties": false in every schema object
// of v that has "properties" and says nothing of additional ones.
func closeObjects(v any) {
	switch x := v.(type) {
	case map[string]any:
		if _, ok := x["properties"].(map[string]any); ok {
			if _, set := x["additionalProperties"]; !set {
				x["additionalProperties"] = false
			}
		}
		for _, e := range x {
			closeObjects(e)
		}
	case []any:
		for _, e := range x {
			closeObjects(e)
		}
	}
}

// collect reports each violation in e once: an alternative (anyOf, oneOf)
// as one reason listing why each branch failed, an additional property at
// its own key.
func collect(e *jsonschema.ValidationError, p *message.Printer, report func(e *jsonschema.ValidationError, loc []string, reason string)) {
	switch k := e.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		for _, name := range k.Properties {
			report(e, append(slices.Clip(e.InstanceLocation), name), "a key the schema does not have")
		}
		return
	case *kind.AnyOf, *kind.OneOf:
		var why []string
		for _, c := range e.Causes {
			if t, ok := c.ErrorKind.(*kind.Type); ok && len(e.Causes) > 1 && slices.Equal(t.Want, []string{"object"}) {
				continue // a flat map's "or a mapping of more entries": noise beside the entry's own reasons
			}
			collect(c, p, func(_ *jsonschema.ValidationError, _ []string, reason string) { why = append(why, reason) })
		}
		if len(why) == 0 {
			why = append(why, e.ErrorKind.LocalizedString(p))
		}
		report(e, e.InstanceLocation, strings.Join(why, "; or "))
		return
	}
	if len(e.Causes) == 0 {
		report(e, e.InstanceLocation, e.ErrorKind.LocalizedString(p))
		return
	}
	for _, c := range e.Causes {
		collect(c, p, report)
	}
}

func locKey(loc []string) string { return strings.Join(loc, "\x00") }

// instance returns a YAML or JSON file as the JSON value a schema checks:
// a mapping key holding "/" is nested mappings ("a/b: 1" is a: {b: 1}), as
// apply reads it; numbers as JSON numbers (0x10 is 16); timestamps,
// !!binary and other tags as their text. lines gives the line of each
// value's key, by locKey of its path.
func instance(b []byte) (any, map[string]int, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, nil, err
	}
	lines := map[string]int{}
	if len(doc.Content) == 0 {
		return map[string]any{}, lines, nil
	}
	v, err := nodeValue(doc.Content[0], nil, lines)
	return v, lines, err
}

func nodeValue(n *yaml.Node, at []string, lines map[string]int) (any, error) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, e := n.Content[i], n.Content[i+1]
			segs := strings.FieldsFunc(k.Value, func(r rune) bool { return r == '/' })
			if len(segs) == 0 {
				continue // names no path: ParseFile refused it already
			}
			dst := m
			for j, s := range segs[:len(segs)-1] {
				loc := append(slices.Clip(at), segs[:j+1]...)
				if _, ok := lines[locKey(loc)]; !ok {
					lines[locKey(loc)] = k.Line
				}
				sub, ok := dst[s].(map[string]any)
				if !ok {
					sub = map[string]any{}
					dst[s] = sub
				}
				dst = sub
			}
			loc := append(slices.Clip(at), segs...)
			lines[locKey(loc)] = k.Line
			v, err := nodeValue(e, loc, lines)
			if err != nil {
				return nil, err
			}
			last := segs[len(segs)-1]
			if old, ok := dst[last].(map[string]any); ok {
				if nv, ok := v.(map[string]any); ok {
					merge(old, nv)
					continue
				}
			}
			dst[last] = v
		}
		return m, nil
	case yaml.SequenceNode:
		l := make([]any, len(n.Content))
		for i, e := range n.Content {
			loc := append(slices.Clip(at), strconv.Itoa(i))
			lines[locKey(loc)] = e.Line
			v, err := nodeValue(e, loc, lines)
			if err != nil {
				return nil, err
			}
			l[i] = v
		}
		return l, nil
	}
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var v bool
		if err := n.Decode(&v); err != nil {
			return nil, err
		}
		return v, nil
	case "!!int":
		if i, ok := new(big.Int).SetString(n.Value, 0); ok {
			return json.Number(i.String()), nil
		}
	case "!!float":
		if f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64); err == nil {
			return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
		}
	}
	return n.Value, nil // a string, a timestamp, !!binary, .nan: their text
}

func merge(dst, src map[string]any) {
	for k, v := range src {
		if d, ok := dst[k].(map[string]any); ok {
			if s, ok := v.(map[string]any); ok {
				merge(d, s)
				continue
			}
		}
		dst[k] = v
	}
}
