package etcdconf_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
)

// TestCloseFromErrorHandler: the Observer.Error hook may close the watcher.
// Before, Close waited for the goroutine running the hook: a deadlock.
func TestCloseFromErrorHandler(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/cfh/port", "80")
	var w *etcdconf.Watcher[validated]
	closed := make(chan struct{})
	w = newWatcher[validated](t, cli, "/cfh/", etcdconf.WithObserver(etcdconf.Observer{Error: func(err error) {
		w.Close()
		close(closed)
	}}))
	events := w.Subscribe(context.Background())
	put(t, cli, "/cfh/port", "eighty")
	for _, ch := range []<-chan struct{}{closed, w.Done()} {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatal("Close called from the Error hook did not return")
		}
	}
	select {
	case _, ok := <-events:
		if ok {
			t.Fatal("an event after Close")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the subscriber's channel stayed open after Close from the handler")
	}
	if w.Status().Connected {
		t.Fatal("Status().Connected after Close")
	}
}

// TestWriteCommittedButNotAppliedIsNotErrClosed: a write that etcd
// committed while the watcher could not apply it (closed, or the caller's
// ctx ended meanwhile) says so with its revision. Before, it returned
// ErrClosed, so a caller retried and applied fn twice.
func TestWriteCommittedButNotAppliedIsNotErrClosed(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/wcn/port", "80", "/wcn-bad/port", "80")
	type cfg struct {
		Port  int
		Other string
	}
	// The Error hook holds the watch loop, so the watcher cannot apply
	// the write until it is released.
	hold := make(chan struct{})
	entered := make(chan struct{}, 1)
	w := newWatcher[cfg](t, cli, "/wcn/", etcdconf.WithObserver(etcdconf.Observer{Error: func(error) {
		entered <- struct{}{}
		<-hold
	}}))
	put(t, cli, "/wcn/port", "not a number") // rejected: the loop enters the handler
	<-entered

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := w.Update(ctx, func(c *cfg) error { c.Other = "x"; return nil })
	var ue *etcdconf.UnappliedError
	if !errors.As(err, &ue) || !errors.Is(err, etcdconf.ErrUnapplied) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, etcdconf.ErrClosed) {
		t.Fatalf("Update whose ctx ended after the commit: %v; want an UnappliedError wrapping the deadline", err)
	}
	if resp, gerr := cli.Get(context.Background(), "/wcn/other"); gerr != nil || len(resp.Kvs) != 1 || resp.Kvs[0].ModRevision != ue.Revision {
		t.Fatalf("etcd after the write: %v, %v; want /wcn/other at revision %d", resp, gerr, ue.Revision)
	}

	done := make(chan error, 1)
	go func() {
		_, err := w.Set(context.Background(), "Other", "y")
		done <- err
	}()
	// Close while Set waits for its revision: the handler is in progress,
	// so Close returns at once and the loop ends when the handler does.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, _ := cli.Get(context.Background(), "/wcn/other")
		if len(resp.Kvs) == 1 && string(resp.Kvs[0].Value) == "y" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Set did not commit")
		}
		time.Sleep(5 * time.Millisecond)
	}
	w.Close()
	close(hold)
	err = <-done
	if !errors.As(err, &ue) || errors.Is(err, etcdconf.ErrClosed) || !strings.Contains(err.Error(), "closed before it applied") {
		t.Fatalf("Set committed, then Close: %v; want an UnappliedError that is not ErrClosed", err)
	}
	<-w.Done()
}

// TestWaitRevisionNamesItsOwnRejection: waiting for a rejected revision
// returns the error that rejected it, not a later one's.
func TestWaitRevisionNamesItsOwnRejection(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/wrr/a", "1", "/wrr/b", "2")
	type cfg struct{ A, B int }
	w := newWatcher[cfg](t, cli, "/wrr/")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first := put(t, cli, "/wrr/a", "one")
	if _, err := w.WaitRevision(ctx, first); err == nil || !strings.Contains(err.Error(), `"/wrr/a"`) {
		t.Fatalf("first rejection: %v", err)
	}
	second := put(t, cli, "/wrr/a", "1", "/wrr/b", "two")
	if _, err := w.WaitRevision(ctx, second); err == nil || !strings.Contains(err.Error(), `"/wrr/b"`) {
		t.Fatalf("second rejection: %v", err)
	}
	s, err := w.WaitRevision(ctx, first)
	var de *etcdconf.DecodeError
	if !errors.As(err, &de) || de.Revision != first || s.Value.A != 1 {
		t.Fatalf("waiting again for the first rejected revision %d: %+v, %v; want its own error", first, s, err)
	}
}
