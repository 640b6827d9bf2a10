package flagprovider

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	of "github.com/open-feature/go-sdk/openfeature"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdconf/etcdconf"
	"github.com/etcdconf/etcdconf/etcdtest"
)

const appDoc = `{
  "flags": {
    "new-ui": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
      "targeting": {"if": [{"$ref": "staff"}, "on", null]}},
    "color": {"state": "ENABLED", "variants": {"red": "red", "blue": "blue"}, "defaultVariant": "red"}
  },
  "$evaluators": {"staff": {"ends_with": [{"var": "email"}, "@example.com"]}},
  "metadata": {"version": 3}
}`

func put(t *testing.T, cli *clientv3.Client, kvs ...string) {
	t.Helper()
	ops := make([]clientv3.Op, 0, len(kvs)/2)
	for i := 0; i < len(kvs); i += 2 {
		ops = append(ops, clientv3.OpPut(kvs[i], kvs[i+1]))
	}
	if _, err := cli.Txn(context.Background()).Then(ops...).Commit(); err != nil {
		t.Fatal(err)
	}
}

func newProvider(t *testing.T, cli *clientv3.Client, prefix string, opts ...Option) *Provider {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := New(ctx, cli, prefix, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Shutdown)
	return p
}

// next returns the next event, failing after 10s.
func next(t *testing.T, p *Provider) of.Event {
	t.Helper()
	select {
	case ev := <-p.EventChannel():
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return of.Event{}
}

func expectEvent(t *testing.T, p *Provider, typ of.EventType) of.Event {
	t.Helper()
	ev := next(t, p)
	if ev.EventType != typ {
		t.Fatalf("event %s (%+v), want %s", ev.EventType, ev.ProviderEventDetails, typ)
	}
	return ev
}

func str(p *Provider, flag string, ctx of.FlattenedContext) of.StringResolutionDetail {
	return p.StringEvaluation(context.Background(), flag, "default", ctx)
}

func TestLiveChangeSendsChangedFlags(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/flags/app.json", appDoc, "/flags/solo", `{"state": "ENABLED", "variants": {"a": "a", "b": "b"}, "defaultVariant": "a"}`)
	p := newProvider(t, cli, "/flags/")

	b := p.BooleanEvaluation(context.Background(), "new-ui", false, of.FlattenedContext{"email": "ann@example.com"})
	if !b.Value || b.Reason != of.TargetingMatchReason {
		t.Fatalf("new-ui for staff = %+v", b)
	}
	if v, _ := b.FlagMetadata.GetInt("version"); v != 3 {
		t.Errorf("flag-set metadata version = %v, want the integer 3", b.FlagMetadata["version"])
	}

	start := time.Now()
	put(t, cli, "/flags/solo", `{"state": "ENABLED", "variants": {"a": "a", "b": "b"}, "defaultVariant": "b"}`)
	ev := expectEvent(t, p, of.ProviderConfigChange)
	if !slices.Equal(ev.FlagChanges, []string{"solo"}) {
		t.Errorf("FlagChanges = %v, want [solo]", ev.FlagChanges)
	}
	t.Logf("event %v after the put", time.Since(start))
	if r := str(p, "solo", nil); r.Value != "b" {
		t.Errorf("solo = %q after the change, want b", r.Value)
	}

	// The evaluator a $ref names changes: exactly the flag using it.
	put(t, cli, "/flags/app.json", strings.Replace(appDoc, "@example.com", "@example.org", 1))
	if ev := expectEvent(t, p, of.ProviderConfigChange); !slices.Equal(ev.FlagChanges, []string{"new-ui"}) {
		t.Errorf("FlagChanges = %v, want [new-ui]", ev.FlagChanges)
	}
	// Flag-set metadata changes: every flag of the document.
	put(t, cli, "/flags/app.json", strings.Replace(strings.Replace(appDoc, "@example.com", "@example.org", 1), `"version": 3`, `"version": 4`, 1))
	if ev := expectEvent(t, p, of.ProviderConfigChange); !slices.Equal(ev.FlagChanges, []string{"color", "new-ui"}) {
		t.Errorf("FlagChanges = %v, want [color new-ui]", ev.FlagChanges)
	}
	// A deleted key removes its flag.
	if _, err := cli.Delete(context.Background(), "/flags/solo"); err != nil {
		t.Fatal(err)
	}
	if ev := expectEvent(t, p, of.ProviderConfigChange); !slices.Equal(ev.FlagChanges, []string{"solo"}) {
		t.Errorf("FlagChanges = %v, want [solo]", ev.FlagChanges)
	}
	if r := str(p, "solo", nil); r.ResolutionDetail().ErrorCode != of.FlagNotFoundCode {
		t.Errorf("deleted flag: %+v, want FLAG_NOT_FOUND", r)
	}
}

func TestRejectedRevisionKeepsFlags(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/flags/app.json", appDoc)
	p := newProvider(t, cli, "/flags/")
	before := str(p, "color", nil)

	for _, tc := range []struct {
		name, key, value string
		mention          []string
	}{
		{"document that does not parse", "/flags/bad.json", `{"flags": {`, []string{"/flags/bad.json"}},
		{"document of the wrong shape", "/flags/bad.yaml", "flags: [1, 2]", []string{"/flags/bad.yaml"}},
		{"key that is not an object", "/flags/x", `"on"`, []string{"/flags/x"}},
		{"two keys for one flag", "/flags/team/color", `{"variants": {"a": "a"}, "defaultVariant": "a"}`,
			[]string{"/flags/app.json", "/flags/team/color"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			put(t, cli, tc.key, tc.value)
			ev := expectEvent(t, p, of.ProviderError)
			if ev.ErrorCode == of.ProviderFatalCode {
				t.Error("a rejected revision is not fatal")
			}
			for _, m := range tc.mention {
				if !strings.Contains(ev.Message, m) {
					t.Errorf("message %q does not name %s", ev.Message, m)
				}
			}
			if got := str(p, "color", nil); got.Value != before.Value || got.Reason != before.Reason {
				t.Errorf("color = %+v after a rejected revision, want %+v", got, before)
			}
			if _, err := cli.Delete(context.Background(), tc.key); err != nil {
				t.Fatal(err)
			}
			expectEvent(t, p, of.ProviderReady)
		})
	}
}

func TestFlagFaultsStayWithTheFlag(t *testing.T) {
	p := staticProvider(t,
		"ok", `{"variants": {"a": "a"}, "defaultVariant": "a"}`,
		"no-variants", `{"state": "ENABLED", "defaultVariant": "a"}`,
		"bad-default", `{"variants": {"a": "a"}, "defaultVariant": "b"}`,
		"bad-targeting", `{"variants": {"a": "a"}, "defaultVariant": "a", "targeting": {"nope": [1]}}`,
		"missing-ref", `{"variants": {"a": "a"}, "defaultVariant": "a", "targeting": {"$ref": "gone"}}`,
		"divide", `{"variants": {"2": "two", "3": "three"}, "defaultVariant": "3", "targeting": {"/": [{"var": "n"}, 2]}}`,
	)
	for _, flag := range []string{"no-variants", "bad-default", "bad-targeting", "missing-ref"} {
		r := str(p, flag, nil)
		if r.Value != "default" || r.ResolutionDetail().ErrorCode != of.ParseErrorCode {
			t.Errorf("%s = %+v, want the caller's default with PARSE_ERROR", flag, r)
		}
	}
	if r := str(p, "ok", nil); r.Value != "a" || r.Reason != of.StaticReason {
		t.Errorf("ok = %+v", r)
	}
	// JSONLogic's "/" in a single-flag key: the root decoder never reads it.
	if r := str(p, "divide", of.FlattenedContext{"n": 4}); r.Value != "two" {
		t.Errorf("divide = %+v, want two", r)
	}
}

func TestShutdownThenInitStartsAgain(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/flags/app.yaml", "flags:\n  color: {variants: {red: red, blue: blue}, defaultVariant: red}\n")
	// An observer that follows one watcher at a time, as an etcdconfprom
	// collector does: Init after Shutdown must find it free again.
	var following atomic.Bool
	one := etcdconf.Observer{
		Attach: func() error {
			if !following.CompareAndSwap(false, true) {
				return errors.New("already follows a watcher")
			}
			return nil
		},
		Detach: func() { following.Store(false) },
	}
	p := newProvider(t, cli, "/flags/", WithWatcherOptions(etcdconf.WithProgressInterval(time.Second), etcdconf.WithObserver(one)))
	p.Shutdown()
	p.Shutdown() // idempotent
	put(t, cli, "/flags/app.yaml", "flags:\n  color: {variants: {red: red, blue: blue}, defaultVariant: blue}\n")
	if r := str(p, "color", nil); r.Value != "red" {
		t.Errorf("after Shutdown color = %q, want the last flag set's red", r.Value)
	}
	if err := p.InitWithContext(context.Background(), of.EvaluationContext{}); err != nil {
		t.Fatal(err)
	}
	if ev := expectEvent(t, p, of.ProviderConfigChange); !slices.Equal(ev.FlagChanges, []string{"color"}) {
		t.Errorf("FlagChanges = %v", ev.FlagChanges)
	}
	if r := str(p, "color", nil); r.Value != "blue" {
		t.Errorf("after Init color = %q, want blue", r.Value)
	}
	put(t, cli, "/flags/app.yaml", "flags:\n  color: {variants: {red: red, blue: blue}, defaultVariant: red}\n")
	expectEvent(t, p, of.ProviderConfigChange)
}

func TestStaleWhileEtcdIsDown(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/flags/app.json", appDoc)
	p := newProvider(t, cli, "/flags/", WithWatcherOptions(
		etcdconf.WithProgressInterval(200*time.Millisecond), etcdconf.WithBackoff(50*time.Millisecond, 200*time.Millisecond)))
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, p, of.ProviderStale)
	if r := str(p, "color", nil); r.Value != "red" {
		t.Errorf("while stale color = %+v, want the last flag set", r)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, p, of.ProviderReady)
	// Compaction past the watch's revision: the watcher reloads, the
	// provider keeps serving and follows the change.
	put(t, cli, "/flags/solo", `{"variants": {"a": "a"}, "defaultVariant": "a"}`)
	expectEvent(t, p, of.ProviderConfigChange)
	resp, err := cli.Get(context.Background(), "/flags/solo")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Compact(context.Background(), resp.Header.Revision); err != nil {
		t.Fatal(err)
	}
	put(t, cli, "/flags/solo", `{"variants": {"a": "a", "b": "b"}, "defaultVariant": "b"}`)
	for {
		ev := next(t, p)
		if ev.EventType == of.ProviderConfigChange {
			if !slices.Equal(ev.FlagChanges, []string{"solo"}) {
				t.Errorf("FlagChanges = %v", ev.FlagChanges)
			}
			break
		}
	}
	if r := str(p, "solo", nil); r.Value != "b" {
		t.Errorf("solo = %q, want b", r.Value)
	}
}

