package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/etcdconf/etcdconf/etcdtest"
	"github.com/google/go-cmp/cmp"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestGetJSONIsJSON: get -o json writes one JSON document on stdout and
// nothing else; the revision it read goes to stderr (#20 item 9a).
func TestGetJSONIsJSON(t *testing.T) {
	srv := etcdtest.Start(t)
	etcd := srv.Client(t)
	if _, err := etcd.Put(context.Background(), "/j/db/host", "x"); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := cliStreams(t, srv, "get", "/j/", "-o", "json")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s%s", code, stdout, stderr)
	}
	var doc map[string]map[string]string
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || doc["db"]["host"] != "x" {
		t.Fatalf("stdout is not the JSON document (%v):\n%s", err, stdout)
	}
	if !strings.Contains(stderr, "/j/ at revision 2") {
		t.Errorf("stderr does not say the revision read:\n%s", stderr)
	}
}

// TestDiffQuotesValues: diff and apply --dry-run quote values, so a
// newline in a value cannot forge a change line, and an empty or
// space-padded value shows (#20 item 9b).
func TestDiffQuotesValues(t *testing.T) {
	srv := etcdtest.Start(t)
	etcd := srv.Client(t)
	for k, v := range map[string]string{"/q/a": "old\n  + /q/forged = x", "/q/e": "", "/q/p": " x "} {
		if _, err := etcd.Put(context.Background(), k, v); err != nil {
			t.Fatal(err)
		}
	}
	f := writeFile(t, t.TempDir(), "q.yaml", "a: new\ne: z\np: x\n")
	for _, args := range [][]string{{"diff", "/q/", "-f", f}, {"apply", "/q/", "-f", f, "--dry-run"}} {
		out, _ := cli(t, srv, args...)
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "+ /q/forged") {
				t.Errorf("%v: a value forged the line %q:\n%s", args, line, out)
			}
		}
		for _, want := range []string{
			`~ /q/a: "old\n  + /q/forged = x" -> "new"`,
			`~ /q/e: "" -> "z"`,
			`~ /q/p: " x " -> "x"`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: output lacks %s:\n%s", args, want, out)
			}
		}
	}
}

// TestRevisionFlagsAndMessages: a negative --rev or --since is refused
// (etcd would read it as now, or the oldest), and a failed current read
// does not say "at revision 0" (#20 item 9c).
func TestRevisionFlagsAndMessages(t *testing.T) {
	srv := etcdtest.Start(t, etcdtest.WithAuth("rootpw"))
	if err := srv.AddUser(context.Background(), "app", "apppw", "/app/", true); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		says string
	}{
		{[]string{"get", "/app/", "--rev", "-5", "--user", "app:apppw"}, "--rev -5: a revision is a positive number"},
		{[]string{"history", "/app/", "--since", "-5", "--user", "app:apppw"}, "--since -5: a revision is a positive number"},
		{[]string{"get", "/other/", "--user", "app:apppw"}, "read /other/ at the current revision: "},
	} {
		out, code := cli(t, srv, tt.args...)
		if code != exitError || !strings.Contains(out, tt.says) || strings.Contains(out, "revision 0") {
			t.Errorf("%v: exit %d, want %d saying %q:\n%s", tt.args, code, exitError, tt.says, out)
		}
	}
}

// TestMalformedJSONFile: a .json file that is not JSON is reported as a
// JSON error naming the file, line and column, not as YAML's (#20 item 9d).
func TestMalformedJSONFile(t *testing.T) {
	srv := etcdtest.Start(t)
	dir := t.TempDir()
	for _, tt := range []struct{ body, says string }{
		{"{\n  \"a\": 1,\n}\n", "bad.json: invalid JSON at line 3, column 1: invalid character '}'"},
		{`{"a": 1`, "bad.json: invalid JSON: unexpected end of the file"},
		{`{"a": 1} {"b": 2}`, "bad.json: invalid JSON at line 1, column 10: data after the JSON value"},
		{"{a: 1}", "bad.json: invalid JSON at line 1, column 2: invalid character 'a'"},
	} {
		f := writeFile(t, dir, "bad.json", tt.body)
		for _, args := range [][]string{{"diff", "/j/", "-f", f}, {"apply", "/j/", "-f", f, "--yes"}} {
			out, code := cli(t, srv, args...)
			if code != exitError || !strings.Contains(out, tt.says) || strings.Contains(out, "yaml:") {
				t.Errorf("%s -f %q: exit %d, want %d saying %q:\n%s", args[0], tt.body, code, exitError, tt.says, out)
			}
		}
	}
}

// TestNonUTF8ValuesRoundTrip: get prints a value that is not UTF-8 as a
// YAML !!binary scalar, and apply -f of that output writes the same bytes
// back; -o json refuses it before printing anything (#20 item 9f).
func TestNonUTF8ValuesRoundTrip(t *testing.T) {
	srv := etcdtest.Start(t)
	etcd := srv.Client(t)
	ctx := context.Background()
	raw := "\xff\xfe\x00ok"
	for k, v := range map[string]string{"/b/raw": raw, "/b/db/raw": "\xc3", "/b/text": "héllo"} {
		if _, err := etcd.Put(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	stdout, stderr, code := cliStreams(t, srv, "get", "/b/")
	if code != exitOK || !strings.Contains(stdout, "raw: !!binary //4Ab2s=") {
		t.Fatalf("get: exit %d, want raw: !!binary //4Ab2s=\n%s%s", code, stdout, stderr)
	}
	f := writeFile(t, t.TempDir(), "b.yaml", stdout)
	if out, code := cli(t, srv, "diff", "/b/", "-f", f, "--prune"); code != exitOK {
		t.Fatalf("diff of get's own output: exit %d\n%s", code, out)
	}
	if _, err := etcd.Delete(ctx, "/b/", clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	if out, code := cli(t, srv, "apply", "/b/", "-f", f, "--yes"); code != exitOK {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}
	want := map[string]string{"raw": raw, "db/raw": "\xc3", "text": "héllo"}
	if got := prefixKeys(t, etcd, "/b/"); !cmp.Equal(got, want) {
		t.Fatalf("apply wrote (-want +got):\n%s", cmp.Diff(want, got))
	}
	stdout, stderr, code = cliStreams(t, srv, "get", "/b/", "-o", "json")
	if code != exitError || stdout != "" || !strings.Contains(stderr, `"/b/db/raw": value is not UTF-8`) {
		t.Fatalf("get -o json: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
