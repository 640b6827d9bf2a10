package demo

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// Check runs an example against an embedded etcd and fails t unless its
// output holds every one of wants, in any order.
func Check(t *testing.T, run func(context.Context, io.Writer) error, wants ...string) {
	t.Helper()
	t.Setenv("ETCDCTL_ENDPOINTS", "") // always the embedded etcd
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range wants {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out.String())
	}
}
