package main

import (
	"testing"

	"github.com/etcdconf/etcdconf/etcdtest"
	"github.com/etcdconf/etcdconf/examples/internal/demo"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, etcdtest.IgnoredGoroutines()...) }

func TestRun(t *testing.T) {
	demo.Check(t, run,
		"LogLevel: \"info\" -> \"debug\"",
		"Workers: 1 -> 8",
		"subscription canceled; still current: debug 8",
	)
}
