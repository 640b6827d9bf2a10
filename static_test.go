package etcdconf

import (
	"context"
	"fmt"
	"testing"
	"time"
)

type staticShared struct {
	Services map[string]instance
	Hosts    []string
	Features struct{ Beta Flag }
	Flags    map[string]Flag
}

// TestStaticCopiesItsValue: NewStatic and set own what they are given, so
// the caller changing its map and calling set is a change subscribers are
// told of, and a snapshot never changes after publication (issue 18, item 4).
func TestStaticCopiesItsValue(t *testing.T) {
	cfg := staticShared{Services: map[string]instance{"a": {Addr: "10.0.0.1"}}, Hosts: []string{"h1"}}
	w, set, err := NewStatic(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch := w.Subscribe(ctx)
	first := w.Current()

	cfg.Services["b"] = instance{Addr: "10.0.0.2"}
	cfg.Hosts[0] = "h2"
	if len(first.Value.Services) != 1 || first.Value.Hosts[0] != "h1" {
		t.Fatalf("the caller's change reached the published snapshot: %+v", first.Value)
	}
	if err := set(cfg); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-ch:
		if got := fmt.Sprint(ev.Changes); got != `[Hosts: [h1] -> [h2] Services["b"]: added {Addr:10.0.0.2 Weight:0}]` {
			t.Fatalf("changes: %s", got)
		}
	case <-ctx.Done():
		t.Fatal("set of a changed value: no event")
	}
	cfg.Services["c"] = instance{}
	if s := w.Current(); len(s.Value.Services) != 2 || len(first.Value.Services) != 1 {
		t.Fatalf("a snapshot changed after set: %+v, %+v", s.Value.Services, first.Value.Services)
	}
}

// TestStaticNamesFlagsByPath: a static watcher's flags are named by path as
// the decoder names them, so Enabled agrees with production for every
// subject (issue 18, item 4).
func TestStaticNamesFlagsByPath(t *testing.T) {
	want, err := decodeWith[staticShared](t, newOptions(nil), "features/beta", "50%", "flags/dark", "50%")
	if err != nil {
		t.Fatal(err)
	}
	var cfg staticShared
	cfg.Features.Beta = FlagPercent("", 50)
	cfg.Flags = map[string]Flag{"dark": FlagPercent("", 50)}
	w, set, err := NewStatic(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	check := func(when string) {
		got := w.Current().Value
		if got.Features.Beta != want.Features.Beta || got.Flags["dark"] != want.Flags["dark"] {
			t.Fatalf("%s: static flags %#v, %#v; decoded %#v, %#v", when, got.Features.Beta, got.Flags["dark"], want.Features.Beta, want.Flags["dark"])
		}
		for i := range 1000 {
			s := fmt.Sprint("user-", i)
			if got.Features.Beta.Enabled(s) != want.Features.Beta.Enabled(s) || got.Flags["dark"].Enabled(s) != want.Flags["dark"].Enabled(s) {
				t.Fatalf("%s: Enabled(%q) differs from production", when, s)
			}
		}
	}
	check("NewStatic")
	cfg.Hosts = []string{"x"}
	if err := set(cfg); err != nil {
		t.Fatal(err)
	}
	check("set")
	if cfg.Flags["dark"] != FlagPercent("", 50) {
		t.Fatalf("set named the caller's own flag: %#v", cfg.Flags["dark"])
	}
}
