package etcdconf_test

import (
	"github.com/etcdconf/etcdconf/etcdtest"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives the tests: every
// watcher, subscriber and server must be closed by then.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, etcdtest.IgnoredGoroutines()...)
}
