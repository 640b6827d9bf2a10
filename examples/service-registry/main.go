// Command service-registry registers two instances with heartbeats,
// discovers them through a typed watcher, then crashes one (its key
// expires after the TTL) and stops the other cleanly (its key goes at once).
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

// Instance is what each service instance publishes about itself.
type Instance struct {
	Addr    string
	Version string
}

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

	w, err := etcdconf.New[map[string]Instance](ctx, cli, "/services/checkout/")
	if err != nil {
		return err
	}
	defer w.Close()
	updates := w.Subscribe(ctx)
	next := func() error {
		select {
		case u := <-updates:
			for _, c := range u.Changes {
				fmt.Fprintln(out, " ", c)
			}
			fmt.Fprintf(out, "  now %d instance(s)\n", len(u.New.Value))
			return nil
		case <-time.After(15 * time.Second):
			return fmt.Errorf("no discovery update within 15s")
		}
	}

	fmt.Fprintln(out, "register api-1 (clean) and api-2 (will crash), TTL 1s:")
	api1, err := etcdconf.Register(ctx, cli, "/services/checkout/api-1", `{"addr":"10.0.0.1:8080","version":"1.4.0"}`, time.Second)
	if err != nil {
		return err
	}
	if err := next(); err != nil {
		return err
	}
	// api-2 runs on its own connection, as another process would.
	cli2, err := demo.Another(cli)
	if err != nil {
		return err
	}
	if _, err := etcdconf.Register(ctx, cli2, "/services/checkout/api-2", `{"addr":"10.0.0.2:8080","version":"1.5.0"}`, time.Second); err != nil {
		return err
	}
	if err := next(); err != nil {
		return err
	}

	fmt.Fprintln(out, "api-2 crashes (no heartbeats); its key expires after the TTL:")
	start := time.Now()
	cli2.Close()
	if err := next(); err != nil {
		return err
	}
	fmt.Fprintf(out, "  gone after about %ds\n", int(time.Since(start).Round(time.Second).Seconds()))

	fmt.Fprintln(out, "api-1 stops cleanly; its lease is revoked and the key goes at once:")
	if err := api1.Close(); err != nil {
		return err
	}
	return next()
}
