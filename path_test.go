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
