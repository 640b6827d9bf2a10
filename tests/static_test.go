package etcdconf_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/etcdconf/etcdconf"
)

type staticCfg struct {
	Port int
	Host string
}

func (c *staticCfg) Validate() error { return (&validated{Port: c.Port}).Validate() }

func TestStaticWatcher(t *testing.T) {
	if _, _, err := etcdconf.NewStatic(staticCfg{Port: -1}); !errors.Is(err, etcdconf.ErrInvalid) {
		t.Fatalf("an invalid first value: %v, want ErrInvalid", err)
	}
	w, set, err := etcdconf.NewStatic(staticCfg{Port: 1, Host: "a"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	all, ports := w.Subscribe(ctx), w.Subscribe(ctx, etcdconf.WithPaths("Port"))
	if s := w.Current(); s.Revision != 1 || s.Value.Port != 1 {
		t.Fatalf("Current: %+v", s)
	}

	if err := set(staticCfg{Port: 1, Host: "b"}); err != nil {
		t.Fatal(err)
	}
	if ev := recv(t, all); ev.New.Revision != 2 || len(ev.Changes) != 1 || ev.Changes[0].String() != `Host: "a" -> "b"` {
		t.Fatalf("event: %+v", ev)
	}
	if err := set(staticCfg{Port: -5, Host: "b"}); !errors.Is(err, etcdconf.ErrInvalid) {
		t.Fatalf("an invalid value: %v, want ErrInvalid", err)
	}
	if err := set(staticCfg{Port: 2, Host: "b"}); err != nil {
		t.Fatal(err)
	}
	if ev := recv(t, ports); ev.New.Revision != 4 || len(ev.Changes) != 1 || ev.Changes[0].Path != "Port" {
		t.Fatalf("filtered event: %+v", ev)
	}
	if s, err := w.WaitRevision(ctx, 4); err != nil || s.Value.Port != 2 {
		t.Fatalf("WaitRevision: %+v, %v", s, err)
	}
	st := w.Status()
	if !st.Connected || st.Stale(time.Now(), time.Second) || st.Rejections != 1 || st.Revision != 4 {
		t.Fatalf("Status: %+v", st)
	}
	if _, err := w.Update(ctx, func(c *staticCfg) error { c.Port = 9; return nil }); err == nil {
		t.Fatal("Update on a static watcher succeeded")
	}
	if _, err := w.Set(ctx, "Port", 9); err == nil {
		t.Fatal("Set on a static watcher succeeded")
	}
	w.Close()
	if err := set(staticCfg{Port: 3}); !errors.Is(err, etcdconf.ErrClosed) {
		t.Fatalf("set after Close: %v", err)
	}
	if _, ok := <-w.Subscribe(ctx); ok {
		t.Fatal("Subscribe after Close delivered")
	}
}
