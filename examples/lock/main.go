// Command lock takes a lock with a compare-and-swap (create the key only if
// it does not exist), shows a second taker failing, then uses the etcd
// concurrency package's Mutex, the production choice, with fencing: writes
// guarded by the lock key's revision are refused once the lock is lost.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/etcdconf/etcdconf/examples/internal/demo"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// acquire creates key only if it does not exist: a one-shot lock.
func acquire(ctx context.Context, cli *clientv3.Client, key, owner string) (bool, error) {
	resp, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, owner)).
		Commit()
	if err != nil {
		return false, err
	}
	return resp.Succeeded, nil
}

// prefix is the example's own: it refuses to run if keys exist there, and
// deletes what it wrote when it ends.
const prefix = "/etcdconf-examples/lock/"

func run(ctx context.Context, out io.Writer) error {
	cli, where, closeAll, err := demo.Connect()
	if err != nil {
		return err
	}
	defer closeAll()
	fmt.Fprintln(out, "using", where)
	release, err := demo.Own(ctx, cli, prefix)
	if err != nil {
		return err
	}
	defer release()
	report := prefix + "locks/report"

	for _, owner := range []string{"worker-a", "worker-b"} {
		ok, err := acquire(ctx, cli, report, owner)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s acquires %s by compare-and-swap: %v\n", owner, report, ok)
	}
	if _, err := cli.Delete(ctx, report); err != nil {
		return err
	}

	// Production: a Mutex on a session lease, released if the holder dies.
	session, err := concurrency.NewSession(cli, concurrency.WithTTL(5))
	if err != nil {
		return err
	}
	defer session.Close()
	mu := concurrency.NewMutex(session, prefix+"locks/job/")
	if err := mu.Lock(ctx); err != nil {
		return err
	}
	fmt.Fprintln(out, "mutex held; fencing token (the lock key's revision):", mu.Header().Revision > 0)
	// Fencing: a write that only succeeds while we still hold the lock.
	fenced := func() (bool, error) {
		resp, err := cli.Txn(ctx).If(mu.IsOwner()).Then(clientv3.OpPut(prefix+"jobs/last-run", "worker-a")).Commit()
		if err != nil {
			return false, err
		}
		return resp.Succeeded, nil
	}
	ok, err := fenced()
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "fenced write while holding the lock:", ok)
	if err := mu.Unlock(ctx); err != nil {
		return err
	}
	ok, err = fenced()
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "fenced write after unlocking:", ok)
	return nil
}
