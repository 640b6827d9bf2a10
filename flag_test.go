package etcdconf

import (
	"fmt"
	"math"
	"testing"
)

func TestFlagDecoding(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string
		bad  bool
	}{
		{"true", "true", false}, {"on", "true", false}, {"OFF", "false", false}, {"0", "false", false},
		{"25%", "25%", false}, {" 12.5 % ", "12.5%", false}, {"100%", "true", false},
		{"150%", "", true}, {"maybe", "", true}, {"x%", "", true},
	} {
		var f Flag
		err := f.UnmarshalText([]byte(tt.in))
		if tt.bad != (err != nil) || !tt.bad && f.String() != tt.want {
			t.Errorf("%q: got %v, %v; want %q", tt.in, f, err, tt.want)
		}
	}
	type flags struct{ NewUI, Beta Flag }
	v, err := decodeWith[flags](t, newOptions(nil), "newui", "on", "beta", "30%")
	if err != nil || !v.NewUI.On() || v.Beta.Percent() != 30 {
		t.Fatalf("decoded %+v, %v", v, err)
	}
}

func TestFlagRolloutIsStickyAndProportional(t *testing.T) {
	ten, twenty := FlagPercent(10), FlagPercent(20)
	n, on := 20000, 0
	for i := range n {
		user := fmt.Sprint("user-", i)
		if ten.Enabled(user) {
			on++
			if !twenty.Enabled(user) {
				t.Fatalf("%s enabled at 10%% but not at 20%%", user)
			}
		}
		var again Flag
		if again.UnmarshalText([]byte("10%")); again.Enabled(user) != ten.Enabled(user) {
			t.Fatalf("%s: a flag decoded from 10%% disagrees with FlagPercent(10)", user)
		}
	}
	if share := float64(on) / float64(n) * 100; math.Abs(share-10) > 1.5 {
		t.Fatalf("10%% flag on for %.1f%% of subjects", share)
	}
	if FlagPercent(0).Enabled("x") || !FlagPercent(100).Enabled("x") {
		t.Fatal("off/on flags")
	}
}
