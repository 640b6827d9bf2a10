package etcdconf

import (
	"encoding"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/etcdconf/etcdconf/internal/keytree"
	"github.com/go-viper/mapstructure/v2"
)

// decoder turns the keys of a prefix into a T: keys -> tree -> T.
type decoder[T any] struct {
	prefix   string
	strict   bool
	defaults *T // deep-copied before every decode; never modified
}

func newDecoder[T any](prefix string, o *options) (*decoder[T], error) {
	t := reflect.TypeFor[T]()
	k := t.Kind()
	if k == reflect.Pointer {
		k = t.Elem().Kind()
	}
	switch {
	case k == reflect.Struct:
	case k == reflect.Map && t.Key().Kind() == reflect.String:
	default:
		return nil, fmt.Errorf("etcdconf: cannot decode a prefix into %v: use a struct or a map with string keys", t)
	}
	d := &decoder[T]{prefix: prefix, strict: o.strict}
	if o.defaults != nil {
		v := o.defaults.(T)
		d.defaults = &v
	}
	return d, nil
}

// decode builds a T from kvs, the keys under the prefix at revision rev,
// and validates it. Every error is a *DecodeError naming rev and, when one
// is at fault, the key.
func (d *decoder[T]) decode(kvs map[string]*KeyValue, rev int64) (out T, err error) {
	// The decoder runs on the watch loop: a panic in it (mapstructure is not
	// ours) must reject the revision, not take the process down.
	defer func() {
		if p := recover(); p != nil {
			var zero T
			out, err = zero, &DecodeError{Revision: rev, Err: fmt.Errorf("decoder panicked: %v", p)}
		}
	}()
	if flat, ok := d.decodeFlat(kvs, rev); ok {
		return flat, nil
	}
	entries := make([]keytree.Entry, 0, len(kvs))
	for k, kv := range kvs {
		entries = append(entries, keytree.Entry{Key: k, Path: strings.TrimPrefix(k, d.prefix), Value: kv.Value})
	}
	tree, err := keytree.Build(entries)
	if err != nil {
		var te *keytree.Error
		if errors.As(err, &te) {
			return out, &DecodeError{Key: te.Key, Revision: rev, Err: te.Err}
		}
		return out, &DecodeError{Revision: rev, Err: err}
	}
	if d.strict && len(tree.Ignored) > 0 {
		return out, &DecodeError{Key: tree.Ignored[0], Revision: rev, Err: errors.New("a key at the prefix itself matches no field")}
	}
	if d.defaults != nil {
		out = deepCopy(reflect.ValueOf(*d.defaults)).Interface().(T)
	}
	if reflect.TypeFor[T]().Kind() == reflect.Pointer && reflect.ValueOf(out).IsNil() {
		reflect.ValueOf(&out).Elem().Set(reflect.New(reflect.TypeFor[T]().Elem()))
	}
	var md mapstructure.Metadata
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			textHook, scalarHook, sliceHook, flatMapHook, documentHook,
		),
		ZeroFields: true,
		Metadata:   &md,
		Result:     &out,
		TagName:    tagName,
		MatchName:  sameName,
	})
	if err != nil {
		return out, &DecodeError{Revision: rev, Err: err}
	}
	if err := dec.Decode(canonical(tree.Root, reflect.TypeFor[T]())); err != nil {
		return out, d.fieldError(tree, err, rev)
	}
	if d.strict && len(md.Unused) > 0 {
		key := d.keyOf(tree, md.Unused[0])
		return out, &DecodeError{Key: key, Revision: rev, Err: fmt.Errorf("no field of %v matches %q", reflect.TypeFor[T](), strings.TrimPrefix(key, d.prefix))}
	}
	if err := validate(&out); err != nil {
		return out, &DecodeError{Revision: rev, Err: err}
	}
	return out, nil
}

// decodeFlat is the fast path for the flat view, T = map[string]string
// with no defaults, documents or validation: each key's relative path maps
// to its value, with no tree and no reflection. It reports false when the
// general path must run.
func (d *decoder[T]) decodeFlat(kvs map[string]*KeyValue, rev int64) (T, bool) {
	var zero T
	if d.defaults != nil || d.strict {
		return zero, false
	}
	if _, ok := any(zero).(map[string]string); !ok {
		return zero, false
	}
	m := make(map[string]string, len(kvs))
	for k, kv := range kvs {
		path := k[len(d.prefix):]
		if path == "" || path[0] == '/' || path[len(path)-1] == '/' || strings.Contains(path, "//") ||
			keytree.DocumentExt(path) != "" || !utf8.Valid(kv.Value) {
			return zero, false // odd spellings, documents and bad values take the general path
		}
		if _, clash := m[path]; clash {
			return zero, false
		}
		m[path] = string(kv.Value)
	}
	out := any(m).(T)
	if validate(&out) != nil {
		return zero, false
	}
	return out, true
}

