package etcdconf

import "github.com/etcdconf/etcdconf/internal/codec"

// The codec (internal/codec) maps keys to values of T and back; this file
// is where its results become the package's public types: its decode
// errors are made as DecodeErrors, its changes converted to Changes. Its
// KeyValue converts to KeyValue as it is (the fields are the same).

func init() {
	codec.NewError = func(key string, rev int64, err error) error {
		return &DecodeError{Key: key, Revision: rev, Err: err}
	}
}

// changesOf converts the codec's changes; nil stays nil, and empty stays
// empty (a delta of no change is not the absence of a delta).
func changesOf(cs []codec.Change) []Change {
	if cs == nil {
		return nil
	}
	out := make([]Change, len(cs))
	for i, c := range cs {
		out[i] = Change{Path: c.Path, Kind: ChangeKind(c.Kind), Old: c.Old, New: c.New, Keys: c.Keys,
			Secret: c.Secret, oldText: c.OldText, newText: c.NewText}
	}
	return out
}
