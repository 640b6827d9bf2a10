package main

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
)

type fleetCfg struct{ Port int }

// pickyCfg rejects a port over 1000.
type pickyCfg struct{ Port int }

func (c *pickyCfg) Validate() error {
	if c.Port > 1000 {
		return fmt.Errorf("port %d over 1000", c.Port)
	}
	return nil
}

// Three instances, one of which rejects what apply writes next: status
// exits 0 while all applied, apply --wait exits 4 naming the one that
// rejected it (and the release to roll back to), status then exits 1; an
// instance that cannot answer makes apply --wait exit 5 and status 4.
func TestStatusAndApplyWait(t *testing.T) {
	srv := etcdtest.Start(t)
	client := srv.Client(t)
	dir := t.TempDir()
	ctx := context.Background()
	if out, code := cli(t, srv, "apply", "/svc/", "-f", writeFile(t, dir, "v1.yaml", "port: 80\n"), "--yes", "-m", "v1"); code != 0 {
		t.Fatalf("apply v1: %d\n%s", code, out)
	}
	if out, code := cli(t, srv, "status", "/svc/"); code != 0 || !strings.Contains(out, "no instance of /svc/ reports") {
		t.Fatalf("status with no instance: %d\n%s", code, out)
	}
	for _, name := range []string{"a", "b"} {
		w, err := etcdconf.New[fleetCfg](ctx, client, "/svc/", etcdconf.WithInstance(name))
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
	}
	picky, err := etcdconf.New[pickyCfg](ctx, client, "/svc/", etcdconf.WithInstance("picky"))
	if err != nil {
		t.Fatal(err)
	}
	defer picky.Close()
	waitRecords(t, srv, "picky")

	out, code := cli(t, srv, "status", "/svc/")
	if code != 0 || !strings.Contains(out, "3 instances: 3 on release 1") {
		t.Fatalf("status, all applied: %d\n%s", code, out)
	}
	out, code = cli(t, srv, "apply", "/svc/", "-f", writeFile(t, dir, "v2.yaml", "port: 8080\n"), "--yes", "-m", "v2", "--wait", "--timeout", "10s")
	if code != exitLagging || !strings.Contains(out, "rejected the write: picky") || !strings.Contains(out, "--release 1") ||
		!strings.Contains(out, "port 8080 over 1000") || !strings.Contains(out, "3 instances: 2 on release 2") {
		t.Fatalf("apply --wait, one rejecting: %d\n%s", code, out)
	}
	if out, code = cli(t, srv, "status", "/svc/"); code != exitDiffers || !strings.Contains(out, "1 rejected it (picky)") {
		t.Fatalf("status, one rejected: %d\n%s", code, out)
	}
	if out, code = cli(t, srv, "apply", "/svc/", "-f", writeFile(t, dir, "v3.yaml", "port: 90\n"), "--yes", "-m", "v3", "--wait"); code != 0 {
		t.Fatalf("apply --wait, all applying: %d\n%s", code, out)
	}

	// An instance that stops answering (its watch loop blocked by a hook)
	// keeps its record but not its state.
	block := make(chan struct{})
	var decodes atomic.Int32
	stuck, err := etcdconf.New[fleetCfg](ctx, client, "/svc/", etcdconf.WithInstance("stuck"),
		etcdconf.WithObserver(etcdconf.Observer{Decoded: func(int64, time.Duration, error) {
			if decodes.Add(1) > 1 { // New's load passes; the watch loop's next decode blocks
				<-block
			}
		}}))
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	defer close(block) // before Close, which waits for the blocked watch loop
	waitRecords(t, srv, "stuck")
	out, code = cli(t, srv, "apply", "/svc/", "-f", writeFile(t, dir, "v4.yaml", "port: 91\n"), "--yes", "--wait", "--timeout", "1s")
	if code != exitNoAnswer || !strings.Contains(out, "did not answer in time (1s): stuck") {
		t.Fatalf("apply --wait, one stuck: %d\n%s", code, out)
	}
	if out, code = cli(t, srv, "status", "/svc/", "--grace", "200ms"); code != exitLagging || !strings.Contains(out, "1 lagging (stuck)") {
		t.Fatalf("status, one lagging: %d\n%s", code, out)
	}
}

// waitRecords waits until instance name's record is written.
func waitRecords(t *testing.T, srv *etcdtest.Server, name string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if out, _ := cli(t, srv, "status", "/svc/", "--grace", "0s"); strings.Contains(out, name+" ") {
			return
		}
	}
	t.Fatalf("no record of %s", name)
}
