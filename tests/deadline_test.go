package etcdconf_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
)

// Bounds on how long a call may overrun its deadline. The probe that
// explains a timeout now runs before the deadline, so the overrun is a few
// milliseconds; before, the probe ran after it and took two seconds more.
// A second of slack keeps a loaded machine from failing the test while
// still catching the old behaviour.
const overrun = time.Second

// TestNewKeepsLoadTimeoutWhenPartitioned: with the link to etcd paused,
// New falls back to the snapshot file when WithLoadTimeout passes, and
// fails when ctx's deadline passes, not two seconds later; the error still
// says what the probe found.
func TestNewKeepsLoadTimeoutWhenPartitioned(t *testing.T) {
	srv := etcdtest.Start(t)
	link, err := etcdtest.NewProxy(srv.Endpoints()[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { link.Close() })
	cli, err := etcdconf.ClientConfig{Endpoints: []string{link.Addr()}}.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	put(t, srv.Client(t), "/p/a", "1")
	path := filepath.Join(t.TempDir(), "p.snap")
	w := newWatcher[map[string]string](t, cli, "/p/", etcdconf.WithSnapshotFile(path))
	w.Close()
	link.Pause()

	const timeout = time.Second
	start := time.Now()
	w2, err := etcdconf.New[map[string]string](context.Background(), cli, "/p/", etcdconf.WithSnapshotFile(path), etcdconf.WithLoadTimeout(timeout))
	took := time.Since(start)
	if err != nil {
		t.Fatalf("New with a paused link and a snapshot file: %v", err)
	}
	w2.Close()
	t.Logf("WithLoadTimeout(%v): fell back to the file after %v", timeout, took)
	if w2.Current().FromSnapshotFile().IsZero() || w2.Current().Value["a"] != "1" {
		t.Fatalf("not from the file: %+v", w2.Current())
	}
	if took > timeout+overrun {
		t.Fatalf("WithLoadTimeout(%v): New returned after %v", timeout, took)
	}

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start = time.Now()
	_, err = etcdconf.New[map[string]string](ctx, cli, "/p/")
	took = time.Since(start)
	t.Logf("ctx of %v: New failed after %v: %v", timeout, took, err)
	if !errors.Is(err, etcdconf.ErrUnreachable) || !strings.Contains(err.Error(), "accepts connections but etcd did not answer") {
		t.Fatalf("New with a paused link: %v, want ErrUnreachable saying etcd did not answer", err)
	}
	if took > timeout+overrun {
		t.Fatalf("ctx of %v: New returned after %v", timeout, took)
	}
}

// TestClientKeepsDialTimeout: ClientConfig.Client (and so the CLI) fails
// within DialTimeout against a server that accepts connections and says
// nothing, and at once when the connection is refused.
func TestClientKeepsDialTimeout(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	defer func() {
		silent.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	}()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := l.Addr().String()
	l.Close()

	const timeout = 2 * time.Second
	for _, tt := range []struct {
		name     string
		endpoint string
		says     string
		within   time.Duration
	}{
		{"silent server", silent.Addr().String(), "accepts connections but etcd did not answer", timeout + overrun},
		{"connection refused", refused, "refused", overrun},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			cli, err := etcdconf.ClientConfig{Endpoints: []string{tt.endpoint}, DialTimeout: timeout}.Client()
			took := time.Since(start)
			if err == nil {
				cli.Close()
				t.Fatal("connected")
			}
			t.Logf("DialTimeout %v: failed after %v: %v", timeout, took, err)
			if !errors.Is(err, etcdconf.ErrUnreachable) || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("got %v, want ErrUnreachable saying %q", err, tt.says)
			}
			if took > tt.within {
				t.Fatalf("DialTimeout %v: Client returned after %v, want within %v", timeout, took, tt.within)
			}
		})
	}
}
