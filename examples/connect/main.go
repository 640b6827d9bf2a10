// Command connect shows the ways to reach etcd: flags named like etcdctl's,
// the ETCDCTL_* environment, or (with neither) an embedded etcd, and what
// a misconfiguration reports.
//
//	go run ./examples/connect -endpoints 127.0.0.1:2379 -user root:secret -cacert ca.crt
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("connect", flag.ContinueOnError)
	endpoints := fs.String("endpoints", "", "comma-separated host:port list (default: ETCDCTL_ENDPOINTS, else an embedded etcd)")
	user := fs.String("user", "", "user or user:password")
	password := fs.String("password", "", "password")
	cacert := fs.String("cacert", "", "CA certificate file: enables TLS")
	cert := fs.String("cert", "", "client certificate file (mTLS)")
	key := fs.String("key", "", "client key file (mTLS)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := etcdconf.ClientConfigFromEnv()
	if err != nil {
		return err
	}
	if *endpoints != "" {
		cfg.Endpoints = strings.Split(*endpoints, ",")
	}
	if *user != "" {
		cfg.Username, cfg.Password, _ = strings.Cut(*user, ":")
	}
	if *password != "" {
		cfg.Password = *password
	}
	if *cacert != "" || *cert != "" {
		cfg.CACert, cfg.Cert, cfg.Key = *cacert, *cert, *key
	}
	if len(cfg.Endpoints) == 0 {
		srv, err := etcdtest.NewServer()
		if err != nil {
			return err
		}
		defer srv.Close()
		cfg.Endpoints = srv.Endpoints()
		fmt.Fprintln(out, "no endpoint given: started an embedded etcd")
	}
	cfg.DialTimeout = 3 * time.Second
	cli, err := cfg.Client()
	if err != nil {
		return explain(out, err)
	}
	defer cli.Close()
	resp, err := cli.MemberList(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "connected: cluster of %d member(s)\n", len(resp.Members))

	// A wrong endpoint, to show what a misconfiguration says.
	bad := etcdconf.ClientConfig{Endpoints: []string{"127.0.0.1:1"}, DialTimeout: time.Second}
	if _, err := bad.Client(); err != nil {
		fmt.Fprintln(out, "and a wrong endpoint reports:")
		explain(out, err)
	}
	return nil
}

// explain says what to fix for each kind of connection error.
func explain(out io.Writer, err error) error {
	switch {
	case errors.Is(err, etcdconf.ErrUnreachable):
		fmt.Fprintln(out, "  unreachable: check the endpoint and that etcd runs")
	case errors.Is(err, etcdconf.ErrTLS):
		fmt.Fprintln(out, "  TLS mismatch: check -cacert/-cert/-key against the server")
	case errors.Is(err, etcdconf.ErrAuth):
		fmt.Fprintln(out, "  authentication failed: check -user/-password")
	}
	return err
}