func TestEventQueueCoalesces(t *testing.T) {
	q := newEventQueue()
	q.push(of.Event{EventType: of.ProviderConfigChange, ProviderEventDetails: of.ProviderEventDetails{FlagChanges: []string{"b"}}})
	q.push(of.Event{EventType: of.ProviderStale})
	q.push(of.Event{EventType: of.ProviderConfigChange, ProviderEventDetails: of.ProviderEventDetails{FlagChanges: []string{"a", "b"}}})
	q.push(of.Event{EventType: of.ProviderReady}) // replaces STALE: never blocks, newest state wins
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		q.forward(stop)
	}()
	first, second := <-q.out, <-q.out
	if first.EventType != of.ProviderConfigChange || !slices.Equal(first.FlagChanges, []string{"a", "b"}) {
		t.Errorf("first = %+v, want CHANGED [a b]", first)
	}
	if second.EventType != of.ProviderReady {
		t.Errorf("second = %+v, want READY", second)
	}
	close(stop)
	<-stopped
}

// JSONLogic's "/" operator and a variant name holding "/" in a document:
// the provider's watcher decodes no key (etcdconf.New[struct{}]), so the
// document loads from etcd and follows a live change.
func TestSlashInDocumentLoads(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	const doc = `{"flags": {"half": {"state": "ENABLED", "variants": {"a/b": "ab", "c": "c"}, "defaultVariant": "c",
  "targeting": {"if": [{"==": [{"/": [{"var": "n"}, 2]}, 2]}, "a/b", null]}}}}`
	put(t, cli, "/flags/app.json", doc)
	p := newProvider(t, cli, "/flags/")
	if r := str(p, "half", of.FlattenedContext{"n": 4}); r.Value != "ab" || r.Variant != "a/b" || r.Reason != of.TargetingMatchReason {
		t.Fatalf("half for n=4 = %+v, want variant a/b", r)
	}
	if r := str(p, "half", of.FlattenedContext{"n": 6}); r.Value != "c" || r.Reason != of.DefaultReason {
		t.Errorf("half for n=6 = %+v, want the default variant c", r)
	}
	put(t, cli, "/flags/app.json", strings.Replace(doc, `{"var": "n"}, 2]`, `{"var": "n"}, 3]`, 1))
	if ev := expectEvent(t, p, of.ProviderConfigChange); !slices.Equal(ev.FlagChanges, []string{"half"}) {
		t.Errorf("FlagChanges = %v, want [half]", ev.FlagChanges)
	}
	if r := str(p, "half", of.FlattenedContext{"n": 6}); r.Value != "ab" {
		t.Errorf("half for n=6 after the change = %+v, want ab", r)
	}
}

// A revision the watcher itself rejects (here: WithStrict, under which no
// key feeds struct{}) reaches the provider through its observer's Decoded
// hook: PROVIDER_ERROR naming the key, then READY once a revision applies.
func TestWatcherRejectionIsProviderError(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	p := newProvider(t, cli, "/flags/", WithWatcherOptions(etcdconf.WithStrict()))
	put(t, cli, "/flags/color", `{"variants": {"a": "a"}, "defaultVariant": "a"}`)
	ev := expectEvent(t, p, of.ProviderError)
	if !strings.Contains(ev.Message, "color") || ev.ErrorCode == of.ProviderFatalCode {
		t.Errorf("error event %+v: want the rejected key named, not fatal", ev.ProviderEventDetails)
	}
	if r := str(p, "color", nil); r.ResolutionDetail().ErrorCode != of.FlagNotFoundCode {
		t.Errorf("color after a rejected revision = %+v, want FLAG_NOT_FOUND", r)
	}
	if _, err := cli.Delete(context.Background(), "/flags/color"); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, p, of.ProviderReady)
}
