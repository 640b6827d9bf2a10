// Package etcdproc runs etcd as separate processes, for tests that need
// what an in-process server cannot give: another etcd version (Debian's
// etcd 3.4), SIGKILL, and SIGSTOP/SIGCONT.
//
// Two binaries: [Built] compiles the etcd 3.7 server this module depends
// on (internal/cmd/etcd) once per machine, so process tests need only Go;
// [Binary] finds another, ETCDCONF_ETCD_BIN or "etcd" on PATH, which
// .ci/install-etcd provides as Debian's etcd 3.4 where apt is available.
package etcdproc

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Built returns an etcd server built from the etcd dependency of the
// repository's tools module (internal/cmd, which the workspace's go.work
// names), compiling it into the user cache directory the first time (keyed
// by that module's go.sum, so a dependency update rebuilds it). It skips tb
// where the go command or the workspace is missing.
func Built(tb testing.TB) string {
	tb.Helper()
	dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/etcdconf/etcdconf/internal/cmd").Output()
	if err != nil {
		tb.Skipf("no workspace with the tools module to build etcd from (run from the repository, with its go.work): %v", err)
	}
	sum, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(dir)), "go.sum"))
	if err != nil {
		tb.Fatal(err)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	bin := filepath.Join(cache, "etcdconf", fmt.Sprintf("etcd-%x", sha256.Sum256(sum))[:len("etcd-")+16])
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		tb.Fatal(err)
	}
	tmp := fmt.Sprintf("%s.%d", bin, os.Getpid()) // parallel test binaries build apart, then rename
	build := exec.Command("go", "build", "-o", tmp, "github.com/etcdconf/etcdconf/internal/cmd/etcd")
	build.Dir = strings.TrimSpace(string(dir))
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("build etcd: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		tb.Fatal(err)
	}
	return bin
}

// Binary returns the etcd binary to run, or skips tb saying how to get one.
func Binary(tb testing.TB) string {
	tb.Helper()
	if b := os.Getenv("ETCDCONF_ETCD_BIN"); b != "" {
		return b
	}
	b, err := exec.LookPath("etcd")
	if err != nil {
		tb.Skip("no etcd binary: run .ci/install-etcd (Debian's etcd-server) or set ETCDCONF_ETCD_BIN")
	}
	return b
}

// A Member is one etcd process.
type Member struct {
	Name      string
	ClientURL string // http://127.0.0.1:PORT
	args      []string
	binary    string
	log       string
	cmd       *exec.Cmd
	exited    chan struct{} // closed when cmd has been waited for
}

// A Cluster is n etcd processes on 127.0.0.1, heartbeat 100ms, election 1s.
type Cluster struct {
	Members []*Member
}

// dataDir returns a directory for the members' data, removed when the
// test ends: in memory (/dev/shm) where there is one, since every write
// waits for three fsyncs and on a busy disk that left a fault run a few
// writes to judge by; a member killed by a signal loses nothing either way.
func dataDir(tb testing.TB) string {
	if dir, err := os.MkdirTemp("/dev/shm", "etcdproc-"); err == nil {
		tb.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return tb.TempDir()
}

// Start starts an n-member cluster of binary, waits until it serves, and
// kills it when the test ends.
func Start(tb testing.TB, binary string, n int) *Cluster {
	tb.Helper()
	dir := dataDir(tb)
	c := &Cluster{}
	var peers []string
	ports := freePorts(tb, 2*n)
	for i := range n {
		m := &Member{
			Name:      fmt.Sprintf("p%d", i),
			ClientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]),
			binary:    binary,
			log:       filepath.Join(dir, fmt.Sprintf("p%d.log", i)),
		}
		peer := fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1])
		peers = append(peers, m.Name+"="+peer)
		m.args = []string{
			"--name", m.Name, "--data-dir", filepath.Join(dir, m.Name),
			"--listen-client-urls", m.ClientURL, "--advertise-client-urls", m.ClientURL,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--heartbeat-interval", "100", "--election-timeout", "1000",
			// Pre-vote, the default since etcd 3.5, for 3.4 too: a member
			// that a loaded machine starves past its election timeout, or a
			// fault resumes, asks before it campaigns, instead of forcing
			// an election on a healthy leader.
			"--pre-vote",
			"--initial-cluster-state", "new", "--log-level", "error",
		}
		c.Members = append(c.Members, m)
	}
	for _, m := range c.Members {
		m.args = append(m.args, "--initial-cluster", strings.Join(peers, ","))
		if err := m.start(); err != nil {
			tb.Fatal(err)
		}
	}
	tb.Cleanup(func() {
		for _, m := range c.Members {
			m.Kill()
		}
		if tb.Failed() { // what etcd said is what explains a flaky failure
			for _, m := range c.Members {
				m.logTail(tb, 40)
			}
		}
	})
	if err := c.WaitHealthy(30 * time.Second); err != nil {
		tb.Fatal(err) // the cleanup logs the members' logs
	}
	return c
}

