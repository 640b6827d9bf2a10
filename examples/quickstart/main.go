// Command quickstart shows etcdconf end to end with no etcd installed: it
// starts an embedded etcd, seeds it from config.yaml, watches the prefix into
// a typed struct, then changes a flag, deletes a key and writes an invalid
// value, printing every revision and diff. With -follow it keeps running and
// prints the endpoint, so you can change keys with etcdctl and watch.
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
	"gopkg.in/yaml.v3"
)

//go:embed config.yaml
var seed []byte

// Config is the application's configuration, as the service would declare it.
type Config struct {
	Service struct {
		Name     string
		Replicas int
	}
	DB struct {
		Host    string
		Port    int
		Timeout time.Duration
	}
	Features map[string]bool
}

// Validate rejects configurations the service cannot run with.
func (c *Config) Validate() error {
	if c.DB.Port < 1 || c.DB.Port > 65535 {
		return fmt.Errorf("db port %d out of range", c.DB.Port)
	}
	return nil
}

const prefix = "/quickstart/config/"

func main() {
	follow := flag.Bool("follow", false, "keep running after the demo and print every change")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, *follow); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, out io.Writer, follow bool) error {
	srv, err := etcdtest.NewServer()
	if err != nil {
		return err
	}
	defer srv.Close()
	cli, err := srv.NewClient()
	if err != nil {
		return err
	}
	defer cli.Close()
	if err := seedKeys(ctx, cli); err != nil {
		return err
	}

	w, err := etcdconf.New[Config](ctx, cli, prefix)
	if err != nil {
		return err
	}
	defer w.Close()
	cur := w.Current()
	fmt.Fprintf(out, "loaded revision %d: %s with %d replicas, db %s:%d, features %v\n",
		cur.Revision, cur.Value.Service.Name, cur.Value.Service.Replicas, cur.Value.DB.Host, cur.Value.DB.Port, cur.Value.Features)

	updates := w.Subscribe(ctx)
	steps := []struct {
		say string
		op  clientv3.Op
	}{
		{"turn the new-ui flag on", clientv3.OpPut(prefix+"features/new-ui", "true")},
		{"scale to 5 replicas", clientv3.OpPut(prefix+"service/replicas", "5")},
		{"delete db/timeout", clientv3.OpDelete(prefix + "db/timeout")},
		{"write an invalid port", clientv3.OpPut(prefix+"db/port", "70000")},
		{"fix the port", clientv3.OpPut(prefix+"db/port", "6432")},
	}
	for _, s := range steps {
		resp, err := cli.Do(ctx, s.op)
		if err != nil {
			return err
		}
		rev := resp.Put()
		var r int64
		if rev != nil {
			r = rev.Header.Revision
		} else {
			r = resp.Del().Header.Revision
		}
		fmt.Fprintf(out, "\n> %s (revision %d)\n", s.say, r)
		if err := report(ctx, out, w, updates, r); err != nil {
			return err
		}
	}

	if !follow {
		return nil
	}
	fmt.Fprintf(out, "\nfollowing %s at %s; try:\n  ETCDCTL_API=3 etcdctl --endpoints=%s put %sfeatures/new-ui false\n",
		prefix, srv.Endpoints()[0], srv.Endpoints()[0], prefix)
	for u := range updates {
		for _, c := range u.Changes {
			fmt.Fprintf(out, "revision %d: %v\n", u.New.Revision, c)
		}
	}
	return nil
}

// report prints what the watcher made of revision rev: the update it
// delivered, or the rejection that kept the last good configuration.
func report(ctx context.Context, out io.Writer, w *etcdconf.Watcher[Config], updates <-chan etcdconf.Event[Config], rev int64) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		if st := w.Status(); st.Rejected != nil && st.Rejected.Revision == rev {
			fmt.Fprintf(out, "  rejected: %v\n  still serving revision %d (db port %d)\n", st.Rejected, w.Current().Revision, w.Current().Value.DB.Port)
			return nil
		}
		select {
		case u := <-updates:
			for _, c := range u.Changes {
				fmt.Fprintf(out, "  revision %d: %v\n", u.New.Revision, c)
			}
			if u.New.Revision >= rev {
				return nil
			}
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("revision %d: %w", rev, ctx.Err())
		}
	}
}

// seedKeys writes config.yaml into etcd as one key per leaf (service/name,
// db/port, features/new-ui, ...), in one transaction: the layout etcdconf
// decodes field by field.
func seedKeys(ctx context.Context, cli *clientv3.Client) error {
	var doc map[string]any
	if err := yaml.Unmarshal(seed, &doc); err != nil {
		return fmt.Errorf("config.yaml: %w", err)
	}
	var ops []clientv3.Op
	for k, v := range doc {
		ops = appendPuts(ops, prefix+k, v)
	}
	_, err := cli.Txn(ctx).Then(ops...).Commit()
	return err
}

// appendPuts appends to ops a put of every leaf of v at key, a mapping's
// entries under key/name.
func appendPuts(ops []clientv3.Op, key string, v any) []clientv3.Op {
	m, ok := v.(map[string]any)
	if !ok {
		return append(ops, clientv3.OpPut(key, fmt.Sprint(v)))
	}
	for k, child := range m {
		ops = appendPuts(ops, key+"/"+k, child)
	}
	return ops
}
