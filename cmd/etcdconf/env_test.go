package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf/etcdtest"
)

// clearEnv unsets every ETCDCTL_* setting the CLI reads, for the test.
func clearEnv(t *testing.T) {
	for _, v := range []string{"ENDPOINTS", "USER", "PASSWORD", "CACERT", "CERT", "KEY", "DIAL_TIMEOUT"} {
		t.Setenv("ETCDCTL_"+v, "")
	}
}

// runEnv runs one command in-process with the environment as the test set
// it, and returns its output, exit code and how long it took.
func runEnv(args ...string) (string, int, time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	start := time.Now()
	code := run(ctx, args, strings.NewReader(""), &out, &errOut)
	return out.String() + errOut.String(), code, time.Since(start)
}

// TestEnvironmentCompletedByFlags: ETCDCTL_PASSWORD waits for --user and
// ETCDCTL_CERT for --key, as etcdctl accepts them; only a combination
// still incomplete after the flags is refused (#20 item 11).
func TestEnvironmentCompletedByFlags(t *testing.T) {
	ca, err := etcdtest.NewCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.Issue("cli", false)
	if err != nil {
		t.Fatal(err)
	}
	auth := etcdtest.Start(t, etcdtest.WithAuth("rootpw"))
	mtls := etcdtest.Start(t, etcdtest.WithTLS(ca, true))

	t.Run("password completed by --user", func(t *testing.T) {
		clearEnv(t)
		t.Setenv("ETCDCTL_ENDPOINTS", auth.Endpoints()[0])
		t.Setenv("ETCDCTL_PASSWORD", "rootpw")
		if out, code, _ := runEnv("get", "/x/", "--user", "root"); code != exitOK {
			t.Fatalf("exit %d, want 0:\n%s", code, out)
		}
		out, code, _ := runEnv("get", "/x/")
		if code != exitError || !strings.Contains(out, "no user") {
			t.Fatalf("without --user: exit %d, want 2 saying there is no user:\n%s", code, out)
		}
	})
	t.Run("certificate completed by --key", func(t *testing.T) {
		clearEnv(t)
		t.Setenv("ETCDCTL_ENDPOINTS", mtls.Endpoints()[0])
		t.Setenv("ETCDCTL_CACERT", ca.CertFile)
		t.Setenv("ETCDCTL_CERT", cert)
		if out, code, _ := runEnv("get", "/x/", "--key", key); code != exitOK {
			t.Fatalf("exit %d, want 0:\n%s", code, out)
		}
		out, code, _ := runEnv("get", "/x/")
		if code != exitError || !strings.Contains(out, "no key") {
			t.Fatalf("without --key: exit %d, want 2 saying there is no key:\n%s", code, out)
		}
	})
}

// TestDialTimeoutFromEnvironment: ETCDCTL_DIAL_TIMEOUT=1s bounds the
// connection to an etcd that does not answer to about a second, not the
// 5s default (#20 item 11).
func TestDialTimeoutFromEnvironment(t *testing.T) {
	srv := etcdtest.Start(t)
	p, err := etcdtest.NewProxy(srv.Endpoints()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Pause()
	clearEnv(t)
	t.Setenv("ETCDCTL_ENDPOINTS", p.Addr())
	t.Setenv("ETCDCTL_DIAL_TIMEOUT", "1s")
	out, code, took := runEnv("get", "/x/")
	if code != exitError {
		t.Fatalf("exit %d, want 2:\n%s", code, out)
	}
	if took > 3*time.Second {
		t.Fatalf("took %v with ETCDCTL_DIAL_TIMEOUT=1s:\n%s", took, out)
	}
	// The flag still wins over the environment.
	_, _, took = runEnv("get", "/x/", "--dial-timeout", "3s")
	if took < 2500*time.Millisecond {
		t.Fatalf("--dial-timeout 3s gave up after %v", took)
	}
}
