package etcdconf

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/etcdconf/etcdconf/internal/codec"
	"github.com/etcdconf/etcdconf/internal/keytree"
	"github.com/etcdconf/etcdconf/plan"
)

// Layers: a watcher's value is merged from sources of fixed precedence,
// lowest first: the defaults (WithDefaults), files and directories
// (WithFile, WithOptionalFile, WithDir, in the order given), etcd, and the
// environment (WithEnv). The highest source that sets a leaf wins it; a
// leaf is found by its path in T, not by its spelling; maps merge entry by
// entry; a list is one leaf. See codec.Layers for the merge.

// A layerSpec is a file or directory layer as the options give it.
type layerSpec struct {
	path     string
	dir      bool
	optional bool
}

// WithFile adds a file layer: a YAML or JSON file (by its extension:
// .yaml, .yml or .json) shaped like the input of `etcdconf apply -f`:
// keys as in etcd under the prefix, as nested mappings or "a/b" paths,
// documents allowed. Its values are below etcd's and above the defaults;
// of two files, the later given wins.
//
// The watcher checks the file every [WithFileInterval] and merges and
// publishes a change like an etcd change, at the same etcd revision (see
// [Snapshot.Generation]). The path is opened anew at every check, so a
// rename over it or a symlink swap (a Kubernetes ConfigMap volume swaps its
// ..data link) is read whole, as one snapshot. An editor that writes the
// file in place can be read mid-write: that read fails to parse or decode,
// is reported, and the next check reads the whole file. A file that does
// not parse or decode is rejected as a bad etcd revision is: the last good
// value stays, and Status().Err and [Observer].Error say why, naming the
// file and the line. A file deleted after New is an error of that layer:
// its last good values stay.
//
// New and Load fail when the file is missing (see [WithOptionalFile]) or
// does not decode. A ConfigMap mounted with subPath never updates: that is
// Kubernetes' rule, not the watcher's.
func WithFile(path string) Option {
	return optionFunc(func(o *options) { o.layers = append(o.layers, layerSpec{path: path}) })
}

// WithOptionalFile is [WithFile] for a file that may be absent: an absent
// file sets nothing, and its layer is read when it appears.
func WithOptionalFile(path string) Option {
	return optionFunc(func(o *options) { o.layers = append(o.layers, layerSpec{path: path, optional: true}) })
}

// WithDir adds a directory layer: one file per key, as Kubernetes mounts a
// ConfigMap or a Secret as a volume. A file's name is its key, relative to
// the prefix (a name ending in .yaml, .yml or .json is a document), and its
// content the value; hidden files and the ..data entries of a volume are
// ignored, symbolic links followed. It takes the precedence slot and the
// reload rules of [WithFile]; a missing directory is an error at New. A
// Secret volume mounted here feeds `secret` fields.
func WithDir(path string) Option {
	return optionFunc(func(o *options) { o.layers = append(o.layers, layerSpec{path: path, dir: true}) })
}

// WithEnv adds the environment as the highest layer: a variable named
// prefix, "_", and the key path of a struct field upper-cased, with "/"
// and "-" as "_", sets that field: with WithEnv("MYAPP"), MYAPP_DB_PORT=6432
// sets the field at key db/port (Go path DB.Port). Its value is read as a
// plain key's (lists, durations, flags, text unmarshalers). Variables
// address struct fields, not map entries (a map or list field takes its
// whole value, as a plain key holding it does).
//
// The environment is read once, at New or Load. A variable under the
// prefix that matches no field is logged, and is an error with
// [WithStrict]; a set variable whose name could mean two fields is an
// error naming both. An etcd change to a field a variable sets publishes
// nothing for it, and writes to it are refused.
func WithEnv(prefix string) Option {
	return optionFunc(func(o *options) { o.envPrefix, o.hasEnv = prefix, true })
}

// WithFileInterval sets how often the layers of [WithFile],
// [WithOptionalFile] and [WithDir] are checked for a change: each check
// reads them and compares a hash of their content. Default: 1s.
func WithFileInterval(d time.Duration) Option {
	return optionFunc(func(o *options) { o.fileInterval = d })
}

