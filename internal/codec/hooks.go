package codec

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/etcdconf/etcdconf/internal/keytree"
)

// The decode hooks: how a key's text becomes a value of a field's type
// (mapstructure calls them on the way down the canonical tree).
var (
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	durationType    = reflect.TypeFor[time.Duration]()
	timeType        = reflect.TypeFor[time.Time]()
)

// textHook decodes strings into types that unmarshal text themselves, and
// a document's native scalars into a named type that builds itself from
// them (see Named.FromScalar: the root package's Flag).
func textHook(from, to reflect.Type, data any) (any, error) {
	if n, ok := namedOf(to); ok && n.FromScalar != nil {
		switch data.(type) {
		case bool, int, int64, uint64, float64:
			return n.FromScalar(data)
		}
	}
	s, ok := data.(string)
	if !ok || to == timeType || !reflect.PointerTo(to).Implements(textUnmarshaler) {
		return data, nil
	}
	v := reflect.New(to)
	// UnmarshalText gets a copy, which it may change but not keep: a
	// scratch buffer, so that no garbage sits beside the strings it keeps.
	text := textBuffers.Get().(*[]byte)
	*text = append((*text)[:0], s...)
	err := v.Interface().(encoding.TextUnmarshaler).UnmarshalText(*text)
	if cap(*text) <= 4<<10 {
		textBuffers.Put(text)
	}
	if err != nil {
		return nil, err
	}
	return v.Elem().Interface(), nil
}

var textBuffers = sync.Pool{New: func() any { return new([]byte) }}

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
	case isString && IsBytes(to): // bytes as they are: a []byte is exempt from UTF-8
		return reflect.ValueOf([]byte(s)).Convert(to).Interface(), nil
	case !isString && to.Kind() == reflect.String:
		switch data.(type) {
		case int, int64, uint64, float64, bool:
			return fmt.Sprint(data), nil
		}
	case isString && to.Kind() == reflect.Bool:
		return ParseBool(s)
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

// IsBytes reports whether t is a slice of bytes, which holds a key's value
// as it is: not a list, and not bound to be UTF-8.
func IsBytes(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8
}

func numError(s string, to reflect.Type, err error) error {
	if errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("%q is out of range for %v", s, to)
	}
	return fmt.Errorf("%q is not a valid %v", s, to)
}

func ParseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "t", "1", "yes", "y", "on":
		return true, nil
	case "false", "f", "0", "no", "n", "off", "":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a bool (true/false, on/off, yes/no, 1/0)", s)
}

// sliceHook reads a string leaf into a slice field: a value starting with
// "[" is a JSON (or YAML flow) list, ["a,b", " c"], which any slice field
// takes; else, for a slice of scalars, a comma list: "a, b,c" is [a b c]
// and "" is an empty slice.
func sliceHook(from, to reflect.Type, data any) (any, error) {
	s, ok := data.(string)
	if !ok || to.Kind() != reflect.Slice || to.Elem().Kind() == reflect.Uint8 {
		return data, nil
	}
	if strings.HasPrefix(strings.TrimSpace(s), "[") {
		v, text, err := keytree.ParseDocument([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("value starting with \"[\" is not a JSON list: %w", err)
		}
		if _, ok := v.([]any); !ok {
			return nil, fmt.Errorf("value starting with \"[\" is not a JSON list")
		}
		c := &canon{spell: map[string][]string{}, text: func(sp []string) (string, bool) {
			s, ok := text[strings.Join(sp, "/")]
			return s, ok
		}}
		return c.node(v, to, nil, nil)
	}
	if IsComposite(to.Elem()) {
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
	if !IsComposite(t) || t.Kind() == reflect.Slice || t == timeType {
		return data, nil
	}
	v, text, err := keytree.ParseDocument([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("value for %v is not a YAML or JSON document: %w", to, err)
	}
	if v == nil {
		return map[string]any{}, nil
	}
	c := &canon{spell: map[string][]string{}, text: func(sp []string) (string, bool) {
		s, ok := text[strings.Join(sp, "/")]
		return s, ok
	}}
	return c.node(v, to, nil, nil)
}
