// Package etcdconf keeps a typed configuration value in step with a key
// prefix in etcd.
//
// [New] loads every key under a prefix at one revision into a value of type T,
// then watches the prefix from the next revision and swaps in a freshly
// decoded, immutable [Snapshot] for every revision that decodes and validates:
//
//	w, err := etcdconf.New[AppConfig](ctx, cli, "/myapp/config/")
//	cfg := w.Current().Value // lock-free; never nil
//	for u := range w.Subscribe(ctx) {
//		fmt.Println(u.New.Revision, u.Changes)
//	}
//
// The key layout, the decoding rules and the watch guarantees are described in
// the README.
package etcdconf
