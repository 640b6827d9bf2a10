package main

import (
	"context"
	"io"
	"testing"

	"github.com/etcdconf/etcdconf/etcdtest"
	"github.com/etcdconf/etcdconf/examples/internal/demo"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, etcdtest.IgnoredGoroutines()...) }

func TestRun(t *testing.T) {
	demo.Check(t, func(ctx context.Context, out io.Writer) error { return run(ctx, nil, out) },
		"started an embedded etcd",
		"connected: cluster of 1 member(s)",
		"unreachable: check the endpoint",
	)
}
