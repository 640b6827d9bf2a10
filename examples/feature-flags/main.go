// Command feature-flags reads typed flags from etcd, toggles one live,
// rolls another out to a percentage of users (sticky per user), and turns
// a third on for a short while with a TTL override that expires by itself.
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

// Flags are the service's feature flags.
type Flags struct {
	NewCheckout etcdconf.Flag `etcd:"new-checkout"`
	DarkMode    etcdconf.Flag `etcd:"dark-mode"`
	Maintenance etcdconf.Flag
}

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// prefix is the example's own: it refuses to run if keys exist there, and
// deletes what it wrote when it ends.
const prefix = "/etcdconf-examples/feature-flags/"

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
	if _, err := cli.Put(ctx, prefix+"new-checkout", "off"); err != nil {
		return err
	}
	w, err := etcdconf.New[Flags](ctx, cli, prefix)
	if err != nil {
		return err
	}
	defer w.Close()
	users := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}
	show := func(s *etcdconf.Snapshot[Flags]) {
		f := s.Value
		var dark []string
		for _, u := range users {
			if f.DarkMode.Enabled(u) {
				dark = append(dark, u)
			}
		}
		fmt.Fprintf(out, "revision %d: new-checkout=%v dark-mode=%v (for %v) maintenance=%v\n",
			s.Revision, f.NewCheckout, f.DarkMode, dark, f.Maintenance)
	}
	show(w.Current())

	s, err := w.Set(ctx, "NewCheckout", "on")
	if err != nil {
		return err
	}
	show(s)
	if s, err = w.Set(ctx, "DarkMode", "50%"); err != nil {
		return err
	}
	show(s)
	if s, err = w.Set(ctx, "Maintenance", true, etcdconf.WithTTL(time.Second)); err != nil {
		return err
	}
	show(s)
	updates := w.Subscribe(ctx)
	timeout := time.After(10 * time.Second)
	for w.Current().Value.Maintenance.On() {
		select {
		case <-updates:
		case <-timeout:
			return fmt.Errorf("the maintenance override did not expire")
		}
	}
	fmt.Fprintln(out, "the maintenance override expired by itself:")
	show(w.Current())
	return nil
}
