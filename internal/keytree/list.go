package keytree

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// CommaList returns items joined by commas, and whether a plain key holding
// that text reads back as the items. The decoder (etcdconf's sliceHook)
// reads a value starting with "[" as a JSON list, "" as an empty list, and
// else splits at commas and trims each item of space; so no item may hold a
// comma or space at either end, the first may not start with "[", and a
// list of one empty item cannot be a comma list.
func CommaList(items []string) (string, bool) {
	s := strings.Join(items, ",")
	if strings.HasPrefix(strings.TrimSpace(s), "[") {
		return s, false
	}
	if strings.TrimSpace(s) == "" {
		return s, len(items) == 0
	}
	for _, p := range items {
		if strings.Contains(p, ",") || strings.TrimSpace(p) != p {
			return s, false
		}
	}
	return s, true
}

// ListText returns the text a plain key holds for l, a document's list at
// path (segments; list items numbered from 0): what etcdconf's writer
// writes for a []string of the items' text, a comma list when that reads
// back as the items (see [CommaList]) and "" for an empty list, else a JSON
// list of the items as strings. A list holding lists, maps or nulls is a
// JSON list of that shape (see [FlowJSON]), its scalars strings of their
// text and its nulls null, so that a plain key holding the text reads back,
// in any type, as the document does.
//
// The text of a scalar is text(path), its source text (text may be nil);
// without one (a value with none recorded) a string is itself and a number
// or bool as fmt prints it, as a string field reads them; any other value
// is an error naming its path.
func ListText(l []any, path []string, text func(path []string) (string, bool)) (string, error) {
	parts := make([]string, len(l))
	for i, e := range l {
		switch e.(type) {
		case map[string]any, []any, nil:
			n, err := textNode(l, path, text)
			if err != nil {
				return "", err
			}
			var b strings.Builder
			FlowJSON(&b, n)
			return b.String(), nil
		}
		s, err := scalarText(e, append(slices.Clip(path), strconv.Itoa(i)), text)
		if err != nil {
			return "", err
		}
		parts[i] = s
	}
	if s, ok := CommaList(parts); ok {
		return s, nil
	}
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for _, p := range parts {
		n.Content = append(n.Content, StringNode(p))
	}
	var b strings.Builder
	FlowJSON(&b, n)
	return b.String(), nil
}

// textNode returns v, a document's value at path, as a YAML node whose
// scalars are strings of their text (see [ListText]).
func textNode(v any, path []string, text func([]string) (string, bool)) (*yaml.Node, error) {
	switch x := v.(type) {
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for i, e := range x {
			en, err := textNode(e, append(slices.Clip(path), strconv.Itoa(i)), text)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, en)
		}
		return n, nil
	case map[string]any:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for _, k := range slices.Sorted(maps.Keys(x)) {
			en, err := textNode(x[k], append(slices.Clip(path), k), text)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, StringNode(k), en)
		}
		return n, nil
	}
	s, err := scalarText(v, path, text)
	if err != nil {
		return nil, err
	}
	return StringNode(s), nil
}

// scalarText returns the text of a document's scalar v at path (see
// [ListText]).
func scalarText(v any, path []string, text func([]string) (string, bool)) (string, error) {
	if text != nil {
		if s, ok := text(path); ok {
			return s, nil
		}
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case int, int64, uint64, float64, bool:
		return fmt.Sprint(v), nil
	}
	return "", fmt.Errorf("%q: a %T in a list has no source text to read as a string", strings.Join(path, "/"), v)
}
