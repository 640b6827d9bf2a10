package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
)

// appConfig is the application type the CLI tests export a schema of.
type appConfig struct {
	DB struct {
		Host     string
		Port     uint16
		Password string `etcd:"password,secret"`
		Timeout  time.Duration
		PIN      int `etcd:"pin,secret"`
	}
	Features map[string]etcdconf.Flag
	Services map[string]struct{ Addr string }
	Hosts    []string
	Shards   map[int]struct{ Weight float64 }
}

// schemaFile writes the JSON Schema of appConfig to dir.
func schemaFile(t *testing.T, dir string) string {
	t.Helper()
	b, err := etcdconf.JSONSchema[appConfig]()
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, "app.schema.json", string(b))
}

// runLocal runs a command that needs no etcd.
func runLocal(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &out, &out)
	return out.String(), code
}

// TestValidate: a file that fits, each kind of violation with its line and
// path, unknown keys only under --strict, and the usage errors; the
// transcript is testdata/validate.golden.
func TestValidate(t *testing.T) {
	dir := t.TempDir()
	schema := schemaFile(t, dir)
	good := writeFile(t, dir, "good.yaml", `db:
  host: db.internal
  port: 5432
  password: "hunter2"
  timeout: 1m30s
features:
  new-ui: true
  beta: 25%
  checkout/v2: "false"
services:
  api-1: {addr: "10.0.0.1:80"}
  api-2.json: '{"addr": "10.0.0.2:80"}'
hosts: [a, b]
shards:
  1: {weight: 0.5}
services/api-3/addr: "10.0.0.3:80"
extra: ignored without --strict
`)
	bad := writeFile(t, dir, "bad.yaml", `db:
  host: [not, a, string]
  port: 70000
  timeout: 5
  pin: "12x34"
features:
  beta: 250%
  dark: maybe
services:
  api-1: "10.0.0.1:80"
hosts: {a: 1}
shards:
  x: {weight: heavy}
`)
	goodJSON := writeFile(t, dir, "good.json", `{"db": {"port": "5432"}, "hosts": "a,b"}`)
	var b strings.Builder
	for _, tt := range []struct {
		code int
		args []string
	}{
		{0, []string{"validate", "-f", good, "--schema", schema}},
		{0, []string{"validate", "-f", goodJSON, "--schema", schema}},
		{1, []string{"validate", "-f", good, "--schema", schema, "--strict"}},
		{1, []string{"validate", "-f", bad, "--schema", schema}},
		{2, []string{"validate", "-f", good}},
		{2, []string{"validate", "/app/", "-f", good, "--schema", schema}},
		{2, []string{"validate", "-f", good, "--schema", good}},
		{2, []string{"diff", "/app/", "-f", good, "--strict"}},
	} {
		out, code := runLocal(t, tt.args...)
		if code != tt.code {
			t.Errorf("etcdconf %s: exit %d, want %d\n%s", strings.Join(tt.args, " "), code, tt.code, out)
		}
		fmt.Fprintf(&b, "$ etcdconf %s\n%s(exit %d)\n\n", strings.Join(tt.args, " "), out, code)
	}
	golden(t, "validate", strings.ReplaceAll(b.String(), dir, "DIR"))
}

// TestApplySchemaRefuses: apply and diff with --schema refuse a file that
// does not fit (exit 2, nothing written) and take one that does.
func TestApplySchemaRefuses(t *testing.T) {
	srv := etcdtest.Start(t)
	dir := t.TempDir()
	schema := schemaFile(t, dir)
	bad := writeFile(t, dir, "bad.yaml", "db:\n  port: 70000\n")
	for _, cmd := range [][]string{{"apply", "/app/", "-f", bad, "--schema", schema, "--yes"}, {"diff", "/app/", "-f", bad, "--schema", schema}} {
		out, code := cli(t, srv, cmd...)
		if code != exitError || !strings.Contains(out, "bad.yaml:2: db/port: maximum: got 70,000, want 65,535") || !strings.Contains(out, "nothing was written") {
			t.Fatalf("%s: exit %d:\n%s", cmd[0], code, out)
		}
	}
	if out, _ := cli(t, srv, "get", "/app/", "-o", "keys"); strings.Contains(out, "/app/db") {
		t.Fatalf("a refused apply wrote:\n%s", out)
	}
	good := writeFile(t, dir, "good.yaml", "db:\n  port: 6432\nunknown: 1\n")
	if out, code := cli(t, srv, "apply", "/app/", "-f", good, "--schema", schema, "--yes"); code != 0 {
		t.Fatalf("apply of a fitting file: exit %d:\n%s", code, out)
	}
	if out, code := cli(t, srv, "apply", "/app/", "-f", good, "--schema", schema, "--strict", "--yes"); code != exitError || !strings.Contains(out, "good.yaml:3: unknown: a key the schema does not have") {
		t.Fatalf("apply --strict of an unknown key: exit %d:\n%s", code, out)
	}
	if out, _ := cli(t, srv, "get", "/app/", "-o", "keys"); !strings.Contains(out, "/app/db/port = 6432") {
		t.Fatalf("after apply:\n%s", out)
	}
}