// patch is the incremental path for the flat view: it applies the touched
// keys to the previous value instead of decoding every key, and returns
// the diff from prev, which it knows from the same keys. It reports false
// when the full decode must run.
func (d *decoder[T]) patch(prev *Snapshot[T], kvs map[string]*KeyValue, touched []string) (T, []Change, bool) {
	var zero T
	old, ok := any(prev.Value).(map[string]string)
	if !ok || touched == nil || d.defaults != nil || d.strict {
		return zero, nil, false
	}
	m := maps.Clone(old)
	var delta []Change
	for _, key := range touched {
		path := key[len(d.prefix):]
		if path == "" || path[0] == '/' || path[len(path)-1] == '/' || strings.Contains(path, "//") || keytree.DocumentExt(path) != "" {
			return zero, nil, false
		}
		was, had := old[path]
		kv, has := kvs[key]
		if has && !utf8.Valid(kv.Value) {
			return zero, nil, false
		}
		switch c := (Change{Path: fmt.Sprintf("[%q]", path), Keys: []string{key}}); {
		case has && !had:
			m[path] = string(kv.Value)
			c.Kind, c.New = Added, m[path]
			delta = append(delta, c)
		case has && was != string(kv.Value):
			m[path] = string(kv.Value)
			c.Kind, c.Old, c.New = Modified, was, m[path]
			delta = append(delta, c)
		case !has && had:
			delete(m, path)
			c.Kind, c.Old = Removed, was
			delta = append(delta, c)
		}
	}
	// A key touched twice in one batch appears twice: keep its last change.
	slices.SortStableFunc(delta, func(a, b Change) int { return strings.Compare(a.Path, b.Path) })
	delta = slices.CompactFunc(delta, func(a, b Change) bool { return a.Path == b.Path })
	return any(m).(T), delta, true
}

// canonical returns a copy of the tree whose keys for struct fields are
// spelled exactly as mapstructure looks them up first (the tag name, else
// the field name). Otherwise every field falls back to MatchName across all
// keys, which is quadratic in a wide struct.
func canonical(node any, t reflect.Type) any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	m, ok := node.(map[string]any)
	if !ok {
		return node
	}
	switch t.Kind() {
	case reflect.Struct:
		names := fieldNames(t)
		out := make(map[string]any, len(m))
		for k, v := range m {
			if f, ok := names[normName(k)]; ok {
				out[f.name] = canonical(v, f.typ)
			} else {
				out[k] = v
			}
		}
		return out
	case reflect.Map:
		if !isComposite(t.Elem()) {
			return m
		}
		out := make(map[string]any, len(m))
		for k, v := range m {
			out[k] = canonical(v, t.Elem())
		}
		return out
	}
	return m
}

type namedField struct {
	name string // as mapstructure looks it up
	typ  reflect.Type
}

var fieldNameCache sync.Map // reflect.Type -> map[string]namedField

// fieldNames maps the normalised key segment of each field of struct type
// t to the name mapstructure looks up. Embedded structs are left to
// mapstructure's MatchName.
func fieldNames(t reflect.Type) map[string]namedField {
	if v, ok := fieldNameCache.Load(t); ok {
		return v.(map[string]namedField)
	}
	names := make(map[string]namedField, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		tag := parseTag(f)
		if !f.IsExported() || f.Anonymous || tag.skip {
			continue
		}
		names[normName(tag.name)] = namedField{name: tag.name, typ: f.Type}
	}
	fieldNameCache.Store(t, names)
	return names
}

// validate calls Validate on v (or what it points to) if it has one.
func validate[T any](v *T) error {
	if x, ok := any(v).(interface{ Validate() error }); ok {
		return x.Validate()
	}
	if x, ok := any(*v).(interface{ Validate() error }); ok && !reflect.ValueOf(v).Elem().IsZero() {
		return x.Validate()
	}
	return nil
}

