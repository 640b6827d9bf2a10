package etcdtest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf/etcdtest"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, etcdtest.IgnoredGoroutines()...) }

func TestServerStopRestartKeepsData(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	ctx := context.Background()
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err := cli.Get(sctx, "k")
	cancel()
	if err == nil {
		t.Fatal("Get succeeded with the server stopped")
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(ctx, "k") // the same client reconnects to the same port
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("after restart: %v, %v", resp, err)
	}
}

func TestCompactMakesOldRevisionsUnwatchable(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	ctx := context.Background()
	first, _ := cli.Put(ctx, "k", "1")
	cli.Put(ctx, "k", "2")
	if err := srv.Compact(ctx, 0); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp := <-cli.Watch(wctx, "k", clientv3.WithRev(first.Header.Revision))
	if !errors.Is(resp.Err(), rpctypes.ErrCompacted) {
		t.Fatalf("watch from a compacted revision: %v", resp.Err())
	}
}

func TestProxyPauseResumeReset(t *testing.T) {
	srv := etcdtest.Start(t)
	p, err := etcdtest.NewProxy(srv.Endpoints()[0])
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{p.Addr()}, DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	p.Pause()
	sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = cli.Get(sctx, "k")
	cancel()
	if err == nil {
		t.Fatal("Get went through a paused proxy")
	}
	p.Resume()
	p.Reset()
	if _, err := cli.Get(ctx, "k"); err != nil {
		t.Fatalf("after resume and reset: %v", err)
	}
}

func TestClusterSurvivesLeaderStop(t *testing.T) {
	c := etcdtest.StartCluster(t, 3)
	cli := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "k", "1"); err != nil {
		t.Fatal(err)
	}
	leader := -1
	for i, m := range c.Members() {
		st, err := cli.Status(ctx, m.Endpoints()[0])
		if err != nil {
			t.Fatal(err)
		}
		if st.Leader == st.Header.MemberId {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatal("no leader")
	}
	if err := c.Members()[leader].Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "k", "2"); err != nil {
		t.Fatalf("put after the leader stopped: %v", err)
	}
	if err := c.Members()[leader].Restart(); err != nil {
		t.Fatal(err)
	}
}

func TestGRPCProxyServesAndSurvivesRestart(t *testing.T) {
	srv := etcdtest.Start(t)
	direct := srv.Client(t)
	gp := etcdtest.StartGRPCProxy(t, srv.Endpoints())
	cli := gp.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "/p/a", "1"); err != nil {
		t.Fatal(err)
	}
	if resp, err := direct.Get(ctx, "/p/a"); err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("a put through the proxy is not in etcd: %v, %v", resp, err)
	}
	wch := cli.Watch(ctx, "/p/", clientv3.WithPrefix())
	put := func(v string) {
		t.Helper()
		if _, err := direct.Put(ctx, "/p/a", v); err != nil {
			t.Fatal(err)
		}
	}
	put("2")
	if resp := <-wch; resp.Err() != nil || len(resp.Events) != 1 || string(resp.Events[0].Kv.Value) != "2" {
		t.Fatalf("watch through the proxy: %+v, %v", resp, resp.Err())
	}

	gp.Kill()
	gctx, gcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err := cli.Get(gctx, "/p/a")
	gcancel()
	if err == nil {
		t.Fatal("a read succeeded through a killed proxy")
	}
	if err := gp.Restart(); err != nil {
		t.Fatal(err)
	}
	put("3")
	for resp := range wch { // the client's watch resumes through the restarted proxy
		if resp.Err() != nil {
			continue
		}
		if n := len(resp.Events); n > 0 && string(resp.Events[n-1].Kv.Value) == "3" {
			return
		}
	}
	t.Fatal("watch ended without the write made after the proxy restarted")
}
