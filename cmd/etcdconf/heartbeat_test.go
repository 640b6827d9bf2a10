package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// background runs one command in-process until the returned stop is
// called, which returns its exit code and output.
func background(t *testing.T, args ...string) (stop func() (int, string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, strings.NewReader(""), &out, &errOut) }()
	stopped := false
	var code int
	stop = func() (int, string) {
		if !stopped {
			stopped = true
			cancel()
			code = <-done
		}
		return code, out.String() + errOut.String()
	}
	t.Cleanup(func() { stop() })
	return stop
}

// heartbeatBy waits until the heartbeat of prefix is written by name.
func heartbeatBy(t *testing.T, cli *clientv3.Client, prefix, name string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		resp, err := cli.Get(context.Background(), etcdconf.HeartbeatKey(prefix))
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Kvs) == 1 && strings.HasPrefix(string(resp.Kvs[0].Value), name+" ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no heartbeat by %s: %v", name, resp.Kvs)
		}
	}
}

func TestHeartbeatCommand(t *testing.T) {
	srv := etcdtest.Start(t)
	kv := srv.Client(t)
	t.Setenv("ETCDCTL_ENDPOINTS", srv.Endpoints()[0])
	if _, err := kv.Put(context.Background(), "/hb/a", "1"); err != nil {
		t.Fatal(err)
	}

	stop := background(t, "heartbeat", "/hb/", "--interval", "50ms", "--name", "one")
	heartbeatBy(t, kv, "/hb/", "one")
	w, err := etcdconf.New[map[string]string](context.Background(), kv, "/hb/", etcdconf.WithHeartbeat(), etcdconf.WithProgressInterval(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	time.Sleep(time.Second)
	if st := w.Status(); st.Probes != 0 || !st.Connected || w.Current().Generation != 1 {
		t.Errorf("watcher beside etcdconf heartbeat: %+v, generation %d; want no read, connected, no publish", st, w.Current().Generation)
	}
	if code, out := stop(); code != exitOK || !strings.Contains(out, "writing /hb0 every 50ms") {
		t.Fatalf("interrupted: exit %d, want 0\n%s", code, out)
	}

	// Two elected writers: one writes; when it stops, the other does.
	stopA := background(t, "heartbeat", "/hb/", "--interval", "50ms", "--elect", "--name", "a", "--ttl", "1s")
	heartbeatBy(t, kv, "/hb/", "a")
	background(t, "heartbeat", "/hb/", "--interval", "50ms", "--elect", "--name", "b", "--ttl", "1s")
	if code, out := stopA(); code != exitOK || !strings.Contains(out, "when elected") {
		t.Fatalf("a interrupted: exit %d, want 0\n%s", code, out)
	}
	heartbeatBy(t, kv, "/hb/", "b")

	for _, args := range [][]string{{"heartbeat"}, {"heartbeat", "/hb"}, {"heartbeat", "/hb/", "--interval", "0s"}, {"heartbeat", "/hb/a.yaml"}} {
		if out, code := cli(t, srv, args...); code != exitError {
			t.Errorf("etcdconf %s: exit %d, want %d\n%s", strings.Join(args, " "), code, exitError, out)
		}
	}
	// A document key's heartbeat would be the key beside it: refused
	// before anything is written.
	if _, err := kv.Put(context.Background(), "/hb/a.yamm", "mine"); err != nil {
		t.Fatal(err)
	}
	if out, code := cli(t, srv, "heartbeat", "/hb/a.yaml", "--interval", "20ms"); code != exitError || !strings.Contains(out, `"/hb/a.yaml" is a document key`) || strings.Contains(out, "writing") {
		t.Errorf("etcdconf heartbeat /hb/a.yaml: exit %d, want %d and the refusal\n%s", code, exitError, out)
	}
	if resp, err := kv.Get(context.Background(), "/hb/a.yamm"); err != nil || string(resp.Kvs[0].Value) != "mine" {
		t.Errorf("/hb/a.yamm after etcdconf heartbeat /hb/a.yaml: %v %v", resp.Kvs, err)
	}
}
