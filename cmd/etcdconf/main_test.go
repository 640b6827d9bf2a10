package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf/etcdtest"
	"go.uber.org/goleak"
	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, etcdtest.IgnoredGoroutines()...) }

// cli runs one command in-process and returns its output and exit code.
func cli(t *testing.T, srv *etcdtest.Server, args ...string) (string, int) {
	t.Helper()
	out, errOut, code := cliStreams(t, srv, args...)
	return out + errOut, code
}

// cliStreams is cli with stdout and stderr apart.
func cliStreams(t *testing.T, srv *etcdtest.Server, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	t.Setenv("ETCDCTL_ENDPOINTS", srv.Endpoints()[0])
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code = run(ctx, args, strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), code
}

// session accumulates a transcript compared with a golden file.
type session struct {
	t   *testing.T
	srv *etcdtest.Server
	buf strings.Builder
}

func (s *session) run(want int, args ...string) string {
	s.t.Helper()
	out, code := cli(s.t, s.srv, args...)
	if code != want {
		s.t.Fatalf("etcdconf %s: exit %d, want %d\n%s", strings.Join(args, " "), code, want, out)
	}
	s.buf.WriteString("$ etcdconf " + strings.Join(args, " ") + "\n" + out)
	if code != 0 {
		fmt.Fprintf(&s.buf, "(exit %d)\n", code)
	}
	s.buf.WriteString("\n")
	return out
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		t.Fatalf("%s differs from %s:\n%s", name, path, got)
	}
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSession(t *testing.T) {
	srv := etcdtest.Start(t)
	dir := t.TempDir()
	v1 := writeFile(t, dir, "config.yaml", "db:\n  host: db.internal\n  port: 5432\nfeatures:\n  new-ui: false\n")
	v2 := writeFile(t, dir, "config-v2.yaml", "db:\n  host: db.internal\n  port: 6432\nfeatures:\n  new-ui: true\n  beta: on\n")
	s := &session{t: t, srv: srv}
	s.run(0, "apply", "/app/", "-f", v1, "--yes")
	s.run(0, "get", "/app/")
	s.run(0, "diff", "/app/", "-f", v1)
	s.run(1, "diff", "/app/", "-f", v2)
	s.run(0, "apply", "/app/", "-f", v2, "--dry-run")
	s.run(0, "get", "/app/", "-o", "keys")
	s.run(0, "apply", "/app/", "-f", v2, "--yes")
	s.run(0, "history", "/app/", "--etcd")
	s.run(0, "rollback", "/app/", "--to", "2", "--yes")
	s.run(0, "get", "/app/", "-o", "json")
	s.run(2, "apply", "/app/", "-f", v2) // stdin is no terminal and no --yes
	golden(t, "session", strings.ReplaceAll(s.buf.String(), dir, "DIR"))
}

func TestApplyConflictWritesNothing(t *testing.T) {
	srv := etcdtest.Start(t)
	dir := t.TempDir()
	f := writeFile(t, dir, "c.yaml", "a: 1\nb: 2\n")
	if _, code := cli(t, srv, "apply", "/c/", "-f", f, "--yes"); code != 0 {
		t.Fatal("seed apply failed")
	}
	f2 := writeFile(t, dir, "c2.yaml", "a: 10\nb: 20\n")
	other := srv.Client(t)
	beforeCommit = func() { other.Put(context.Background(), "/c/a", "concurrent") }
	defer func() { beforeCommit = nil }()
	out, code := cli(t, srv, "apply", "/c/", "-f", f2, "--yes")
	if code != exitConflict || !strings.Contains(out, "nothing was written") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	beforeCommit = nil
	got, _ := cli(t, srv, "get", "/c/", "-o", "keys")
	if !strings.Contains(got, "/c/a = concurrent") || !strings.Contains(got, "/c/b = 2") {
		t.Fatalf("a conflicting apply wrote something:\n%s", got)
	}
}

