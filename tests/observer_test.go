package etcdconf_test

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
)

// connectivityLog records what Observer.Connectivity reports.
type connectivityLog struct {
	mu     sync.Mutex
	states []etcdconf.Connectivity
}

func (l *connectivityLog) option() etcdconf.Option {
	return etcdconf.WithObserver(etcdconf.Observer{Connectivity: func(c etcdconf.Connectivity) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.states = append(l.states, c)
	}})
}

// waitLast waits until the last state reported is want, and returns every
// state reported so far.
func (l *connectivityLog) waitLast(t *testing.T, want etcdconf.Connectivity) []etcdconf.Connectivity {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		l.mu.Lock()
		states := slices.Clone(l.states)
		l.mu.Unlock()
		if len(states) > 0 && states[len(states)-1] == want {
			return states
		}
		if time.Now().After(deadline) {
			t.Fatalf("connectivity reported %v, want it to end in %v", states, want)
		}
	}
}

// noRepeats fails when a state is reported twice in a row.
func noRepeats(t *testing.T, states []etcdconf.Connectivity) {
	t.Helper()
	for i := 1; i < len(states); i++ {
		if states[i] == states[i-1] {
			t.Fatalf("connectivity %v reported twice in a row: %v", states[i], states)
		}
	}
}

// TestObserverConnectivity: the hook hears the first state, a stopped etcd
// and its return, once each, as Status.Connectivity says them.
func TestObserverConnectivity(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/oc/a", "1")
	var log connectivityLog
	w := newWatcher[map[string]string](t, cli, "/oc/", append([]etcdconf.Option{log.option()}, fastRecovery...)...)
	if got := log.waitLast(t, etcdconf.Connected); !slices.Equal(got, []etcdconf.Connectivity{etcdconf.Connected}) {
		t.Fatalf("connectivity at start: %v", got)
	}
	if c := w.Status().Connectivity(); c != etcdconf.Connected {
		t.Fatalf("Status().Connectivity() = %v", c)
	}

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	log.waitLast(t, etcdconf.Disconnected)
	if c := w.Status().Connectivity(); c != etcdconf.Disconnected {
		t.Fatalf("Status().Connectivity() with etcd stopped = %v", c)
	}
	time.Sleep(time.Second) // retries with etcd down report nothing new
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	got := log.waitLast(t, etcdconf.Connected)
	noRepeats(t, got)
	if len(got) != 3 {
		t.Fatalf("connectivity over one stop and restart: %v, want connected, disconnected, connected", got)
	}

	w.Close()
	time.Sleep(100 * time.Millisecond)
	if after := log.waitLast(t, etcdconf.Connected); len(after) != len(got) {
		t.Fatalf("connectivity reported after Close: %v", after[len(got):])
	}
	if c := w.Status().Connectivity(); c != etcdconf.Disconnected {
		t.Fatalf("Status().Connectivity() after Close = %v", c)
	}
}

// TestObserverConnectivityFromSnapshotFile: a watcher that starts from the
// file reports it, then connected once etcd is back.
func TestObserverConnectivityFromSnapshotFile(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	path := filepath.Join(t.TempDir(), "config.snap")
	put(t, cli, "/ocf/a", "1")
	newWatcher[map[string]string](t, cli, "/ocf/", offlineOpts(path)...).Close()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	var log connectivityLog
	w, err := etcdconf.New[map[string]string](context.Background(), cli, "/ocf/", append(offlineOpts(path), log.option())...)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	log.waitLast(t, etcdconf.ServingSnapshotFile)
	if c := w.Status().Connectivity(); c != etcdconf.ServingSnapshotFile {
		t.Fatalf("Status().Connectivity() from the file = %v", c)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	got := log.waitLast(t, etcdconf.Connected)
	if want := []etcdconf.Connectivity{etcdconf.ServingSnapshotFile, etcdconf.Connected}; !slices.Equal(got, want) {
		t.Fatalf("connectivity from the file to etcd: %v, want %v", got, want)
	}
}

// TestConnectivityString: the names etcdconfprom labels its gauge with.
func TestConnectivityString(t *testing.T) {
	for c, want := range map[etcdconf.Connectivity]string{
		etcdconf.Disconnected:        "disconnected",
		etcdconf.Connected:           "connected",
		etcdconf.ServingSnapshotFile: "serving_snapshot_file",
		7:                            "Connectivity(7)",
	} {
		if got := c.String(); got != want {
			t.Errorf("%d: %q, want %q", int(c), got, want)
		}
	}
}
