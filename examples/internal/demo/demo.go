// Package demo connects the example programs to etcd: to the cluster the
// ETCDCTL_* variables name when ETCDCTL_ENDPOINTS is set, else to an
// embedded etcd started for the run, so every example works with only Go.
package demo

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Own makes prefix the example's own on a real cluster: it refuses to run
// when a key under prefix exists (the example would change it), and
// returns a function that deletes what the example wrote there. An
// example never changes a cluster's existing keys.
func Own(ctx context.Context, cli *clientv3.Client, prefix string) (release func(), err error) {
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return nil, fmt.Errorf("check that %s is free: %w", prefix, err)
	}
	if resp.Count > 0 {
		return nil, fmt.Errorf("refusing to run: %d key(s) exist under %s, and this example writes there; it never changes existing keys (delete them if they are a previous run's)", resp.Count, prefix)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cli.Delete(ctx, prefix, clientv3.WithPrefix())
	}, nil
}

// Another opens a second client to the etcd that cli (from Connect) is
// connected to, as another process would connect: with the ETCDCTL_*
// settings (TLS, user) when ETCDCTL_ENDPOINTS is set.
func Another(cli *clientv3.Client) (*clientv3.Client, error) {
	cfg := etcdconf.ClientConfig{Endpoints: cli.Endpoints()}
	if os.Getenv("ETCDCTL_ENDPOINTS") != "" {
		var err error
		if cfg, err = etcdconf.ClientConfigFromEnv(); err != nil {
			return nil, err
		}
	}
	return cfg.Client()
}

// Connect returns a client, a description of where it points, and a
// function that closes the client (and the embedded etcd, if any).
func Connect() (*clientv3.Client, string, func(), error) {
	if os.Getenv("ETCDCTL_ENDPOINTS") != "" {
		cfg, err := etcdconf.ClientConfigFromEnv()
		if err != nil {
			return nil, "", nil, err
		}
		cli, err := cfg.Client()
		if err != nil {
			return nil, "", nil, err
		}
		return cli, "etcd at " + cli.Endpoints()[0], func() { cli.Close() }, nil
	}
	srv, err := etcdtest.NewServer()
	if err != nil {
		return nil, "", nil, err
	}
	cli, err := srv.NewClient()
	if err != nil {
		srv.Close()
		return nil, "", nil, err
	}
	return cli, "embedded etcd at " + srv.Endpoints()[0], func() { cli.Close(); srv.Close() }, nil
}
