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
		"using embedded etcd",
		"get /crud/greeting = \"hello again\"",
		"version 2)",
		"delete /crud/greeting: existed=true",
		"delete /crud/greeting: existed=false",
	)
}
