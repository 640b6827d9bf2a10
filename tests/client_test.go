package etcdconf_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

func TestClientConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    etcdconf.ClientConfig
		wantErr string
	}{
		{"nothing set", nil, etcdconf.ClientConfig{}, ""},
		{"everything", map[string]string{
			"ETCDCTL_ENDPOINTS": "a:1, b:2", "ETCDCTL_USER": "u:p", "ETCDCTL_CACERT": "ca", "ETCDCTL_CERT": "c",
			"ETCDCTL_KEY": "k", "ETCDCTL_DIAL_TIMEOUT": "3s",
		}, etcdconf.ClientConfig{Endpoints: []string{"a:1", "b:2"}, Username: "u", Password: "p", CACert: "ca", Cert: "c", Key: "k", DialTimeout: 3 * time.Second}, ""},
		{"password apart", map[string]string{"ETCDCTL_USER": "u", "ETCDCTL_PASSWORD": "p:with:colons"},
			etcdconf.ClientConfig{Username: "u", Password: "p:with:colons"}, ""},
		{"bad timeout", map[string]string{"ETCDCTL_DIAL_TIMEOUT": "soon"}, etcdconf.ClientConfig{}, "ETCDCTL_DIAL_TIMEOUT"},
		// Left for flags to complete, as etcdctl does; Validate refuses them.
		{"password without user", map[string]string{"ETCDCTL_PASSWORD": "p"}, etcdconf.ClientConfig{Password: "p"}, ""},
		{"cert without key", map[string]string{"ETCDCTL_CERT": "c"}, etcdconf.ClientConfig{Cert: "c"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, v := range []string{"ENDPOINTS", "USER", "PASSWORD", "CACERT", "CERT", "KEY", "DIAL_TIMEOUT"} {
				t.Setenv("ETCDCTL_"+v, "")
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			got, err := etcdconf.ClientConfigFromEnv()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// TestClientRefusesAnIncompleteConfig: what ClientConfigFromEnv leaves for
// flags to complete, Client refuses when nothing did (#20 item 11).
func TestClientRefusesAnIncompleteConfig(t *testing.T) {
	for _, tt := range []struct {
		cfg  etcdconf.ClientConfig
		says string
	}{
		{etcdconf.ClientConfig{Password: "p"}, "ETCDCTL_USER"},
		{etcdconf.ClientConfig{Cert: "c"}, "ETCDCTL_KEY"},
		{etcdconf.ClientConfig{Key: "k"}, "ETCDCTL_CERT"},
	} {
		if err := tt.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("%+v: Validate: %v, want an error naming %s", tt.cfg, err, tt.says)
		}
		if cli, err := tt.cfg.Client(); err == nil || !strings.Contains(err.Error(), tt.says) {
			if cli != nil {
				cli.Close()
			}
			t.Errorf("%+v: Client: %v, want an error naming %s", tt.cfg, err, tt.says)
		}
	}
}

func TestClientConnectionErrors(t *testing.T) {
	dir := t.TempDir()
	ca, err := etcdtest.NewCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	other, err := etcdtest.NewCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.Issue("app", false)
	if err != nil {
		t.Fatal(err)
	}
	plain := etcdtest.Start(t)
	tlsSrv := etcdtest.Start(t, etcdtest.WithTLS(ca, false))
	mtls := etcdtest.Start(t, etcdtest.WithTLS(ca, true))
	auth := etcdtest.Start(t, etcdtest.WithAuth("rootpw"))
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l.Addr().String()
	l.Close()

	ok := []struct {
		name string
		cfg  etcdconf.ClientConfig
	}{
		{"plaintext", etcdconf.ClientConfig{Endpoints: plain.Endpoints()}},
		{"TLS", etcdconf.ClientConfig{Endpoints: tlsSrv.Endpoints(), CACert: ca.CertFile}},
		{"mTLS", etcdconf.ClientConfig{Endpoints: mtls.Endpoints(), CACert: ca.CertFile, Cert: cert, Key: key}},
		{"auth", etcdconf.ClientConfig{Endpoints: auth.Endpoints(), Username: "root", Password: "rootpw"}},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			cli, err := tt.cfg.Client()
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			if _, err := cli.Put(context.Background(), "/k", "v"); err != nil {
				t.Fatal(err)
			}
		})
	}
	bad := []struct {
		name string
		cfg  etcdconf.ClientConfig
		want error
		says string
	}{
		{"unreachable", etcdconf.ClientConfig{Endpoints: []string{closed}}, etcdconf.ErrUnreachable, closed},
		{"plaintext to TLS", etcdconf.ClientConfig{Endpoints: tlsSrv.Endpoints()}, etcdconf.ErrTLS, "serves TLS"},
		{"TLS to plaintext", etcdconf.ClientConfig{Endpoints: plain.Endpoints(), CACert: ca.CertFile}, etcdconf.ErrTLS, "does not speak TLS"},
		{"untrusted certificate", etcdconf.ClientConfig{Endpoints: tlsSrv.Endpoints(), CACert: other.CertFile}, etcdconf.ErrTLS, "not trusted"},
		{"mTLS without a client certificate", etcdconf.ClientConfig{Endpoints: mtls.Endpoints(), CACert: ca.CertFile}, etcdconf.ErrTLS, "client certificate"},
		{"wrong password", etcdconf.ClientConfig{Endpoints: auth.Endpoints(), Username: "root", Password: "nope"}, etcdconf.ErrAuth, "password"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.DialTimeout = 2 * time.Second
			start := time.Now()
			cli, err := tt.cfg.Client()
			if err == nil {
				cli.Close()
				t.Fatal("connected")
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("got %v, want %v saying %q", err, tt.want, tt.says)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}

func TestPrefixLimitedUser(t *testing.T) {
	srv := etcdtest.Start(t, etcdtest.WithAuth("rootpw"))
	ctx := context.Background()
	if err := srv.AddUser(ctx, "app", "apppw", "/app/", true); err != nil {
		t.Fatal(err)
	}
	root := srv.Client(t)
	put(t, root, "/app/port", "1", "/other/port", "2")
	cli, err := etcdconf.ClientConfig{Endpoints: srv.Endpoints(), Username: "app", Password: "apppw"}.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	type cfg struct{ Port int }
	w := newWatcher[cfg](t, cli, "/app/")
	if w.Current().Value.Port != 1 {
		t.Fatalf("got %+v", w.Current().Value)
	}
	start := time.Now()
	_, err = etcdconf.New[cfg](ctx, cli, "/other/")
	if !errors.Is(err, etcdconf.ErrPermission) || !strings.Contains(err.Error(), `"/other/"`) || time.Since(start) > 5*time.Second {
		t.Fatalf("forbidden prefix: %v after %v, want ErrPermission naming the prefix", err, time.Since(start))
	}
	if _, err := etcdconf.Load[cfg](ctx, cli, "/other/"); !errors.Is(err, etcdconf.ErrPermission) {
		t.Fatalf("Load of a forbidden prefix: %v, want ErrPermission", err)
	}
}

// TestNewErrorsMatchSentinels: New and Load, given a client built by
// hand, say why etcd could not be read with the same sentinels as
// ClientConfig.Client.
func TestNewErrorsMatchSentinels(t *testing.T) {
	ca, err := etcdtest.NewCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tlsSrv := etcdtest.Start(t, etcdtest.WithTLS(ca, false))
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l.Addr().String()
	l.Close()
	for _, tt := range []struct {
		name     string
		endpoint string
		want     error
	}{
		{"unreachable", closed, etcdconf.ErrUnreachable},
		{"plaintext client to a TLS server", tlsSrv.Endpoints()[0], etcdconf.ErrTLS},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cli, err := clientv3.New(clientv3.Config{Endpoints: []string{tt.endpoint}, DialTimeout: time.Second, Logger: zap.NewNop()})
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			ctx := context.Background()
			_, err = etcdconf.New[map[string]string](ctx, cli, "/app/", etcdconf.WithLoadTimeout(500*time.Millisecond))
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), `"/app/"`) {
				t.Fatalf("New: %v, want %v naming the prefix", err, tt.want)
			}
			if _, err := etcdconf.Load[map[string]string](ctx, cli, "/app/", etcdconf.WithLoadTimeout(500*time.Millisecond)); !errors.Is(err, tt.want) {
				t.Fatalf("Load: %v, want %v", err, tt.want)
			}
		})
	}
}

