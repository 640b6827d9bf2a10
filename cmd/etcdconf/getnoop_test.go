package main

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf/etcdtest"
	planner "github.com/etcdconf/etcdconf/plan"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// cliInput is cliStreams with stdin.
func cliInput(t *testing.T, srv *etcdtest.Server, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	t.Setenv("ETCDCTL_ENDPOINTS", srv.Endpoints()[0])
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errOut strings.Builder
	code = run(ctx, args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), code
}

// noopGen makes random prefixes of the layouts the library decodes: plain
// keys, JSON values in plain keys, .yaml and .json document keys, with
// scalars YAML reads otherwise than written and loose spellings that meet.
type noopGen struct{ r *rand.Rand }

var (
	noopNames = []string{"db", "DB", "d-b", "port", "host", "x", "é"}
	// plain key values, as etcd holds them
	noopPlain = []string{"0x10", "1.10", "yes", "", " x", "~", "1e3", "a\u0085  b", "x\u2028  y\u2029 z", "é", "a,b", "true", "null", "\nlead", "007", "2024-01-01",
		`{"addr":"b","port":1.10}`, `[1,"a"]`, `{"k":{"v":"0x10"}}`}
	// YAML source text of a document's scalars and values
	noopYAML = []string{"0x10", "1.10", "yes", `""`, `" x"`, "~", "1e3", `"a\u0085  b"`, `"x\u2028  y"`, "é", "2024-01-01", "True", "007", "null", "[0x1, 1.10, \"a,b\"]", "{k: 007, l: [yes]}", "'0x10'", "-1_000"}
	// JSON source text of a .json document's values
	noopJSON = []string{"1.10", "1e3", `"0x10"`, "true", "null", `""`, `" x"`, `"a\u0085  b"`, `"x\u2028  y"`, `[1,"a",1.10]`, `{"k":"v","n":0.50}`, `"é"`}
)

func (g noopGen) pick(l []string) string { return l[g.r.IntN(len(l))] }

func (g noopGen) keys() map[string]string {
	out := map[string]string{}
	for range 1 + g.r.IntN(5) {
		k := g.pick(noopNames)
		if g.r.IntN(2) == 0 {
			k += "/" + g.pick(noopNames)
		}
		switch g.r.IntN(4) {
		case 0:
			var b strings.Builder
			for range 1 + g.r.IntN(4) {
				fmt.Fprintf(&b, "%s: %s\n", g.pick(noopNames), g.pick(noopYAML))
			}
			if g.r.IntN(3) == 0 {
				fmt.Fprintf(&b, "%s:\n  %s: %s\n  %s: %s\n", g.pick(noopNames), g.pick(noopNames), g.pick(noopYAML), g.pick(noopNames), g.pick(noopYAML))
			}
			out[k+".yaml"] = b.String()
		case 1:
			var parts []string
			for range 1 + g.r.IntN(3) {
				parts = append(parts, fmt.Sprintf("%q: %s", g.pick(noopNames), g.pick(noopJSON)))
			}
			out[k+".json"] = "{" + strings.Join(parts, ", ") + "}"
		default:
			out[k] = g.pick(noopPlain)
		}
	}
	return out
}

// docKeys returns the document keys among keys, under prefix.
func docKeys(prefix string, keys map[string]string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if planner.DocumentExt(k) != "" {
			out = append(out, prefix+k)
		}
	}
	return out
}

// etcdKeys reads a prefix's keys and values, and etcd's revision.
func etcdKeys(t *testing.T, etcd *clientv3.Client, prefix string) (map[string]string, int64) {
	t.Helper()
	r, err := etcd.Get(context.Background(), prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, kv := range r.Kvs {
		out[string(kv.Key)] = string(kv.Value)
	}
	return out, r.Header.Revision
}

// TestGetReappliesAsNoOp: for random prefixes the library decodes, `get
// -o yaml | apply -f - --prune --yes` (and -o json) writes nothing: etcd's
// revision, keys and values are the same afterwards (#20 item 8).
func TestGetReappliesAsNoOp(t *testing.T) {
	srv := etcdtest.Start(t)
	etcd := srv.Client(t)
	g := noopGen{rand.New(rand.NewPCG(8, 20))}
	tried := 0
	for i := 0; tried < 40 && i < 1000; i++ {
		prefix := fmt.Sprintf("/p%d/", i)
		keys := g.keys()
		if planner.Check(prefix, keys) != nil {
			continue
		}
		tried++
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			if _, err := etcd.Put(context.Background(), prefix+k, keys[k]); err != nil {
				t.Fatal(err)
			}
		}
		// the prefix, and each document key in it as a prefix of its own
		for _, p := range append([]string{prefix}, docKeys(prefix, keys)...) {
			before, rev := etcdKeys(t, etcd, prefix)
			for _, o := range []string{"yaml", "json"} {
				if o == "yaml" && planner.DocumentExt(p) == ".json" {
					continue // apply to a .json key takes JSON only
				}
				got, errOut, code := cliInput(t, srv, "", "get", p, "-o", o)
				if code != 0 {
					t.Fatalf("%q: get %s -o %s: exit %d\n%s", keys, p, o, code, errOut)
				}
				out, errOut, code := cliInput(t, srv, got, "apply", p, "-f", "-", "--prune", "--yes")
				after, rev2 := etcdKeys(t, etcd, prefix)
				if code != 0 || rev2 != rev || !maps.Equal(before, after) {
					t.Fatalf("%q: get %s -o %s printed\n%s\napply -f -: exit %d, revision %d -> %d\n%s%s\nkeys after: %q", keys, p, o, got, code, rev, rev2, out, errOut, after)
				}
			}
		}
	}
	if tried < 40 {
		t.Fatalf("only %d prefixes decode", tried)
	}
}

// TestGetRefusesKeysItWouldRename: a key with an empty segment is refused
// by -o yaml and -o json (exit 2, naming it, suggesting -o keys), never
// printed renamed; -o keys prints it (#20 item 8 (c)).
func TestGetRefusesKeysItWouldRename(t *testing.T) {
	srv := etcdtest.Start(t)
	etcd := srv.Client(t)
	for _, k := range []string{"/e/a//b", "/e/c/"} {
		if _, err := etcd.Put(context.Background(), k, "1"); err != nil {
			t.Fatal(err)
		}
		for _, o := range []string{"yaml", "json"} {
			out, errOut, code := cliInput(t, srv, "", "get", "/e/", "-o", o)
			if code != 2 || out != "" || !strings.Contains(errOut, fmt.Sprintf("%q", k)) || !strings.Contains(errOut, "-o keys") {
				t.Errorf("get -o %s with %q: exit %d\n%s%s", o, k, code, out, errOut)
			}
		}
		if _, err := etcd.Delete(context.Background(), k); err != nil {
			t.Fatal(err)
		}
	}
	etcd.Put(context.Background(), "/e/a//b", "1")
	if out, _, code := cliInput(t, srv, "", "get", "/e/", "-o", "keys"); code != 0 || !strings.Contains(out, "/e/a//b = 1\n") {
		t.Errorf("get -o keys: exit %d\n%s", code, out)
	}
}
