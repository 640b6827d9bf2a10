package flagprovider

import (
	"math"
	"strconv"
	"time"

	of "github.com/open-feature/go-sdk/openfeature"
)

// A resolution is one flag's evaluation before it meets the caller's type:
// found false is FLAG_NOT_FOUND; err set is an error code; value nil with
// no error is the caller's default, for reason (DISABLED, DEFAULT).
type resolution struct {
	value   any
	variant string
	reason  of.Reason
	err     *of.ResolutionError
	meta    of.FlagMetadata
}

// notFound is the detail of an unknown flag.
var notFound = of.ProviderResolutionDetail{
	ResolutionError: of.NewFlagNotFoundResolutionError("flag not found"),
	Reason:          of.ErrorReason,
}

// resolve evaluates f for ctx as flagd's in-process evaluator does; ctx
// is not read when f has fixed results.
func (f *flag) resolve(ctx of.FlattenedContext) resolution {
	meta := of.FlagMetadata(f.metadata)
	switch {
	case f.invalid != nil:
		e := of.NewParseErrorResolutionError(f.invalid.Error())
		return resolution{reason: of.ErrorReason, err: &e, meta: meta}
	case f.disabled:
		return resolution{reason: of.DisabledReason, meta: meta}
	case f.targeting == nil:
		return f.byDefault(of.StaticReason, meta)
	}
	s := evalState{data: ctx, flagKey: f.key, now: time.Now().Unix()}
	out := f.targeting(&s)
	if s.null || out == nil {
		return f.byDefault(of.DefaultReason, meta)
	}
	var name string
	switch x := out.(type) {
	case string:
		name = x
	case bool:
		name = strconv.FormatBool(x)
	default:
		n, ok := number(out)
		if !ok {
			e := of.NewGeneralResolutionError("targeting returned neither a variant name nor null")
			return resolution{reason: of.ErrorReason, err: &e, meta: meta}
		}
		name = strconv.FormatFloat(n, 'f', -1, 64)
	}
	v, ok := f.variants[name]
	if !ok {
		e := of.NewParseErrorResolutionError("targeting returned " + strconv.Quote(name) + ", which is not a variant")
		return resolution{reason: of.ErrorReason, err: &e, meta: meta}
	}
	return resolution{value: v, variant: name, reason: of.TargetingMatchReason, meta: meta}
}

// fixedResults is, for a flag whose result does not depend on the
// evaluation context (no targeting, DISABLED, or invalid), its result for
// each type the SDK asks for, computed once when the flag set is built:
// evaluating it is then a map lookup and a copy.
type fixedResults struct {
	bool   fixed[of.BoolResolutionDetail]
	string fixed[of.StringResolutionDetail]
	int    fixed[of.IntResolutionDetail]
	float  fixed[of.FloatResolutionDetail]
	object fixed[of.InterfaceResolutionDetail]
}

// fixed is one type's result; its Value is the caller's default instead
// when byDefault.
type fixed[R any] struct {
	result    R
	byDefault bool
}

// fixedResultsOf returns f's results by type, or nil when they depend on
// the evaluation context.
func fixedResultsOf(f *flag) *fixedResults {
	if f.invalid == nil && !f.disabled && f.targeting != nil {
		return nil
	}
	r := f.resolve(nil)
	var x fixedResults
	var ok bool
	x.bool.result.Value, x.bool.result.ProviderResolutionDetail, ok = typed(r, false, asBool)
	x.bool.byDefault = !ok
	x.string.result.Value, x.string.result.ProviderResolutionDetail, ok = typed(r, "", asString)
	x.string.byDefault = !ok
	x.int.result.Value, x.int.result.ProviderResolutionDetail, ok = typed(r, 0, asInt)
	x.int.byDefault = !ok
	x.float.result.Value, x.float.result.ProviderResolutionDetail, ok = typed(r, 0, asFloat)
	x.float.byDefault = !ok
	x.object.result.Value, x.object.result.ProviderResolutionDetail, ok = typed(r, nil, asObject)
	x.object.byDefault = !ok
	return &x
}

// byDefault answers the default variant for reason; with none, the
// caller's default, reason DEFAULT.
func (f *flag) byDefault(reason of.Reason, meta of.FlagMetadata) resolution {
	if f.defaultVariant == "" {
		return resolution{reason: of.DefaultReason, meta: meta}
	}
	return resolution{value: f.variants[f.defaultVariant], variant: f.defaultVariant, reason: reason, meta: meta}
}

// detail is the resolution's part that does not depend on the type.
func (r resolution) detail() of.ProviderResolutionDetail {
	d := of.ProviderResolutionDetail{Reason: r.reason, Variant: r.variant, FlagMetadata: r.meta}
	if r.err != nil {
		d.ResolutionError = *r.err
	}
	return d
}

// typed converts r's value to T with conv: the caller's default when r has
// none, TYPE_MISMATCH when conv refuses it. ok reports that the value is
// r's, not def.
func typed[T any](r resolution, def T, conv func(any) (T, bool)) (v T, d of.ProviderResolutionDetail, ok bool) {
	if r.err != nil || r.value == nil {
		return def, r.detail(), false
	}
	v, ok = conv(r.value)
	if !ok {
		e := of.NewTypeMismatchResolutionError("the flag's value is not of the type asked for")
		return def, of.ProviderResolutionDetail{ResolutionError: e, Reason: of.ErrorReason, FlagMetadata: r.meta}, false
	}
	return v, r.detail(), true
}

func asBool(v any) (bool, bool)     { b, ok := v.(bool); return b, ok }
func asString(v any) (string, bool) { s, ok := v.(string); return s, ok }

// asFloat takes any number; asInt a whole one within int64.
func asFloat(v any) (float64, bool) {
	switch v.(type) {
	case int64, float64:
		return number(v)
	}
	return 0, false
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case float64:
		if x == math.Trunc(x) && x >= math.MinInt64 && x < math.MaxInt64 {
			return int64(x), true
		}
	}
	return 0, false
}

func asObject(v any) (any, bool) {
	switch v.(type) {
	case map[string]any, []any:
		return v, true
	}
	return nil, false
}
