package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf/etcdtest"
)

// TestRunTwiceOnOneEtcd: a second run against the same etcd, as against a
// real cluster, writes values that differ and ends; it waited forever for
// an update that the same values never make (#20 item 13).
func TestRunTwiceOnOneEtcd(t *testing.T) {
	srv := etcdtest.Start(t)
	t.Setenv("ETCDCTL_ENDPOINTS", srv.Endpoints()[0])
	for i := range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var out bytes.Buffer
		done := make(chan error, 1)
		go func() { done <- run(ctx, &out) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run %d: %v\n%s", i+1, err, out.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("run %d still running after 20s:\n%s", i+1, out.String())
		}
		cancel()
	}
}