// TestWatcherOutlivesExpiredTokens keeps a watcher and writes going across
// several auth-token lifetimes: clientv3 must refresh the token for the
// watcher's reloads and requests, and no change may be missed.
func TestWatcherOutlivesExpiredTokens(t *testing.T) {
	srv := etcdtest.Start(t, etcdtest.WithAuth("rootpw"), etcdtest.WithAuthTokenTTL(time.Second))
	ctx := context.Background()
	if err := srv.AddUser(ctx, "app", "apppw", "/tok/", false); err != nil {
		t.Fatal(err)
	}
	cli, err := etcdconf.ClientConfig{Endpoints: srv.Endpoints(), Username: "app", Password: "apppw"}.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	w := newWatcher[map[string]string](t, cli, "/tok/", fastRecovery...)
	for i := range 4 {
		time.Sleep(1200 * time.Millisecond) // past the token's TTL
		s, err := w.Set(ctx, `["n"]`, i)
		if err != nil {
			t.Fatalf("write %d after the token expired: %v", i, err)
		}
		if s.Value["n"] != fmt.Sprint(i) {
			t.Fatalf("write %d: snapshot has %q", i, s.Value["n"])
		}
	}
	if st := w.Status(); !st.Connected {
		t.Fatalf("not connected after token expiries: %+v", st)
	}
}

