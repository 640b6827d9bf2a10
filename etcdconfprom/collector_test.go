package etcdconfprom_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdconfprom"
	"github.com/etcdconf/etcdconf/etcdtest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, etcdtest.IgnoredGoroutines()...) }

func TestCollectorReportsTheWatcher(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	ctx := context.Background()
	cli.Put(ctx, "/app/port", "1")
	c := etcdconfprom.NewCollector("app")
	type cfg struct{ Port int }
	w, err := etcdconf.New[cfg](ctx, cli, "/app/", etcdconf.WithObserver(c.Observer()))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)

	bad, _ := cli.Put(ctx, "/app/port", "x")
	for w.Status().Seen < bad.Header.Revision {
		time.Sleep(5 * time.Millisecond)
	}
	want := `
# HELP etcdconf_applied_revision Revision of the current snapshot.
# TYPE etcdconf_applied_revision gauge
etcdconf_applied_revision{watcher="app"} 2
# HELP etcdconf_rejections_total Revisions rejected because they did not decode or validate.
# TYPE etcdconf_rejections_total counter
etcdconf_rejections_total{watcher="app"} 1
# HELP etcdconf_connected 1 while the watch is established and answering.
# TYPE etcdconf_connected gauge
etcdconf_connected{watcher="app"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"etcdconf_applied_revision", "etcdconf_rejections_total", "etcdconf_connected"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(c, "etcdconf_decode_duration_seconds"); n != 2 {
		t.Fatalf("decode histogram series: %d, want applied (the load) and rejected", n)
	}
}