// layered is a watcher's layers: what the options set below and above
// etcd, merged with etcd's keys by codec.Layers.
type layered[T any] struct {
	dec      *codec.Decoder[T] // decodes a file's keys on their own: no defaults, not validated
	defaults map[string]*codec.KeyValue
	files    []*fileLayer
	env      map[string]*codec.KeyValue
	merge    *codec.Layers
}

// A fileLayer is one file or directory and what it last set.
type fileLayer struct {
	spec   layerSpec
	sum    [sha256.Size]byte
	leaves map[string]*codec.KeyValue
	seen   bool   // read at least once (an optional file may be absent)
	err    string // the error last reported, so a bad file is reported once
}

// newLayered reads the layers the options give; nil when there are none.
// An unusable option, a missing file or directory (not optional), a file
// or variable that does not decode, are errors.
func newLayered[T any](o *options) (*layered[T], error) {
	if o.defaults == nil && len(o.layers) == 0 && !o.hasEnv {
		return nil, nil
	}
	l := &layered[T]{}
	if o.defaults != nil {
		d, err := codec.DefaultLeaves(o.defaults.(T))
		if err != nil {
			return nil, fmt.Errorf("etcdconf: WithDefaults: %w", err)
		}
		l.defaults = d
	}
	dec, err := codec.NewDecoder[T]("", codec.Config{Strict: o.strict})
	if err != nil {
		return nil, err
	}
	l.dec = dec
	for _, spec := range o.layers {
		switch {
		case spec.path == "":
			return nil, errors.New("etcdconf: WithFile, WithOptionalFile or WithDir: empty path")
		case !spec.dir && keytree.DocumentExt(strings.ToLower(spec.path)) == "":
			return nil, fmt.Errorf("etcdconf: WithFile %s: the name must end in .yaml, .yml or .json, which says how to read it", spec.path)
		}
		f := &fileLayer{spec: spec}
		if _, err := l.read(f); err != nil {
			return nil, err
		}
		l.files = append(l.files, f)
	}
	if o.hasEnv {
		env, err := envLeaves[T](o.envPrefix, os.Environ(), o)
		if err != nil {
			return nil, err
		}
		if len(env) > 0 {
			if _, err := dec.DecodeTree(len(env), maps.Values(env), 0, false); err != nil {
				return nil, fmt.Errorf("etcdconf: WithEnv: %w", err)
			}
		}
		l.env = env
	}
	l.merge = codec.NewLayers(reflect.TypeFor[T](), l.below(), l.env)
	return l, nil
}

// mergeEtcd returns etcd's keys merged with the layers; kvs itself when
// there are none (l nil).
func (l *layered[T]) mergeEtcd(kvs *codec.KeySet) *codec.KeySet {
	if l == nil {
		return kvs
	}
	return l.merge.Merge(kvs)
}

// below returns the leaves below etcd: the defaults', then each file's
// over them.
func (l *layered[T]) below() map[string]*codec.KeyValue {
	out := maps.Clone(l.defaults)
	if out == nil {
		out = map[string]*codec.KeyValue{}
	}
	for _, f := range l.files {
		for p, kv := range f.leaves {
			delete(out, p)
			for q := range out { // a leaf above or under p gives way to it
				if strings.HasPrefix(q, p+"/") || strings.HasPrefix(p, q+"/") {
					delete(out, q)
				}
			}
			out[p] = kv
		}
	}
	return out
}

// read reads f and reports whether what it sets changed. An error leaves
// what f set as it was.
func (l *layered[T]) read(f *fileLayer) (changed bool, err error) {
	raw, sum, err := f.load()
	if err != nil {
		return false, err
	}
	if f.seen && sum == f.sum {
		return false, nil // read and hashed, not parsed
	}
	kvs, err := f.parse(raw)
	if err != nil {
		return false, err
	}
	leaves, err := l.decode(f, kvs)
	if err != nil {
		return false, err
	}
	f.sum, f.seen, f.err = sum, true, ""
	f.leaves = leaves
	return true, nil
}

