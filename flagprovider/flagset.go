package flagprovider

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/etcdconf/etcdconf"
)

// A flagSet is every flag of one applied revision, compiled. It is never
// modified once built: evaluations read it with no lock.
type flagSet struct {
	revision int64
	flags    map[string]*flag
}

// A flag is one flag definition, ready to evaluate.
type flag struct {
	key      string
	disabled bool
	variants map[string]any
	// defaultVariant is "" when the definition names none (null or absent).
	defaultVariant string
	targeting      rule // nil for a static flag
	metadata       map[string]any
	// fixed is the flag's result by type when it does not depend on the
	// evaluation context; nil when it does.
	fixed *fixedResults
	// invalid is why the definition cannot be evaluated: the flag answers
	// the caller's default with PARSE_ERROR. The other flags still load.
	invalid error
	// inputs is everything the flag's evaluation depends on, as canonical
	// JSON: two revisions changed the flag when it differs.
	inputs string
}

// A DefinitionError rejects a revision whose keys do not make a flag set:
// a key that does not parse, a document or key of the wrong shape, two
// keys defining one flag. The provider keeps the last good flag set.
type DefinitionError struct {
	Key      string // the full etcd key at fault
	Other    string // the other key defining the same flag, if that is the fault
	Revision int64
	Err      error
}

func (e *DefinitionError) Error() string {
	if e.Other != "" {
		return fmt.Sprintf("flagprovider: keys %q and %q at revision %d: %v", e.Other, e.Key, e.Revision, e.Err)
	}
	return fmt.Sprintf("flagprovider: key %q at revision %d: %v", e.Key, e.Revision, e.Err)
}

func (e *DefinitionError) Unwrap() error { return e.Err }

// evaluatorsKey is the key, at the prefix root, that holds the $evaluators
// of the single-flag keys.
const evaluatorsKey = "$evaluators"

// buildFlagSet parses and compiles the keys of one snapshot: documents
// (.json, .yaml, .yml) hold a flagd flag-definition file, the key
// $evaluators at the root the evaluators of the other keys, and any other
// key one flag, named by its last segment.
func buildFlagSet(keys []etcdconf.KeyValue, prefix string, rev int64) (*flagSet, error) {
	fs := &flagSet{revision: rev, flags: map[string]*flag{}}
	source := map[string]string{} // flag key -> the etcd key defining it
	fail := func(key string, err error) error { return &DefinitionError{Key: key, Revision: rev, Err: err} }

	var rootEvaluators map[string]any
	for _, kv := range keys {
		if strings.TrimPrefix(kv.Key, prefix) != evaluatorsKey {
			continue
		}
		v, err := parseValue(kv.Value, "")
		if err != nil {
			return nil, fail(kv.Key, err)
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fail(kv.Key, errors.New("$evaluators must be an object of named rules"))
		}
		rootEvaluators = m
	}

	add := func(key, flagKey string, def any, evaluators, setMeta map[string]any) error {
		if other, dup := source[flagKey]; dup {
			return &DefinitionError{Key: key, Other: other, Revision: rev,
				Err: fmt.Errorf("both define flag %q", flagKey)}
		}
		source[flagKey] = key
		fs.flags[flagKey] = compileFlag(flagKey, def, evaluators, setMeta)
		return nil
	}

	for _, kv := range keys {
		rel := strings.TrimPrefix(kv.Key, prefix)
		seg := rel[strings.LastIndexByte(rel, '/')+1:]
		ext := documentExt(seg)
		switch {
		case rel == evaluatorsKey:
			continue
		case seg == evaluatorsKey:
			return nil, fail(kv.Key, errors.New("$evaluators belongs at the prefix root"))
		case ext != "":
			v, err := parseValue(kv.Value, ext)
			if err != nil {
				return nil, fail(kv.Key, err)
			}
			doc, ok := v.(map[string]any)
			if !ok {
				return nil, fail(kv.Key, errors.New("a flag-definition document is an object"))
			}
			flags, ok1 := objectOrAbsent(doc["flags"])
			evaluators, ok2 := objectOrAbsent(doc["$evaluators"])
			meta, ok3 := objectOrAbsent(doc["metadata"])
			if !ok1 || !ok2 || !ok3 {
				return nil, fail(kv.Key, errors.New(`"flags", "$evaluators" and "metadata" must be objects`))
			}
			for _, name := range slices.Sorted(maps.Keys(flags)) {
				if err := add(kv.Key, name, flags[name], evaluators, meta); err != nil {
					return nil, err
				}
			}
		default:
			v, err := parseValue(kv.Value, "")
			if err != nil {
				return nil, fail(kv.Key, err)
			}
			if _, ok := v.(map[string]any); !ok {
				return nil, fail(kv.Key, errors.New("a flag definition is an object"))
			}
			if err := add(kv.Key, seg, v, rootEvaluators, nil); err != nil {
				return nil, err
			}
		}
	}
	return fs, nil
}

