package etcdconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
)

// ClientConfig says how to connect to etcd; see [ClientConfig.Client].
type ClientConfig struct {
	// Endpoints are "host:port" addresses; an "https://" prefix implies TLS.
	// Default: 127.0.0.1:2379.
	Endpoints []string
	// Username and Password log in when etcd has authentication enabled.
	Username, Password string
	// CACert is a PEM file of the CAs that sign the server's certificate;
	// Cert and Key are the client's certificate and key for mTLS. Any of
	// them turns TLS on.
	CACert, Cert, Key string
	// DialTimeout bounds connecting and the check that the connection
	// works. Default: 5s.
	DialTimeout time.Duration
}

// ClientConfigFromEnv reads etcdctl's environment variables, so a service
// configured for etcdctl connects the same way: ETCDCTL_ENDPOINTS (comma
// separated), ETCDCTL_USER ("user:password", or "user" with
// ETCDCTL_PASSWORD), ETCDCTL_PASSWORD, ETCDCTL_CACERT, ETCDCTL_CERT,
// ETCDCTL_KEY and ETCDCTL_DIAL_TIMEOUT (a duration such as "2s"). Unset
// variables leave the defaults. An unparsable variable is an error naming it.
//
// Like etcdctl, it leaves the combination to be checked once a program's
// flags have completed it: ETCDCTL_PASSWORD without a user, or ETCDCTL_CERT
// without ETCDCTL_KEY, is not an error here; [ClientConfig.Client] refuses
// a configuration still incomplete (see [ClientConfig.Validate]).
func ClientConfigFromEnv() (ClientConfig, error) {
	var c ClientConfig
	if v := os.Getenv("ETCDCTL_ENDPOINTS"); v != "" {
		for ep := range strings.SplitSeq(v, ",") {
			if ep = strings.TrimSpace(ep); ep != "" {
				c.Endpoints = append(c.Endpoints, ep)
			}
		}
	}
	if v := os.Getenv("ETCDCTL_USER"); v != "" {
		user, pass, hasPass := strings.Cut(v, ":")
		if user == "" {
			return c, errors.New("etcdconf: ETCDCTL_USER: empty user name")
		}
		c.Username = user
		if hasPass {
			c.Password = pass
		}
	}
	if v := os.Getenv("ETCDCTL_PASSWORD"); v != "" {
		c.Password = v
	}
	c.CACert, c.Cert, c.Key = os.Getenv("ETCDCTL_CACERT"), os.Getenv("ETCDCTL_CERT"), os.Getenv("ETCDCTL_KEY")
	if v := os.Getenv("ETCDCTL_DIAL_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("etcdconf: ETCDCTL_DIAL_TIMEOUT=%q is not a positive duration such as 2s", v)
		}
		c.DialTimeout = d
	}
	return c, nil
}

// Validate reports a configuration that cannot connect as meant: a
// Password without a Username, or Cert without Key (or Key without Cert).
// The error names both the field and the etcdctl setting (environment
// variable and flag) that sets it. [ClientConfig.Client] calls it first.
func (c ClientConfig) Validate() error {
	switch {
	case c.Password != "" && c.Username == "":
		return errors.New("etcdconf: a password is set (Password, ETCDCTL_PASSWORD, --password) but no user (Username, ETCDCTL_USER, --user)")
	case c.Cert != "" && c.Key == "":
		return errors.New("etcdconf: a client certificate is set (Cert, ETCDCTL_CERT, --cert) but no key (Key, ETCDCTL_KEY, --key)")
	case c.Key != "" && c.Cert == "":
		return errors.New("etcdconf: a client key is set (Key, ETCDCTL_KEY, --key) but no certificate (Cert, ETCDCTL_CERT, --cert)")
	}
	return nil
}

// Client connects to etcd and checks, within DialTimeout, that at least
// one endpoint answers; when none does, it returns when DialTimeout has
// passed, or at once when every endpoint refuses the connection. The client reconnects within about two seconds of
// an endpoint coming back (gRPC's default waits up to two minutes) and
// notices dead connections by keepalive; it does not log. The caller
// closes it.
//
// A failure wraps [ErrUnreachable], [ErrTLS] or [ErrAuth] with a message
// that names the endpoint and what to fix; an incomplete configuration is
// refused before connecting (see [ClientConfig.Validate]).
func (c ClientConfig) Client() (*clientv3.Client, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	timeout := c.DialTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	deadline := time.Now().Add(timeout)
	endpoints := c.Endpoints
	if len(endpoints) == 0 {
		endpoints = []string{"127.0.0.1:2379"}
	}
	tlsCfg, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	hosts := make([]string, len(endpoints))
	for i, ep := range endpoints {
		switch {
		case strings.HasPrefix(ep, "https://"):
			if tlsCfg == nil {
				tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
			}
			ep = strings.TrimPrefix(ep, "https://")
		case strings.HasPrefix(ep, "http://"):
			ep = strings.TrimPrefix(ep, "http://")
		}
		hosts[i] = strings.TrimSuffix(ep, "/")
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            hosts,
		DialTimeout:          timeout,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
		Username:             c.Username,
		Password:             c.Password,
		TLS:                  tlsCfg,
		Logger:               zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           grpcbackoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: timeout,
		})},
	})
	if err != nil {
		// clientv3.New spent the time logging in: probe briefly.
		ctx, cancel := context.WithTimeout(context.Background(), max(time.Until(deadline), afterDeadline))
		defer cancel()
		return nil, c.diagnose(ctx, hosts, tlsCfg, err)
	}
	// Any answer from etcd proves the link, a refusal to read included.
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	err, why := c.diagnosed(ctx, hosts, tlsCfg, true, func(ctx context.Context) error {
		_, err := cli.Get(ctx, "\x00etcdconf-probe", clientv3.WithCountOnly())
		return err
	})
	if err == nil || errors.Is(err, rpctypes.ErrPermissionDenied) {
		return cli, nil
	}
	cli.Close()
	if why != nil {
		return nil, why
	}
	ctx, cancel = context.WithTimeout(context.Background(), afterDeadline)
	defer cancel()
	return nil, c.diagnose(ctx, hosts, tlsCfg, err)
}

func (c ClientConfig) tlsConfig() (*tls.Config, error) {
	if c.CACert == "" && c.Cert == "" && c.Key == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CACert != "" {
		pem, err := os.ReadFile(c.CACert)
		if err != nil {
			return nil, fmt.Errorf("etcdconf: CA certificate: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcdconf: CA certificate %s holds no PEM certificate", c.CACert)
		}
	}
	if c.Cert != "" || c.Key != "" {
		pair, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return nil, fmt.Errorf("etcdconf: client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
