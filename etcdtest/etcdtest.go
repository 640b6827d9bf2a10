// Package etcdtest runs a real etcd inside the test process, for etcdconf's
// tests and for yours: [Start] gives a one-member server on free 127.0.0.1
// ports in a temporary directory, [StartCluster] a cluster of several, and
// [NewProxy] a link between client and server that can be paused or reset.
// Members can be stopped and restarted on the same ports and data, and
// compacted, to test what a client does when etcd misbehaves.
//
// Clients dial the server over loopback TCP, as a service would; etcd's
// in-process client is not used.
package etcdtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// readyTimeout bounds how long a member may take to start serving.
const readyTimeout = 20 * time.Second

// A Server is one etcd member running in this process.
type Server struct {
	cfg          *embed.Config
	ownsDir      bool
	clientTLS    *tls.Config // for the server's own clients when it serves TLS
	rootPassword string      // for the server's own clients when auth is on

	mu sync.Mutex // guards e
	e  *embed.Etcd
}

// An Option configures [NewServer], [Start] and [StartCluster].
type Option func(*settings)

type settings struct {
	dir          string
	ca           *CA
	clientCerts  bool
	rootPassword string
	tokenTTL     uint // seconds; 0 for etcd's default
}

// WithDir keeps the member's data in dir instead of a new temporary
// directory; Close then leaves dir in place.
func WithDir(dir string) Option { return func(s *settings) { s.dir = dir } }

// NewServer starts a one-member etcd on free 127.0.0.1 ports and waits
// until it serves. Its data lives in a new temporary directory, removed by
// [Server.Close], unless [WithDir] names one. etcd's own logs are discarded.
func NewServer(opts ...Option) (*Server, error) {
	var st settings
	for _, o := range opts {
		o(&st)
	}
	dir, owns := st.dir, false
	if dir == "" {
		d, err := os.MkdirTemp("", "etcdtest-")
		if err != nil {
			return nil, err
		}
		dir, owns = d, true
	}
	var lastErr error
	for range 3 { // a free port can be taken between choosing it and binding it
		s, err := newMember(filepath.Join(dir, "default"), "default", "")
		if err != nil {
			lastErr = err
			continue
		}
		s.ownsDir = owns
		if st.tokenTTL > 0 {
			s.cfg.AuthTokenTTL = st.tokenTTL
		}
		if err := s.secure(&st); err != nil {
			lastErr = err
			break
		}
		if err := s.Restart(); err != nil {
			lastErr = err
			continue
		}
		if st.rootPassword != "" {
			if err := s.enableAuth(st.rootPassword); err != nil {
				s.Close()
				return nil, fmt.Errorf("etcdtest: enable auth: %w", err)
			}
		}
		return s, nil
	}
	if owns {
		os.RemoveAll(dir)
	}
	return nil, fmt.Errorf("etcdtest: start etcd: %w", lastErr)
}

// Start is [NewServer] for tests: it fails tb on error and closes the
// server when the test ends.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s, err := NewServer(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// secure applies WithTLS and WithAuth to the member's configuration.
func (s *Server) secure(st *settings) error {
	if st.rootPassword != "" {
		// bcrypt's minimum cost: etcd's default (10) makes every login take
		// seconds under -race on a busy machine.
		s.cfg.BcryptCost = 4
	}
	if st.ca == nil {
		return nil
	}
	// etcd rereads its certificate files at every handshake: each server
	// needs its own, even when several share a CA.
	certFile, keyFile, err := st.ca.Issue("server-"+s.cfg.ListenClientUrls[0].Port(), true)
	if err != nil {
		return err
	}
	s.cfg.ClientTLSInfo = transport.TLSInfo{CertFile: certFile, KeyFile: keyFile, ClientCertAuth: st.clientCerts}
	if st.clientCerts {
		s.cfg.ClientTLSInfo.TrustedCAFile = st.ca.CertFile
	}
	for i := range s.cfg.ListenClientUrls {
		s.cfg.ListenClientUrls[i].Scheme = "https"
		s.cfg.AdvertiseClientUrls[i].Scheme = "https"
	}
	s.clientTLS, err = st.ca.ClientTLS()
	return err
}

// newMember configures a member named name with data in dir; cluster is
// the initial-cluster string, or "" for a cluster of one.
func newMember(dir, name, cluster string) (*Server, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	cfg.Name, cfg.Dir = name, dir
	cu := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[0])}
	pu := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[1])}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.InitialCluster = cluster
	if cluster == "" {
		cfg.InitialCluster = cfg.InitialClusterFromName(name)
	}
	// Short ticks: elections in a test cluster take 100ms, not a second.
	cfg.TickMs, cfg.ElectionMs = 10, 100
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	return &Server{cfg: cfg}, nil
}

