package codec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/etcdconf/etcdconf/internal/keytree"
	"gopkg.in/yaml.v3"
)

// The write planner's engine: a key that holds a value (a plain key, a
// JSON value in a plain key, a .yaml, .yml or .json document), found by
// canonical path, edited in place and written back laid out as it was. A
// [Scope] says how names match: by T's schema for the typed planner
// ([Decoder.Plan]), loosely everywhere for the untyped one (package plan,
// with [Loose]).

// A Scope is what the names of a value are matched against: the canonical
// path a mapping key (or key segments) stands for, and the scope of the
// value found there.
type Scope interface {
	Resolve(segs []string) (canon []string, in Scope, ok bool)
}

// typeScope matches by a type's schema: struct fields loosely (case, '-',
// '_'), map keys exactly, a map of scalars taking the rest as one flat-view
// key (see [resolve]).
type typeScope struct{ t reflect.Type }

func (s typeScope) Resolve(segs []string) ([]string, Scope, bool) {
	cp, ct, ok := resolve(s.t, segs)
	if !ok {
		return nil, s, false
	}
	return cp, typeScope{within(s.t, ct)}, true
}

// Loose matches every name loosely, as the library reads keys into any
// type: a canonical path is the names normalized by [NormName].
var Loose Scope = looseScope{}

type looseScope struct{}

func (looseScope) Resolve(segs []string) ([]string, Scope, bool) {
	out := make([]string, len(segs))
	for i, s := range segs {
		out[i] = NormName(s)
	}
	return out, Loose, true
}

// A HeldKey is a key of the snapshot with the canonical path of what it
// holds.
type HeldKey struct {
	KV        *KeyValue // its key relative to the prefix
	prefix    string    // only to name the key in full in errors (see full)
	ext       string    // the key's document extension: of the prefix for the key at the prefix itself
	Path      []string
	in        Scope
	composite bool       // a plain key that may hold a JSON value of a struct, map or slice
	Doc       bool       // a .yaml, .yml or .json key: merged under plain keys
	root      *yaml.Node // the parsed value, once a leaf inside it is edited
}

// NewHeldKey returns kv, a document (doc) or a plain key holding a JSON
// value, as a key holding the value at canonical path, whose names match
// by in. prefix only names the key in full in errors.
func NewHeldKey(kv *KeyValue, prefix string, path []string, doc bool, in Scope) *HeldKey {
	return &HeldKey{KV: kv, prefix: prefix, ext: keytree.DocumentExt(kv.Key), Path: path, in: in, composite: true, Doc: doc}
}

// full returns the key in full, as errors name it.
func (h *HeldKey) full() string { return h.prefix + h.KV.Key }

// parsed returns the key's value as a YAML node, parsing it once.
func (h *HeldKey) parsed() (*yaml.Node, error) {
	if h.root == nil {
		n, err := keytree.Document([]byte(h.KV.Value)) // one document, as the decoder reads it
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", h.full(), err)
		}
		var doc yaml.Node
		if n != nil {
			doc = *n
		}
		if doc.Kind == 0 || len(doc.Content) == 0 || (doc.Content[0].ShortTag() == "!!null" && doc.Content[0].Value == "") {
			doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
		}
		h.root = &doc
	}
	return h.root, nil
}

// Set writes n at canonical path rel inside the key's value, spelled as
// spelled where it adds mappings (nil: as rel).
func (h *HeldKey) Set(rel, spelled []string, n *yaml.Node) error {
	root, err := h.parsed()
	if err != nil {
		return err
	}
	if spelled == nil {
		spelled = rel
	}
	*nodeAt(root.Content[0], h.in, rel, spelled, true) = *n
	return nil
}

// Remove removes the value at canonical path rel inside the key's value,
// and every mapping the removal leaves empty. It reports whether it
// removed anything.
func (h *HeldKey) Remove(rel []string) (bool, error) {
	root, err := h.parsed()
	if err != nil {
		return false, err
	}
	return removeIn(root.Content[0], h.in, rel), nil
}

// has reports whether the key's value has a value at canonical path rel.
func (h *HeldKey) has(rel []string) (bool, error) {
	root, err := h.parsed()
	if err != nil {
		return false, err
	}
	return nodeAt(root.Content[0], h.in, rel, rel, false) != nil, nil
}

