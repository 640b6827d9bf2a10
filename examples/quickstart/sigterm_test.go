//go:build unix

package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFollowStoppedBySIGTERM: quickstart -follow stopped as a service
// manager stops it removes its embedded etcd's temporary directory; only
// SIGINT was handled, and SIGTERM left it behind (#20 item 13).
func TestFollowStoppedBySIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the example")
	}
	bin := filepath.Join(t.TempDir(), "quickstart")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	tmp := t.TempDir()
	cmd := exec.Command(bin, "-follow")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	following := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "following ") {
				following <- true
			}
		}
		close(following)
	}()
	select {
	case ok := <-following:
		if !ok {
			cmd.Wait()
			t.Fatal("quickstart ended before following")
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("quickstart did not start following within 60s")
	}
	entries, _ := os.ReadDir(tmp)
	if len(entries) == 0 {
		t.Fatal("no temporary directory while running: the test checks nothing")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case <-waited:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-waited
		t.Fatal("quickstart did not stop within 30s of SIGTERM")
	}
	entries, _ = os.ReadDir(tmp)
	for _, e := range entries {
		t.Errorf("left behind after SIGTERM: %s", e.Name())
	}
}
