package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestHistoryEndsWhenTheLastWriteIsElsewhere: etcd's newest revision is a
// write outside the prefix, which no event of history's watch carries;
// history must still end, with the prefix's events, once a progress
// notification proves the watch reached that revision (#20 item 7).
func TestHistoryEndsWhenTheLastWriteIsElsewhere(t *testing.T) {
	srv := etcdtest.Start(t)
	etcd := srv.Client(t)
	ctx := context.Background()
	for _, kv := range [][2]string{{"/h/a", "1"}, {"/h/b", "2"}, {"/h/a", "3"}, {"/other/x", "last"}} {
		if _, err := etcd.Put(ctx, kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	out, code := cli(t, srv, "history", "/h/", "--etcd")
	if code != exitOK {
		t.Fatalf("history: exit %d after %v:\n%s", code, time.Since(start).Round(time.Millisecond), out)
	}
	for _, want := range []string{"revision 2:", "revision 3:", "revision 4:", "/h/a", "/h/b"} {
		if !strings.Contains(out, want) {
			t.Errorf("history lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "/other/") || strings.Contains(out, "revision 5") {
		t.Errorf("history lists a write outside the prefix:\n%s", out)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("history took %v", d)
	}
}

// TestHistoryDeadlineIsAnError: a watch that does not catch up within
// --timeout ends in an error (exit 2), never a hang or a silent exit 0.
func TestHistoryDeadlineIsAnError(t *testing.T) {
	srv := etcdtest.Start(t)
	etcd := srv.Client(t)
	if _, err := etcd.Put(context.Background(), "/h/a", "1"); err != nil {
		t.Fatal(err)
	}
	out, code := cli(t, srv, "history", "/h/", "--etcd", "--timeout", "1ns")
	if code != exitError || !strings.Contains(out, "did not reach revision 2 within 1ns") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// TestHistoryAfterCompactionKnowsModifiedFromAdded: at the oldest revision
// etcd keeps after a compaction, a put to a key that existed before is a
// modification and a delete is a removal, though etcd no longer has their
// previous values (#20 item 9e).
func TestHistoryAfterCompactionKnowsModifiedFromAdded(t *testing.T) {
	srv := etcdtest.Start(t)
	etcd := srv.Client(t)
	ctx := context.Background()
	etcd.Put(ctx, "/h/a", "1")    // 2
	etcd.Put(ctx, "/h/c", "gone") // 3
	etcd.Put(ctx, "/h/new", "n")  // 4
	r, err := etcd.Txn(ctx).Then( // 5: a modified, c deleted, b added
		clientv3.OpPut("/h/a", "2"), clientv3.OpDelete("/h/c"), clientv3.OpPut("/h/b", "x")).Commit()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Compact(ctx, r.Header.Revision); err != nil {
		t.Fatal(err)
	}
	out, code := cli(t, srv, "history", "/h/", "--etcd")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		"history before revision 5 was compacted",
		`~ /h/a: (earlier value compacted) -> "2"`,
		`+ /h/b = "x"`,
		"- /h/c\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("history lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "+ /h/a") || strings.Contains(out, "+ /h/c") {
		t.Errorf("history shows a modified or deleted key as added:\n%s", out)
	}
}
