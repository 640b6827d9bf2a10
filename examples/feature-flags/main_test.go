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
		"new-checkout=false",
		"new-checkout=true",
		"dark-mode=50%",
		"maintenance=true",
		"the maintenance override expired by itself",
	)
}
