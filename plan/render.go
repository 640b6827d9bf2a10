package plan

import (
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/etcdconf/etcdconf/internal/keytree"
	"gopkg.in/yaml.v3"
)

// Tree returns keys (relative to prefix -> value) as the nested mappings
// the library reads them as: "/"-separated segments are nesting, a
// document key's document is merged at its path, and a plain key's value
// is a string of its bytes, UTF-8 or not. prefix names the keys in errors,
// and a prefix that is itself a document key is read as that document
// (its key is ""). Keys that cannot be placed together are an error naming
// them.
func Tree(prefix string, keys map[string]string) (map[string]any, error) {
	entries := make([]keytree.Entry, 0, len(keys))
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		entries = append(entries, keytree.Entry{Key: prefix + k, Path: k, Value: []byte(keys[k])})
	}
	t, err := keytree.BuildRaw(entries)
	if err != nil {
		return nil, err
	}
	return t.Root, nil
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
