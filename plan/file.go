package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/etcdconf/etcdconf/internal/keytree"
	"gopkg.in/yaml.v3"
)

// A File is a configuration file parsed as the keys it stands for: a
// mapping whose nested mappings are key segments.
type File struct {
	tree map[string]any
	text map[string]string // source text of its scalars, by path
	keys map[string]string
}

// ParseFile parses b, the content of the file named name, as one YAML (or
// JSON) document holding a mapping. A name ending in .json must hold JSON,
// and its errors name a line and column. A key holds a scalar as the file
// wrote it (2024-01-01 stays a date as written, and 1.10 stays 1.10), a
// !!binary scalar as the bytes it decodes to, and a list as the library
// writes it: a comma list, else a JSON list. Errors start with name.
func ParseFile(name string, b []byte) (*File, error) {
	if strings.EqualFold(filepath.Ext(name), ".json") {
		if err := CheckJSON(b); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	v, text, err := keytree.ParseDocument(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := dropBinaryText(b, text); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: not a mapping of keys", name)
	}
	keys, err := keytree.Flatten(doc, text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &File{tree: doc, text: text, keys: keys}, nil
}

// Keys returns the keys the file stands for, relative to the prefix it is
// written to, and their values.
func (f *File) Keys() map[string]string {
	out := make(map[string]string, len(f.keys))
	for k, v := range f.keys {
		out[k] = v
	}
	return out
}

// at returns the file's value at segs (a scalar, a list or a mapping).
func (f *File) at(segs []string) (any, bool) {
	var v any = f.tree
	for _, s := range segs {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[s]; !ok {
			return nil, false
		}
	}
	return v, true
}

// dropBinaryText removes from text, the source text of a document's
// scalars by path, the !!binary scalars' (their base64), so that such a key
// is written as the bytes YAML decodes it to. It walks the document as
// keytree.ParseDocument's source text does (keytree.ScalarNodes), so the
// scalar that wins a path decides.
func dropBinaryText(b []byte, text map[string]string) error {
	n, err := keytree.Document(b)
	if err != nil {
		return err
	}
	binary := map[string]bool{}
	keytree.ScalarNodes(n, "", func(path string, s *yaml.Node) { binary[path] = s.ShortTag() == "!!binary" })
	for p, isBinary := range binary {
		if isBinary {
			delete(text, p)
		}
	}
	return nil
}

// CheckJSON reports b that is not one JSON value as a JSON error at its
// line and column: the YAML parser that reads it afterwards (for the source
// text of its scalars) would say "yaml: line 1: ...", or even accept it,
// JSON being nearly a subset of YAML.
func CheckJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	var v any
	err := dec.Decode(&v)
	if err == nil {
		rest := bytes.TrimLeft(b[dec.InputOffset():], " \t\r\n")
		if len(rest) > 0 {
			return fmt.Errorf("invalid JSON at %s: data after the JSON value", lineCol(b, int64(len(b)-len(rest))))
		}
		return nil
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("invalid JSON at %s: %w", lineCol(b, syn.Offset-1), err) // Offset is past the bad byte
	case errors.As(err, &typ):
		return fmt.Errorf("invalid JSON at %s: %w", lineCol(b, typ.Offset), err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("invalid JSON: unexpected end of the file")
	}
	return fmt.Errorf("invalid JSON: %w", err)
}

// lineCol names a byte offset of b as "line L, column C", from 1.
func lineCol(b []byte, off int64) string {
	off = min(max(off, 0), int64(len(b)))
	before := b[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return fmt.Sprintf("line %d, column %d", line, col)
}