// logTail logs the last n lines of the member's log.
func (m *Member) logTail(tb testing.TB, n int) {
	b, _ := os.ReadFile(m.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	tb.Logf("%s (%s) log, last %d lines:\n%s", m.Name, m.ClientURL, n, strings.Join(lines[max(0, len(lines)-n):], "\n"))
}

func (m *Member) start() error {
	logf, err := os.OpenFile(m.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	m.cmd = exec.Command(m.binary, m.args...)
	m.cmd.Stdout, m.cmd.Stderr = logf, logf
	// Dies with the test process, even if the test crashes.
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := m.cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", m.binary, err)
	}
	cmd, exited := m.cmd, make(chan struct{})
	m.exited = exited
	go func() {
		cmd.Wait()
		logf.Close()
		close(exited)
	}()
	return nil
}

// Kill sends SIGKILL and waits for the process to go.
func (m *Member) Kill() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	m.cmd.Process.Signal(syscall.SIGCONT) // a stopped process must run to die
	m.cmd.Process.Kill()
	select {
	case <-m.exited:
	case <-time.After(10 * time.Second):
	}
	m.cmd = nil
}

// Restart kills the member (if running) and starts it on the same data.
func (m *Member) Restart() error {
	m.Kill()
	m.args = replaceArg(m.args, "--initial-cluster-state", "existing")
	return m.start()
}

// CPU returns the CPU time the member's process has used (user and
// system), from /proc; zero where /proc cannot tell.
func (m *Member) CPU() time.Duration {
	if m.cmd == nil || m.cmd.Process == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", m.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which ends with ')': utime and stime
	// are the 12th and 13th of them, in clock ticks (100 a second on Linux).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

// Pause stops the process with SIGSTOP; Resume continues it.
func (m *Member) Pause() error  { return m.cmd.Process.Signal(syscall.SIGSTOP) }
func (m *Member) Resume() error { return m.cmd.Process.Signal(syscall.SIGCONT) }

// Endpoints returns every member's client URL.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.Members {
		eps = append(eps, m.ClientURL)
	}
	return eps
}

// Client returns a client of every member, closed when the test ends.
func (c *Cluster) Client(tb testing.TB) *clientv3.Client {
	tb.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		DialKeepAliveTime: time.Second, DialKeepAliveTimeout: time.Second,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cli.Close() })
	return cli
}

// Leader returns the member that leads, asking each in turn.
func (c *Cluster) Leader(cli *clientv3.Client) (*Member, error) {
	for range 50 {
		for _, m := range c.Members {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			st, err := cli.Status(ctx, m.ClientURL)
			cancel()
			if err == nil && st.Leader == st.Header.MemberId {
				return m, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, fmt.Errorf("no leader")
}

// WaitHealthy waits until a linearizable read succeeds.
func (c *Cluster) WaitHealthy(timeout time.Duration) error {
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cli.Close()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cli.Get(ctx, "health")
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd cluster not healthy after %v: %w", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func replaceArg(args []string, name, value string) []string {
	for i := range args {
		if args[i] == name && i+1 < len(args) {
			args[i+1] = value
		}
	}
	return args
}

// freePorts picks ports below the ephemeral range (see etcdtest).
func freePorts(tb testing.TB, n int) []int {
	var ports []int
	for len(ports) < n {
		p := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		defer l.Close()
		ports = append(ports, p)
	}
	return ports
}
