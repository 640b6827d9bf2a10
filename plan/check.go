package plan

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/etcdconf/etcdconf/internal/codec"
	"github.com/etcdconf/etcdconf/internal/keytree"
)

// A CheckError is a key set the library would not decode, whatever the
// type it decodes into: Keys (in full, sorted) are the keys at fault.
type CheckError struct {
	Keys []string
	Err  error
}

func (e *CheckError) Error() string {
	return fmt.Sprintf("the keys would not decode (%s): %v", strings.Join(e.Keys, ", "), e.Err)
}

func (e *CheckError) Unwrap() error { return e.Err }

// Check reports, as a *CheckError, a key set (relative key -> value) that
// the library would not decode into any type: a value and keys under it at
// one path, two keys spelling one path (equal under loose matching: case,
// "-" and "_"), two documents setting one value, a document that does not
// parse or is not UTF-8 (a plain key may hold any bytes: a []byte field
// reads them). prefix only names the keys in full.
func Check(prefix string, keys map[string]string) error {
	spelled := map[string][]string{}
	entries := make([]keytree.Entry, 0, len(keys))
	for _, k := range slices.Sorted(mapKeys(keys)) {
		entries = append(entries, keytree.Entry{Key: prefix + k, Path: k, Value: keys[k]})
		if n := normKey(k); n != "" {
			spelled[n] = append(spelled[n], prefix+k)
		}
	}
	for _, n := range slices.Sorted(mapKeys(spelled)) {
		if ks := spelled[n]; len(ks) > 1 {
			return &CheckError{Keys: ks, Err: fmt.Errorf("%d keys spell one path %q (keys equal but for case, \"-\" and \"_\" are one key)", len(ks), n)}
		}
	}
	for _, k := range slices.Sorted(mapKeys(keys)) {
		v := keys[k]
		if keytree.DocumentExt(k) == "" && !isJSON(v, '{') {
			continue
		}
		tree, text, ok := mapping(v)
		if !ok {
			continue // Build names a document that does not parse
		}
		flat, err := keytree.Flatten(tree, text)
		if err != nil {
			return &CheckError{Keys: []string{prefix + k}, Err: err}
		}
		if a, b, ok := looseClash(flat); ok {
			return &CheckError{Keys: []string{prefix + k}, Err: fmt.Errorf("its value holds %q and %q, one path spelled twice (keys equal but for case, \"-\" and \"_\" are one key)", a, b)}
		}
	}
	_, err := keytree.BuildRaw(entries)
	if err == nil {
		err = looseCheck(prefix, keys)
	}
	if err != nil {
		ks := []string{}
		if ke, ok := err.(*keytree.Error); ok {
			ks = append(ks, ke.Key)
			if ce, ok := ke.Err.(*keytree.CollisionError); ok {
				ks = append(ks, ce.Other)
			}
		}
		slices.Sort(ks)
		return &CheckError{Keys: ks, Err: err}
	}
	return nil
}

// normKey is a key's path as loose matching sees it: its segments
// normalized (codec.NormName), the document extension of the last kept.
func normKey(k string) string {
	segs := keytree.Segments(k)
	for i, s := range segs {
		ext := ""
		if i == len(segs)-1 {
			ext = keytree.DocumentExt(s)
		}
		segs[i] = codec.NormName(strings.TrimSuffix(s, ext)) + ext
	}
	return strings.Join(segs, "/")
}

// normPath normalizes the segments of a path.
func normPath(segs []string) string {
	out := make([]string, len(segs))
	for i, s := range segs {
		out[i] = codec.NormName(s)
	}
	return strings.Join(out, "/")
}

func itoa(i int) string { return strconv.Itoa(i) }

// looseClash finds two paths of flat that are one path, or a value and a
// path under it, under loose matching.
func looseClash(flat map[string]string) (string, string, bool) {
	seen := map[string]string{}
	for _, p := range slices.Sorted(mapKeys(flat)) {
		n := normPath(keytree.Segments(p))
		if o, ok := seen[n]; ok {
			return o, p, true
		}
		seen[n] = p
	}
	for _, p := range slices.Sorted(mapKeys(flat)) {
		segs := keytree.Segments(p)
		for i := len(segs) - 1; i > 0; i-- {
			if o, ok := seen[normPath(segs[:i])]; ok {
				return o, p, true
			}
		}
	}
	return "", "", false
}

// looseCheck finds, under loose matching, a value and keys under it at one
// path (a value in one key, keys under it in another, or inside a
// document), or two keys setting one path (a plain key may override a
// document): what keytree.Build finds among keys spelled alike.
func looseCheck(prefix string, keys map[string]string) error {
	type src struct {
		key string
		doc bool
	}
	at := map[string][]src{}
	for _, k := range slices.Sorted(mapKeys(keys)) {
		segs := keytree.Segments(k)
		if len(segs) == 0 {
			continue
		}
		last := segs[len(segs)-1]
		if ext := keytree.DocumentExt(last); ext != "" {
			tree, text, ok := mapping(keys[k])
			if !ok {
				continue // Build refused it already, or it holds no mapping
			}
			flat, err := keytree.Flatten(tree, text)
			if err != nil {
				continue
			}
			base := slices.Clone(segs)
			if base[len(base)-1] = strings.TrimSuffix(last, ext); base[len(base)-1] == "" {
				base = base[:len(base)-1]
			}
			for sub := range flat {
				np := normPath(append(slices.Clone(base), keytree.Segments(sub)...))
				at[np] = append(at[np], src{k, true})
			}
			continue
		}
		np := normPath(segs)
		at[np] = append(at[np], src{k, false})
	}
	for _, np := range slices.Sorted(mapKeys(at)) {
		ss := at[np]
		var docs, plain []string
		for _, s := range ss {
			if s.doc {
				docs = appendNew(docs, s.key)
			} else {
				plain = appendNew(plain, s.key)
			}
		}
		if len(plain) > 1 || (len(plain) == 0 && len(docs) > 1) {
			ks := append(plain, docs...)
			return keytree.Collision(prefix+ks[0], prefix+ks[1], np, true)
		}
		for i := strings.LastIndexByte(np, '/'); i > 0; i = strings.LastIndexByte(np[:i], '/') {
			if above, ok := at[np[:i]]; ok {
				return keytree.Collision(prefix+above[0].key, prefix+ss[0].key, np[:i], false)
			}
		}
	}
	return nil
}

func appendNew(l []string, s string) []string {
	if slices.Contains(l, s) {
		return l
	}
	return append(l, s)
}