// fieldError turns a mapstructure error into a DecodeError naming the key
// that supplied the value.
func (d *decoder[T]) fieldError(tree *keytree.Tree, err error, rev int64) error {
	var fe *mapstructure.DecodeError
	if !errors.As(err, &fe) {
		return &DecodeError{Revision: rev, Err: err}
	}
	cause := fe.Unwrap()
	var pe *mapstructure.ParseError
	if errors.As(cause, &pe) && pe.Err != nil {
		cause = pe.Err
	}
	if isSecretPath(reflect.TypeFor[T](), splitFieldName(fe.Name())) {
		// The cause quotes the value: keep a secret's value out of errors and logs.
		cause = errors.New("the value does not decode (withheld: the field is secret)")
	}
	return &DecodeError{Key: d.keyOf(tree, fe.Name()), Revision: rev, Err: fmt.Errorf("%s: %w", fe.Name(), cause)}
}

// isSecretPath reports whether the field path (mapstructure's names) runs
// through a field tagged secret.
func isSecretPath(t reflect.Type, parts []string) bool {
	for _, part := range parts {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Map:
			t = t.Elem() // part is a map key
			continue
		case reflect.Struct:
		default:
			return false
		}
		found := false
		for i := range t.NumField() {
			f := t.Field(i)
			tag := parseTag(f)
			if f.Name == part || tag.name == part || sameName(part, tag.name) {
				if tag.secret {
					return true
				}
				t, found = f.Type, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return false
}

// keyOf maps a mapstructure field name ("DB.Port", "Services[api-1].Addr")
// to the key that supplied it, following the tree's own spelling.
func (d *decoder[T]) keyOf(tree *keytree.Tree, name string) string {
	var segs []string
	node := any(tree.Root)
	for _, part := range splitFieldName(name) {
		m, ok := node.(map[string]any)
		if !ok {
			break
		}
		found := ""
		if _, exact := m[part]; exact {
			found = part
		} else {
			for k := range m {
				if sameName(k, part) {
					found = k
					break
				}
			}
		}
		if found == "" {
			break
		}
		segs = append(segs, found)
		node = m[found]
	}
	if k := tree.Origin(segs); k != "" {
		return k
	}
	return d.prefix + strings.Join(segs, "/")
}

// splitFieldName splits "A.B[k].C" into A, B, k, C.
func splitFieldName(name string) []string {
	var parts []string
	for _, p := range strings.Split(name, ".") {
		for {
			i := strings.IndexByte(p, '[')
			if i < 0 {
				break
			}
			if i > 0 {
				parts = append(parts, p[:i])
			}
			j := strings.IndexByte(p[i:], ']')
			if j < 0 {
				p = p[i+1:]
				continue
			}
			parts = append(parts, p[i+1:i+j])
			p = p[i+j+1:]
		}
		if p != "" {
			parts = append(parts, p)
		}
	}
	return parts
}

var (
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	durationType    = reflect.TypeFor[time.Duration]()
	timeType        = reflect.TypeFor[time.Time]()
)

// textHook decodes strings into types that unmarshal text themselves.
func textHook(from, to reflect.Type, data any) (any, error) {
	s, ok := data.(string)
	if !ok || to == timeType || !reflect.PointerTo(to).Implements(textUnmarshaler) {
		return data, nil
	}
	v := reflect.New(to)
	if err := v.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
		return nil, err
	}
	return v.Elem().Interface(), nil
}

// scalarHook converts string leaves to the scalar kinds of their fields, and
// document scalars to strings, with errors that say what was expected.
func scalarHook(from, to reflect.Type, data any) (any, error) {
	s, isString := data.(string)
	switch {
	case to == durationType:
		if isString {
			return time.ParseDuration(strings.TrimSpace(s))
		}
		if n, ok := data.(int); ok { // YAML 0 and plain numbers: nanoseconds, as time.Duration is
			return time.Duration(n), nil
		}
	case to == timeType:
		if isString {
			return time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
		}
	case !isString && to.Kind() == reflect.String:
		switch data.(type) {
		case int, int64, uint64, float64, bool:
			return fmt.Sprint(data), nil
		}
	case isString && to.Kind() == reflect.Bool:
		return parseBool(s)
	case isString && to.Kind() >= reflect.Int && to.Kind() <= reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 0, to.Bits())
		if err != nil {
			return nil, numError(s, to, err)
		}
		return n, nil
	case isString && to.Kind() >= reflect.Uint && to.Kind() <= reflect.Uintptr:
		n, err := strconv.ParseUint(strings.TrimSpace(s), 0, to.Bits())
		if err != nil {
			return nil, numError(s, to, err)
		}
		return n, nil
	case isString && (to.Kind() == reflect.Float32 || to.Kind() == reflect.Float64):
		f, err := strconv.ParseFloat(strings.TrimSpace(s), to.Bits())
		if err != nil {
			return nil, numError(s, to, err)
		}
		return f, nil
	}
	return data, nil
}

