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
		"using embedded etcd",
		"get /crud/greeting = \"hello again\"",
		"version 2)",
		"delete /crud/greeting: existed=true",
		"delete /crud/greeting: existed=false",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out.String())
	}
}
