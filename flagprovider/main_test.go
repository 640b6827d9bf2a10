package flagprovider

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/etcdconf/etcdconf/etcdtest"
)

// TestMain fails the package if a goroutine outlives the tests: every
// provider must be shut down, every server closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, etcdtest.IgnoredGoroutines()...)
}
