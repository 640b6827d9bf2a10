package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf/etcdtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, etcdtest.IgnoredGoroutines()...) }

func TestRun(t *testing.T) {
	t.Setenv("ETCDCTL_ENDPOINTS", "") // always the embedded etcd
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		`["api-1"]: added {Addr:10.0.0.1:8080 Version:1.4.0}`,
		`["api-2"]: added`,
		`["api-2"]: removed`,
		"gone after about",
		`["api-1"]: removed`,
		"now 0 instance(s)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out.String())
	}
}
