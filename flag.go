package etcdconf

import (
	"fmt"
	"hash/fnv"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/etcdconf/etcdconf/internal/codec"
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

// The decoder names every Flag it decodes with its Go path, and builds one
// from a document's native bool as from its text; a native number is an
// error (0.25 could mean 0.25% or 25%: the error asks for "25%").
func init() {
	codec.RegisterNamed(reflect.TypeFor[Flag](), codec.Named{
		SetName: func(v reflect.Value, path string) { v.Addr().Interface().(*Flag).name = path },
		FromScalar: func(x any) (any, error) {
			if b, ok := x.(bool); ok {
				return FlagPercent("", map[bool]float64{true: 100, false: 0}[b]), nil
			}
			return nil, fmt.Errorf("flag: %v is a number; write a percentage such as %q, or true/false", x, "25%")
		},
	})
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
	on, err := codec.ParseBool(s)
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
