package flagprovider

import (
	"math"
	"math/bits"
)

// fractional is flagd's fractional operator, v2 bucketing: the MurmurHash3
// (x86, 32-bit, seed 0) of the bucketing value, as an unsigned 32-bit
// number h, falls in bucket h*total>>32 of [0, total), where total is the
// sum of the weights; the buckets are laid out in the order written.
//
// The arguments are evaluated first, as JSONLogic does. A first argument
// that is a string is the bucketing value; otherwise it is $flagd.flagKey
// followed by the targetingKey, and a first argument that is null (a var
// that found nothing) is dropped. Each remaining argument is [variant] or
// [variant, weight]: the variant a string, bool, number or null, the weight
// a whole number in [0, 2^31-1] (1 when absent). Anything else, or no
// targetingKey when one is needed, makes the whole rule null.
func fractional(args []rule) rule {
	return func(s *evalState) any {
		vals := make([]any, len(args))
		for i, r := range args {
			vals[i] = r(s)
		}
		v, ok := distribute(vals, s)
		if !ok {
			s.null = true
			return nil
		}
		return v
	}
}

func distribute(vals []any, s *evalState) (any, bool) {
	if len(vals) == 0 {
		return nil, false
	}
	by, ok := vals[0].(string)
	if ok {
		vals = vals[1:]
	} else {
		if vals[0] == nil {
			vals = vals[1:]
		}
		key, ok := s.data["targetingKey"].(string)
		if !ok {
			return nil, false
		}
		by = s.flagKey + key
	}
	if len(vals) == 0 {
		return nil, false
	}
	var total uint64
	for _, v := range vals {
		w, ok := weight(v)
		if !ok {
			return nil, false
		}
		total += w
	}
	if total > math.MaxInt32 {
		return nil, false
	}
	if total == 0 {
		return "", true
	}
	bucket := uint64(murmur3(by)) * total >> 32
	var end uint64
	for _, v := range vals {
		w, _ := weight(v)
		if end += w; bucket < end {
			return v.([]any)[0], true
		}
	}
	return "", true
}

// weight checks one [variant, weight] bucket and returns its weight.
func weight(v any) (uint64, bool) {
	b, ok := v.([]any)
	if !ok || len(b) == 0 {
		return 0, false
	}
	switch b[0].(type) {
	case string, bool, nil, float64, int64:
	default:
		return 0, false
	}
	if len(b) < 2 || b[1] == nil {
		return 1, true
	}
	w, ok := number(b[1])
	if !ok || w != math.Trunc(w) || w < 0 || w > math.MaxInt32 {
		return 0, false
	}
	return uint64(w), true
}

// murmur3 is MurmurHash3_x86_32 of s with seed 0.
func murmur3(s string) uint32 {
	const c1, c2 = 0xcc9e2d51, 0x1b873593
	var h uint32
	n := len(s)
	i := 0
	for ; i+4 <= n; i += 4 {
		k := uint32(s[i]) | uint32(s[i+1])<<8 | uint32(s[i+2])<<16 | uint32(s[i+3])<<24
		k *= c1
		k = bits.RotateLeft32(k, 15)
		k *= c2
		h ^= k
		h = bits.RotateLeft32(h, 13)
		h = h*5 + 0xe6546b64
	}
	var k uint32
	switch n - i {
	case 3:
		k ^= uint32(s[i+2]) << 16
		fallthrough
	case 2:
		k ^= uint32(s[i+1]) << 8
		fallthrough
	case 1:
		k ^= uint32(s[i])
		k *= c1
		k = bits.RotateLeft32(k, 15)
		k *= c2
		h ^= k
	}
	h ^= uint32(n)
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}
