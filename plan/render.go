package plan

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/etcdconf/etcdconf/internal/codec"
	"github.com/etcdconf/etcdconf/internal/keytree"
	"gopkg.in/yaml.v3"
)

// Tree returns keys (relative to prefix -> value) as the nested mappings
// the library reads them as: "/"-separated segments are nesting, a
// document key's document is merged at its path, and a plain key's value
// is a string of its bytes, UTF-8 or not. A document's scalar is kept with
// its source text, which [YAML] and [JSON] print, so that 0x10, 1.10 and
// yes read back as written. prefix names the keys in errors, and a prefix
// that is itself a document key is read as that document (its key is "").
// Keys that cannot be placed together are an error naming them, and so is
// a key the tree cannot name as it is (an empty segment, as in "a//b" or
// "c/", or the prefix itself when it is not a document key): the tree
// would rename or drop it.
func Tree(prefix string, keys map[string]string) (map[string]any, error) {
	entries := make([]keytree.Entry, 0, len(keys))
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if err := representable(prefix, k); err != nil {
			return nil, err
		}
		entries = append(entries, keytree.Entry{Key: prefix + k, Path: k, Value: keys[k]})
	}
	t, err := keytree.BuildRaw(entries)
	if err != nil {
		return nil, err
	}
	return loose(withText(t, t.Root, nil).(map[string]any)), nil
}

// loose merges the keys of each mapping that are one key under the
// library's loose matching (a plain key DB/port over a document db.yaml's
// port), spelled as the first of them sorts, so that the tree spells each
// path once, as a file must. Where both hold a value, the plain key's (a
// string) wins, as in the library; [Check] refuses the other clashes.
func loose(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	spelled := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		if sub, ok := v.(map[string]any); ok {
			v = loose(sub)
		}
		n := codec.NormName(k)
		first, seen := spelled[n]
		if !seen {
			spelled[n] = k
			out[k] = v
			continue
		}
		out[first] = mergeLoose(out[first], v)
	}
	return out
}

// mergeLoose merges two values at one path under loose matching: mappings
// key by key, and of two values the plain key's (a string) over a
// document's.
func mergeLoose(a, b any) any {
	am, aIsMap := a.(map[string]any)
	bm, bIsMap := b.(map[string]any)
	switch {
	case aIsMap && bIsMap:
		merged := maps.Clone(am)
		for k, v := range bm {
			if old, ok := merged[k]; ok {
				v = mergeLoose(old, v)
			}
			merged[k] = v
		}
		return loose(merged)
	case !aIsMap && !bIsMap:
		if _, plain := b.(string); plain {
			return b
		}
	}
	return a
}

// An UnrepresentableError names a key that a tree of nested mappings
// cannot name as it is: [Tree] would rename it ("a//b" as a/b) or drop it
// (the prefix itself).
type UnrepresentableError struct {
	Key    string
	Reason string
}

func (e *UnrepresentableError) Error() string {
	return fmt.Sprintf("key %q %s, which a tree of mappings cannot name as it is", e.Key, e.Reason)
}

// representable reports a key (k, relative to prefix) that a tree would
// rename or drop.
func representable(prefix, k string) error {
	switch {
	case k == "" && DocumentExt(prefix) == "":
		return &UnrepresentableError{Key: prefix + k, Reason: "is the prefix itself"}
	case k != "" && slices.Contains(strings.Split(k, "/"), ""):
		return &UnrepresentableError{Key: prefix + k, Reason: "has an empty segment"}
	}
	return nil
}

// withText returns v (at segs) with each document scalar as a lit holding
// its source text.
func withText(t *keytree.Tree, v any, segs []string) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = withText(t, e, append(slices.Clip(segs), k))
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = withText(t, e, append(slices.Clip(segs), itoa(i)))
		}
		return out
	case string:
		if s, ok := t.Text(segs); ok {
			return lit{v: x, text: s, ok: true}
		}
		return x // a plain key's value
	}
	s, ok := t.Text(segs)
	return lit{v: v, text: s, ok: ok}
}

// YAML encodes a tree as a YAML document that [ParseFile] reads back as
// the same keys: strings in a style that reads back exactly (quoted where
// plain text would read as a number or a bool, or lose a leading newline),
// a string that is not UTF-8 as !!binary (base64), mapping keys sorted.
func YAML(tree map[string]any) ([]byte, error) {
	if len(tree) == 0 {
		return []byte("{}\n"), nil
	}
	return keytree.Marshal(treeNode(tree))
}

func treeNode(v any) *yaml.Node {
	switch x := v.(type) {
	case map[string]any:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for _, k := range slices.Sorted(maps.Keys(x)) {
			n.Content = append(n.Content, keytree.StringNode(k), treeNode(x[k]))
		}
		return n
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, e := range x {
			n.Content = append(n.Content, treeNode(e))
		}
		return n
	case lit:
		return litNode(x)
	case string:
		if !utf8.ValidString(x) {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!binary", Value: base64.StdEncoding.EncodeToString([]byte(x))}
		}
		return keytree.StringNode(x)
	}
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return keytree.StringNode(fmt.Sprint(v))
	}
	return &n
}

// JSON encodes a tree as an indented JSON document that [ParseFile] reads
// back as the same keys: a document's number or bool as its source text
// when that is JSON (1.10 stays 1.10), else as a string of that text
// (0x10 as "0x10"); every character YAML reads as a line break or does not
// take raw (U+0085, U+2028, U+2029, controls) escaped. A string that is
// not UTF-8 is an error: JSON cannot hold it.
func JSON(tree map[string]any) ([]byte, error) {
	var b strings.Builder
	if err := checkUTF8(tree, nil); err != nil {
		return nil, err
	}
	emit(&b, tree)
	var out bytes.Buffer
	if err := json.Indent(&out, []byte(b.String()), "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func checkUTF8(v any, segs []string) error {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if err := checkUTF8(x[k], append(slices.Clip(segs), k)); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range x {
			if err := checkUTF8(e, append(slices.Clip(segs), itoa(i))); err != nil {
				return err
			}
		}
	case string:
		if !utf8.ValidString(x) {
			return fmt.Errorf("%q: value is not UTF-8, which JSON cannot hold", strings.Join(segs, "/"))
		}
	}
	return nil
}

// quoteJSON is keytree.QuoteJSON with U+2028 and U+2029 escaped too: YAML
// reads them raw as line breaks, which fold with the spaces after them.
func quoteJSON(b *strings.Builder, s string) {
	if !strings.ContainsAny(s, "\u2028\u2029") {
		keytree.QuoteJSON(b, s)
		return
	}
	var q strings.Builder
	keytree.QuoteJSON(&q, s)
	b.WriteString(strings.NewReplacer("\u2028", `\u2028`, "\u2029", `\u2029`).Replace(q.String()))
}
