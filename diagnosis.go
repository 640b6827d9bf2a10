package etcdconf

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// probeLead is how long before a request's deadline the endpoint probe
// starts (at most half the request's time): enough for a TCP connect and
// a TLS handshake, so that the probe's answer is ready when the deadline
// passes and the caller gets it then, not a probe's timeout later.
const probeLead = time.Second

// afterDeadline bounds a probe that can only start once a request has
// failed: one whose ctx had no deadline, or a client that failed to build.
const afterDeadline = 200 * time.Millisecond

// refusedAfter is how long a fail-fast call runs before the endpoints are
// dialed to see whether all refuse: a healthy etcd has answered by then,
// and costs no probe connection.
const refusedAfter = 100 * time.Millisecond

// errRefused cancels a request when every endpoint refused the connection.
var errRefused = errors.New("etcdconf: every endpoint refused the connection")

// A finding is what probing an endpoint found.
type finding struct {
	host    string
	dialErr error // the TCP connect failed
	tlsErr  error // the TLS handshake (or the read after it) failed; nil if it succeeded
}

// diagnosed runs call with ctx while it probes the first endpoint, so that
// a call that runs out of time is explained when ctx's deadline passes,
// not after it: the probe starts probeLead before the deadline, or at once
// when the call fails early. With failFast, every endpoint is dialed once
// the call has run refusedAfter, and if all refuse the connection the call
// is canceled then. It
// returns call's error and, when the call timed out or was canceled for
// refused connections, why (an error wrapping ErrUnreachable or ErrTLS);
// why is nil otherwise. Every goroutine it starts has returned by then.
func (c ClientConfig) diagnosed(ctx context.Context, hosts []string, tlsCfg *tls.Config, failFast bool, call func(context.Context) error) (err, why error) {
	deadline, ok := ctx.Deadline()
	if !ok || len(hosts) == 0 {
		return call(ctx), nil
	}
	callCtx, cancelCall := context.WithCancelCause(ctx)
	defer cancelCall(nil)
	probeCtx, cancelProbe := context.WithCancel(ctx)
	defer cancelProbe()
	failed := make(chan struct{}) // closed when the call has failed: probe now
	var fs []finding
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if failFast && sleep(probeCtx, min(refusedAfter, time.Until(deadline)/2)) {
			if dialErr := allRefused(probeCtx, hosts); dialErr != nil {
				fs = []finding{{host: hosts[0], dialErr: dialErr}}
				cancelCall(errRefused)
				return
			}
		}
		lead := min(probeLead, time.Until(deadline)/2)
		t := time.NewTimer(time.Until(deadline.Add(-lead)))
		defer t.Stop()
		select {
		case <-t.C:
		case <-failed:
		case <-probeCtx.Done():
			return
		}
		fs = probeAll(probeCtx, hosts, tlsCfg)
	}()
	err = call(callCtx)
	if err == nil || (!timedOut(err) && !errors.Is(context.Cause(callCtx), errRefused)) {
		cancelProbe()
		wg.Wait()
		return err, nil
	}
	close(failed)
	wg.Wait() // the probe ends by ctx's deadline
	if len(fs) == 0 {
		return err, nil
	}
	return err, c.explainAll(fs, tlsCfg, err)
}

// diagnose explains a failed connection by probing every endpoint
// directly within ctx: clientv3 reports most failures as a bare deadline.
func (c ClientConfig) diagnose(ctx context.Context, hosts []string, tlsCfg *tls.Config, cause error) error {
	switch {
	case c.Username == "" && (errors.Is(cause, rpctypes.ErrUserEmpty) || errors.Is(cause, rpctypes.ErrInvalidAuthToken)):
		return fmt.Errorf("%w: etcd at %v has authentication enabled and no user was given: set Username and Password (--user, ETCDCTL_USER): %w",
			ErrAuth, hosts, cause)
	case errors.Is(cause, rpctypes.ErrAuthFailed) || errors.Is(cause, rpctypes.ErrInvalidAuthMgmt) ||
		errors.Is(cause, rpctypes.ErrUserEmpty) || errors.Is(cause, rpctypes.ErrUserNotFound):
		return fmt.Errorf("%w: user %q at %v: check the username and password: %w", ErrAuth, c.Username, hosts, cause)
	}
	return c.explainAll(probeAll(ctx, hosts, tlsCfg), tlsCfg, cause)
}

// timedOut reports whether err is a deadline, ours or etcd's.
func timedOut(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded
}

