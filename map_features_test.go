package etcdconf

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/etcdconf/etcdconf/internal/codec"
)

type (
	mapFeatures struct {
		Services Map[string, oracleInstance]
		Flags    Map[string, Flag]
		Port     int
	}
	mapFeaturesTwin struct {
		Services map[string]oracleInstance
		Flags    map[string]Flag
		Port     int
	}
)

func mapKeys(kv map[string]string) *codec.KeySet {
	m := map[string]*codec.KeyValue{}
	for k, v := range kv {
		m[k] = &codec.KeyValue{Key: k, Value: v, ModRevision: 2}
	}
	return codec.KeySetOf(m)
}

// TestMapDecodes: plain keys, documents at an entry, at the field and at
// the prefix, defaults and flags decode into a Map as into its Go-map twin.
func TestMapDecodes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		keys     map[string]string
		defaults bool
	}{
		{"plain keys", map[string]string{"services/a/addr": "h:1", "services/b/weight": "2", "port": "80"}, false},
		{"entry documents", map[string]string{"services/a.yaml": "addr: h\ntags: [x, y]\n", "services/a/weight": "3", "services/b": `{"addr": "j"}`}, false},
		{"field document", map[string]string{"services.yaml": "a:\n  addr: h\nb:\n  token: s\n"}, false},
		{"prefix document", map[string]string{"config.yaml": "services:\n  a:\n    addr: h\nflags:\n  beta: 25%\n"}, false},
		{"flags", map[string]string{"flags/beta": "true", "flags/gamma": "10%"}, false},
		{"defaults merge", map[string]string{"services/b/addr": "j"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := "/app/"
			if strings.HasPrefix(tc.name, "prefix") {
				prefix = "/app/config.yaml"
				tc.keys = map[string]string{"": tc.keys["config.yaml"]}
			}
			var mc, gc codec.Config
			if tc.defaults {
				mc.Defaults = mapFeatures{Services: MapOf(map[string]oracleInstance{"a": {Addr: "d"}}), Port: 1}
				gc.Defaults = mapFeaturesTwin{Services: map[string]oracleInstance{"a": {Addr: "d"}}, Port: 1}
			}
			dm, _ := codec.NewDecoder[mapFeatures](prefix, mc)
			dg, _ := codec.NewDecoder[mapFeaturesTwin](prefix, gc)
			m, err := dm.DecodeSet(mapKeys(tc.keys), 2)
			if err != nil {
				t.Fatal(err)
			}
			g, err := dg.DecodeSet(mapKeys(tc.keys), 2)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := plainJSON(t, m), plainJSON(t, g); !cmp.Equal(a, b) {
				t.Errorf("Map and Go map differ (-Map +Go map):\n%s", cmp.Diff(a, b))
			}
			for k, f := range m.Flags.All() {
				if want := g.Flags[k]; f.name != want.name || f.name != fmt.Sprintf("Flags[%q]", k) {
					t.Errorf("flag %s named %q, in a Go map %q", k, f.name, want.name)
				}
			}
		})
	}
}

// TestMapDecodeErrors: a bad value in an entry, and an unknown field under
// WithStrict, name the key and the Go path.
func TestMapDecodeErrors(t *testing.T) {
	d, _ := codec.NewDecoder[mapFeatures]("/app/", codec.Config{})
	_, err := d.DecodeSet(mapKeys(map[string]string{"services/a/weight": "x"}), 2)
	if err == nil || !strings.Contains(err.Error(), `"/app/services/a/weight"`) || !strings.Contains(err.Error(), `Services["a"].Weight`) {
		t.Errorf("bad weight: %v", err)
	}
	_, err = d.DecodeSet(mapKeys(map[string]string{"services/a/token": "\xff"}), 2)
	if err == nil || strings.Contains(err.Error(), "\xff") {
		t.Errorf("bad secret: %v", err)
	}
	strict, _ := codec.NewDecoder[mapFeatures]("/app/", codec.Config{Strict: true})
	_, err = strict.DecodeSet(mapKeys(map[string]string{"services/a/nope": "1"}), 2)
	if err == nil || !strings.Contains(err.Error(), `"/app/services/a/nope"`) {
		t.Errorf("strict, an unknown field in an entry: %v", err)
	}
	if _, err = strict.DecodeSet(mapKeys(map[string]string{"services/a/addr": "1"}), 2); err != nil {
		t.Errorf("strict, known fields: %v", err)
	}
}

