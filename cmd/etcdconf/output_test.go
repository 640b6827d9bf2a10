package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/etcdconf/etcdconf/etcdtest"
)

// TestGetJSONIsJSON: get -o json writes one JSON document on stdout and
// nothing else; the revision it read goes to stderr (#20 item 9a).
func TestGetJSONIsJSON(t *testing.T) {
	srv := etcdtest.Start(t)
	etcd := srv.Client(t)
	if _, err := etcd.Put(context.Background(), "/j/db/host", "x"); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := cliStreams(t, srv, "get", "/j/", "-o", "json")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s%s", code, stdout, stderr)
	}
	var doc map[string]map[string]string
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || doc["db"]["host"] != "x" {
		t.Fatalf("stdout is not the JSON document (%v):\n%s", err, stdout)
	}
	if !strings.Contains(stderr, "/j/ at revision 2") {
		t.Errorf("stderr does not say the revision read:\n%s", stderr)
	}
}
