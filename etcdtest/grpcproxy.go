package etcdtest

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/proxy/grpcproxy"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

// A GRPCProxy is etcd's own gRPC proxy, what `etcd grpc-proxy start` runs,
// serving in this process on a free 127.0.0.1 port in front of a server or
// a cluster. It is how a fleet of watchers shares one watch on etcd: the
// proxy coalesces identical watches. It behaves as the real one does,
// limits included: it answers no progress requests and does not pass
// clientv3.WithRequireLeader on to etcd.
//
// Kill and Restart stop it abruptly and start it again on the same port,
// as a crashed and restarted proxy process would.
type GRPCProxy struct {
	endpoints []string
	addr      string

	progressRequests atomic.Int64

	mu        sync.Mutex // guards the fields below
	cli       *clientv3.Client
	srv       *grpc.Server
	cancel    context.CancelFunc
	serving   chan struct{} // closed when Serve returns
	watchDone <-chan struct{}
}

// NewGRPCProxy starts a gRPC proxy in front of the etcd members at
// endpoints. The caller closes it.
func NewGRPCProxy(endpoints []string) (*GRPCProxy, error) {
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	p := &GRPCProxy{endpoints: endpoints, addr: fmt.Sprintf("127.0.0.1:%d", ports[0])}
	if err := p.Restart(); err != nil {
		return nil, err
	}
	return p, nil
}

// StartGRPCProxy is [NewGRPCProxy] for tests: it fails tb on error and
// closes the proxy when the test ends.
func StartGRPCProxy(tb testing.TB, endpoints []string) *GRPCProxy {
	tb.Helper()
	p, err := NewGRPCProxy(endpoints)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close() })
	return p
}

// Endpoints returns the proxy's address, "127.0.0.1:PORT", for clients.
func (p *GRPCProxy) Endpoints() []string { return []string{p.addr} }

// NewClient dials the proxy as [Server.NewClient] dials a member. The
// caller closes it.
func (p *GRPCProxy) NewClient() (*clientv3.Client, error) {
	return clientv3.New(clientConfig(p.Endpoints()))
}

// Client is [GRPCProxy.NewClient] for tests: closed when the test ends.
func (p *GRPCProxy) Client(tb testing.TB) *clientv3.Client {
	tb.Helper()
	return testClient(tb, p.Endpoints())
}

// Restart starts the proxy on its port, killing it first if it runs, and
// returns once it accepts connections.
func (p *GRPCProxy) Restart() error {
	p.Kill()
	p.mu.Lock()
	defer p.mu.Unlock()
	var ln net.Listener
	var err error
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		// The port was just released: another socket may hold it briefly.
		if ln, err = net.Listen("tcp", p.addr); err == nil || time.Since(start) > readyTimeout {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("etcdtest: grpc-proxy listen: %w", err)
	}
	cfg := clientConfig(p.endpoints)
	cli, err := clientv3.New(cfg)
	if err != nil {
		ln.Close()
		return fmt.Errorf("etcdtest: grpc-proxy client: %w", err)
	}
	ctx, cancel := context.WithCancel(cli.Ctx())
	lg := zap.NewNop()
	kvp, _ := grpcproxy.NewKvProxy(cli)
	watchp, watchDone := grpcproxy.NewWatchProxy(ctx, lg, cli)
	clusterp, _ := grpcproxy.NewClusterProxy(lg, cli, "", "")
	leasep, _ := grpcproxy.NewLeaseProxy(ctx, cli)
	srv := grpc.NewServer(grpc.StreamInterceptor(p.countProgressRequests))
	pb.RegisterKVServer(srv, kvp)
	pb.RegisterWatchServer(srv, watchp)
	pb.RegisterClusterServer(srv, clusterp)
	pb.RegisterLeaseServer(srv, leasep)
	pb.RegisterMaintenanceServer(srv, grpcproxy.NewMaintenanceProxy(cli))
	pb.RegisterAuthServer(srv, grpcproxy.NewAuthProxy(cli))
	serving := make(chan struct{})
	go func() {
		defer close(serving)
		srv.Serve(ln)
	}()
	p.cli, p.srv, p.cancel, p.serving, p.watchDone = cli, srv, cancel, serving, watchDone
	return nil
}

// ProgressRequests returns how many watch progress requests clients sent
// the proxy since it was made. The proxy cannot answer them (etcd's logs
// an error for each), so a well-behaved client stops sending them.
func (p *GRPCProxy) ProgressRequests() int64 { return p.progressRequests.Load() }

// countProgressRequests counts the progress requests on watch streams.
func (p *GRPCProxy) countProgressRequests(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, &countingStream{ServerStream: ss, p: p})
}

type countingStream struct {
	grpc.ServerStream
	p *GRPCProxy
}

func (s *countingStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if req, ok := m.(*pb.WatchRequest); ok && err == nil && req.GetProgressRequest() != nil {
		s.p.progressRequests.Add(1)
	}
	return err
}

// Kill stops the proxy at once: every client connection and every watch
// through it breaks, and its link to etcd closes. Killing a stopped proxy
// does nothing.
func (p *GRPCProxy) Kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.srv == nil {
		return
	}
	// Connections first, as SIGKILL would: a proxy whose context ends first
	// tells its clients their watches were canceled, which a crash never does.
	p.srv.Stop()
	<-p.serving
	p.cancel()
	p.cli.Close()
	<-p.watchDone
	p.cli, p.srv = nil, nil
}

// Close stops the proxy. It is idempotent.
func (p *GRPCProxy) Close() error {
	p.Kill()
	return nil
}