// decode decodes a file's keys on their own, and returns the leaves they
// set.
func (l *layered[T]) decode(f *fileLayer, kvs *codec.KeySet) (map[string]*codec.KeyValue, error) {
	v, err := l.dec.DecodeTree(kvs.Len(), kvs.All(), 0, false)
	if err != nil {
		return nil, f.decodeError(err)
	}
	leaves, err := codec.LayerLeaves(v, kvs, f.origin)
	if err != nil {
		return nil, fmt.Errorf("etcdconf: %s: %w", f.spec.path, err)
	}
	return leaves, nil
}

// origin names the file that holds kv, one of the layer's keys.
func (f *fileLayer) origin(kv *codec.KeyValue) string {
	if f.spec.dir {
		return "file " + filepath.Join(f.spec.path, kv.Key)
	}
	return "file " + f.spec.path
}

// load reads the file, or the files of the directory by name, and a hash
// of what it read. An optional file that is absent is no file.
func (f *fileLayer) load() (map[string][]byte, [sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	if !f.spec.dir {
		b, err := os.ReadFile(f.spec.path)
		switch {
		case errors.Is(err, fs.ErrNotExist) && f.spec.optional:
			return nil, sum, nil
		case err != nil:
			return nil, sum, fmt.Errorf("etcdconf: WithFile %s: %w", f.spec.path, err)
		}
		return map[string][]byte{"": b}, sha256.Sum256(b), nil
	}
	entries, err := os.ReadDir(f.spec.path)
	if err != nil {
		return nil, sum, fmt.Errorf("etcdconf: WithDir %s: %w", f.spec.path, err)
	}
	h := sha256.New()
	files := map[string][]byte{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue // hidden, and a volume's ..data and ..2024_… entries
		}
		p := filepath.Join(f.spec.path, e.Name())
		st, err := os.Stat(p) // follows a volume's symbolic links
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, sum, fmt.Errorf("etcdconf: WithDir %s: %w", f.spec.path, err)
		}
		fmt.Fprintf(h, "%q %d\n", e.Name(), len(b))
		h.Write(b)
		files[e.Name()] = b
	}
	h.Sum(sum[:0])
	return files, sum, nil
}

// parse returns what load read as keys relative to the prefix: a file's
// keys as `etcdconf apply -f` reads them, a directory's files each a key.
func (f *fileLayer) parse(files map[string][]byte) (*codec.KeySet, error) {
	kvs := codec.NewKeySet()
	if f.spec.dir {
		for name, b := range files {
			kvs.Set(&codec.KeyValue{Key: name, Value: string(b)})
		}
		return kvs, nil
	}
	b, ok := files[""]
	if !ok {
		return kvs, nil // an optional file, absent
	}
	parsed, err := plan.ParseFile(f.spec.path, b)
	if err != nil {
		return nil, fmt.Errorf("etcdconf: WithFile %w", err)
	}
	for k, v := range parsed.Keys() {
		kvs.Set(&codec.KeyValue{Key: k, Value: v})
	}
	return kvs, nil
}

// decodeError names the file, and the line of the key at fault when the
// file has it, in a decode error of its keys.
func (f *fileLayer) decodeError(err error) error {
	var de *DecodeError
	if !errors.As(err, &de) {
		return fmt.Errorf("etcdconf: %s: %w", f.spec.path, err)
	}
	if f.spec.dir {
		return fmt.Errorf("etcdconf: %s: %w", filepath.Join(f.spec.path, de.Key), de.Err)
	}
	at := f.spec.path
	if b, rerr := os.ReadFile(f.spec.path); rerr == nil {
		if line := lineOf(b, keytree.Segments(de.Key)); line > 0 {
			at = fmt.Sprintf("%s:%d", at, line)
		}
	}
	if de.Key != "" {
		return fmt.Errorf("etcdconf: %s: key %q: %w", at, de.Key, de.Err)
	}
	return fmt.Errorf("etcdconf: %s: %w", at, de.Err)
}

