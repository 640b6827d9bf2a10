package keytree

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// StringNode returns a YAML scalar node holding s as a string, in a style
// that reads back as s exactly. yaml.v3 picks a block style for text with
// line breaks, which drops a leading newline ("\nfoo" reads back "foo") and
// cannot hold a leading tab; such text is double-quoted, with escapes.
func StringNode(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if !plainSafe(s) {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

// plainSafe reports whether s is printable ASCII with no space at either
// end, which yaml.v3 writes plain or quotes itself where plain text would
// read as another type.
func plainSafe(s string) bool {
	if s == "" || s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for i := range len(s) {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// Marshal encodes a YAML node as a document, indented by two spaces.
func Marshal(n *yaml.Node) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// QuoteJSON writes s as a JSON string that YAML reads back as s: besides
// JSON's escapes, every character outside printable ASCII that YAML does
// not take raw in a document (C0 and C1 controls, DEL, U+FEFF, U+FFFE,
// U+FFFF) is escaped as \uXXXX. s must be valid UTF-8.
func QuoteJSON(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == 0xfeff || r == 0xfffe || r == 0xffff || r == utf8.RuneError:
			fmt.Fprintf(b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}

// FlowJSON writes n as JSON (YAML's flow style, which the decoder parses):
// strings quoted with every character YAML might not take raw escaped (see
// [QuoteJSON]), other scalars as they are.
func FlowJSON(b *strings.Builder, n *yaml.Node) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) > 0 {
			FlowJSON(b, n.Content[0])
		} else {
			b.WriteString("null")
		}
	case yaml.AliasNode:
		FlowJSON(b, n.Alias)
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			FlowJSON(b, c)
		}
		b.WriteByte(']')
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			QuoteJSON(b, n.Content[i].Value)
			b.WriteByte(':')
			FlowJSON(b, n.Content[i+1])
		}
		b.WriteByte('}')
	default:
		switch n.ShortTag() {
		case "!!str", "!!binary":
			QuoteJSON(b, n.Value)
		case "!!null":
			b.WriteString("null")
		default:
			b.WriteString(n.Value)
		}
	}
}
