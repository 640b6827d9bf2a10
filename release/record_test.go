package release

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// randText returns keys and values as etcd may hold them: UTF-8 with
// characters JSON escapes, and bytes that are not UTF-8.
func randText(r *rand.Rand) string {
	alphabet := []string{"a", "Z", "/", "-", "_", ".", " ", "\n", "\"", "\\", "<", ">", "&", "é", "\u2028", "\x00", "\xff", "\xc3", "日"}
	n := r.IntN(12)
	var b []byte
	for range n {
		b = append(b, alphabet[r.IntN(len(alphabet))]...)
	}
	return string(b)
}

func randRecord(r *rand.Rand) *Record {
	rec := &Record{
		Release: r.Int64N(1e8-1) + 1,
		Time:    time.Unix(r.Int64N(4e9), r.Int64N(1e9)).UTC(),
		Author:  Text(randText(r)), Message: Text(randText(r)),
		From: Digest(map[string]string{randText(r): randText(r)}), Digest: Digest(nil),
		Rollback: r.Int64N(3), Full: r.IntN(4), Base: r.Int64N(100), Chain: r.Int64N(1e6),
		Changes: []Change{},
	}
	for range r.IntN(6) {
		c := Change{Key: Text(randText(r)), Leased: r.IntN(5) == 0}
		if r.IntN(3) > 0 {
			c.Old = TextOf(randText(r))
		}
		if r.IntN(3) > 0 {
			c.New = TextOf(randText(r))
		}
		rec.Changes = append(rec.Changes, c)
	}
	return rec
}

// TestRecordRoundTrip: a record written by Encode reads back by Decode as
// the same record, byte for byte in every key and value, whatever they
// hold (invalid UTF-8, characters JSON escapes, empty values), and a full
// record's chunks read back as the same key set.
func TestRecordRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 22))
	for i := range 2000 {
		want := randRecord(r)
		b, err := want.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("record %d: %v\n%s", i, err, b)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("record %d read back differs (-written +read):\n%s\n%s", i, d, b)
		}

		keys := map[string]string{}
		for range r.IntN(50) {
			keys[randText(r)] = randText(r)
		}
		parts, err := chunks(want.Release, keys, 1+r.IntN(200))
		if err != nil {
			t.Fatal(err)
		}
		back := map[string]string{}
		for j, p := range parts {
			var c chunk
			if err := json.Unmarshal(p, &c); err != nil {
				t.Fatal(err)
			}
			if c.Chunk != j || c.Of != len(parts) || c.Release != want.Release {
				t.Fatalf("chunk %d of %d reads as %d of %d", j, len(parts), c.Chunk, c.Of)
			}
			for _, e := range c.Keys {
				back[string(e[0])] = string(e[1])
			}
		}
		if d := cmp.Diff(keys, back); d != "" || Digest(keys) != Digest(back) {
			t.Fatalf("full record %d read back differs:\n%s", i, d)
		}
	}
}

// TestDigestSeparatesKeysFromValues: moving bytes between a key and its
// value, or between two keys, changes the digest.
func TestDigestSeparatesKeysFromValues(t *testing.T) {
	sets := []map[string]string{
		{},
		{"a": ""},
		{"ab": "c"},
		{"a": "bc"},
		{"a": "b", "c": "d"},
		{"a": "bc", "": "d"},
	}
	seen := map[string]int{}
	for i, s := range sets {
		d := Digest(s)
		if j, ok := seen[d]; ok {
			t.Errorf("key sets %d and %d share digest %s", j, i, d)
		}
		seen[d] = i
	}
}

// TestApply: a record's changes take the key set it started from to the
// one after it; a leased change has no new value and leaves the set.
func TestApply(t *testing.T) {
	rec := &Record{Changes: []Change{
		{Key: "a", Old: TextOf("1"), New: TextOf("2")},
		{Key: "b", Old: TextOf("x")},
		{Key: "c", New: TextOf("3")},
		{Key: "d", Old: TextOf("4"), Leased: true}, // now with a lease: out of the set
	}}
	got := rec.Apply(map[string]string{"a": "1", "b": "x", "d": "4", "e": "5"})
	want := map[string]string{"a": "2", "c": "3", "e": "5"}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatal(d)
	}
}
