package flagprovider

import (
	"context"
	"os"
	"reflect"
	"testing"

	of "github.com/open-feature/go-sdk/openfeature"

	"github.com/etcdconf/etcdconf"
)

// staticProvider is a Provider serving the flags of the given keys, with no
// watcher: evaluation alone.
func staticProvider(t testing.TB, kvs ...string) *Provider {
	t.Helper()
	var keys []etcdconf.KeyValue
	for i := 0; i < len(kvs); i += 2 {
		keys = append(keys, etcdconf.KeyValue{Key: "/flags/" + kvs[i], Value: []byte(kvs[i+1])})
	}
	fs, err := buildFlagSet(keys, "/flags/", 1)
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{}
	p.flags.Store(fs)
	return p
}

// A conformanceCase is one example row of a flagd-testbed feature: a flag
// asked for as a type with a default, in a context, and what must come back.
type conformanceCase struct {
	feature string // the .feature file the row is from
	flag    string
	typ     string // Boolean, String, Integer, Float, Object
	def     any
	ctx     of.FlattenedContext
	value   any
	reason  of.Reason // checked when set
	code    of.ErrorCode
}

func user(name string) of.FlattenedContext {
	return of.FlattenedContext{"user": map[string]any{"name": name}}
}
func key(k string) of.FlattenedContext { return of.FlattenedContext{"targetingKey": k} }
func kv(pairs ...any) of.FlattenedContext {
	c := of.FlattenedContext{}
	for i := 0; i < len(pairs); i += 2 {
		c[pairs[i].(string)] = pairs[i+1]
	}
	return c
}

