package codec

import (
	"reflect"
	"testing"
)

// TestSchema: one view of a struct type, with every name the decoder, the
// writer, the diff and Go paths use.
func TestSchema(t *testing.T) {
	type inner struct{ X int }
	type cfg struct {
		MaxConns int    `etcd:"max-conns"`
		Password string `etcd:"password,secret"`
		Token    string `etcd:",secret"`
		Internal string `etcd:"-"`
		DB       struct{ Port int }
		inner
		hidden int
	}
	_ = cfg{hidden: 1}.hidden // an unexported field, which the schema leaves out
	s := SchemaOf(reflect.TypeFor[cfg]())
	if again := SchemaOf(reflect.TypeFor[cfg]()); again != s {
		t.Fatal("the schema is derived twice")
	}
	type row struct {
		name, key, canon      string
		secret, skip, written bool
	}
	want := []row{
		{"MaxConns", "max-conns", "max-conns", false, false, true},
		{"Password", "password", "password", true, false, true},
		{"Token", "Token", "token", true, false, true},
		{"Internal", "", "", false, true, false},
		{"DB", "DB", "db", false, false, true},
	}
	if len(s.fields) != len(want) {
		t.Fatalf("%d exported fields, want %d (the embedded inner is unexported)", len(s.fields), len(want))
	}
	for i, w := range want {
		f := s.fields[i]
		if f.name != w.name || f.key != w.key || f.canon != w.canon || f.secret != w.secret || f.skip != w.skip {
			t.Errorf("field %d: %+v, want %+v", i, *f, w)
		}
		if _, ok := s.byKey[NormName(f.key)]; ok != w.written {
			t.Errorf("%s: looked up by key %v, want %v", f.name, ok, w.written)
		}
	}
	if f, ok := s.byKey[NormName("MAX_CONNS")]; !ok || f.name != "MaxConns" {
		t.Error("a loose spelling of the key does not find MaxConns")
	}
	if _, ok := s.field("Internal"); ok {
		t.Error("a skipped field has a Go path")
	}
}
