package etcdtest

import "go.uber.org/goleak"

// IgnoredGoroutines returns goleak options for the goroutines a stopped
// etcd cluster leaves behind for a few seconds, for use in TestMain:
//
//	goleak.VerifyTestMain(m, etcdtest.IgnoredGoroutines()...)
//
// Members of a cluster talk over HTTP keep-alive connections (etcd's peer
// transport); after the members stop, those idle connections' read and
// write loops end only when their timeouts fire. A one-member server leaves
// nothing behind.
func IgnoredGoroutines() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*connReader).backgroundRead"),
		goleak.IgnoreAnyFunction("net/http.(*conn).serve"),
	}
}
