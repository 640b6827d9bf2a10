package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestOpenFeature(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	before, after, ok := strings.Cut(got, "> widen the rollout")
	if !ok {
		t.Fatalf("no live change in the output:\n%s", got)
	}
	for _, want := range []string{
		"put /flags/checkout.json at revision",
		"ann@example.com   new-checkout=true  (TARGETING_MATCH, variant on)",
		"bob@example.com   new-checkout=true  (TARGETING_MATCH, variant on)",
		"carol@mail.test   new-checkout=false (TARGETING_MATCH, variant off)",
		"5 of 8 users see the new checkout",
	} {
		if !strings.Contains(before, want) {
			t.Errorf("output before the change lacks %q", want)
		}
	}
	for _, want := range []string{
		"event PROVIDER_CONFIGURATION_CHANGED from etcdconf-flagd: flags [new-checkout]",
		"carol@mail.test   new-checkout=true  (TARGETING_MATCH, variant on)",
		"8 of 8 users see the new checkout",
	} {
		if !strings.Contains(after, want) {
			t.Errorf("output after the change lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", got)
	}
}