// allRefused dials every host at once and returns the first host's error
// if every one refused the connection, else nil.
func allRefused(ctx context.Context, hosts []string) error {
	errs := make([]error, len(hosts))
	var wg sync.WaitGroup
	for i, host := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var d net.Dialer
			conn, err := d.DialContext(ctx, "tcp", host)
			if err == nil {
				conn.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil
		}
	}
	return errs[0]
}

// probeAll probes every host at once, within ctx, and returns what it
// found in the order of hosts.
func probeAll(ctx context.Context, hosts []string, tlsCfg *tls.Config) []finding {
	fs := make([]finding, len(hosts))
	var wg sync.WaitGroup
	for i, host := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fs[i] = probe(ctx, host, tlsCfg)
		}()
	}
	wg.Wait()
	return fs
}

// explainAll explains the findings of probeAll: a TLS fault on any
// endpoint is what to fix first (a dead first endpoint must not hide it),
// then an endpoint that accepts connections, then the first endpoint's
// dial error.
func (c ClientConfig) explainAll(fs []finding, tlsCfg *tls.Config, cause error) error {
	var reachable error
	for _, f := range fs {
		if f.dialErr != nil {
			continue
		}
		err := c.explain(f, tlsCfg, cause)
		if errors.Is(err, ErrTLS) {
			return err
		}
		if reachable == nil {
			reachable = err
		}
	}
	if reachable != nil {
		return reachable
	}
	return c.explain(fs[0], tlsCfg, cause)
}

// probe dials host and tries a TLS handshake with it, both within ctx.
func probe(ctx context.Context, host string, tlsCfg *tls.Config) finding {
	f := finding{host: host}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		f.dialErr = err
		return f
	}
	conn.Close()
	cfg := tlsCfg
	if cfg == nil {
		cfg = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // only asks whether the server speaks TLS
	} else {
		cfg = cfg.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(host)
		}
	}
	tc, err := (&tls.Dialer{NetDialer: &d, Config: cfg}).DialContext(ctx, "tcp", host)
	if err == nil {
		// The handshake may complete before the server checks a client
		// certificate: a read surfaces its refusal.
		rd := time.Now().Add(200 * time.Millisecond)
		if dl, ok := ctx.Deadline(); ok && dl.Before(rd) {
			rd = dl
		}
		tc.SetReadDeadline(rd)
		_, rerr := tc.Read(make([]byte, 1))
		tc.Close()
		var ne net.Error
		if rerr != nil && !(errors.As(rerr, &ne) && ne.Timeout()) && strings.Contains(rerr.Error(), "certificate") {
			err = rerr
		}
	}
	f.tlsErr = err
	return f
}

// explain turns what probe found into an error that says what to fix;
// cause is the error of the request the probe explains.
func (c ClientConfig) explain(f finding, tlsCfg *tls.Config, cause error) error {
	host, err := f.host, f.tlsErr
	if f.dialErr != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, host, f.dialErr)
	}
	var recordErr tls.RecordHeaderError
	var verifyErr *tls.CertificateVerificationError
	switch {
	case tlsCfg == nil && err == nil:
		return fmt.Errorf("%w: %s serves TLS: set CACert (ETCDCTL_CACERT) or use an https:// endpoint: %w", ErrTLS, host, cause)
	case tlsCfg != nil && (errors.As(err, &recordErr) || errors.Is(err, io.EOF)):
		return fmt.Errorf("%w: %s does not speak TLS: drop CACert/Cert/Key or the https:// scheme: %w", ErrTLS, host, err)
	case tlsCfg != nil && errors.As(err, &verifyErr) && c.CACert == "":
		return fmt.Errorf("%w: %s: the server's certificate is not trusted by the system roots: set CACert (--cacert, ETCDCTL_CACERT) to the CA that signed it: %w",
			ErrTLS, host, err)
	case tlsCfg != nil && errors.As(err, &verifyErr):
		return fmt.Errorf("%w: %s: the server's certificate is not trusted by CACert %s: %w", ErrTLS, host, c.CACert, err)
	case tlsCfg != nil && err != nil && strings.Contains(err.Error(), "certificate") && c.Cert == "":
		return fmt.Errorf("%w: %s: the server wants a client certificate: set Cert and Key (--cert/--key, ETCDCTL_CERT/ETCDCTL_KEY): %w",
			ErrTLS, host, err)
	case tlsCfg != nil && err != nil && strings.Contains(err.Error(), "certificate"):
		return fmt.Errorf("%w: %s: the server refused the client certificate %s: it has expired or is not signed by a CA the server trusts: %w",
			ErrTLS, host, c.Cert, err)
	}
	return fmt.Errorf("%w: %s accepts connections but etcd did not answer: %w", ErrUnreachable, host, cause)
}