// TestMapPathsAndWrites: Lookup, Change paths and secrets, and write
// plans for a value changed by With and Without.
func TestMapPathsAndWrites(t *testing.T) {
	d, _ := codec.NewDecoder[mapFeatures]("/app/", codec.Config{})
	kvs := mapKeys(map[string]string{"services/a/addr": "h", "services/a/token": "s1", "services/b/addr": "j"})
	v, err := d.DecodeSet(kvs, 2)
	if err != nil {
		t.Fatal(err)
	}
	s := &Snapshot[mapFeatures]{Value: v, Revision: 2, prefix: "/app/", kvs: kvs}
	if addr, ok, err := Lookup[string](s, `Services["a"].Addr`); addr != "h" || !ok || err != nil {
		t.Errorf(`Lookup Services["a"].Addr: %q, %v, %v`, addr, ok, err)
	}
	if _, ok, err := Lookup[string](s, `Services["z"].Addr`); ok || err != nil {
		t.Errorf(`Lookup of an absent entry: %v, %v`, ok, err)
	}
	if _, _, err := Lookup[int](s, `Services["a"].Addr`); err == nil {
		t.Error("Lookup of a string as an int: no error")
	}

	a, _ := v.Services.Get("a")
	a.Token, a.Weight = "s2", 5
	next := v
	next.Services = v.Services.With("a", a).Without("b").With("c", oracleInstance{Addr: "k"})
	p, err := d.Plan(s.decoded(), next)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(p.Puts, p.Deletes)
	for _, want := range []string{"services/a/token", "services/a/weight", "services/c/addr", "services/b/addr"} {
		if !strings.Contains(got, want) {
			t.Errorf("plan %s lacks %s", got, want)
		}
	}
	if strings.Contains(got, "services/a/addr") {
		t.Errorf("plan %s writes the unchanged services/a/addr", got)
	}

	cs := diffSnapshots(s, &Snapshot[mapFeatures]{Value: next, Revision: 3, prefix: "/app/", kvs: kvs})
	text := fmt.Sprint(cs)
	want := `[Services["a"].Token: modified [redacted] Services["a"].Weight: 0 -> 5 Services["b"]: removed (was {Addr:j Weight:0 Tags:[] Meta:map[] Token:[redacted]}) Services["c"]: added {Addr:k Weight:0 Tags:[] Meta:map[] Token:[redacted]}]`
	if text != want {
		t.Errorf("changes\n%s\nwant\n%s", text, want)
	}
	if strings.Contains(text, "s2") || strings.Contains(text, "s1") {
		t.Errorf("a secret shows: %s", text)
	}
}

// TestMapJSONSchema: a Map field is an object, as a Go map's.
func TestMapJSONSchema(t *testing.T) {
	m, err := JSONSchema[mapFeatures]()
	if err != nil {
		t.Fatal(err)
	}
	g, err := JSONSchema[mapFeaturesTwin]()
	if err != nil {
		t.Fatal(err)
	}
	var ms, gs map[string]any
	_ = json.Unmarshal(m, &ms)
	_ = json.Unmarshal(g, &gs)
	if !cmp.Equal(ms["properties"], gs["properties"]) {
		t.Errorf("schemas differ (-Map +Go map):\n%s", cmp.Diff(ms["properties"], gs["properties"]))
	}
	if _, err := JSONSchema[Map[string, oracleInstance]](); err != nil {
		t.Errorf("JSONSchema of a Map T: %v", err)
	}
}

// TestMapStatic: NewStatic publishes a Map as it is (it is immutable), and
// set publishes Changes per entry.
func TestMapStatic(t *testing.T) {
	v := mapFeatures{Services: MapOf(map[string]oracleInstance{"a": {Addr: "h"}})}
	w, set, err := NewStatic(v)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch := w.Subscribe(ctx)
	v.Services = v.Services.With("b", oracleInstance{Addr: "j"})
	if err := set(v); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-ch:
		if got := fmt.Sprint(ev.Changes); got != `[Services["b"]: added {Addr:j Weight:0 Tags:[] Meta:map[] Token:[redacted]}]` {
			t.Errorf("changes %s", got)
		}
		if ev.Old.Value.Services.Len() != 1 || ev.New.Value.Services.Len() != 2 {
			t.Errorf("old %v, new %v", ev.Old.Value.Services, ev.New.Value.Services)
		}
	case <-ctx.Done():
		t.Fatal("no event")
	}
}

// TestMapValueNode: a value written into a document spells a Map as its
// Go-map twin, an empty Map as a nil map (left out).
func TestMapValueNode(t *testing.T) {
	for _, tc := range []struct{ m, g any }{
		{mapFeatures{Port: 1}, mapFeaturesTwin{Port: 1}},
		{mapFeatures{Services: MapOf(map[string]oracleInstance{"b": {Addr: "j"}, "a": {Weight: 2}})},
			mapFeaturesTwin{Services: map[string]oracleInstance{"b": {Addr: "j"}, "a": {Weight: 2}}}},
	} {
		mn, err := codec.ValueNode(reflect.ValueOf(tc.m), "")
		if err != nil {
			t.Fatal(err)
		}
		gn, err := codec.ValueNode(reflect.ValueOf(tc.g), "")
		if err != nil {
			t.Fatal(err)
		}
		mb, _ := yaml.Marshal(mn)
		gb, _ := yaml.Marshal(gn)
		if string(mb) != string(gb) {
			t.Errorf("Map writes\n%s\nGo map\n%s", mb, gb)
		}
	}
}
