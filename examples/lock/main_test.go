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
		"worker-a acquires /locks/report by compare-and-swap: true",
		"worker-b acquires /locks/report by compare-and-swap: false",
		"fenced write while holding the lock: true",
		"fenced write after unlocking: false",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out.String())
	}
}
