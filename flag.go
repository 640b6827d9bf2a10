package etcdconf

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// A Flag is a feature flag for configuration structs: off, on, or on for a
// percentage of subjects. It decodes from "true"/"false", "on"/"off",
// "yes"/"no", "1"/"0", or a percentage such as "25%", and encodes back to
// "true", "false" or "25%".
//
// Percentage rollouts are sticky: [Flag.Enabled] hashes the subject (a user
// ID, say), so a subject enabled at 10% stays enabled at 20%.
type Flag struct {
	percent float64 // 0 to 100; 100 is on, 0 is off
}

// FlagPercent returns a flag on for p percent of subjects (clamped to 0..100).
func FlagPercent(p float64) Flag { return Flag{percent: min(max(p, 0), 100)} }

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
	h := fnv.New32a()
	h.Write([]byte(subject))
	return float64(h.Sum32()%10000) < f.percent*100
}

// UnmarshalText reads a bool word or a percentage.
func (f *Flag) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if p, ok := strings.CutSuffix(s, "%"); ok {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || v < 0 || v > 100 {
			return fmt.Errorf("flag %q: a percentage must be between 0%% and 100%%", s)
		}
		f.percent = v
		return nil
	}
	on, err := parseBool(s)
	if err != nil {
		return fmt.Errorf("flag: %w, or a percentage such as 25%%", err)
	}
	f.percent = 0
	if on {
		f.percent = 100
	}
	return nil
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
	return strconv.FormatFloat(f.percent, 'g', -1, 64) + "%"
}
