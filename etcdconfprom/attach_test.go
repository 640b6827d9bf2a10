package etcdconfprom_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdconfprom"
	"github.com/etcdconf/etcdconf/etcdtest"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// TestCollectorFollowsOneWatcher: a collector given to a second watcher
// fails that watcher's New, and keeps following the first, its counters
// never going backwards (#20 item 12).
func TestCollectorFollowsOneWatcher(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	ctx := context.Background()
	cli.Put(ctx, "/a/port", "1")
	cli.Put(ctx, "/b/port", "2")
	c := etcdconfprom.NewCollector("app")
	type cfg struct{ Port int }
	first, err := etcdconf.New[cfg](ctx, cli, "/a/", etcdconf.WithObserver(c.Observer()))
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	bad, _ := cli.Put(ctx, "/a/port", "x")
	for first.Status().Seen < bad.Header.Revision {
		time.Sleep(5 * time.Millisecond)
	}
	second, err := etcdconf.New[cfg](ctx, cli, "/b/", etcdconf.WithObserver(c.Observer()))
	if err == nil {
		second.Close()
		t.Fatal("a second watcher took the collector")
	}
	if !strings.Contains(err.Error(), "one collector per watcher") {
		t.Fatalf("got %v, want it to say to make one collector per watcher", err)
	}
	want := `
# HELP etcdconf_rejections_total Revisions rejected because they did not decode or validate.
# TYPE etcdconf_rejections_total counter
etcdconf_rejections_total{watcher="app"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "etcdconf_rejections_total"); err != nil {
		t.Fatal(err)
	}
}

// TestCollectorFreeAfterAFailedNew: a New that fails leaves the collector
// for the next New.
func TestCollectorFreeAfterAFailedNew(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	ctx := context.Background()
	c := etcdconfprom.NewCollector("app")
	type cfg struct{ Port int }
	cli.Put(ctx, "/app/port", "x")
	if w, err := etcdconf.New[cfg](ctx, cli, "/app/", etcdconf.WithObserver(c.Observer())); err == nil {
		w.Close()
		t.Fatal("New decoded port=x")
	}
	cli.Put(ctx, "/app/port", "1")
	w, err := etcdconf.New[cfg](ctx, cli, "/app/", etcdconf.WithObserver(c.Observer()))
	if err != nil {
		t.Fatalf("after a failed New: %v", err)
	}
	w.Close()
}

// TestCollectorFreeAfterClose: a closed watcher leaves the collector for
// the next New, which it then follows (a provider shut down and
// initialised again, as OpenFeature may do, makes a new watcher). Before,
// the second New failed: the collector followed the closed watcher
// forever.
func TestCollectorFreeAfterClose(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	ctx := context.Background()
	cli.Put(ctx, "/a/port", "1")
	c := etcdconfprom.NewCollector("app")
	type cfg struct{ Port int }
	first, err := etcdconf.New[cfg](ctx, cli, "/a/", etcdconf.WithObserver(c.Observer()))
	if err != nil {
		t.Fatal(err)
	}
	first.Close()
	first.Close() // twice is allowed, and detaches once
	resp, _ := cli.Put(ctx, "/a/port", "2")
	second, err := etcdconf.New[cfg](ctx, cli, "/a/", etcdconf.WithObserver(c.Observer()))
	if err != nil {
		t.Fatalf("New after the first watcher's Close: %v", err)
	}
	defer second.Close()
	want := fmt.Sprintf(`
# HELP etcdconf_applied_revision Revision of the current snapshot.
# TYPE etcdconf_applied_revision gauge
etcdconf_applied_revision{watcher="app"} %d
`, resp.Header.Revision)
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "etcdconf_applied_revision"); err != nil {
		t.Fatal(err)
	}
	if _, err := etcdconf.New[cfg](ctx, cli, "/a/", etcdconf.WithObserver(c.Observer())); err == nil {
		t.Fatal("a second open watcher took the collector")
	}
}

// TestMetricNamesPassPromlint: every metric the collector exports follows
// Prometheus' naming conventions, units last (#20 item 12).
func TestMetricNamesPassPromlint(t *testing.T) {
	_, _, _, reg := watched(t)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	if !names["etcdconf_since_current_seconds"] {
		t.Errorf("no etcdconf_since_current_seconds among %v", names)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
