package etcdconf_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestConsumerModuleGraph builds a throwaway module that imports only the
// root package, and one that imports etcdconf's four named dependencies
// directly (clientv3, mapstructure/v2, yaml.v3, go-cmp), and fails on any
// module in the first's `go list -m all` beyond the second's, other than
// etcdconf itself and goleak (the root module's one test-only requirement,
// for its leak check). etcd's server, raft, bbolt, cobra and OpenTelemetry's
// exporters must stay out of a consumer's build.
func TestConsumerModuleGraph(t *testing.T) {
	if testing.Short() {
		t.Skip("module resolution skipped in -short mode")
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/etcdconf/etcdconf").Output()
	if err != nil {
		t.Skipf("no go command or workspace: %v", err)
	}
	root := strings.TrimSpace(string(out))
	consumer := modules(t, "example.com/consumer", fmt.Sprintf("replace github.com/etcdconf/etcdconf => %s\n", root), `package main

import (
	"context"

	"github.com/etcdconf/etcdconf"
)

type Config struct{ Port int }

func main() { etcdconf.New[Config](context.Background(), nil, "/app/") }
`)
	baseline := modules(t, "example.com/baseline", "", `package main

import (
	_ "github.com/go-viper/mapstructure/v2"
	_ "github.com/google/go-cmp/cmp"
	_ "go.etcd.io/etcd/client/v3"
	_ "gopkg.in/yaml.v3"
)

func main() {}
`)
	var extra []string
	for _, m := range consumer {
		path := strings.Fields(m)[0]
		if path == "example.com/consumer" || path == "github.com/etcdconf/etcdconf" || path == "go.uber.org/goleak" {
			continue
		}
		if !slices.ContainsFunc(baseline, func(b string) bool { return strings.Fields(b)[0] == path }) {
			extra = append(extra, m)
		}
	}
	t.Logf("consumer of the root package: %d modules; baseline of the four dependencies: %d", len(consumer), len(baseline))
	if len(extra) > 0 {
		t.Fatalf("a consumer of the root package gets %d modules beyond its dependencies' own:\n%s", len(extra), strings.Join(extra, "\n"))
	}
}

// TestFlagproviderConsumerBuild builds a throwaway module that imports
// only flagprovider and fails if its build (the packages it compiles, not
// its module graph, which flagprovider's own tests widen with etcdtest)
// holds etcd's server, or any module beyond a root-package consumer's but
// go-sdk and flagprovider.
func TestFlagproviderConsumerBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("module resolution skipped in -short mode")
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Path}} {{.Dir}}", "github.com/etcdconf/etcdconf", "github.com/etcdconf/etcdconf/flagprovider", "github.com/etcdconf/etcdconf/etcdtest").Output()
	if err != nil {
		t.Skipf("no go command or workspace: %v", err)
	}
	var replace strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		fmt.Fprintf(&replace, "replace %s => %s\n", f[0], f[1])
	}
	var deps []string
	modules(t, "example.com/flags", replace.String(), `package main

import (
	"context"

	"github.com/etcdconf/etcdconf/flagprovider"
)

func main() { flagprovider.New(context.Background(), nil, "/flags/") }
`, func(run func(...string) string) {
		deps = strings.Split(strings.TrimSpace(run("list", "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}", ".")), "\n")
	})
	slices.Sort(deps)
	deps = slices.Compact(deps)
	for _, m := range deps {
		if strings.HasPrefix(m, "go.etcd.io/etcd/server") || strings.HasPrefix(m, "go.etcd.io/raft") || strings.HasPrefix(m, "go.etcd.io/bbolt") {
			t.Errorf("a consumer of flagprovider compiles %s", m)
		}
	}
	t.Logf("a consumer of flagprovider compiles packages of %d modules: %s", len(deps), strings.Join(deps, " "))
}

// modules makes a module named name with main.go src in a temporary
// directory, tidies it outside the workspace, and returns `go list -m all`;
// then, if given, more runs the go command there.
func modules(t *testing.T, name, replace, src string, more ...func(run func(...string) string)) []string {
	t.Helper()
	dir := t.TempDir()
	mod := fmt.Sprintf("module %s\n\ngo 1.26.8\n\n%s", name, replace)
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), name, err, out)
		}
		return string(out)
	}
	run("mod", "tidy")
	for _, fn := range more {
		fn(run)
	}
	return strings.Split(strings.TrimSpace(run("list", "-m", "all")), "\n")
}

// TestInstalledModulesHaveNoReplace: the modules users install with go get
// or go install must carry no replace directive, or `go install
// …/cmd/etcdconf@latest` refuses them; the workspace (go.work) is what
// points them at the root module during development.
func TestInstalledModulesHaveNoReplace(t *testing.T) {
	for _, dir := range []string{"../cmd/etcdconf", "../etcdconfprom", "../etcdtest", "../flagprovider"} {
		out, err := exec.Command("go", "mod", "edit", "-json", filepath.Join(dir, "go.mod")).Output()
		if err != nil {
			t.Fatalf("go mod edit -json %s/go.mod: %v", dir, err)
		}
		var mod struct {
			Module  struct{ Path string }
			Replace []struct {
				Old, New struct{ Path, Version string }
			}
		}
		if err := json.Unmarshal(out, &mod); err != nil {
			t.Fatalf("%s/go.mod: %v", dir, err)
		}
		if mod.Module.Path == "" {
			t.Fatalf("%s/go.mod names no module", dir)
		}
		for _, r := range mod.Replace {
			t.Errorf("%s (%s/go.mod) replaces %s with %s: go install and go get refuse a module with a replace directive; go.work serves development",
				mod.Module.Path, dir, r.Old.Path, r.New.Path)
		}
	}
}
