package etcdconf

import (
	"errors"
	"fmt"
	"math"
	"strings"
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
	ten, twenty := FlagPercent("Beta", 10), FlagPercent("Beta", 20)
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
		again.name = "Beta"
		if again.UnmarshalText([]byte("10%")); again.Enabled(user) != ten.Enabled(user) {
			t.Fatalf("%s: a flag decoded from 10%% disagrees with FlagPercent(Beta, 10)", user)
		}
	}
	if share := float64(on) / float64(n) * 100; math.Abs(share-10) > 1.5 {
		t.Fatalf("10%% flag on for %.1f%% of subjects", share)
	}
	if FlagPercent("a", 0).Enabled("x") || !FlagPercent("a", 100).Enabled("x") {
		t.Fatal("off/on flags")
	}
}

// Two flags at 50% must be on together for about a quarter of subjects,
// not for the same half: rollouts of different flags are independent.
func TestFlagRolloutsAreIndependent(t *testing.T) {
	type features struct {
		NewUI, Beta Flag
		Regions     map[string]Flag
	}
	v, err := decodeWith[features](t, newOptions(nil), "newui", "50%", "beta", "50%", "regions/eu", "50%", "regions/us", "50%")
	if err != nil {
		t.Fatal(err)
	}
	if v.NewUI.name != "NewUI" || v.Beta.name != "Beta" || v.Regions["eu"].name != `Regions["eu"]` {
		t.Fatalf("decoded flags named %q, %q, %q", v.NewUI.name, v.Beta.name, v.Regions["eu"].name)
	}
	pairs := [][2]Flag{{v.NewUI, v.Beta}, {v.Regions["eu"], v.Regions["us"]}, {v.NewUI, v.Regions["eu"]}}
	for _, p := range pairs {
		n, both, first := 20000, 0, 0
		for i := range n {
			user := fmt.Sprint("user-", i)
			a, b := p[0].Enabled(user), p[1].Enabled(user)
			if a {
				first++
			}
			if a && b {
				both++
			}
		}
		if share := float64(first) / float64(n); math.Abs(share-0.5) > 0.02 {
			t.Errorf("%s at 50%% is on for %.1f%%", p[0].name, share*100)
		}
		if share := float64(both) / float64(n); math.Abs(share-0.25) > 0.02 {
			t.Errorf("%s and %s at 50%% are both on for %.1f%% of subjects, want about 25%%", p[0].name, p[1].name, share*100)
		}
	}
	// The same flag decoded again buckets every subject the same way.
	again, err := decodeWith[features](t, newOptions(nil), "newui", "50%", "beta", "50%")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if user := fmt.Sprint("user-", i); again.NewUI.Enabled(user) != v.NewUI.Enabled(user) {
			t.Fatalf("%s: NewUI decoded twice disagrees", user)
		}
	}
}

// TestFlagPercentIsPlainDecimal: a percentage is a plain decimal from 0 to
// 100; NaN, infinities, hexadecimal and exponent forms are refused, and
// FlagPercent clamps NaN to off (issue 18, item 3).
func TestFlagPercentIsPlainDecimal(t *testing.T) {
	for _, in := range []string{"NaN%", "nan%", "Inf%", "+Inf%", "0x1p-2%", "1e1%", "1E1%", "101%", "-1%", "+5%", "%", ".%", "1_0%", "1.2.3%"} {
		var f Flag
		if err := f.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("%q: accepted as %v", in, f)
		}
	}
	for in, want := range map[string]float64{"25%": 25, "12.5%": 12.5, "0%": 0, "100%": 100, "0.001%": 0.001, ".5%": 0.5, "5.%": 5, "007%": 7} {
		var f Flag
		if err := f.UnmarshalText([]byte(in)); err != nil || f.Percent() != want {
			t.Errorf("%q: got %v, %v; want %v%%", in, f.Percent(), err, want)
		}
	}
	if f := FlagPercent("Beta", math.NaN()); f.Percent() != 0 || f.Enabled("u1") {
		t.Errorf("FlagPercent(NaN) = %v%%", f.Percent())
	}
	// A tiny percentage encodes without an exponent, so it reads back.
	f := FlagPercent("Beta", 1e-5)
	var back Flag
	if err := back.UnmarshalText([]byte(f.String())); err != nil || back.Percent() != f.Percent() {
		t.Errorf("%v does not read back: %v, %v", f, back.Percent(), err)
	}
}

// TestFlagFromDocumentScalars: a document's native bool decodes into a
// Flag as its text does; a native number is an error asking for a
// percentage (issue 18, item 2).
func TestFlagFromDocumentScalars(t *testing.T) {
	type features struct {
		Beta, Alpha, Pct Flag
	}
	type cfg struct {
		Features features
		Flags    map[string]Flag
	}
	v, err := decodeWith[cfg](t, newOptions(nil),
		"features.yaml", "beta: true\nalpha: false\npct: 25%\n",
		"flags.json", `{"dark": true, "light": false}`)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Features.Beta.On() || v.Features.Alpha.Percent() != 0 || v.Features.Pct.Percent() != 25 ||
		!v.Flags["dark"].On() || v.Flags["light"].Percent() != 0 || len(v.Flags) != 2 {
		t.Fatalf("decoded %+v", v)
	}
	if want := FlagPercent("Features.Pct", 25); v.Features.Pct != want {
		t.Errorf("Features.Pct is %#v, want it named by its path: %#v", v.Features.Pct, want)
	}
	v, err = decodeWith[cfg](t, newOptions(nil), "features.json", `{"beta": false}`, "features/alpha", "on")
	if err != nil || v.Features.Beta.On() || !v.Features.Alpha.On() {
		t.Fatalf("JSON: %+v, %v", v, err)
	}
	for _, doc := range []string{"beta: 0.25\n", "beta: 25\n", `{"beta": 1}`} {
		_, err := decodeWith[cfg](t, newOptions(nil), "features.yaml", doc)
		var de *DecodeError
		if !errors.As(err, &de) || de.Key != "/app/features.yaml" || !strings.Contains(err.Error(), "Features.Beta") ||
			!strings.Contains(err.Error(), `"25%"`) {
			t.Errorf("%q: %v, want an error at Features.Beta asking for a percentage such as 25%%", doc, err)
		}
	}
}
