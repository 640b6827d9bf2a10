package etcdconf

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestCheckPath(t *testing.T) {
	type svc struct {
		Addr   string
		Hidden string `etcd:"-"`
	}
	type cfg struct {
		DB struct {
			Host string
			Port int
		}
		Services map[string]svc
		Hosts    []string
		Limits   *struct{ Max int }
		Timeout  time.Duration
		Nested   map[string][]map[string]int
	}
	typ := reflect.TypeFor[cfg]()
	for _, p := range []string{
		"DB", "DB.Port", `Services["api-1"]`, `Services["api-1"].Addr`, `Services["a]b"].Addr`,
		"Hosts", "Hosts[0]", "Limits", "Limits.Max", "Timeout", `Nested["x"][2]["y"]`,
	} {
		if err := checkPath(typ, p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	for _, tt := range []struct{ path, says string }{
		{"", "empty"},
		{"db", "Go fields: DB"},
		{"DB/Port", "Go fields: DB"},
		{"db.port", "Go fields: DB"},
		{"DB.Name", `no field "Name"`},
		{"Services.api", "which has no field"},
		{"Services[api]", "quoted"},
		{`Services["a"].Hidden`, `no field "Hidden"`},
		{"Hosts[x]", "not an index"},
		{"Hosts[", "without ]"},
		{"[", "without ]"},
		{`Services["a`, "quoted"},
		{"Timeout.X", "has no field"},
		{"DB..Port", `no field ""`},
	} {
		err := checkPath(typ, tt.path)
		if err == nil || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("%q: %v, want an error saying %q", tt.path, err, tt.says)
		}
	}
	if err := checkPath(reflect.TypeFor[map[string]string](), `["db/host"]`); err != nil {
		t.Errorf("flat view: %v", err)
	}
}

// Every path a diff produces is one checkPath accepts.
func TestCheckPathAcceptsDiffPaths(t *testing.T) {
	type svc struct{ Addr string }
	type cfg struct {
		Services map[string]svc
		Hosts    []string
		DB       struct{ Port int }
	}
	var old cfg
	next := cfg{Services: map[string]svc{"a\"]b": {Addr: "x"}, "api-1": {}}, Hosts: []string{"h"}}
	next.DB.Port = 1
	for _, c := range diffSnapshots(&Snapshot[cfg]{Value: old}, &Snapshot[cfg]{Value: next}) {
		if err := checkPath(reflect.TypeFor[cfg](), c.Path); err != nil {
			t.Errorf("diff path %q refused: %v", c.Path, err)
		}
	}
}

func TestLookup(t *testing.T) {
	type svc struct{ Addr string }
	type cfg struct {
		DB       struct{ Port int }
		Services map[string]svc
		Hosts    []string
		Limits   *struct{ Max int }
	}
	s := &Snapshot[cfg]{Value: cfg{Services: map[string]svc{"api-1": {Addr: "a:1"}}, Hosts: []string{"h0"}}}
	s.Value.DB.Port = 5432
	if port, ok, err := Lookup[int](s, "DB.Port"); port != 5432 || !ok || err != nil {
		t.Errorf("DB.Port: %v, %v, %v", port, ok, err)
	}
	if addr, ok, err := Lookup[string](s, `Services["api-1"].Addr`); addr != "a:1" || !ok || err != nil {
		t.Errorf("Services[api-1].Addr: %v, %v, %v", addr, ok, err)
	}
	if e, ok, err := Lookup[svc](s, `Services["api-1"]`); e.Addr != "a:1" || !ok || err != nil {
		t.Errorf("Services[api-1]: %v, %v, %v", e, ok, err)
	}
	if h, ok, err := Lookup[string](s, "Hosts[0]"); h != "h0" || !ok || err != nil {
		t.Errorf("Hosts[0]: %v, %v, %v", h, ok, err)
	}
	for _, p := range []string{`Services["nope"].Addr`, "Hosts[3]", "Limits.Max", "Limits"} {
		if _, ok, err := Lookup[any](s, p); ok || err != nil {
			t.Errorf("%s holds nothing here: %v, %v", p, ok, err)
		}
	}
	s.Value.Limits = &struct{ Max int }{Max: 3}
	if m, ok, err := Lookup[int](s, "Limits.Max"); m != 3 || !ok || err != nil {
		t.Errorf("Limits.Max: %v, %v, %v", m, ok, err)
	}
	if _, _, err := Lookup[string](s, "DB.Port"); err == nil || !strings.Contains(err.Error(), "not a string") {
		t.Errorf("a wrong type: %v", err)
	}
	if _, _, err := Lookup[int](s, "db/port"); err == nil || !strings.Contains(err.Error(), "Go fields: DB") {
		t.Errorf("a key spelling: %v", err)
	}
}
