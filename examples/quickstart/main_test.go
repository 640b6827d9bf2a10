package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestQuickstart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out, false); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"loaded revision",
		"checkout with 3 replicas, db db.internal:5432",
		`Features["new-ui"]: false -> true`,
		"Service.Replicas: 3 -> 5",
		"DB.Timeout: 2s -> 0s",
		"rejected: etcdconf: revision",
		"port 70000 out of range",
		"still serving revision",
		"DB.Port: 5432 -> 6432",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", got)
	}
}