var conformanceCases = []conformanceCase{
	// evaluation.feature: Resolve basic values
	{feature: "evaluation", flag: "boolean-flag", typ: "Boolean", def: false, value: true, reason: of.StaticReason},
	{feature: "evaluation", flag: "string-flag", typ: "String", def: "bye", value: "hi", reason: of.StaticReason},
	{feature: "evaluation", flag: "integer-flag", typ: "Integer", def: int64(1), value: int64(10), reason: of.StaticReason},
	{feature: "evaluation", flag: "float-flag", typ: "Float", def: 0.1, value: 0.5, reason: of.StaticReason},
	{feature: "evaluation", flag: "object-flag", typ: "Object", def: map[string]any{}, reason: of.StaticReason,
		value: map[string]any{"showImages": true, "title": "Check out these pics!", "imagesPerPage": int64(100)}},

	// errors.feature
	{feature: "errors", flag: "missing-flag", typ: "String", def: "uh-oh", value: "uh-oh", code: of.FlagNotFoundCode},
	{feature: "errors", flag: "wrong-flag", typ: "Integer", def: int64(13), value: int64(13), code: of.TypeMismatchCode},
	{feature: "errors", flag: "boolean-flag", typ: "String", def: "fallback", value: "fallback", code: of.TypeMismatchCode},
	{feature: "errors", flag: "boolean-flag", typ: "Integer", def: int64(1), value: int64(1), code: of.TypeMismatchCode},
	{feature: "errors", flag: "boolean-flag", typ: "Float", def: 0.1, value: 0.1, code: of.TypeMismatchCode},
	{feature: "errors", flag: "string-flag", typ: "Boolean", def: false, value: false, code: of.TypeMismatchCode},
	{feature: "errors", flag: "string-flag", typ: "Integer", def: int64(1), value: int64(1), code: of.TypeMismatchCode},
	{feature: "errors", flag: "string-flag", typ: "Float", def: 0.1, value: 0.1, code: of.TypeMismatchCode},
	{feature: "errors", flag: "integer-flag", typ: "Boolean", def: false, value: false, code: of.TypeMismatchCode},
	{feature: "errors", flag: "integer-flag", typ: "String", def: "fallback", value: "fallback", code: of.TypeMismatchCode},
	{feature: "errors", flag: "float-flag", typ: "Boolean", def: false, value: false, code: of.TypeMismatchCode},
	{feature: "errors", flag: "float-flag", typ: "String", def: "fallback", value: "fallback", code: of.TypeMismatchCode},

	// precision.feature
	{feature: "precision", flag: "large-integer-flag", typ: "Integer", def: int64(1), value: int64(2147483647), reason: of.StaticReason},
	{feature: "precision", flag: "integral-float-flag", typ: "Float", def: 0.1, value: 10.0, reason: of.StaticReason},
	{feature: "precision", flag: "huge-integer-flag", typ: "Integer", def: int64(1), value: int64(9007199254740991), reason: of.StaticReason},

	// disabled.feature
	{feature: "disabled", flag: "disabled-boolean-flag", typ: "Boolean", def: false, value: false, reason: of.DisabledReason},
	{feature: "disabled", flag: "disabled-string-flag", typ: "String", def: "bye", value: "bye", reason: of.DisabledReason},
	{feature: "disabled", flag: "disabled-integer-flag", typ: "Integer", def: int64(1), value: int64(1), reason: of.DisabledReason},
	{feature: "disabled", flag: "disabled-float-flag", typ: "Float", def: 0.1, value: 0.1, reason: of.DisabledReason},
	{feature: "disabled", flag: "disabled-object-flag", typ: "Object", def: map[string]any{}, value: map[string]any{}, reason: of.DisabledReason},

	// no-default-variant.feature
	{feature: "no-default-variant", flag: "null-default-flag", typ: "Boolean", def: true, value: true, reason: of.DefaultReason},
	{feature: "no-default-variant", flag: "null-default-flag", typ: "Boolean", def: false, value: false, reason: of.DefaultReason},
	{feature: "no-default-variant", flag: "undefined-default-flag", typ: "Integer", def: int64(100), value: int64(100), reason: of.DefaultReason},
	{feature: "no-default-variant", flag: "no-default-flag-null-targeting-variant", typ: "String", def: "Inventor",
		ctx: kv("email", "wozniak@orange.com"), value: "Inventor", reason: of.DefaultReason},
	{feature: "no-default-variant", flag: "no-default-flag-null-targeting-variant", typ: "String", def: "CEO",
		ctx: kv("email", "jobs@orange.com"), value: "CEO", reason: of.TargetingMatchReason},
	{feature: "no-default-variant", flag: "no-default-flag-undefined-targeting-variant", typ: "String", def: "Retired",
		ctx: kv("email", "wozniak@orange.com"), value: "Retired", reason: of.DefaultReason},

	// targeting.feature
	{feature: "targeting", flag: "targeting-key-flag", typ: "String", def: "fallback", ctx: key("5c3d8535-f81a-4478-a6d3-afaa4d51199e"),
		value: "hit", reason: of.TargetingMatchReason},
	{feature: "targeting", flag: "targeting-key-flag", typ: "String", def: "fallback", ctx: key("f20bd32d-703b-48b6-bc8e-79d53c85134a"),
		value: "miss", reason: of.DefaultReason},

	// evaluator-refs.feature (the whitespace rows are in TestRefWhitespace)
	{feature: "evaluator-refs", flag: "some-email-targeted-flag", typ: "String", def: "fallback", ctx: kv("email", "ballmer@macrosoft.com"), value: "hi"},
	{feature: "evaluator-refs", flag: "some-other-email-targeted-flag", typ: "String", def: "fallback", ctx: kv("email", "ballmer@macrosoft.com"), value: "yes"},
	{feature: "evaluator-refs", flag: "ref-to-nonexistent-evaluator-flag", typ: "String", def: "fallback", value: "fallback", code: of.ParseErrorCode},

	// fractional.feature, v2 bucketing
	{feature: "fractional", flag: "fractional-flag", typ: "String", def: "fallback", ctx: user("jack"), value: "hearts"},
	{feature: "fractional", flag: "fractional-flag", typ: "String", def: "fallback", ctx: user("queen"), value: "spades"},
	{feature: "fractional", flag: "fractional-flag", typ: "String", def: "fallback", ctx: user("ten"), value: "clubs"},
	{feature: "fractional", flag: "fractional-flag", typ: "String", def: "fallback", ctx: user("nine"), value: "diamonds"},
	{feature: "fractional", flag: "fractional-flag", typ: "String", def: "fallback", ctx: user("3"), value: "clubs"},
	{feature: "fractional", flag: "fractional-flag-shorthand", typ: "String", def: "fallback", ctx: key("jon@company.com"), value: "heads"},
	{feature: "fractional", flag: "fractional-flag-shorthand", typ: "String", def: "fallback", ctx: key("jane@company.com"), value: "tails"},
	{feature: "fractional", flag: "fractional-flag-A-shared-seed", typ: "String", def: "fallback", ctx: user("seven"), value: "hearts"},
	{feature: "fractional", flag: "fractional-flag-A-shared-seed", typ: "String", def: "fallback", ctx: user("eight"), value: "diamonds"},
	{feature: "fractional", flag: "fractional-flag-A-shared-seed", typ: "String", def: "fallback", ctx: user("nine"), value: "clubs"},
	{feature: "fractional", flag: "fractional-flag-A-shared-seed", typ: "String", def: "fallback", ctx: user("two"), value: "spades"},
	{feature: "fractional", flag: "fractional-flag-B-shared-seed", typ: "String", def: "fallback", ctx: user("seven"), value: "ace-of-hearts"},
	{feature: "fractional", flag: "fractional-flag-B-shared-seed", typ: "String", def: "fallback", ctx: user("eight"), value: "ace-of-diamonds"},
	{feature: "fractional", flag: "fractional-flag-B-shared-seed", typ: "String", def: "fallback", ctx: user("nine"), value: "ace-of-clubs"},
	{feature: "fractional", flag: "fractional-flag-B-shared-seed", typ: "String", def: "fallback", ctx: user("two"), value: "ace-of-spades"},
	{feature: "fractional", flag: "fractional-hash-edge-flag", typ: "String", def: "fallback", ctx: key("ejOoVL"), value: "lower"},
	{feature: "fractional", flag: "fractional-hash-edge-flag", typ: "String", def: "fallback", ctx: key("bY9fO-"), value: "lower"},
	{feature: "fractional", flag: "fractional-hash-edge-flag", typ: "String", def: "fallback", ctx: key("SI7p-"), value: "lower"},
	{feature: "fractional", flag: "fractional-hash-edge-flag", typ: "String", def: "fallback", ctx: key("6LvT0"), value: "upper"},
	{feature: "fractional", flag: "fractional-hash-edge-flag", typ: "String", def: "fallback", ctx: key("ceQdGm"), value: "upper"},
	{feature: "fractional", flag: "fractional-nested-if-flag", typ: "String", def: "fallback", ctx: kv("targetingKey", "jon@company.com", "tier", "premium"), value: "premium"},
	{feature: "fractional", flag: "fractional-nested-if-flag", typ: "String", def: "fallback", ctx: kv("targetingKey", "jon@company.com", "tier", "basic"), value: "standard"},
	{feature: "fractional", flag: "fractional-nested-if-flag", typ: "String", def: "fallback", ctx: kv("targetingKey", "user1", "tier", "premium"), value: "standard"},
	{feature: "fractional", flag: "fractional-nested-if-flag", typ: "String", def: "fallback", ctx: kv("targetingKey", "user1", "tier", "basic"), value: "standard"},
	{feature: "fractional", flag: "fractional-nested-var-flag", typ: "String", def: "fallback", ctx: kv("targetingKey", "jon@company.com", "color", "red"), value: "red"},
	{feature: "fractional", flag: "fractional-nested-var-flag", typ: "String", def: "fallback", ctx: kv("targetingKey", "jon@company.com", "color", "green"), value: "green"},
	{feature: "fractional", flag: "fractional-nested-var-flag", typ: "String", def: "fallback", ctx: kv("targetingKey", "user1", "color", "red"), value: "blue"},
	{feature: "fractional", flag: "fractional-nested-var-flag", typ: "String", def: "fallback", ctx: kv("targetingKey", "jon@company.com", "color", "yellow"), value: "fallback", code: of.ParseErrorCode},
	{feature: "fractional", flag: "fractional-nested-var-flag", typ: "String", def: "fallback", ctx: kv("targetingKey", "jon@company.com", "color", ""), value: "fallback", code: of.ParseErrorCode},
	{feature: "fractional", flag: "fractional-nested-weight-flag", typ: "String", def: "fallback", ctx: kv("targetingKey", "jon@company.com", "tier", "premium"), value: "red"},
	{feature: "fractional", flag: "fractional-nested-weight-flag", typ: "String", def: "fallback", ctx: kv("targetingKey", "jon@company.com", "tier", "basic"), value: "blue"},
	{feature: "fractional", flag: "fractional-nested-weight-flag", typ: "String", def: "fallback", ctx: kv("targetingKey", "user1", "tier", "premium"), value: "red"},
	{feature: "fractional", flag: "fractional-nested-weight-flag", typ: "String", def: "fallback", ctx: kv("targetingKey", "user1", "tier", "basic"), value: "blue"},
	{feature: "fractional", flag: "fractional-as-condition-flag", typ: "String", def: "zero", ctx: key("some-targeting-key"), value: "hundreds"},

	// semver.feature
	{feature: "semver", flag: "equal-greater-lesser-version-flag", typ: "String", def: "fallback", ctx: kv("version", "2.0.0"), value: "equal"},
	{feature: "semver", flag: "equal-greater-lesser-version-flag", typ: "String", def: "fallback", ctx: kv("version", "2.1.0"), value: "greater"},
	{feature: "semver", flag: "equal-greater-lesser-version-flag", typ: "String", def: "fallback", ctx: kv("version", "1.9.0"), value: "lesser"},
	{feature: "semver", flag: "equal-greater-lesser-version-flag", typ: "String", def: "fallback", ctx: kv("version", "2.0.0-alpha"), value: "lesser"},
	{feature: "semver", flag: "equal-greater-lesser-version-flag", typ: "String", def: "fallback", ctx: kv("version", "2.0.0.0"), value: "none"},
	{feature: "semver", flag: "major-minor-version-flag", typ: "String", def: "fallback", ctx: kv("version", "3.0.1"), value: "minor"},
	{feature: "semver", flag: "major-minor-version-flag", typ: "String", def: "fallback", ctx: kv("version", "3.1.0"), value: "major"},
	{feature: "semver", flag: "major-minor-version-flag", typ: "String", def: "fallback", ctx: kv("version", "4.0.0"), value: "none"},
	{feature: "semver", flag: "semver-v-prefix-flag", typ: "String", def: "fallback", ctx: kv("version", "1.0.0"), value: "match"},
	{feature: "semver", flag: "semver-v-prefix-flag", typ: "String", def: "fallback", ctx: kv("version", "v1.0.0"), value: "match"},
	{feature: "semver", flag: "semver-v-prefix-flag", typ: "String", def: "fallback", ctx: kv("version", "2.0.0"), value: "no-match"},
	{feature: "semver", flag: "semver-partial-version-flag", typ: "String", def: "fallback", ctx: kv("version", "1.5.0"), value: "match"},
	{feature: "semver", flag: "semver-partial-version-flag", typ: "String", def: "fallback", ctx: kv("version", "1.0.0"), value: "match"},
	{feature: "semver", flag: "semver-partial-version-flag", typ: "String", def: "fallback", ctx: kv("version", "2.0.0"), value: "no-match"},
	{feature: "semver", flag: "semver-build-metadata-flag", typ: "String", def: "fallback", ctx: kv("version", "1.0.0"), value: "match"},
	{feature: "semver", flag: "semver-build-metadata-flag", typ: "String", def: "fallback", ctx: kv("version", "1.0.0+other"), value: "match"},
	{feature: "semver", flag: "semver-build-metadata-flag", typ: "String", def: "fallback", ctx: kv("version", "2.0.0"), value: "no-match"},
	{feature: "semver", flag: "semver-invalid-version-flag", typ: "String", def: "wrong", ctx: kv("version", "not-a-version"), value: "fallback"},
	{feature: "semver", flag: "semver-invalid-operator-flag", typ: "String", def: "wrong", ctx: kv("version", "1.0.0"), value: "fallback"},

	// string.feature
	{feature: "string", flag: "starts-ends-flag", typ: "String", def: "fallback", ctx: kv("id", "abcdef"), value: "prefix"},
	{feature: "string", flag: "starts-ends-flag", typ: "String", def: "fallback", ctx: kv("id", "uvwxyz"), value: "postfix"},
	{feature: "string", flag: "starts-ends-flag", typ: "String", def: "fallback", ctx: kv("id", "abcxyz"), value: "prefix"},
	{feature: "string", flag: "starts-ends-flag", typ: "String", def: "fallback", ctx: kv("id", "lmnopq"), value: "none"},
	{feature: "string", flag: "starts-with-non-string-flag", typ: "String", def: "wrong", ctx: kv("num", int64(123)), value: "fallback", reason: of.DefaultReason},
	{feature: "string", flag: "ends-with-non-string-flag", typ: "String", def: "wrong", ctx: kv("num", int64(123)), value: "fallback", reason: of.DefaultReason},
	{feature: "string", flag: "starts-with-wrong-args-flag", typ: "String", def: "wrong", value: "fallback", reason: of.DefaultReason},
	{feature: "string", flag: "ends-with-wrong-args-flag", typ: "String", def: "wrong", value: "fallback", reason: of.DefaultReason},
}