func numError(s string, to reflect.Type, err error) error {
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("%q is out of range for %v", s, to)
	}
	return fmt.Errorf("%q is not a valid %v", s, to)
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "t", "1", "yes", "y", "on":
		return true, nil
	case "false", "f", "0", "no", "n", "off", "":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a bool (true/false, on/off, yes/no, 1/0)", s)
}

// sliceHook reads a string leaf as a comma list when its field is a slice
// of scalars: "a, b,c" is [a b c] and "" is an empty slice.
func sliceHook(from, to reflect.Type, data any) (any, error) {
	s, ok := data.(string)
	if !ok || to.Kind() != reflect.Slice || to.Elem().Kind() == reflect.Uint8 || isComposite(to.Elem()) {
		return data, nil
	}
	if strings.TrimSpace(s) == "" {
		return []any{}, nil
	}
	parts := strings.Split(s, ",")
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = strings.TrimSpace(p)
	}
	return out, nil
}

// flatMapHook gives a map of scalars a flat view of its subtree: keys
// nested under it become "/"-joined map keys ("db/host").
func flatMapHook(from, to reflect.Type, data any) (any, error) {
	m, ok := data.(map[string]any)
	if !ok || to.Kind() != reflect.Map || isComposite(to.Elem()) {
		return data, nil
	}
	nested := false
	for _, v := range m {
		if _, ok := v.(map[string]any); ok {
			nested = true
			break
		}
	}
	if !nested {
		return data, nil
	}
	flat := make(map[string]any, len(m))
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok {
				walk(prefix+k+"/", sub)
			} else {
				flat[prefix+k] = v
			}
		}
	}
	walk("", m)
	return flat, nil
}

// documentHook parses a string leaf as YAML (or JSON) when its field is a
// struct or map: "/services/api-1" = `{"addr": "..."}` decodes into a struct.
func documentHook(from, to reflect.Type, data any) (any, error) {
	s, ok := data.(string)
	if !ok {
		return data, nil
	}
	t := to
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if !isComposite(t) || t.Kind() == reflect.Slice || t == timeType {
		return data, nil
	}
	v, _, err := keytree.ParseDocument([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("value for %v is not a YAML or JSON document: %w", to, err)
	}
	if v == nil {
		return map[string]any{}, nil
	}
	return v, nil
}

// isComposite reports whether t is decoded from a subtree (a struct, map or
// slice of them) rather than from one string.
func isComposite(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == timeType || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return false
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map, reflect.Interface:
		return true
	case reflect.Slice, reflect.Array:
		return t.Elem().Kind() != reflect.Uint8 && isComposite(t.Elem())
	}
	return false
}

// deepCopy copies v so that no map, slice or pointer is shared with it.
func deepCopy(v reflect.Value) reflect.Value {
	out := reflect.New(v.Type()).Elem()
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			out.Set(deepCopy(v.Elem()).Addr())
		}
	case reflect.Map:
		if !v.IsNil() {
			out.Set(reflect.MakeMapWithSize(v.Type(), v.Len()))
			for it := v.MapRange(); it.Next(); {
				out.SetMapIndex(it.Key(), deepCopy(it.Value()))
			}
		}
	case reflect.Slice:
		if !v.IsNil() {
			out.Set(reflect.MakeSlice(v.Type(), v.Len(), v.Len()))
			for i := range v.Len() {
				out.Index(i).Set(deepCopy(v.Index(i)))
			}
		}
	case reflect.Struct:
		out.Set(v) // unexported fields are copied as they are
		for i := range v.NumField() {
			if out.Field(i).CanSet() {
				out.Field(i).Set(deepCopy(v.Field(i)))
			}
		}
	case reflect.Array:
		for i := range v.Len() {
			out.Index(i).Set(deepCopy(v.Index(i)))
		}
	default:
		out.Set(v)
	}
	return out
}
