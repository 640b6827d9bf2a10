package etcdconf

import (
	"testing"

	"github.com/etcdconf/etcdconf/internal/etcdproc"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
)

// TestMain fails the package if a watcher's goroutine outlives the tests.
// (goleak is this module's one test-only requirement.)
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// etcdClient starts a one-member etcd process and returns a client of it.
// The few tests of this package that need etcd run it as a process: an
// embedded server (package etcdtest) would put etcd's server into this
// module's go.mod, and so into the build of every module that uses
// etcdconf. The rest of the suite is in the tests module.
func etcdClient(tb testing.TB) *clientv3.Client {
	tb.Helper()
	cli, _ := etcdProcess(tb)
	return cli
}

// etcdProcess is etcdClient, with the member for its CPU time.
func etcdProcess(tb testing.TB) (*clientv3.Client, *etcdproc.Member) {
	tb.Helper()
	c := etcdproc.Start(tb, etcdproc.Built(tb), 1)
	return c.Client(tb), c.Members[0]
}
