package etcdconf_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
	"github.com/etcdconf/etcdconf/release"
	clientv3 "go.etcd.io/etcd/client/v3"
)

type fleetConfig struct {
	Port     int
	Password string `etcd:"password,secret"`
}

// strictFleet rejects a port over 1000, and a PIN that is not a number:
// a decode error about a secret field, whose value the record must not show.
type strictFleet struct {
	Port     int
	Password string `etcd:"password,secret"`
	PIN      int    `etcd:"pin,secret"`
}

func (c *strictFleet) Validate() error {
	if c.Port > 1000 {
		return fmt.Errorf("port %d over 1000", c.Port)
	}
	return nil
}

func instances(t *testing.T, cli *clientv3.Client, prefix string) map[string]etcdconf.InstanceStatus {
	t.Helper()
	resp, err := cli.Get(context.Background(), etcdconf.InstancesPrefix(etcdconf.DefaultMetaPrefix, prefix), clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]etcdconf.InstanceStatus{}
	for _, kv := range resp.Kvs {
		var s etcdconf.InstanceStatus
		if err := json.Unmarshal(kv.Value, &s); err != nil {
			t.Fatalf("%s: %v", kv.Key, err)
		}
		if kv.Lease == 0 {
			t.Fatalf("%s has no lease", kv.Key)
		}
		out[s.Name] = s
	}
	return out
}

func prefixDigest(t *testing.T, cli *clientv3.Client, prefix string) string {
	t.Helper()
	resp, err := cli.Get(context.Background(), prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, kv := range resp.Kvs {
		keys[strings.TrimPrefix(string(kv.Key), prefix)] = string(kv.Value)
	}
	return release.Digest(keys)
}

// Three instances publish their state: all on the prefix's digest, then
// one rejects a change (its record says so, the secret withheld); Close
// removes a record at once, and an instance whose process dies leaves the
// view within its lease.
func TestInstanceStatusRecords(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	rev := put(t, cli, "/fleet/port", "80", "/fleet/password", "hunter2")
	a := newWatcher[fleetConfig](t, cli, "/fleet/", etcdconf.WithInstance("a"), etcdconf.WithInstanceTTL(time.Second))
	newWatcher[fleetConfig](t, cli, "/fleet/", etcdconf.WithInstance("b"))
	dying := srv.Client(t)
	c, err := etcdconf.New[strictFleet](context.Background(), dying, "/fleet/", etcdconf.WithInstance("c"), etcdconf.WithInstanceTTL(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	wait := func(what string, cond func(map[string]etcdconf.InstanceStatus) bool) map[string]etcdconf.InstanceStatus {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			got := instances(t, cli, "/fleet/")
			if cond(got) {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: %+v", what, got)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	digest := prefixDigest(t, cli, "/fleet/")
	got := wait("three instances on the prefix's state", func(m map[string]etcdconf.InstanceStatus) bool {
		return len(m) == 3 && m["a"].Digest == digest && m["b"].Digest == digest && m["c"].Digest == digest
	})
	if s := got["a"]; s.Revision < rev || s.Connectivity != "connected" || s.Source != "etcd" || s.Prefix != "/fleet/" || s.PID == 0 || s.Rejected != 0 {
		t.Fatalf("record %+v", s)
	}

	rev = put(t, cli, "/fleet/port", "8080", "/fleet/password", "s3cret-in-rejected-value")
	digest = prefixDigest(t, cli, "/fleet/")
	got = wait("a and b applied, c rejected", func(m map[string]etcdconf.InstanceStatus) bool {
		return m["a"].Digest == digest && m["b"].Digest == digest && m["c"].Rejected == rev
	})
	if c := got["c"]; c.Digest == digest || !strings.Contains(c.RejectedError, "port 8080 over 1000") {
		t.Fatalf("rejecting instance %+v", c)
	}
	rev = put(t, cli, "/fleet/pin", "s3cret-pin")
	digest = prefixDigest(t, cli, "/fleet/")
	got = wait("c rejected the PIN", func(m map[string]etcdconf.InstanceStatus) bool {
		return m["a"].Digest == digest && m["c"].Rejected == rev
	})
	if c := got["c"]; !strings.Contains(c.RejectedError, "PIN") {
		t.Fatalf("rejecting instance %+v", c)
	}
	raw, err := cli.Get(context.Background(), etcdconf.DefaultMetaPrefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range raw.Kvs {
		if strings.Contains(string(kv.Value), "s3cret") || strings.Contains(string(kv.Value), "hunter2") {
			t.Fatalf("a record holds a secret: %s", kv.Value)
		}
	}

	a.Close()
	wait("a's record removed by Close", func(m map[string]etcdconf.InstanceStatus) bool { _, ok := m["a"]; return !ok })
	dying.Close() // the process dies: no revoke, the lease expires
	wait("c's record expired", func(m map[string]etcdconf.InstanceStatus) bool { _, ok := m["c"]; return !ok && len(m) == 1 })
}

// WithMetaPrefix is checked at New: it must end in "/" and lie outside
// the watched prefix, or release and instance records would be read as
// configuration.
func TestMetaPrefixCheckedAtNew(t *testing.T) {
	cli := etcdtest.Start(t).Client(t)
	for _, meta := range []string{"/app/meta/", "/", "/_meta"} {
		if _, err := etcdconf.New[fleetConfig](context.Background(), cli, "/app/", etcdconf.WithMetaPrefix(meta)); err == nil || !strings.Contains(err.Error(), "WithMetaPrefix") {
			t.Errorf("WithMetaPrefix(%q): %v", meta, err)
		}
	}
	w, err := etcdconf.New[fleetConfig](context.Background(), cli, "/app/", etcdconf.WithMetaPrefix("/_meta/"), etcdconf.WithInstance("x"))
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
}
