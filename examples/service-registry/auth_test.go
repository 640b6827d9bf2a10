package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf/etcdtest"
)

// TestRunWithEtcdctlSettings: against an etcd with authentication, named
// by ETCDCTL_* as a real cluster is, both instances connect with those
// settings; the second used a bare clientv3.New with no user (#20 item 13).
func TestRunWithEtcdctlSettings(t *testing.T) {
	srv := etcdtest.Start(t, etcdtest.WithAuth("rootpw"))
	t.Setenv("ETCDCTL_ENDPOINTS", srv.Endpoints()[0])
	t.Setenv("ETCDCTL_USER", "root:rootpw")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
}
