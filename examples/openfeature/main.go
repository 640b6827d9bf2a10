// Command openfeature evaluates feature flags through OpenFeature
// (github.com/open-feature/go-sdk) with flags kept in etcd in flagd's
// format, with no etcd installed: it starts an embedded etcd, puts
// flags.json there as one key (what `etcdctl put /flags/checkout.json <
// flags.json` does), registers the flagprovider, and evaluates a boolean
// flag with a targeting rule on the email suffix and a 25% fractional
// rollout for a few users. Then it widens the rollout live and prints the
// CONFIGURATION_CHANGED event and the users' new answers.
package main

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	of "github.com/open-feature/go-sdk/openfeature"

	"github.com/etcdconf/etcdconf/examples/internal/demo"
	"github.com/etcdconf/etcdconf/flagprovider"
)

//go:embed flags.json
var flags string

const (
	prefix = "/flags/"
	key    = prefix + "checkout.json"
)

// users are who asks for the flag: staff by email, the others by the
// targeting key the rollout buckets on.
var users = []struct{ id, email string }{
	{"u-1001", "ann@example.com"},
	{"u-1002", "bob@example.com"},
	{"u-2001", "carol@mail.test"},
	{"u-2002", "dave@mail.test"},
	{"u-2003", "erin@mail.test"},
	{"u-2004", "frank@mail.test"},
	{"u-2005", "grace@mail.test"},
	{"u-2006", "heidi@mail.test"},
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
	release, err := demo.Own(ctx, cli, prefix)
	if err != nil {
		return err
	}
	defer release()
	fmt.Fprintf(out, "connected to %s\n", where)
	resp, err := cli.Put(ctx, key, flags)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "put %s at revision %d\n", key, resp.Header.Revision)

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	p, err := flagprovider.New(ctx, cli, prefix)
	if err != nil {
		return err
	}
	if err := of.SetProviderWithContextAndWait(ctx, p); err != nil {
		p.Shutdown()
		return err
	}
	defer of.Shutdown() // shuts the provider down too; cli stays the caller's
	client := of.NewClient("checkout")

	changes := make(chan of.EventDetails, 1)
	onChange := func(d of.EventDetails) {
		select {
		case changes <- d:
		default: // the example waits for one change only
		}
	}
	client.AddHandler(of.ProviderConfigChange, &onChange)

	show(ctx, out, client)
	widened := strings.Replace(flags, `[["on", 25], ["off", 75]]`, `[["on", 75], ["off", 25]]`, 1)
	if resp, err = cli.Put(ctx, key, widened); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n> widen the rollout to 75%% (revision %d)\n", resp.Header.Revision)
	select {
	case d := <-changes:
		fmt.Fprintf(out, "event %s from %s: flags %v\n", of.ProviderConfigChange, d.ProviderName, d.FlagChanges)
	case <-ctx.Done():
		return fmt.Errorf("no %s event: %w", of.ProviderConfigChange, ctx.Err())
	}
	show(ctx, out, client)
	return nil
}

// show prints new-checkout for every user, with the reason and variant
// the provider gave.
func show(ctx context.Context, out io.Writer, client *of.Client) {
	on := 0
	for _, u := range users {
		ec := of.NewEvaluationContext(u.id, map[string]any{"email": u.email})
		d, err := client.BooleanValueDetails(ctx, "new-checkout", false, ec)
		if err != nil {
			fmt.Fprintf(out, "  %-17s error: %v\n", u.email, err)
			continue
		}
		if d.Value {
			on++
		}
		fmt.Fprintf(out, "  %-17s new-checkout=%-5v (%s, variant %s)\n", u.email, d.Value, d.Reason, d.Variant)
	}
	fmt.Fprintf(out, "  %d of %d users see the new checkout\n", on, len(users))
}