// Text returns the edited value as the key is written: a .yaml or .yml
// document as YAML, anything else as JSON laid out as the value was.
func (h *HeldKey) Text() (string, error) {
	if _, err := h.parsed(); err != nil {
		return "", err
	}
	if h.ext == ".yaml" || h.ext == ".yml" {
		doc, err := keytree.Marshal(h.root)
		if err != nil {
			return "", fmt.Errorf("key %q: %w", h.full(), err)
		}
		return string(doc), nil
	}
	var b strings.Builder
	FlowJSON(&b, h.root)
	// YAML, which reads JSON values, takes U+2028 and U+2029 raw as line
	// breaks, even inside a quoted string; JSON has them in strings only.
	text := strings.NewReplacer("\u2028", `\u2028`, "\u2029", `\u2029`).Replace(b.String())
	return jsonLayout([]byte(h.KV.Value), text), nil
}

// jsonLayout lays out compact, an edited JSON value, as old, the value it
// replaces, was laid out: indented with old's indentation if old spans
// lines, compact if not, and with old's trailing newline. Only whitespace
// between tokens changes, so the values are compact's.
func jsonLayout(old []byte, compact string) string {
	trimmed := bytes.TrimRight(old, " \t\r\n")
	i := bytes.IndexByte(trimmed, '\n')
	if i < 0 {
		return compact + string(old[len(trimmed):])
	}
	line := trimmed[i+1:]
	indent := line[:len(line)-len(bytes.TrimLeft(line, " \t"))]
	if len(indent) == 0 {
		indent = []byte("  ")
	}
	var out bytes.Buffer
	if err := json.Indent(&out, []byte(compact), "", string(indent)); err != nil {
		return compact
	}
	return out.String() + string(old[len(trimmed):])
}

// holds reports whether the key's value may hold the leaf at canonical
// path: a document at or above it, a JSON value above it.
func (h *HeldKey) holds(path []string) bool {
	return HasPrefix(path, h.Path) && (h.Doc || (len(h.Path) < len(path) && h.composite))
}

// holderOf finds the key whose value holds the leaf at path, when no plain
// key does: a JSON value above it (which must hold it: a key cannot have
// keys under it), else a document that has a value there. A nil key means
// the leaf gets a key of its own.
func holderOf(held []*HeldKey, path []string) (*HeldKey, error) {
	for _, h := range held {
		if !h.holds(path) {
			continue
		}
		if !h.Doc {
			return h, nil
		}
		if ok, err := h.has(path[len(h.Path):]); err != nil || ok {
			return h, err
		}
	}
	return nil, nil
}

// nodeAt returns the node at canonical path rel (spelled as spelled) under
// n, matching mapping keys by in; with create, missing mappings are added
// as spelled, else it returns nil.
func nodeAt(n *yaml.Node, in Scope, rel, spelled []string, create bool) *yaml.Node {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if len(rel) == 0 {
		return n
	}
	if n.Kind != yaml.MappingNode {
		if !create {
			return nil
		}
		*n = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	best, bestLen := -1, 0
	var bestIn Scope
	for i := 0; i+1 < len(n.Content); i += 2 {
		cp, cin, ok := in.Resolve(keytree.Segments(n.Content[i].Value))
		if ok && len(cp) > bestLen && HasPrefix(rel, cp) {
			best, bestLen, bestIn = i, len(cp), cin
		}
	}
	if best >= 0 {
		if got := nodeAt(n.Content[best+1], bestIn, rel[bestLen:], spelled[bestLen:], create); got != nil || !create {
			return got
		}
	}
	if !create {
		return nil
	}
	_, cin, ok := in.Resolve(rel[:1])
	if !ok {
		cin = in
	}
	child := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	n.Content = append(n.Content, keytree.StringNode(spelled[0]), child)
	return nodeAt(child, cin, rel[1:], spelled[1:], true)
}

// removeIn removes the value at canonical path rel from n, matching
// mapping keys by in, and every mapping the removal leaves empty. It
// reports whether it removed anything.
func removeIn(n *yaml.Node, in Scope, rel []string) bool {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode || len(rel) == 0 {
		return false
	}
	removed := false
	for i := 0; i+1 < len(n.Content); {
		cp, cin, ok := in.Resolve(keytree.Segments(n.Content[i].Value))
		switch {
		case ok && slices.Equal(cp, rel):
			removed = true
		case ok && HasPrefix(rel, cp) && removeIn(n.Content[i+1], cin, rel[len(cp):]):
			removed = true
			if c := n.Content[i+1]; c.Kind != yaml.MappingNode || len(c.Content) > 0 {
				i += 2
				continue
			}
		default:
			i += 2
			continue
		}
		n.Content = slices.Delete(n.Content, i, i+2)
	}
	return removed
}
