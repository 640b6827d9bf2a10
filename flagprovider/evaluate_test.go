package flagprovider

import (
	"context"
	"os"
	"reflect"
	"testing"

	of "github.com/open-feature/go-sdk/openfeature"
)

// A flag whose results were computed when the flag set was built (static,
// DISABLED, invalid) answers every type, with every default, as resolving
// it afresh would.
func TestFixedResultsMatchResolve(t *testing.T) {
	doc, err := os.ReadFile("testdata/conformance.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := staticProvider(t, "testkit.yaml", string(doc),
		"disabled", `{"state": "DISABLED", "variants": {"a": "a"}, "defaultVariant": "a"}`,
		"invalid", `{"variants": {"a": "a"}, "defaultVariant": "b"}`,
		"no-default", `{"variants": {"a": "a"}}`,
		"object", `{"variants": {"o": {"n": 1, "list": [1, 2.5]}}, "defaultVariant": "o"}`)
	bg := context.Background()
	n := 0
	for key, f := range p.flags.Load().flags {
		if f.fixed == nil {
			continue
		}
		n++
		for _, def := range []bool{false, true} {
			if got, want := p.BooleanEvaluation(bg, key, def, nil), resolveBool(f, nil, def); !reflect.DeepEqual(got, want) {
				t.Errorf("%s as bool, default %v: %+v, want %+v", key, def, got, want)
			}
		}
		for _, def := range []string{"", "x"} {
			if got, want := p.StringEvaluation(bg, key, def, nil), resolveString(f, nil, def); !reflect.DeepEqual(got, want) {
				t.Errorf("%s as string, default %q: %+v, want %+v", key, def, got, want)
			}
		}
		for _, def := range []int64{0, 7} {
			if got, want := p.IntEvaluation(bg, key, def, nil), resolveInt(f, nil, def); !reflect.DeepEqual(got, want) {
				t.Errorf("%s as int, default %d: %+v, want %+v", key, def, got, want)
			}
		}
		for _, def := range []float64{0, 1.5} {
			if got, want := p.FloatEvaluation(bg, key, def, nil), resolveFloat(f, nil, def); !reflect.DeepEqual(got, want) {
				t.Errorf("%s as float, default %v: %+v, want %+v", key, def, got, want)
			}
		}
		for _, def := range []any{nil, map[string]any{"d": true}} {
			if got, want := p.ObjectEvaluation(bg, key, def, nil), resolveInterface(f, nil, def); !reflect.DeepEqual(got, want) {
				t.Errorf("%s as object, default %v: %+v, want %+v", key, def, got, want)
			}
		}
	}
	if n < 8 {
		t.Errorf("only %d flags with fixed results: the test proves little", n)
	}
	if r := p.BooleanEvaluation(bg, "disabled", true, nil); !r.Value || r.Reason != of.DisabledReason {
		t.Errorf("disabled = %+v, want the caller's true, DISABLED", r)
	}
	if r := p.StringEvaluation(bg, "invalid", "d", nil); r.Value != "d" || r.ResolutionDetail().ErrorCode != of.ParseErrorCode {
		t.Errorf("invalid = %+v, want the caller's d, PARSE_ERROR", r)
	}
}
