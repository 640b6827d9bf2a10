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
		`["api-1"]: added {Addr:10.0.0.1:8080 Version:1.4.0}`,
		`["api-2"]: added`,
		`["api-2"]: removed`,
		"gone after about",
		`["api-1"]: removed`,
		"now 0 instance(s)",
	)
}
