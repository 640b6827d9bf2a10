package etcdconf

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf/internal/codec"
)

// kvsOf returns the keys of pairs (key, value, ...), keys relative to the
// prefix as the key set holds them.
func kvsOf(pairs ...string) map[string]*codec.KeyValue {
	m := make(map[string]*codec.KeyValue, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		m[pairs[i]] = &codec.KeyValue{Key: pairs[i], Value: pairs[i+1], ModRevision: int64(i + 1)}
	}
	return m
}

func decodeWith[T any](t *testing.T, o *options, pairs ...string) (T, error) {
	t.Helper()
	d, err := codec.NewDecoder[T]("/app/", o.decodeConfig())
	if err != nil {
		t.Fatal(err)
	}
	lay, err := newLayered[T](o)
	if err != nil {
		t.Fatal(err)
	}
	return d.DecodeSet(lay.mergeEtcd(codec.KeySetOf(kvsOf(pairs...))), 42)
}

type instance struct {
	Addr   string
	Weight int
}

type fullConfig struct {
	Name     string
	MaxConns int `etcd:"max-conns"`
	Ratio    float64
	Enabled  bool
	Timeout  time.Duration
	Started  time.Time
	Addr     netip.Addr
	Hosts    []string
	Ports    []int
	Labels   map[string]string
	Services map[string]instance
	DB       struct {
		Host string
		Port uint16
	}
	Skipped string `etcd:"-"`
	Ptr     *instance
}

func TestDecodeRules(t *testing.T) {
	started := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		pairs []string
		check func(c fullConfig) bool
	}{
		{"key per field", []string{"name", "demo", "db/host", "h", "db/port", "5432"},
			func(c fullConfig) bool { return c.Name == "demo" && c.DB.Host == "h" && c.DB.Port == 5432 }},
		{"segments match case-insensitively", []string{"NAME", "x", "Db/HOST", "h"},
			func(c fullConfig) bool { return c.Name == "x" && c.DB.Host == "h" }},
		{"etcd tag names the segment", []string{"max-conns", "10"}, func(c fullConfig) bool { return c.MaxConns == 10 }},
		{"dashes and underscores are ignored", []string{"max_conns", "11"}, func(c fullConfig) bool { return c.MaxConns == 11 }},
		{"floats", []string{"ratio", "0.25"}, func(c fullConfig) bool { return c.Ratio == 0.25 }},
		{"bool on", []string{"enabled", "on"}, func(c fullConfig) bool { return c.Enabled }},
		{"bool yes", []string{"enabled", "YES"}, func(c fullConfig) bool { return c.Enabled }},
		{"durations", []string{"timeout", "1m30s"}, func(c fullConfig) bool { return c.Timeout == 90*time.Second }},
		{"times in RFC 3339", []string{"started", "2026-11-24T08:00:00Z"}, func(c fullConfig) bool { return c.Started.Equal(started) }},
		{"TextUnmarshaler", []string{"addr", "10.0.0.1"}, func(c fullConfig) bool { return c.Addr == netip.MustParseAddr("10.0.0.1") }},
		{"comma lists", []string{"hosts", "a, b,c", "ports", "1,2"},
			func(c fullConfig) bool {
				return reflect.DeepEqual(c.Hosts, []string{"a", "b", "c"}) && reflect.DeepEqual(c.Ports, []int{1, 2})
			}},
		{"empty list", []string{"hosts", ""}, func(c fullConfig) bool { return c.Hosts != nil && len(c.Hosts) == 0 }},
		{"map of scalars is flat", []string{"labels/team", "core", "labels/zone/a", "1"},
			func(c fullConfig) bool {
				return reflect.DeepEqual(c.Labels, map[string]string{"team": "core", "zone/a": "1"})
			}},
		{"map of structs by segment", []string{"services/api-1/addr", "10.0.0.1:80", "services/api-1/weight", "2"},
			func(c fullConfig) bool { return c.Services["api-1"] == instance{"10.0.0.1:80", 2} }},
		{"map of structs from JSON values", []string{"services/api-2", `{"addr": "10.0.0.2:80", "weight": 3}`},
			func(c fullConfig) bool { return c.Services["api-2"] == instance{"10.0.0.2:80", 3} }},
		{"YAML document merged at its path", []string{"db.yaml", "host: dbhost\nport: 6432\n"},
			func(c fullConfig) bool { return c.DB.Host == "dbhost" && c.DB.Port == 6432 }},
		{"JSON document", []string{"db.json", `{"host": "j", "port": 1}`},
			func(c fullConfig) bool { return c.DB.Host == "j" && c.DB.Port == 1 }},
		{"plain key overrides its document", []string{"db.yaml", "host: a\nport: 1\n", "db/host", "b"},
			func(c fullConfig) bool { return c.DB.Host == "b" && c.DB.Port == 1 }},
		{"document scalars convert to strings", []string{"db.yaml", "host: 7\nport: 3\n"},
			func(c fullConfig) bool { return c.DB.Host == "7" && c.DB.Port == 3 }},
		{"skipped field", []string{"skipped", "x"}, func(c fullConfig) bool { return c.Skipped == "" }},
		{"pointer to struct", []string{"ptr/addr", "p"}, func(c fullConfig) bool { return c.Ptr != nil && c.Ptr.Addr == "p" }},
		{"empty segments are dropped", []string{"db//host/", "h"}, func(c fullConfig) bool { return c.DB.Host == "h" }},
		{"unknown keys are ignored", []string{"nope", "1"}, func(c fullConfig) bool { return true }},
		{"no keys", nil, func(c fullConfig) bool { return reflect.ValueOf(c).IsZero() }},
		{"a 1 MiB value", []string{"name", strings.Repeat("x", 1<<20)}, func(c fullConfig) bool { return len(c.Name) == 1<<20 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := decodeWith[fullConfig](t, newOptions(nil), tt.pairs...)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Fatalf("decoded %+v", c)
			}
		})
	}
}

