package flagprovider

import (
	"context"
	"strconv"
	"testing"

	of "github.com/open-feature/go-sdk/openfeature"
)

const benchDoc = `{"flags": {
  "static": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"},
  "targeted": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
    "targeting": {"if": [{"ends_with": [{"var": "email"}, "@example.com"]}, "on", null]}},
  "rollout": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
    "targeting": {"fractional": [["on", 20], ["off", 80]]}}
}}`

// BenchmarkEvaluate measures BooleanEvaluation of a static flag, a
// targeting rule and a fractional rollout, beside the floor: a map lookup
// of the same boolean. The floor's loop and the static and targeting
// flags' loops check the same thing, the value, so that the harness costs
// them alike.
func BenchmarkEvaluate(b *testing.B) {
	p := staticProvider(b, "bench.json", benchDoc)
	ctx := context.Background()
	ec := of.FlattenedContext{"targetingKey": "user-42", "email": "ann@example.com"}
	b.Run("floor-map", func(b *testing.B) {
		m := map[string]bool{"static": true}
		b.ReportAllocs()
		for b.Loop() {
			if !m["static"] {
				b.Fatal("false")
			}
		}
	})
	for _, flag := range []string{"static", "targeted"} {
		b.Run(flag, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !p.BooleanEvaluation(ctx, flag, false, ec).Value {
					b.Fatal("false")
				}
			}
		})
	}
	b.Run("rollout", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			ec["targetingKey"] = "user-" + strconv.Itoa(i&1023)
			if r := p.BooleanEvaluation(ctx, "rollout", false, ec); r.Reason == of.ErrorReason {
				b.Fatal(r.ResolutionError)
			}
		}
	})
}
