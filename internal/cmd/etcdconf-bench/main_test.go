package main

import (
	"bytes"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain serves etcd when this test binary is the benchmark's child:
// startEtcd re-executes its own executable, which under go test is this.
func TestMain(m *testing.M) {
	if serveChild() {
		return
	}
	os.Exit(m.Run())
}

// TestScaleOutQuick runs the scale-out comparison with 20 instances and
// checks the table, and that a quiet period cost no reload.
func TestScaleOutQuick(t *testing.T) {
	var out bytes.Buffer
	if err := scaleOut(&out, 20, 5, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	rows := regexp.MustCompile(`(?m)^\| (direct|one grpc-proxy) \| (\d+) \| .* \| (\d+) \| [0-9.]+ \| (\d+) \|$`).FindAllStringSubmatch(out.String(), -1)
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2:\n%s", len(rows), out.String())
	}
	for _, r := range rows {
		if r[3] != "0" || r[4] != "0" {
			t.Errorf("%s: %s reloads, %s disconnected in a quiet period:\n%s", r[1], r[3], r[4], out.String())
		}
	}
	// The proxy coalesces 20 identical watches into one on etcd.
	if direct, proxied := rows[0][2], rows[1][2]; direct == proxied {
		t.Errorf("etcd holds %s watchers direct and %s through the proxy:\n%s", direct, proxied, out.String())
	}
}

// TestQuickRun runs every workload at small sizes and checks the table
// is complete and sane; it asserts nothing about speed.
func TestQuickRun(t *testing.T) {
	var out bytes.Buffer
	sz := sizes{keys: 50, latencyPuts: 20, burstPuts: 200, writers: 4, loadKeys: 500, wideChanges: 10, runs: 1, bigPuts: 10, regEntries: 100}
	if err := bench(&out, sz, ""); err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile(`(?m)^\| (.+?) \| .+? \| .+? \| ([0-9.]+)(?:x \| ≤ [0-9.]+x| ms \| ≤ [0-9]+ ms) \| (met|MISSED) \|$`).FindAllStringSubmatch(out.String(), -1)
	if len(rows) != 31 {
		t.Fatalf("%d figure rows, want 31:\n%s", len(rows), out.String())
	}
	if !regexp.MustCompile(`(?m)^\| typed map\[string\]Entry watcher, .* \| [0-9.]+x \| - \| to know \|$`).MatchString(out.String()) {
		t.Errorf("no idle Go-map watcher row, a figure to know:\n%s", out.String())
	}
	for _, r := range rows {
		if ratio, err := strconv.ParseFloat(r[2], 64); err != nil || ratio <= 0 {
			t.Errorf("%s: ratio %q", r[1], r[2])
		}
	}
	if !strings.Contains(out.String(), "etcd in a child process") {
		t.Errorf("no header:\n%s", out.String())
	}
}

// TestScaleOutHeartbeatQuick runs the heartbeat comparison with 20
// instances: with the heartbeat, no liveness read and no Range reaches etcd.
func TestScaleOutHeartbeatQuick(t *testing.T) {
	var out bytes.Buffer
	if err := scaleOutHeartbeat(&out, 20, 5, 6*time.Second, false); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	rows := regexp.MustCompile(`(?m)^\| (WithHeartbeat[^|]*) \| ([0-9.]+) \| ([^|]*) \| (\d+) \| (\d+) \| (\d+) \|`).FindAllStringSubmatch(out.String(), -1)
	if len(rows) != 2 {
		t.Fatalf("%d heartbeat rows, want 2:\n%s", len(rows), out.String())
	}
	for _, r := range rows {
		if strings.Contains(r[3], "Range") || r[4] != "0" || r[5] != "0" || r[6] != "0" {
			t.Errorf("%s: a liveness read, a reload or a disconnect in a quiet period:\n%s", r[1], out.String())
		}
	}
}
