// Package demo connects the example programs to etcd: to the cluster the
// ETCDCTL_* variables name when ETCDCTL_ENDPOINTS is set, else to an
// embedded etcd started for the run, so every example works with only Go.
package demo

import (
	"os"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

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
