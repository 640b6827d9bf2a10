package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/etcdconf/etcdconf/etcdtest"
)

// TestDryRunFailsAsApplyWould: --dry-run of a change over etcd's 128
// operations fails with the real apply's exit code and message, and counts
// operations as the write does: a document key is one operation however
// many of its paths change (#20 item 9).
func TestDryRunFailsAsApplyWould(t *testing.T) {
	srv := etcdtest.Start(t)
	var b strings.Builder
	for i := range 130 {
		fmt.Fprintf(&b, "k%03d: \"%d\"\n", i, i)
	}
	f := writeFile(t, t.TempDir(), "big.yaml", b.String())
	dry, dryCode := cli(t, srv, "apply", "/big/", "-f", f, "--dry-run")
	real, realCode := cli(t, srv, "apply", "/big/", "-f", f, "--yes")
	msg := "130 changes; etcd allows 128 operations in one transaction"
	if realCode != exitError || !strings.Contains(real, msg) {
		t.Fatalf("apply: exit %d:\n%s", realCode, real)
	}
	if dryCode != realCode || !strings.Contains(dry, msg) || strings.Contains(dry, "dry run: nothing written") {
		t.Fatalf("apply --dry-run: exit %d, want %d saying %q:\n%s", dryCode, realCode, msg, dry)
	}
	// One document key: 130 paths change, one operation.
	if _, err := srv.Client(t).Put(context.Background(), "/doc/big.yaml", "{}"); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--dry-run"}, {"--yes"}} {
		out, code := cli(t, srv, append([]string{"apply", "/doc/big.yaml", "-f", f}, args...)...)
		if code != exitOK || !strings.Contains(out, "changes 130 key(s)") {
			t.Fatalf("apply %v to a document key: exit %d:\n%s", args, code, out)
		}
	}
}
