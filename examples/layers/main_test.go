package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestLayers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"DB.Port                  from default",
		"LogLevel                 from env LAYERS_LOG_LEVEL",
		`Features["checkout-v2"]  from etcd /layers/config/features/checkout-v2@`,
		"generation 2: DB.MaxConns: 20 -> 50",
		"DB.MaxConns: 50 -> 80",
		"DB.MaxConns from etcd /layers/config/db/max-conns@",
		"DB.MaxConns: 80 -> 50",
		`no event: LogLevel is still "debug", from env LAYERS_LOG_LEVEL`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", got)
	}
}
