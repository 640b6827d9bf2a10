package etcdtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// A CA is a certificate authority made for a test, with its files in Dir.
type CA struct {
	Dir      string
	CertFile string // the CA certificate, PEM
	cert     *x509.Certificate
	key      *ecdsa.PrivateKey
	serial   int64
}

// NewCA makes a CA (ECDSA P-256, valid for a day) and writes its
// certificate to dir/ca.crt.
func NewCA(dir string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "etcdtest CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	ca := &CA{Dir: dir, CertFile: filepath.Join(dir, "ca.crt"), cert: cert, key: key, serial: 1}
	return ca, writePEM(ca.CertFile, "CERTIFICATE", der)
}

// Issue makes a certificate and key signed by the CA, written to
// dir/name.crt and dir/name.key. A server certificate is valid for
// 127.0.0.1 and localhost; any certificate may authenticate a client.
func (ca *CA) Issue(name string, server bool) (certFile, keyFile string, err error) {
	return ca.issue(name, server, time.Now().Add(24*time.Hour))
}

// IssueExpired makes a client certificate and key signed by the CA that
// expired an hour ago, written to dir/name.crt and dir/name.key: a server
// refuses it as a client certificate.
func (ca *CA) IssueExpired(name string) (certFile, keyFile string, err error) {
	return ca.issue(name, false, time.Now().Add(-time.Hour))
}

func (ca *CA) issue(name string, server bool, notAfter time.Time) (certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	ca.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(ca.serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    notAfter.Add(-25 * time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return "", "", err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(ca.Dir, name+".crt"), filepath.Join(ca.Dir, name+".key")
	if err := writePEM(certFile, "CERTIFICATE", der); err != nil {
		return "", "", err
	}
	return certFile, keyFile, writePEM(keyFile, "EC PRIVATE KEY", kb)
}

// ClientTLS returns a TLS configuration that trusts the CA and presents a
// client certificate it issued.
func (ca *CA) ClientTLS() (*tls.Config, error) {
	certFile, keyFile, err := ca.Issue(fmt.Sprintf("client-%d", ca.serial+1), false)
	if err != nil {
		return nil, err
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

// WithTLS serves clients over TLS with a server certificate from ca; with
// clientCerts, clients must also present a certificate ca issued (mTLS).
// The server's own clients (NewClient, Client) use TLS with a client
// certificate from ca.
func WithTLS(ca *CA, clientCerts bool) Option {
	return func(s *settings) { s.ca, s.clientCerts = ca, clientCerts }
}

// WithAuth enables etcd's authentication with a root user whose password
// is rootPassword. The server's own clients log in as root; see
// [Server.AddUser] for users limited to a prefix.
func WithAuth(rootPassword string) Option {
	return func(s *settings) { s.rootPassword = rootPassword }
}

// WithAuthTokenTTL makes etcd's simple auth tokens expire after ttl
// (whole seconds, at least one), to test clients across token expiry.
// Default: etcd's 300 seconds.
func WithAuthTokenTTL(ttl time.Duration) Option {
	return func(s *settings) { s.tokenTTL = max(uint((ttl+time.Second-1)/time.Second), 1) }
}

// enableAuth creates the root user and turns authentication on.
func (s *Server) enableAuth(password string) error {
	cli, err := s.NewClient()
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.UserAdd(ctx, "root", password); err != nil {
		return err
	}
	if _, err := cli.UserGrantRole(ctx, "root", "root"); err != nil {
		return err
	}
	if _, err := cli.AuthEnable(ctx); err != nil {
		return err
	}
	s.rootPassword = password
	return nil
}

// AddUser adds a user whose role may read (and, unless readOnly, write)
// only the keys under prefix. The server must have been started
// [WithAuth].
func (s *Server) AddUser(ctx context.Context, name, password, prefix string, readOnly bool) error {
	cli, err := s.NewClient()
	if err != nil {
		return err
	}
	defer cli.Close()
	role := name + "-role"
	perm := clientv3.PermissionType(clientv3.PermReadWrite)
	if readOnly {
		perm = clientv3.PermissionType(clientv3.PermRead)
	}
	if _, err := cli.RoleAdd(ctx, role); err != nil {
		return err
	}
	if _, err := cli.RoleGrantPermission(ctx, role, prefix, clientv3.GetPrefixRangeEnd(prefix), perm); err != nil {
		return err
	}
	if _, err := cli.UserAdd(ctx, name, password); err != nil {
		return err
	}
	_, err = cli.UserGrantRole(ctx, name, role)
	return err
}
