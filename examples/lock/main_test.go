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
		"worker-a acquires /etcdconf-examples/lock/locks/report by compare-and-swap: true",
		"worker-b acquires /etcdconf-examples/lock/locks/report by compare-and-swap: false",
		"fenced write while holding the lock: true",
		"fenced write after unlocking: false",
	)
}