// freePorts picks n free ports below the kernel's ephemeral range
// (32768 and up on Linux), so that while a member is stopped no outgoing
// connection can take its port and keep it from restarting.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		port := 20000 + rand.IntN(12000)
		if tries > 1000 {
			port = 0 // give up on the range: any free port
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Endpoints returns the member's client address, "127.0.0.1:PORT", as
// clientv3.Config.Endpoints wants it.
func (s *Server) Endpoints() []string { return []string{s.cfg.ListenClientUrls[0].Host} }

// NewClient dials the member over loopback with a 2s dial timeout, gRPC
// reconnects capped at 1s, and no logging. The caller closes it.
func (s *Server) NewClient() (*clientv3.Client, error) {
	cfg := clientConfig(s.Endpoints())
	cfg.TLS = s.clientTLS
	if s.rootPassword != "" {
		cfg.Username, cfg.Password = "root", s.rootPassword
	}
	return clientv3.New(cfg)
}

// Client is [Server.NewClient] for tests: closed when the test ends.
func (s *Server) Client(tb testing.TB) *clientv3.Client {
	tb.Helper()
	c, err := s.NewClient()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

func clientConfig(endpoints []string) clientv3.Config {
	return clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 2 * time.Second,
		Logger:      zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: time.Second,
		})},
	}
}

func testClient(tb testing.TB, endpoints []string) *clientv3.Client {
	tb.Helper()
	c, err := clientv3.New(clientConfig(endpoints))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// Stop stops the member, keeping its data and ports for [Server.Restart].
// Stopping a stopped member does nothing.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.e == nil {
		return nil
	}
	s.e.Close()
	<-s.e.Server.StopNotify()
	s.e = nil
	return nil
}

// Restart starts the member again on the same ports and data (stopping it
// first if it runs) and waits until it serves, or fails after 20s.
func (s *Server) Restart() error {
	if err := s.Stop(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := embed.StartEtcd(s.cfg)
	if err != nil {
		return err
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return err
	case <-time.After(readyTimeout):
		e.Close()
		return errors.New("etcdtest: member not ready after 20s")
	}
	s.e = e
	return nil
}

// Close stops the member and removes its data directory if NewServer made
// it. It is idempotent.
func (s *Server) Close() error {
	err := s.Stop()
	if s.ownsDir {
		s.ownsDir = false
		return errors.Join(err, os.RemoveAll(filepath.Dir(s.cfg.Dir)))
	}
	return err
}

// Compact compacts the member's history up to rev (the current revision
// when rev is 0) and waits for the physical compaction, so a watch from an
// earlier revision then fails with ErrCompacted.
func (s *Server) Compact(ctx context.Context, rev int64) error {
	c, err := s.NewClient()
	if err != nil {
		return err
	}
	defer c.Close()
	if rev == 0 {
		resp, err := c.Get(ctx, "compact-probe")
		if err != nil {
			return err
		}
		rev = resp.Header.Revision
	}
	_, err = c.Compact(ctx, rev, clientv3.WithCompactPhysical())
	return err
}

// A Cluster is several members in this process.
type Cluster struct {
	members []*Server
}

// StartCluster starts an n-member cluster in tb's temporary directory and
// stops it when the test ends.
func StartCluster(tb testing.TB, n int) *Cluster {
	tb.Helper()
	dir := tb.TempDir()
	c := &Cluster{}
	var peers []string
	for i := range n {
		name := fmt.Sprintf("m%d", i)
		m, err := newMember(filepath.Join(dir, name), name, "")
		if err != nil {
			tb.Fatal(err)
		}
		c.members = append(c.members, m)
		peers = append(peers, name+"="+m.cfg.AdvertisePeerUrls[0].String())
	}
	errs := make(chan error, n)
	for _, m := range c.members {
		m.cfg.InitialCluster = strings.Join(peers, ",")
		go func() { errs <- m.Restart() }() // members wait for each other: start all at once
	}
	tb.Cleanup(func() {
		for _, m := range c.members {
			m.Stop()
		}
	})
	for range n {
		if err := <-errs; err != nil {
			tb.Fatal(err)
		}
	}
	return c
}

// Members returns the cluster's members.
func (c *Cluster) Members() []*Server { return c.members }

// Endpoints returns every member's client address.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.members {
		eps = append(eps, m.Endpoints()...)
	}
	return eps
}

// Client returns a client of every member, closed when the test ends.
func (c *Cluster) Client(tb testing.TB) *clientv3.Client {
	tb.Helper()
	return testClient(tb, c.Endpoints())
}
