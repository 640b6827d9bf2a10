// Command crud puts, gets (with revision metadata) and deletes a key with
// plain clientv3, then reads the same key through an etcdconf snapshot.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/examples/internal/demo"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, out io.Writer) error {
	cli, where, closeAll, err := demo.Connect()
	if err != nil {
		return err
	}
	defer closeAll()
	fmt.Fprintln(out, "using", where)

	put, err := cli.Put(ctx, "/crud/greeting", "hello")
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "put /crud/greeting at revision", put.Header.Revision)
	if _, err := cli.Put(ctx, "/crud/greeting", "hello again"); err != nil {
		return err
	}
	get, err := cli.Get(ctx, "/crud/greeting")
	if err != nil {
		return err
	}
	kv := get.Kvs[0]
	fmt.Fprintf(out, "get %s = %q (created at %d, modified at %d, version %d)\n",
		kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision, kv.Version)

	snap, err := etcdconf.Load[map[string]string](ctx, cli, "/crud/")
	if err != nil {
		return err
	}
	meta, _ := snap.Key("greeting")
	fmt.Fprintf(out, "etcdconf snapshot at revision %d: greeting = %q (version %d)\n", snap.Revision, snap.Value["greeting"], meta.Version)

	for range 2 {
		del, err := cli.Delete(ctx, "/crud/greeting", clientv3.WithPrevKV())
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "delete /crud/greeting: existed=%v\n", del.Deleted > 0)
	}
	return nil
}
