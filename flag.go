package etcdconf

import (
	"fmt"
	"hash/fnv"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// A Flag is a feature flag for configuration structs: off, on, or on for a
// percentage of subjects. It decodes from "true"/"false", "on"/"off",
// "yes"/"no", "1"/"0", or a percentage such as "25%" (a plain decimal from
// 0 to 100), and encodes back to "true", "false" or "25%". In a YAML or
// JSON document a native bool (beta: true) reads as its text does; a
// native number (beta: 0.25) is an error: write the percentage, "25%".
//
// Percentage rollouts are sticky and independent: [Flag.Enabled] hashes the
// flag's name with the subject (a user ID, say), so a subject enabled at 10%
// stays enabled at 20%, and two flags at 10% are on for different 10% of
// subjects. A flag's name is its path in T ("Features.NewCheckout",
// `Flags["dark-mode"]`), given by the decoder; renaming the field reshuffles
// its rollout. The name is not part of the value: it is not encoded, and
// two flags with the same setting are equal.
type Flag struct {
	percent float64 // 0 to 100; 100 is on, 0 is off
	name    string  // the flag's path in T; salts the rollout hash
}

// FlagPercent returns the flag called name, on for p percent of subjects
// (clamped to 0..100; NaN is 0, off): what the decoder gives for "p%" at
// path name.
func FlagPercent(name string, p float64) Flag {
	if math.IsNaN(p) {
		p = 0
	}
	return Flag{percent: min(max(p, 0), 100), name: name}
}

// On reports whether the flag is on for every subject.
func (f Flag) On() bool { return f.percent >= 100 }

// Percent returns the share of subjects the flag is on for, 0 to 100.
func (f Flag) Percent() float64 { return f.percent }

// Enabled reports whether the flag is on for subject: always when on,
// never when off, and for a stable percent of subjects in between.
func (f Flag) Enabled(subject string) bool {
	switch {
	case f.percent >= 100:
		return true
	case f.percent <= 0:
		return false
	}
	h := fnv.New64a()
	h.Write([]byte(f.name))
	h.Write([]byte{0})
	h.Write([]byte(subject))
	return float64(h.Sum64()%10000) < f.percent*100
}

var flagType = reflect.TypeFor[Flag]()

// flagHolders caches, per type, whether a value of it can hold a Flag.
var flagHolders sync.Map // reflect.Type -> bool

// holdsFlag reports whether a value of type t can hold a Flag.
func holdsFlag(t reflect.Type) bool {
	if v, ok := flagHolders.Load(t); ok {
		return v.(bool)
	}
	flagHolders.Store(t, false) // a recursive type asks again while we look
	var holds bool
	switch t.Kind() {
	case reflect.Struct:
		holds = t == flagType
		for _, f := range SchemaOf(t).fields {
			holds = holds || holdsFlag(f.typ)
		}
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		holds = holdsFlag(t.Elem())
	}
	flagHolders.Store(t, holds)
	return holds
}

// nameFlags gives every Flag in v, found at path in T, its path as name.
// v is a freshly decoded value: maps are changed in place.
func nameFlags(v reflect.Value, path string) {
	if !holdsFlag(v.Type()) {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			nameFlags(v.Elem(), path)
		}
	case reflect.Struct:
		if v.Type() == flagType {
			v.Addr().Interface().(*Flag).name = path
			return
		}
		for _, f := range SchemaOf(v.Type()).fields {
			nameFlags(v.Field(f.index), JoinPath(path, f.name))
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			nameFlags(v.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(it.Value())
			nameFlags(e, fmt.Sprintf("%s[%s]", path, formatMapKey(it.Key())))
			v.SetMapIndex(it.Key(), e)
		}
	}
}

// formatMapKey renders a map key as Change.Path does: quoted strings.
func formatMapKey(k reflect.Value) string {
	if k.Kind() == reflect.String {
		return strconv.Quote(k.String())
	}
	return fmt.Sprint(k.Interface())
}

// UnmarshalText reads a bool word or a percentage: plain decimal digits
// with at most one point, from 0 to 100, then "%" ("25%", "12.5%"). NaN,
// infinities, hexadecimal and exponent forms ("1e1%") are refused.
func (f *Flag) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if p, ok := strings.CutSuffix(s, "%"); ok {
		p = strings.TrimSpace(p)
		v, err := strconv.ParseFloat(p, 64)
		if !plainDecimal(p) || err != nil || v < 0 || v > 100 {
			return fmt.Errorf("flag %q: a percentage is a decimal number from 0%% to 100%%, such as 25%% or 12.5%%", s)
		}
		f.percent = v
		return nil
	}
	on, err := ParseBool(s)
	if err != nil {
		return fmt.Errorf("flag: %w, or a percentage such as 25%%", err)
	}
	f.percent = 0
	if on {
		f.percent = 100
	}
	return nil
}

// plainDecimal reports whether s is digits with at most one '.' among or
// after them, and at least one digit: the only numbers a percentage takes.
func plainDecimal(s string) bool {
	digits, point := 0, false
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !point:
			point = true
		default:
			return false
		}
	}
	return digits > 0
}

// MarshalText writes "true", "false" or a percentage such as "25%".
func (f Flag) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// String returns "true", "false" or a percentage such as "25%".
func (f Flag) String() string {
	switch {
	case f.percent >= 100:
		return "true"
	case f.percent <= 0:
		return "false"
	}
	return strconv.FormatFloat(f.percent, 'f', -1, 64) + "%" // 'f': never an exponent, which UnmarshalText refuses
}