func TestDecodeErrorsNameKeyAndRevision(t *testing.T) {
	tests := []struct {
		name    string
		pairs   []string
		key     string
		message string
	}{
		{"not an int", []string{"max-conns", "many"}, "/app/max-conns", `"many" is not a valid int`},
		{"out of range", []string{"db/port", "70000"}, "/app/db/port", "out of range for uint16"},
		{"not a bool", []string{"enabled", "maybe"}, "/app/enabled", "not a bool"},
		{"not a duration", []string{"timeout", "soon"}, "/app/timeout", "invalid duration"},
		{"malformed YAML", []string{"db.yaml", "host: [unclosed"}, "/app/db.yaml", "yaml"},
		{"wrong type in a document", []string{"db.yaml", "port: many"}, "/app/db.yaml", `"many" is not a valid uint16`},
		{"collision", []string{"db", "x", "db/host", "h"}, "/app/db/host", "cannot hold both"},
		{"non-UTF-8", []string{"name", "\xff\xfe"}, "/app/name", "UTF-8"},
		{"bad document value in a map", []string{"services/api-1", "{not json"}, "/app/services/api-1", "not a YAML or JSON document"},
		{"bad nested map value", []string{"services/api-1/weight", "heavy"}, "/app/services/api-1/weight", `"heavy" is not a valid int`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeWith[fullConfig](t, newOptions(nil), tt.pairs...)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DecodeError", err)
			}
			if de.Key != tt.key || de.Revision != 42 || !errors.Is(err, ErrInvalid) {
				t.Fatalf("got key %q revision %d, want %q at 42", de.Key, de.Revision, tt.key)
			}
			if !strings.Contains(err.Error(), tt.message) || !strings.Contains(err.Error(), tt.key) || !strings.Contains(err.Error(), "42") {
				t.Fatalf("message %q lacks %q, the key or the revision", err, tt.message)
			}
		})
	}
}