// TestRecheckNoticesRevokedPermission: etcd keeps an open watch going after
// the user's role loses the prefix; WithRecheck notices within its period.
func TestRecheckNoticesRevokedPermission(t *testing.T) {
	srv := etcdtest.Start(t, etcdtest.WithAuth("rootpw"))
	ctx := context.Background()
	if err := srv.AddUser(ctx, "app", "apppw", "/rv/", true); err != nil {
		t.Fatal(err)
	}
	root := srv.Client(t)
	put(t, root, "/rv/port", "1")
	cli, err := etcdconf.ClientConfig{Endpoints: srv.Endpoints(), Username: "app", Password: "apppw"}.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	w := newWatcher[map[string]string](t, cli, "/rv/", append(fastRecovery, etcdconf.WithRecheck(200*time.Millisecond))...)
	if _, err := root.RoleRevokePermission(ctx, "app-role", "/rv/", clientv3.GetPrefixRangeEnd("/rv/")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := w.Status()
		if !st.Connected && st.Err != nil && strings.Contains(st.Err.Error(), "permission denied") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("revoked permission not noticed: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if w.Current().Value["port"] != "1" {
		t.Fatal("the last snapshot was not kept")
	}
}

// TestClientConnectionErrorsSayWhatToFix: each error names the setting to
// change, never one the caller has already given (#20 item 10).
func TestClientConnectionErrorsSayWhatToFix(t *testing.T) {
	ca, err := etcdtest.NewCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, err := etcdtest.NewCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	foreignCert, foreignKey, err := other.Issue("app", false)
	if err != nil {
		t.Fatal(err)
	}
	expiredCert, expiredKey, err := ca.IssueExpired("old-app")
	if err != nil {
		t.Fatal(err)
	}
	tlsSrv := etcdtest.Start(t, etcdtest.WithTLS(ca, false))
	mtls := etcdtest.Start(t, etcdtest.WithTLS(ca, true))
	auth := etcdtest.Start(t, etcdtest.WithAuth("rootpw"))
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l.Addr().String()
	l.Close()

	tests := []struct {
		name    string
		cfg     etcdconf.ClientConfig
		want    error
		says    []string
		notSays []string
	}{
		{"auth without a user", etcdconf.ClientConfig{Endpoints: auth.Endpoints()}, etcdconf.ErrAuth,
			[]string{"authentication", "Username"}, []string{"did not answer"}},
		{"https without a CA", etcdconf.ClientConfig{Endpoints: []string{"https://" + tlsSrv.Endpoints()[0]}}, etcdconf.ErrTLS,
			[]string{"system roots", "CACert"}, []string{"not trusted by CACert"}},
		{"client certificate from another CA", etcdconf.ClientConfig{Endpoints: mtls.Endpoints(), CACert: ca.CertFile, Cert: foreignCert, Key: foreignKey}, etcdconf.ErrTLS,
			[]string{"refused the client certificate", foreignCert}, []string{"set Cert and Key"}},
		{"expired client certificate", etcdconf.ClientConfig{Endpoints: mtls.Endpoints(), CACert: ca.CertFile, Cert: expiredCert, Key: expiredKey}, etcdconf.ErrTLS,
			[]string{"refused the client certificate", expiredCert}, []string{"set Cert and Key"}},
		{"dead first endpoint, TLS fault on the second", etcdconf.ClientConfig{Endpoints: []string{closed, tlsSrv.Endpoints()[0]}}, etcdconf.ErrTLS,
			[]string{"serves TLS", tlsSrv.Endpoints()[0]}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.DialTimeout = 2 * time.Second
			start := time.Now()
			cli, err := tt.cfg.Client()
			if err == nil {
				cli.Close()
				t.Fatal("connected")
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			for _, s := range tt.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("got %v, want it to say %q", err, s)
				}
			}
			for _, s := range tt.notSays {
				if strings.Contains(err.Error(), s) {
					t.Errorf("got %v, want it not to say %q", err, s)
				}
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}
