package demo

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Check runs an example against an embedded etcd and fails t unless its
// output holds every one of wants, in any order.
func Check(t *testing.T, run func(context.Context, io.Writer) error, wants ...string) {
	t.Helper()
	t.Setenv("ETCDCTL_ENDPOINTS", "") // always the embedded etcd
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range wants {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out.String())
	}
}

// CheckLeavesExistingKeysAlone runs an example twice against an etcd named
// by ETCDCTL_ENDPOINTS, as a real cluster is, holding the keys the
// examples once overwrote: they must keep their value and revision (#20
// item 13). Then a key under the example's own prefix must make it refuse,
// and leave the prefix as it was.
func CheckLeavesExistingKeysAlone(t *testing.T, run func(context.Context, io.Writer) error, prefix string) {
	t.Helper()
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
