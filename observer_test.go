package etcdconf

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// WithObserver given twice calls both observers' hooks, in order, and an
// Attach the second refuses detaches the first.
func TestWithObserverTwice(t *testing.T) {
	var calls []string
	rec := func(name string) Observer {
		return Observer{
			Attach:  func() error { calls = append(calls, name+".attach"); return nil },
			Detach:  func() { calls = append(calls, name+".detach") },
			Error:   func(err error) { calls = append(calls, name+".error") },
			Decoded: func(int64, time.Duration, error) { calls = append(calls, name+".decoded") },
		}
	}
	o := newOptions([]Option{WithObserver(rec("a")), WithObserver(Observer{}), WithObserver(rec("b"))}).observer
	if err := o.attach(); err != nil {
		t.Fatal(err)
	}
	o.error(errors.New("x"), newOptions(nil).logger)
	o.decoded(1, 0, nil)
	o.reloaded(1) // neither has the hook
	want := []string{"a.attach", "b.attach", "a.error", "b.error", "a.decoded", "b.decoded"}
	if !slices.Equal(calls, want) {
		t.Fatalf("calls %q, want %q", calls, want)
	}
	calls = nil
	refuse := Observer{Attach: func() error { return errors.New("one watcher only") }}
	o = newOptions([]Option{WithObserver(rec("a")), WithObserver(refuse)}).observer
	if err := o.attach(); err == nil || !slices.Equal(calls, []string{"a.attach", "a.detach"}) {
		t.Fatalf("attach: %v, calls %q", err, calls)
	}
}