// evaluate asks p for flag as typ, as the SDK would.
func evaluate(p *Provider, flag, typ string, def any, ctx of.FlattenedContext) (any, of.ProviderResolutionDetail) {
	bg := context.Background()
	switch typ {
	case "Boolean":
		r := p.BooleanEvaluation(bg, flag, def.(bool), ctx)
		return r.Value, r.ProviderResolutionDetail
	case "String":
		r := p.StringEvaluation(bg, flag, def.(string), ctx)
		return r.Value, r.ProviderResolutionDetail
	case "Integer":
		r := p.IntEvaluation(bg, flag, def.(int64), ctx)
		return r.Value, r.ProviderResolutionDetail
	case "Float":
		r := p.FloatEvaluation(bg, flag, def.(float64), ctx)
		return r.Value, r.ProviderResolutionDetail
	}
	r := p.ObjectEvaluation(bg, flag, def, ctx)
	return r.Value, r.ProviderResolutionDetail
}

func TestConformance(t *testing.T) {
	doc, err := os.ReadFile("testdata/conformance.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := staticProvider(t, "testkit.yaml", string(doc))
	perFeature := map[string]int{}
	for _, c := range conformanceCases {
		perFeature[c.feature]++
		t.Run(c.feature+"/"+c.flag, func(t *testing.T) {
			got, d := evaluate(p, c.flag, c.typ, c.def, c.ctx)
			if !reflect.DeepEqual(got, c.value) {
				t.Errorf("value = %#v, want %#v (%+v)", got, c.value, d)
			}
			if c.reason != "" && d.Reason != c.reason {
				t.Errorf("reason = %s, want %s", d.Reason, c.reason)
			}
			if code := d.ResolutionDetail().ErrorCode; code != c.code {
				t.Errorf("error code = %q, want %q", code, c.code)
			}
		})
	}
	t.Logf("cases per feature: %v", perFeature)
}

// TestRefWhitespace is evaluator-refs.feature's whitespace rows: a $ref is
// found however the JSON around its colon is spaced.
func TestRefWhitespace(t *testing.T) {
	doc := `{"$evaluators": {"is_ballmer": {"==": ["ballmer@macrosoft.com", {"var": ["email"]}]}},
	"flags": {
	"ref-whitespace-compact-flag": {"state": "ENABLED", "variants": {"hi": "hi", "bye": "bye", "fallback": "fallback"},
		"defaultVariant": "fallback", "targeting": {"if": [{"$ref":"is_ballmer"}, "hi", "bye"]}},
	"ref-whitespace-space-after-colon-flag": {"state": "ENABLED", "variants": {"hi": "hi", "bye": "bye", "fallback": "fallback"},
		"defaultVariant": "fallback", "targeting": {"if": [{"$ref": "is_ballmer"}, "hi", "bye"]}},
	"ref-whitespace-space-around-colon-flag": {"state": "ENABLED", "variants": {"hi": "hi", "bye": "bye", "fallback": "fallback"},
		"defaultVariant": "fallback", "targeting": {"if": [{"$ref" : "is_ballmer"}, "hi", "bye"]}}}}`
	p := staticProvider(t, "refs.json", doc)
	n := 0
	for _, flag := range []string{"ref-whitespace-compact-flag", "ref-whitespace-space-after-colon-flag", "ref-whitespace-space-around-colon-flag"} {
		for email, want := range map[string]string{"ballmer@macrosoft.com": "hi", "user@example.com": "bye"} {
			n++
			r := p.StringEvaluation(context.Background(), flag, "fallback", kv("email", email))
			if r.Value != want || r.Reason != of.TargetingMatchReason {
				t.Errorf("%s for %s = %q (%s), want %q (TARGETING_MATCH)", flag, email, r.Value, r.Reason, want)
			}
		}
	}
	t.Logf("evaluator-refs whitespace cases: %d", n)
}