func documentExt(seg string) string {
	for _, ext := range []string{".json", ".yaml", ".yml"} {
		if len(seg) > len(ext) && strings.EqualFold(seg[len(seg)-len(ext):], ext) {
			return ext
		}
	}
	return ""
}

func objectOrAbsent(v any) (map[string]any, bool) {
	if v == nil {
		return nil, true
	}
	m, ok := v.(map[string]any)
	return m, ok
}

// parseValue parses a key's value: JSON for .json and for a value that
// starts with "{", YAML otherwise. Numbers come out as int64 when whole
// and written without a fraction, float64 otherwise.
func parseValue(b []byte, ext string) (any, error) {
	trimmed := bytes.TrimSpace(b)
	if ext == ".json" || (ext == "" && len(trimmed) > 0 && trimmed[0] == '{') {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if dec.More() {
			return nil, errors.New("text after the JSON value")
		}
		return normalize(v), nil
	}
	var v any
	if err := yaml.Unmarshal(trimmed, &v); err != nil {
		return nil, err
	}
	return normalize(v), nil
}

func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = normalize(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case int:
		return int64(x)
	case uint64:
		return float64(x)
	}
	return v
}

// compileFlag builds one flag; what is wrong with the definition makes the
// flag invalid, never the revision.
func compileFlag(key string, def any, evaluators, setMeta map[string]any) *flag {
	f := &flag{key: key}
	m, ok := def.(map[string]any)
	if !ok {
		f.invalid = errors.New("a flag definition is an object")
	}
	var used []string
	if f.invalid == nil {
		used, f.invalid = f.parse(m, evaluators)
	}
	f.metadata = maps.Clone(setMeta)
	if meta, ok := m["metadata"].(map[string]any); ok {
		if f.metadata == nil {
			f.metadata = map[string]any{}
		}
		maps.Copy(f.metadata, meta)
	}
	inputs := map[string]any{"def": def, "setMetadata": setMeta}
	if len(used) > 0 {
		refs := map[string]any{}
		for _, name := range used {
			refs[name] = evaluators[name]
		}
		inputs["refs"] = refs
	}
	b, err := json.Marshal(inputs)
	if err != nil { // a value JSON cannot hold: always a change
		b = fmt.Appendf(nil, "%p", f)
	}
	f.inputs = string(b)
	f.fixed = fixedResultsOf(f)
	return f
}

func (f *flag) parse(m map[string]any, evaluators map[string]any) (used []string, err error) {
	switch state := m["state"]; state {
	case nil, "ENABLED":
	case "DISABLED":
		f.disabled = true
	default:
		return nil, fmt.Errorf("state %v is neither ENABLED nor DISABLED", state)
	}
	variants, ok := m["variants"].(map[string]any)
	if !ok || len(variants) == 0 {
		return nil, errors.New("no variants")
	}
	f.variants = variants
	switch dv := m["defaultVariant"].(type) {
	case nil:
	case string:
		if _, ok := variants[dv]; !ok {
			return nil, fmt.Errorf("defaultVariant %q is not a variant", dv)
		}
		f.defaultVariant = dv
	default:
		return nil, errors.New("defaultVariant is not a string")
	}
	if meta, ok := m["metadata"]; ok && meta != nil {
		if _, ok := meta.(map[string]any); !ok {
			return nil, errors.New("metadata is not an object")
		}
	}
	t, ok := m["targeting"]
	if obj, isObj := t.(map[string]any); !ok || t == nil || (isObj && len(obj) == 0) {
		return nil, nil
	}
	c := &compiler{evaluators: evaluators}
	r, err := c.compile(t)
	if err != nil {
		return c.used, fmt.Errorf("targeting: %w", err)
	}
	f.targeting = r
	return c.used, nil
}

// changedFlags returns the keys of the flags added, removed or changed from
// old to new, sorted.
func changedFlags(old, new *flagSet) []string {
	var out []string
	for k, f := range new.flags {
		if o, ok := old.flags[k]; !ok || o.inputs != f.inputs {
			out = append(out, k)
		}
	}
	for k := range old.flags {
		if _, ok := new.flags[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
