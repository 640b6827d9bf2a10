// Command lease writes a key with a one-second TTL through etcdconf and
// watches it disappear by itself when the lease expires.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/examples/internal/demo"
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

	w, err := etcdconf.New[map[string]string](ctx, cli, "/lease/")
	if err != nil {
		return err
	}
	defer w.Close()
	updates := w.Subscribe(ctx)
	snap, err := w.Set(ctx, `["maintenance"]`, "on", etcdconf.WithTTL(time.Second))
	if err != nil {
		return err
	}
	kv, _ := snap.Key("maintenance")
	fmt.Fprintf(out, "maintenance = %q under lease %x\n", snap.Value["maintenance"], kv.Lease)
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		select {
		case u := <-updates:
			if _, ok := u.New.Value["maintenance"]; !ok {
				fmt.Fprintf(out, "maintenance expired by itself after about %ds\n", int(time.Since(start).Round(time.Second).Seconds()))
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("the key did not expire: %w", ctx.Err())
		}
	}
}
