package plan

import (
	"errors"

	"github.com/etcdconf/etcdconf/internal/keytree"
	"github.com/etcdconf/etcdconf/internal/txn"
)

// MaxOps is etcd's default limit of operations in one transaction: a plan
// of more cannot be written atomically.
const MaxOps = txn.MaxOps

// CheckOps refuses a write of more than MaxOps operations.
func CheckOps(n int) error { return txn.CheckOps(n) }

// DocumentExt returns the document extension of a key's last segment
// (".yaml", ".yml" or ".json"), or "": such a key holds a document.
func DocumentExt(seg string) string { return keytree.DocumentExt(seg) }

// ErrNotMapping is the error of a document that holds something other
// than a mapping of keys.
var ErrNotMapping = errors.New("the document is not a mapping")

// ParseDocument parses the value of a document key as the keys it stands
// for: an empty document stands for none. Unlike [ParseFile] its errors do
// not name it, and a .json key is read as YAML, as the library reads it.
func ParseDocument(b []byte) (*File, error) {
	v, text, err := keytree.ParseDocument(b)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return &File{tree: map[string]any{}, text: map[string]string{}, keys: map[string]string{}}, nil
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return nil, ErrNotMapping
	}
	keys, err := keytree.Flatten(doc, text)
	if err != nil {
		return nil, err
	}
	return &File{tree: doc, text: text, keys: keys}, nil
}
