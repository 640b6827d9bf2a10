// Command layers shows etcdconf's layered configuration with no etcd
// installed: defaults in the program, a file beside it (as an image or a
// ConfigMap would ship it), etcd, and an environment variable, merged into
// one typed value. It prints where each field came from, then changes the
// file, etcd and deletes etcd's key, printing every diff and the source
// of the field it touched.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/examples/internal/demo"
)

// Config is the service's configuration.
type Config struct {
	DB struct {
		Host     string
		Port     int
		MaxConns int `etcd:"max-conns"`
	}
	LogLevel string `etcd:"log-level"`
	Features map[string]bool
}

const prefix = "/layers/config/"

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

	dir, err := os.MkdirTemp("", "layers")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "base.yaml")
	if err := writeFile(file, "db:\n  host: db.internal\n  max_conns: 20\nfeatures:\n  search: true\n"); err != nil {
		return err
	}
	if _, err := cli.Put(ctx, prefix+"features/checkout-v2", "true"); err != nil {
		return err
	}
	// The deployment overrides the log level for this instance.
	os.Setenv("LAYERS_LOG_LEVEL", "debug")

	var defaults Config
	defaults.DB.Port, defaults.DB.MaxConns, defaults.LogLevel = 5432, 10, "info"
	w, err := etcdconf.New[Config](ctx, cli, prefix,
		etcdconf.WithDefaults(defaults),
		etcdconf.WithFile(file),
		etcdconf.WithEnv("LAYERS"),
		etcdconf.WithFileInterval(50*time.Millisecond))
	if err != nil {
		return err
	}
	defer w.Close()
	cur := w.Current()
	fmt.Fprintf(out, "loaded revision %d, generation %d: %+v\n", cur.Revision, cur.Generation, cur.Value)
	for _, p := range []string{"DB.Host", "DB.Port", "DB.MaxConns", "LogLevel", `Features["search"]`, `Features["checkout-v2"]`} {
		fmt.Fprintf(out, "  %-24s from %s\n", p, cur.Source(p))
	}

	events := w.Subscribe(ctx)
	steps := []struct {
		say   string
		do    func() error
		field string
	}{
		{"the file raises max_conns to 50", func() error {
			return writeFile(file, "db:\n  host: db.internal\n  max_conns: 50\nfeatures:\n  search: true\n")
		}, "DB.MaxConns"},
		{"etcd sets db/max-conns to 80, over the file", func() error {
			_, err := cli.Put(ctx, prefix+"db/max-conns", "80")
			return err
		}, "DB.MaxConns"},
		{"etcd's db/max-conns deleted: the file's value is back", func() error {
			_, err := cli.Delete(ctx, prefix+"db/max-conns")
			return err
		}, "DB.MaxConns"},
	}
	for _, s := range steps {
		fmt.Fprintf(out, "\n> %s\n", s.say)
		if err := s.do(); err != nil {
			return err
		}
		ev, err := nextEvent(ctx, events)
		if err != nil {
			return err
		}
		if len(ev.Changes) == 0 {
			fmt.Fprintf(out, "  revision %d, generation %d: no change\n", ev.New.Revision, ev.New.Generation)
		}
		for _, c := range ev.Changes {
			fmt.Fprintf(out, "  revision %d, generation %d: %v (keys %q)\n", ev.New.Revision, ev.New.Generation, c, c.Keys)
		}
		fmt.Fprintf(out, "  %s from %s\n", s.field, ev.New.Source(s.field))
	}

	fmt.Fprintf(out, "\n> etcd sets log-level, which the environment wins\n")
	resp, err := cli.Put(ctx, prefix+"log-level", "warn")
	if err != nil {
		return err
	}
	snap, err := w.WaitRevision(ctx, resp.Header.Revision)
	if err != nil {
		return err
	}
	select {
	case ev := <-events:
		return fmt.Errorf("an event for a shadowed field: %v", ev.Changes)
	case <-time.After(100 * time.Millisecond):
	}
	fmt.Fprintf(out, "  revision %d seen, no event: LogLevel is still %q, from %s\n", resp.Header.Revision, snap.Value.LogLevel, snap.Source("LogLevel"))
	return nil
}

// nextEvent waits for the watcher's next event.
func nextEvent(ctx context.Context, events <-chan etcdconf.Event[Config]) (etcdconf.Event[Config], error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	select {
	case ev := <-events:
		return ev, nil
	case <-ctx.Done():
		return etcdconf.Event[Config]{}, fmt.Errorf("no event: %w", ctx.Err())
	}
}

// writeFile replaces path whole, as a deploy tool or a ConfigMap does.
func writeFile(path, content string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
