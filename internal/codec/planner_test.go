package codec

import "testing"

// TestPlanJSONValueLayout: a change inside a struct held as one JSON value
// in a plain key keeps the value's indentation, and a string holding
// U+2028 is escaped, since YAML reads it raw as a line break: the plan
// reads back as written.
func TestPlanJSONValueLayout(t *testing.T) {
	type svc struct{ Addr, Zone string }
	type cfg struct{ Svc svc }
	d, err := NewDecoder[cfg]("/app/", Config{})
	if err != nil {
		t.Fatal(err)
	}
	kvs := []*KeyValue{{Key: "svc", Value: "{\n    \"addr\": \"a\",\n    \"zone\": \"z\"\n}\n", ModRevision: 3}}
	cur, err := d.DecodeKeys(len(kvs), func(yield func(*KeyValue) bool) {
		for _, kv := range kvs {
			if !yield(kv) {
				return
			}
		}
	}, 3)
	if err != nil {
		t.Fatal(err)
	}
	next := cur
	next.Svc.Addr = "a\u2028b"
	dec := Decoded[cfg]{Value: cur, Keys: KeySetOfSorted([]KeyValue{*kvs[0]})}
	p, err := d.Plan(dec, next)
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\n    \"addr\": \"a\\u2028b\",\n    \"zone\": \"z\"\n}\n"; p.Puts["svc"] != want || p.Guards["svc"] != 3 {
		t.Fatalf("puts %q guards %v, want svc = %q at 3", p.Puts, p.Guards, want)
	}
	if err := d.Verify(dec, next, p); err != nil {
		t.Fatal(err)
	}
}