func TestDecodeFlatMap(t *testing.T) {
	m, err := decodeWith[map[string]string](t, newOptions(nil), "a", "1", "b/c", "2", "d.yaml", "e: 3\n")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "1", "b/c": "2", "d/e": "3"}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("got %v, want %v", m, want)
	}
	ints, err := decodeWith[map[string]int](t, newOptions(nil), "x", "1", "y", "2")
	if err != nil || ints["x"] != 1 || ints["y"] != 2 {
		t.Fatalf("map[string]int: %v, %v", ints, err)
	}
}

func TestDecodeServiceDiscoveryMap(t *testing.T) {
	m, err := decodeWith[map[string]instance](t, newOptions(nil),
		"api-1", `{"addr":"10.0.0.1:80","weight":1}`, "api-2/addr", "10.0.0.2:80")
	if err != nil {
		t.Fatal(err)
	}
	if m["api-1"] != (instance{"10.0.0.1:80", 1}) || m["api-2"] != (instance{Addr: "10.0.0.2:80"}) {
		t.Fatalf("got %+v", m)
	}
}

func TestDecodePrefixIsADocument(t *testing.T) {
	d, err := codec.NewDecoder[fullConfig]("/app/config.yaml", codec.Config{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Decode(kvsOf("", "name: doc\ndb:\n  port: 5\n"), 1)
	if err != nil || c.Name != "doc" || c.DB.Port != 5 {
		t.Fatalf("got %+v, %v", c, err)
	}
}

func TestDecodeStrict(t *testing.T) {
	o := newOptions([]Option{WithStrict()})
	_, err := decodeWith[fullConfig](t, o, "name", "x", "db/hots", "typo")
	var de *DecodeError
	if !errors.As(err, &de) || de.Key != "/app/db/hots" {
		t.Fatalf("strict: got %v, want an error naming /app/db/hots", err)
	}
	if _, err := decodeWith[fullConfig](t, o, "name", "x"); err != nil {
		t.Fatalf("strict with known keys only: %v", err)
	}
}

func TestDecodeDefaults(t *testing.T) {
	type cfg struct {
		Host   string
		Port   int
		Labels map[string]string
		Hosts  []string
	}
	def := cfg{Host: "localhost", Port: 80, Labels: map[string]string{"a": "1"}, Hosts: []string{"x", "y", "z"}}
	o := newOptions([]Option{WithDefaults(def)})
	c, err := decodeWith[cfg](t, o, "port", "8080", "labels/b", "2", "hosts", "q")
	if err != nil {
		t.Fatal(err)
	}
	// A map merges entry by entry; a list is one leaf.
	want := cfg{Host: "localhost", Port: 8080, Labels: map[string]string{"a": "1", "b": "2"}, Hosts: []string{"q"}}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got %+v, want %+v", c, want)
	}
	if def.Labels["a"] != "1" || len(def.Labels) != 1 || def.Hosts[0] != "x" {
		t.Fatalf("defaults were modified: %+v", def)
	}
	// A key deleted later falls back to its default, never to a stale value.
	c, err = decodeWith[cfg](t, o)
	if err != nil || c.Port != 80 || c.Labels["a"] != "1" {
		t.Fatalf("no keys: %+v, %v", c, err)
	}
	c.Labels["a"] = "changed"
	if def.Labels["a"] != "1" {
		t.Fatal("a decoded value shares a map with the defaults")
	}
}

type checked struct{ Port int }

func (c checked) Validate() error {
	if c.Port == 0 {
		return errors.New("port is required")
	}
	return nil
}

func TestDecodeValidate(t *testing.T) {
	_, err := decodeWith[checked](t, newOptions(nil))
	var de *DecodeError
	if !errors.As(err, &de) || de.Key != "" || de.Revision != 42 || !strings.Contains(err.Error(), "port is required") {
		t.Fatalf("got %v, want a validation DecodeError at revision 42", err)
	}
	if _, err := decodeWith[checked](t, newOptions(nil), "port", "1"); err != nil {
		t.Fatal(err)
	}
}

func TestNewDecoderRejectsUnsupportedTypes(t *testing.T) {
	if _, err := codec.NewDecoder[int]("/p/", codec.Config{}); err == nil {
		t.Error("int: no error")
	}
	if _, err := codec.NewDecoder[map[int]string]("/p/", codec.Config{}); err == nil {
		t.Error("map[int]string: no error")
	}
	if _, err := codec.NewDecoder[*checked]("/p/", codec.Config{}); err != nil {
		t.Errorf("*struct: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("db/port", "5432", "db.yaml", "host: x")
	f.Add("services/a", `{"addr": 1}`, "labels/x/y", "z")
	f.Add("hosts", "a,b", "timeout", "1s")
	f.Add("db", "x", "db/host", "y")
	f.Add("config.yaml", "- 1\n- 2", "", "")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		d, err := codec.NewDecoder[fullConfig]("/app/", codec.Config{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = d.Decode(kvsOf(k1, v1, k2, v2), 7)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || de.Revision != 7 {
				t.Fatalf("error %v is not a *DecodeError at revision 7", err)
			}
		}
	})
}

func TestDecodeErrorsWithholdSecrets(t *testing.T) {
	type creds struct {
		DB struct {
			PIN int `etcd:"pin,secret"`
		}
	}
	_, err := decodeWith[creds](t, newOptions(nil), "db/pin", "hunter2")
	var de *DecodeError
	if !errors.As(err, &de) || de.Key != "/app/db/pin" {
		t.Fatalf("got %v, want an error naming /app/db/pin", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("the secret value is in the error: %v", err)
	}
}

// TestIncrementalFlatAgreesWithFullDecode applies random batches to a flat
// view both ways: the incremental value and its delta must equal a full
// decode and a full diff. (TestOracleIncremental does the same for every
// kind of key and T.)
func TestIncrementalFlatAgreesWithFullDecode(t *testing.T) {
	d, _ := codec.NewDecoder[map[string]string]("/app/", codec.Config{})
	rng := rand.New(rand.NewPCG(1, 2))
	kvs := kvsOf("a", "1", "b/c", "2")
	full, _ := d.Decode(kvs, 1)
	prev := &Snapshot[map[string]string]{Value: full, Revision: 1, prefix: "/app/", kvs: codec.KeySetOf(kvs)}
	for rev := int64(2); rev < 300; rev++ {
		next := prev.kvs.Clone()
		for range 1 + rng.IntN(4) {
			key := fmt.Sprintf("k%d", rng.IntN(6))
			if rng.IntN(3) == 0 {
				next.Delete(key)
			} else {
				next.Set(&codec.KeyValue{Key: key, Value: fmt.Sprint(rng.IntN(3)), ModRevision: rev})
			}
		}
		v, delta, ok, err := d.Next(prev.decoded(), next, rev)
		if !ok || err != nil {
			t.Fatalf("a flat batch was not applied incrementally: %v", err)
		}
		want, _ := d.DecodeSet(next, rev)
		if !reflect.DeepEqual(v, want) {
			t.Fatalf("revision %d: incremental %v, decoded %v", rev, v, want)
		}
		cur := &Snapshot[map[string]string]{Value: v, Revision: rev, prefix: "/app/", kvs: next}
		if got, want := fmt.Sprint(changesOf(delta)), fmt.Sprint(diffSnapshots(prev, cur)); got != want {
			t.Fatalf("revision %d: delta %s, full diff %s", rev, got, want)
		}
		prev = cur
	}
}

// A YAML value may be a mapping whose key is null ("?"): decoding it into
// a struct must be an error naming the key, not a panic in mapstructure.
func TestDecodeNullYAMLKey(t *testing.T) {
	_, err := decodeWith[fullConfig](t, newOptions(nil), "services/0", "?")
	var de *DecodeError
	if err != nil && !errors.As(err, &de) {
		t.Fatalf("got %v, want nil or a *DecodeError", err)
	}
}

// TestDecodeErrorsWithholdSecretsInLists: a secret inside a slice element,
// a map entry, or a map entry's slice is withheld from decode errors, as
// one in a struct field is (issue 18, item 12).
func TestDecodeErrorsWithholdSecretsInLists(t *testing.T) {
	type user struct {
		Name string
		PIN  int `etcd:"pin,secret"`
	}
	type creds struct {
		Users  []user
		ByName map[string]user
		Groups map[string][]user
		Odd    map[string][]user `etcd:"odd"`
	}
	for _, tc := range []struct{ key, value, field string }{
		{"users", `[{"name": "a", "pin": "hunter2-slice"}]`, "Users[0].PIN"},
		{"users.yaml", "- name: a\n  pin: hunter2-slice\n", "Users[0].PIN"},
		{"byname/u1/pin", "hunter2-map", `ByName["u1"].PIN`},
		{"groups/g1", `[{"pin": "hunter2-group"}]`, `Groups["g1"][0].PIN`},
		{"odd/g.1]x[0]", `[{"pin": "hunter2-odd"}]`, "odd[g.1]x[0]][0].pin"},
		{"users", `[{"name": "a", "pin": {"x": "hunter2-whole"}}]`, "Users[0].PIN"},
	} {
		_, err := decodeWith[creds](t, newOptions(nil), tc.key, tc.value)
		if err == nil || !strings.Contains(err.Error(), tc.field+": ") {
			t.Errorf("%s: got %v, want an error at %s", tc.key, err, tc.field)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "withheld") {
			t.Errorf("%s: the secret value is in the error, or not said to be withheld: %v", tc.key, err)
		}
	}
	// A value that is no secret is still quoted.
	_, err := decodeWith[creds](t, newOptions(nil), "users", `[{"name": {"x": 1}}]`)
	if err == nil || strings.Contains(err.Error(), "withheld") {
		t.Errorf("an error at a field that is not secret: %v", err)
	}
}

// A field that does not decode is named by its Go path, as Change.Path
// and Lookup spell it, whatever the key's spelling or the tag's name: not
// by mapstructure's name for it (issue 19: errors said "DB.max_conns",
// "Svc[a]").
func TestFieldErrorNamesTheGoPath(t *testing.T) {
	type db struct {
		MaxConns int `etcd:"max_conns"`
		Port     int
	}
	type cfg struct {
		DB    db
		Hosts []struct{ Weight int }
		Svc   map[string]db
	}
	for _, tt := range []struct{ key, value, path string }{
		{"db/port", "x", "DB.Port"},
		{"DB/PORT", "x", "DB.Port"},
		{"db/max_conns", "x", "DB.MaxConns"},
		{"db/max-conns", "x", "DB.MaxConns"},
		{"svc/a/port", "x", `Svc["a"].Port`},
		{"hosts.yaml", "[{weight: x}]", "Hosts[0].Weight"},
	} {
		_, err := decodeWith[cfg](t, newOptions(nil), tt.key, tt.value)
		var de *DecodeError
		if !errors.As(err, &de) || de.Key != "/app/"+tt.key || !strings.HasPrefix(de.Err.Error(), tt.path+": ") {
			t.Errorf("%s = %q: got %v, want an error for /app/%s starting %q", tt.key, tt.value, err, tt.key, tt.path+": ")
			continue
		}
		if _, _, err := Lookup[any](&Snapshot[cfg]{}, tt.path); err != nil {
			t.Errorf("the path %q the error names is not one Lookup takes: %v", tt.path, err)
		}
	}
}

// A struct with no field decodes nothing, so a document it does not read
// need not parse as keys: a watcher of raw keys (the flag provider keeps
// JSONLogic, whose "/" operator is no key path, in documents).
func TestDecodeRawStruct(t *testing.T) {
	if _, err := decodeWith[struct{}](t, newOptions(nil), "flags.json", `{"flags": {"f": {"targeting": {"/": [4, 2]}}}}`, "bad.yaml", "a: [1"); err != nil {
		t.Fatalf("struct{}: %v", err)
	}
	if _, err := decodeWith[struct{}](t, newOptions([]Option{WithStrict()}), "flags.json", `{}`); err == nil {
		t.Fatal("struct{} under WithStrict accepted a key that feeds no field")
	}
	type one struct{ A int }
	if _, err := decodeWith[one](t, newOptions(nil), "bad.yaml", "a: [1"); err == nil {
		t.Fatal("a struct with fields accepted a document that does not parse")
	}
}