// lineOf returns the line of the mapping key at segs in YAML b (nested
// mappings, or "a/b" keys), as far down as the file has it; 0 if none.
func lineOf(b []byte, segs []string) int {
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) != nil || len(doc.Content) == 0 {
		return 0
	}
	n, line := doc.Content[0], 0
	for len(segs) > 0 && n.Kind == yaml.MappingNode {
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			ks := keytree.Segments(n.Content[i].Value)
			if len(ks) > 0 && len(ks) <= len(segs) && slices.Equal(ks, segs[:len(ks)]) {
				line, n, segs, found = n.Content[i].Line, n.Content[i+1], segs[len(ks):], true
				break
			}
		}
		if !found {
			break
		}
	}
	return line
}

// poll checks the file layers for a change, and returns the leaves below
// etcd when one changed. A layer that fails to read or decode keeps what
// it set, and its error is reported once, until it reads again.
func (l *layered[T]) poll(report func(err error)) (map[string]*codec.KeyValue, bool) {
	changed := false
	for _, f := range l.files {
		c, err := l.read(f)
		if err != nil {
			if err.Error() != f.err {
				f.err = err.Error()
				report(err)
			}
			continue
		}
		changed = changed || c
	}
	if !changed {
		return nil, false
	}
	return l.below(), true
}

// envLeaves returns the leaves the environment sets under prefix: each
// variable prefix_PATH naming a struct field of T, a plain key at the
// field's canonical path holding the variable's value.
func envLeaves[T any](prefix string, environ []string, o *options) (map[string]*codec.KeyValue, error) {
	names := envNames(reflect.TypeFor[T](), prefix)
	out := map[string]*codec.KeyValue{}
	var unknown []string
	for _, e := range environ {
		name, value, ok := strings.Cut(e, "=")
		if !ok || !strings.HasPrefix(name, prefix+"_") {
			continue
		}
		fields := names[name]
		switch len(fields) {
		case 0:
			unknown = append(unknown, name)
			continue
		case 1:
		default:
			return nil, fmt.Errorf("etcdconf: WithEnv: %s could mean %s or %s: rename a field's key (the etcd tag) so that they differ", name, fields[0].goPath, fields[1].goPath)
		}
		p := fields[0].key
		out[p] = codec.KeyValue{Key: p, Value: value}.WithOrigin("env " + name)
	}
	slices.Sort(unknown)
	if len(unknown) > 0 {
		if o.strict {
			return nil, fmt.Errorf("etcdconf: WithEnv: %s matches no field of %v", unknown[0], reflect.TypeFor[T]())
		}
		o.logger.Warn("etcdconf: environment variables match no field", "prefix", prefix, "variables", unknown)
	}
	return out, nil
}

// An envField is a struct field an environment variable can set.
type envField struct {
	key    string // canonical key path
	goPath string
}

// envNames maps the variable names of the struct fields of t under prefix
// to the fields: fields of nested structs, not map entries.
func envNames(t reflect.Type, prefix string) map[string][]envField {
	out := map[string][]envField{}
	for _, f := range codec.StructLeaves(t) {
		name := prefix + "_" + strings.ToUpper(strings.NewReplacer("/", "_", "-", "_").Replace(f.Key))
		out[name] = append(out[name], envField{key: f.Key, goPath: f.GoPath})
	}
	for _, fs := range out {
		slices.SortFunc(fs, func(a, b envField) int { return strings.Compare(a.goPath, b.goPath) })
	}
	return out
}

// envShadows returns the variable that sets the value at canonical path
// p, a value above it or one under it; "" if none.
func (l *layered[T]) envShadows(p string) string {
	if l == nil {
		return ""
	}
	for k, kv := range l.env {
		if k == p || strings.HasPrefix(p, k+"/") || strings.HasPrefix(k, p+"/") {
			return strings.TrimPrefix(kv.Origin(), "env ")
		}
	}
	return ""
}
