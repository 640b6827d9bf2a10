package flagprovider

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	of "github.com/open-feature/go-sdk/openfeature"

	"github.com/etcdconf/etcdconf/etcdtest"
)

const sdkDoc = `{"flags": {
  "bool": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"},
  "str": {"state": "ENABLED", "variants": {"a": "alpha", "b": "beta"}, "defaultVariant": "a",
    "targeting": {"if": [{"==": [{"var": "tier"}, "gold"]}, "b", null]}},
  "int": {"state": "ENABLED", "variants": {"n": 42, "m": 43}, "defaultVariant": "n"},
  "float": {"state": "ENABLED", "variants": {"x": 2.5}, "defaultVariant": "x"},
  "obj": {"state": "ENABLED", "variants": {"o": {"limit": 10, "tags": ["a"]}}, "defaultVariant": "o"}
}}`

// sdkEvent is an event as a handler registered with the SDK heard it.
type sdkEvent struct {
	typ     of.EventType
	details of.EventDetails
}

// The provider through go-sdk's global API, as an application uses it:
// SetProviderWithContextAndWait, a client evaluating every type, handlers
// hearing CONFIGURATION_CHANGED with the changed flag keys after a put, and
// PROVIDER_ERROR then READY around a malformed revision. of.Shutdown ends
// the SDK's goroutines and the provider's (goleak in TestMain checks).
func TestThroughTheSDK(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)
	put(t, cli, "/flags/app.json", sdkDoc)
	p := newProvider(t, cli, "/flags/")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := of.SetProviderWithContextAndWait(ctx, p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := of.ShutdownWithContext(context.Background()); err != nil {
			t.Error(err)
		}
	})
	client := of.NewDefaultClient()
	// The SDK calls handlers holding its lock (on registration) or on
	// goroutines of their own: a handler must not block, so the channel
	// is large enough for every event of the test.
	events := make(chan sdkEvent, 64)
	for _, typ := range []of.EventType{of.ProviderReady, of.ProviderConfigChange, of.ProviderError, of.ProviderStale} {
		h := func(d of.EventDetails) {
			select {
			case events <- sdkEvent{typ, d}:
			default:
				t.Errorf("event %s dropped: the test's channel is full", typ)
			}
		}
		client.AddHandler(typ, &h)
	}

	ec := of.NewEvaluationContext("user-1", map[string]any{"tier": "gold"})
	if v, err := client.BooleanValue(ctx, "bool", false, ec); err != nil || !v {
		t.Errorf("bool = %v, %v; want true", v, err)
	}
	if v, err := client.StringValue(ctx, "str", "", ec); err != nil || v != "beta" {
		t.Errorf("str = %q, %v; want beta (targeting on tier)", v, err)
	}
	if d, err := client.StringValueDetails(ctx, "str", "", of.EvaluationContext{}); err != nil || d.Value != "alpha" || d.Reason != of.DefaultReason {
		t.Errorf("str without tier = %+v, %v; want alpha, DEFAULT", d, err)
	}
	if v, err := client.IntValue(ctx, "int", 0, ec); err != nil || v != 42 {
		t.Errorf("int = %d, %v; want 42", v, err)
	}
	if v, err := client.FloatValue(ctx, "float", 0, ec); err != nil || v != 2.5 {
		t.Errorf("float = %v, %v; want 2.5", v, err)
	}
	want := map[string]any{"limit": int64(10), "tags": []any{"a"}}
	if v, err := client.ObjectValue(ctx, "obj", nil, ec); err != nil || !reflect.DeepEqual(v, want) {
		t.Errorf("obj = %#v, %v; want %#v", v, err, want)
	}
	if _, err := client.BooleanValue(ctx, "int", false, ec); err == nil || !strings.Contains(err.Error(), string(of.TypeMismatchCode)) {
		t.Errorf("int as a boolean: %v, want TYPE_MISMATCH", err)
	}

	// A live change: CONFIGURATION_CHANGED naming exactly the flag.
	put(t, cli, "/flags/app.json", strings.Replace(sdkDoc, `"defaultVariant": "n"`, `"defaultVariant": "m"`, 1))
	got := awaitSDK(t, events, of.ProviderConfigChange)
	if d := got[of.ProviderConfigChange]; !slices.Equal(d.FlagChanges, []string{"int"}) || d.ProviderName != Name {
		t.Errorf("CONFIGURATION_CHANGED %+v, want FlagChanges [int] from %s", d, Name)
	}
	if v, _ := client.IntValue(ctx, "int", 0, ec); v != 43 {
		t.Errorf("int = %d after the change, want 43", v)
	}

	// A malformed revision: PROVIDER_ERROR, the client in ERROR still
	// answering from the last good flag set; READY once it is gone.
	put(t, cli, "/flags/bad.json", `{"flags": {`)
	got = awaitSDK(t, events, of.ProviderError)
	if d := got[of.ProviderError]; !strings.Contains(d.Message, "/flags/bad.json") {
		t.Errorf("PROVIDER_ERROR %+v does not name the key", d)
	}
	if s := client.State(); s != of.ErrorState {
		t.Errorf("client state %s after PROVIDER_ERROR, want %s", s, of.ErrorState)
	}
	if v, err := client.IntValue(ctx, "int", 0, ec); err != nil || v != 43 {
		t.Errorf("int = %d, %v while in error; want the last good 43", v, err)
	}
	if _, err := cli.Delete(ctx, "/flags/bad.json"); err != nil {
		t.Fatal(err)
	}
	awaitSDK(t, events, of.ProviderReady)
	if s := client.State(); s != of.ReadyState {
		t.Errorf("client state %s after READY, want %s", s, of.ReadyState)
	}
}

// awaitSDK reads events until it has seen one of each type in want, and
// returns the last of each; it fails after 10s. Events of other types are
// skipped: the SDK also sends READY when a handler is added to a ready
// provider and when Init returns, at times the test does not control.
func awaitSDK(t *testing.T, events <-chan sdkEvent, want ...of.EventType) map[of.EventType]of.EventDetails {
	t.Helper()
	got := map[of.EventType]of.EventDetails{}
	deadline := time.After(10 * time.Second)
	for len(got) < len(want) {
		select {
		case ev := <-events:
			if slices.Contains(want, ev.typ) {
				got[ev.typ] = ev.details
			}
		case <-deadline:
			t.Fatalf("saw %v within 10s, want %v", got, want)
		}
	}
	return got
}