func TestErrors(t *testing.T) {
	srv := etcdtest.Start(t)
	for _, tt := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"frobnicate"}, exitError, "unknown command"},
		{[]string{"get"}, exitError, "exactly one PREFIX"},
		{[]string{"apply", "/x/"}, exitError, "-f FILE is required"},
		{[]string{"rollback", "/x/"}, exitError, "--to REV or --release N is required"},
		{[]string{"get", "/x/", "-o", "xml"}, exitError, "want yaml, json or keys"},
		{[]string{"diff", "/x/", "-f", "/nonexistent.yaml"}, exitError, "no such file"},
		{[]string{"get", "/x/", "--endpoints", "127.0.0.1:1", "--dial-timeout", "1s"}, exitError, "unreachable"},
		{[]string{"get", "-h"}, exitOK, "Example:"},
	} {
		out, code := cli(t, srv, tt.args...)
		if code != tt.code || !strings.Contains(out, tt.says) {
			t.Errorf("%v: exit %d, want %d saying %q:\n%s", tt.args, code, tt.code, tt.says, out)
		}
	}
}

func TestWatchPrintsChanges(t *testing.T) {
	srv := etcdtest.Start(t)
	t.Setenv("ETCDCTL_ENDPOINTS", srv.Endpoints()[0])
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan int)
	go func() { done <- run(ctx, []string{"watch", "/w/"}, strings.NewReader(""), &out, &out) }()
	for !strings.Contains(out.String(), "watching") {
		time.Sleep(5 * time.Millisecond)
	}
	c := srv.Client(t)
	c.Put(context.Background(), "/w/a", "1")
	c.Put(context.Background(), "/w/a", "2")
	c.Delete(context.Background(), "/w/a")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "- /w/a") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	for _, want := range []string{`+ /w/a = "1"`, `~ /w/a: "1" -> "2"`, "- /w/a"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("watch output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestHistorySaysWhatWasCompacted(t *testing.T) {
	srv := etcdtest.Start(t)
	c := srv.Client(t)
	ctx := context.Background()
	c.Put(ctx, "/h/a", "1")
	c.Put(ctx, "/h/a", "2")
	r, _ := c.Put(ctx, "/h/a", "3")
	if err := srv.Compact(ctx, r.Header.Revision-1); err != nil {
		t.Fatal(err)
	}
	out, code := cli(t, srv, "history", "/h/", "--etcd")
	if code != 0 || !strings.Contains(out, "history before revision 3 was compacted") || !strings.Contains(out, `~ /h/a: "2" -> "3"`) {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	out, code = cli(t, srv, "rollback", "/h/", "--to", "2", "--yes")
	if code != exitError || !strings.Contains(out, "compacted") {
		t.Fatalf("rollback to a compacted revision: exit %d:\n%s", code, out)
	}
}

// TestScalarsKeepTheirText: apply writes a file's scalars as written (a
// date is not reformatted as a Go time, 1.10 is not 1.1), and get -o yaml
// prints values so that they read back exactly (a leading newline or tab).
func TestScalarsKeepTheirText(t *testing.T) {
	srv := etcdtest.Start(t)
	f := writeFile(t, t.TempDir(), "c.yaml", "date: 2024-01-01\nversion: 1.10\nhex: 0x1F\nhosts: [a, 1.10]\n")
	if out, code := cli(t, srv, "apply", "/s/", "-f", f, "--yes"); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}
	got, _ := cli(t, srv, "get", "/s/", "-o", "keys")
	for _, want := range []string{"/s/date = 2024-01-01", "/s/version = 1.10", "/s/hex = 0x1F", "/s/hosts = a,1.10"} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("get -o keys lacks %q:\n%s", want, got)
		}
	}
	etcd := srv.Client(t)
	for _, v := range []string{"\nfoo", "\tfoo\nbar", "true", " padded "} {
		if _, err := etcd.Put(context.Background(), "/y/v", v); err != nil {
			t.Fatal(err)
		}
		out, code := cli(t, srv, "get", "/y/", "-o", "yaml")
		if code != 0 {
			t.Fatalf("get -o yaml: exit %d\n%s", code, out)
		}
		var doc map[string]string
		body := out[strings.Index(out, "\n")+1:] // after the "# /y/ at revision" line
		if err := yaml.Unmarshal([]byte(body), &doc); err != nil || doc["v"] != v {
			t.Errorf("value %q printed as\n%s\nreads back %q, %v", v, body, doc["v"], err)
		}
	}
}
