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
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, etcdtest.IgnoredGoroutines()...) }

// watched starts etcd holding /app/port = 1 and a watcher of /app/ whose
// observer is a new collector, registered with a pedantic registry; the
// watcher is closed when the test ends.
func watched(t *testing.T) (*clientv3.Client, *etcdconf.Watcher[portConfig], *etcdconfprom.Collector, *prometheus.Registry) {
	t.Helper()
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	if _, err := cli.Put(context.Background(), "/app/port", "1"); err != nil {
		t.Fatal(err)
	}
	c := etcdconfprom.NewCollector("app")
	w, err := etcdconf.New[portConfig](context.Background(), cli, "/app/", etcdconf.WithObserver(c.Observer()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	return cli, w, c, reg
}

type portConfig struct{ Port int }

func TestCollectorReportsTheWatcher(t *testing.T) {
	cli, w, c, reg := watched(t)
	ctx := context.Background()

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

// TestCollectorReportsConnectivity: the connectivity gauge follows the
// watcher through a stopped etcd and its return, and the changes counter
// counts each state entered.
func TestCollectorReportsConnectivity(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	ctx := context.Background()
	c := etcdconfprom.NewCollector("app")
	w, err := etcdconf.New[map[string]string](ctx, cli, "/conn/", etcdconf.WithObserver(c.Observer()),
		etcdconf.WithBackoff(20*time.Millisecond, 200*time.Millisecond),
		etcdconf.WithProgressInterval(200*time.Millisecond), etcdconf.WithLoadTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	expect := func(state string, changes ...int) {
		t.Helper()
		var want strings.Builder
		want.WriteString("# HELP etcdconf_connectivity 1 for the watcher's connectivity (the state label), 0 for the others.\n# TYPE etcdconf_connectivity gauge\n")
		for _, s := range []string{"connected", "disconnected", "serving_snapshot_file"} {
			v := 0
			if s == state {
				v = 1
			}
			fmt.Fprintf(&want, "etcdconf_connectivity{state=%q,watcher=\"app\"} %d\n", s, v)
		}
		want.WriteString("# HELP etcdconf_connectivity_changes_total Times the watcher entered each connectivity state, the first at start included.\n# TYPE etcdconf_connectivity_changes_total counter\n")
		for i, s := range []string{"connected", "disconnected", "serving_snapshot_file"} {
			fmt.Fprintf(&want, "etcdconf_connectivity_changes_total{state=%q,watcher=\"app\"} %d\n", s, changes[i])
		}
		var err error
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if err = testutil.GatherAndCompare(reg, strings.NewReader(want.String()),
				"etcdconf_connectivity", "etcdconf_connectivity_changes_total"); err == nil {
				return
			}
		}
		t.Fatal(err)
	}
	expect("connected", 1, 0, 0)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	expect("disconnected", 1, 1, 0)
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	expect("connected", 2, 1, 0)
}
