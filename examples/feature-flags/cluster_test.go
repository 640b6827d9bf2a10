package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestLeavesExistingKeysAlone: run twice against an etcd named by
// ETCDCTL_ENDPOINTS, as a real cluster is, whose keys the example once
// overwrote: they keep their value and revision (#20 item 13).
func TestLeavesExistingKeysAlone(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	existing := map[string]string{"/flags/new-checkout": "on", "/jobs/last-run": "nightly", "/locks/report": "ops"}
	revs := map[string]int64{}
	for k, v := range existing {
		resp, err := cli.Put(ctx, k, v)
		if err != nil {
			t.Fatal(err)
		}
		revs[k] = resp.Header.Revision
	}
	t.Setenv("ETCDCTL_ENDPOINTS", srv.Endpoints()[0])
	for i := range 2 {
		var out bytes.Buffer
		if err := run(ctx, &out); err != nil {
			t.Fatalf("run %d: %v\n%s", i+1, err, out.String())
		}
	}
	for k, v := range existing {
		resp, err := cli.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != v || resp.Kvs[0].ModRevision != revs[k] {
			t.Errorf("%s changed: %v, want %q at revision %d", k, resp.Kvs, v, revs[k])
		}
	}
	// A key under the example's own prefix makes it refuse, and stay.
	if _, err := cli.Put(ctx, prefix+"mine", "x"); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(ctx, &out); err == nil {
		t.Fatalf("ran over an existing key under %s:\n%s", prefix, out.String())
	}
	if resp, _ := cli.Get(ctx, prefix, clientv3.WithPrefix()); resp == nil || len(resp.Kvs) != 1 {
		t.Fatalf("the refused run changed %s", prefix)
	}
}
