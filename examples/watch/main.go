// Command watch subscribes to a prefix with a callback, applies a few
// changes, and cancels the subscription.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/examples/internal/demo"
)

// Config is what the service reads.
type Config struct {
	LogLevel string `etcd:"log-level"`
	Workers  int
}

// onChange calls fn for every update until ctx ends, and returns when the
// subscription is over: the callback style, built on Subscribe.
func onChange(ctx context.Context, w *etcdconf.Watcher[Config], fn func(etcdconf.Event[Config])) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	updates := w.Subscribe(ctx)
	go func() {
		defer wg.Done()
		for u := range updates {
			fn(u)
		}
	}()
	return &wg
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

	w, err := etcdconf.New[Config](ctx, cli, "/watch/", etcdconf.WithDefaults(Config{LogLevel: "info", Workers: 1}))
	if err != nil {
		return err
	}
	defer w.Close()
	sub, cancel := context.WithCancel(ctx)
	defer cancel()
	seen := make(chan int64, 10)
	done := onChange(sub, w, func(u etcdconf.Event[Config]) {
		for _, c := range u.Changes {
			fmt.Fprintf(out, "revision %d: %v\n", u.New.Revision, c)
		}
		seen <- u.New.Revision
	})
	// Values that differ from what etcd holds, so that each write is an
	// update on every run: debug and 8 workers from the defaults.
	cur := w.Current().Value
	level := "debug"
	if cur.LogLevel == level {
		level = "info"
	}
	for _, kv := range [][2]string{{"log-level", level}, {"workers", strconv.Itoa(cur.Workers*2 + 6)}} {
		resp, err := cli.Put(ctx, "/watch/"+kv[0], kv[1])
		if err != nil {
			return err
		}
		timeout := time.After(10 * time.Second)
		for rev := int64(0); rev < resp.Header.Revision; {
			select {
			case rev = <-seen:
			case <-timeout:
				return fmt.Errorf("no update for %s=%s within 10s", kv[0], kv[1])
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	cancel() // ends the subscription; the callback goroutine returns
	done.Wait()
	fmt.Fprintln(out, "subscription canceled; still current:", w.Current().Value.LogLevel, w.Current().Value.Workers)
	return nil
}
