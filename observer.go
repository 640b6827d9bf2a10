package etcdconf

import (
	"fmt"
	"log/slog"
	"time"
)

// An Observer hears of a watcher's events as they happen: the errors it
// meets after [New] returns, and figures for metrics (see the ready
// Prometheus collector in package etcdconfprom). Pass one with
// [WithObserver]. Every hook is optional: a nil one is not called, and
// later versions may add hooks without breaking yours. Each hook is called
// one call at a time, and must return quickly. Counts and revisions are
// also in [Watcher.Status].
type Observer struct {
	// Attach is called first thing in New, before etcd is read: an error
	// it returns makes New fail with it. An observer that can follow only
	// one watcher refuses a second here (the etcdconfprom collector does).
	// Load does not call it.
	Attach func() error
	// Detach is called when New fails after Attach returned nil, and once
	// the watcher New built is closed and no hook of it can run any more,
	// so that the observer may be given to another New.
	Detach func()
	// Started is called once, before any other hook, when New has built
	// the watcher, with its Status method, so that a collector can read it
	// at every scrape.
	Started func(status func() Status)
	// Decoded reports a decode of revision rev that took d: err is nil when
	// the revision was applied, the rejection when it was not. It is called
	// once the outcome is published: Current returns the new snapshot, or
	// Status the rejection.
	Decoded func(rev int64, d time.Duration, err error)
	// Reloaded reports a full reload of the prefix at revision rev.
	Reloaded func(rev int64)
	// Retrying reports a lost watch or failed recovery attempt, before the
	// watcher waits delay and tries again.
	Retrying func(err error, delay time.Duration)
	// Error is called with every error the watcher meets after New
	// returns: a rejected revision (a [*DecodeError]), a lost watch, a
	// failed reload, a snapshot file not written (see [WithSnapshotFile];
	// [Load] calls it for that too). A panic in it is recovered and logged.
	// It may call [Watcher.Close] (see there); it is not called once Close
	// has begun. Error and Connectivity are never called at once. The last
	// error is always in [Status].Err.
	Error func(err error)
	// Connectivity is called with the watcher's connectivity once New has
	// built it, and then whenever it changes, never twice in a row with
	// the same value: it is the value [Status.Connectivity] returns. It is
	// called from a goroutine of its own, so a change that is undone at
	// once may not be seen. A panic in it is recovered and logged. Like
	// Error, it may call [Watcher.Close], and is not called once Close has
	// begun.
	Connectivity func(c Connectivity)
}

// WithObserver passes the watcher's events to o's hooks. It may be given
// more than once: every observer's hooks are called, in the order given
// (a library built on the watcher adds its own beside its user's).
// Default: none; errors are in [Watcher.Status] and the log (see
// [WithLogger]).
func WithObserver(o Observer) Option {
	return optionFunc(func(opts *options) { opts.observer = opts.observer.join(o) })
}

// join returns an observer whose hooks call a's, then b's. An Attach that
// b refuses detaches a.
func (a Observer) join(b Observer) Observer {
	return Observer{
		Attach: func() error { // unwrapped: attach wraps what the joined hook returns
			if a.Attach != nil {
				if err := a.Attach(); err != nil {
					return err
				}
			}
			if b.Attach != nil {
				if err := b.Attach(); err != nil {
					a.detach()
					return err
				}
			}
			return nil
		},
		Detach:       func() { a.detach(); b.detach() },
		Started:      func(status func() Status) { a.started(status); b.started(status) },
		Decoded:      joinHook3(a.Decoded, b.Decoded),
		Reloaded:     joinHook(a.Reloaded, b.Reloaded),
		Retrying:     joinHook2(a.Retrying, b.Retrying),
		Error:        joinHook(a.Error, b.Error),
		Connectivity: joinHook(a.Connectivity, b.Connectivity),
	}
}

func joinHook[A any](f, g func(A)) func(A) {
	switch {
	case f == nil:
		return g
	case g == nil:
		return f
	}
	return func(a A) { f(a); g(a) }
}

func joinHook2[A, B any](f, g func(A, B)) func(A, B) {
	switch {
	case f == nil:
		return g
	case g == nil:
		return f
	}
	return func(a A, b B) { f(a, b); g(a, b) }
}

func joinHook3[A, B, C any](f, g func(A, B, C)) func(A, B, C) {
	switch {
	case f == nil:
		return g
	case g == nil:
		return f
	}
	return func(a A, b B, c C) { f(a, b, c); g(a, b, c) }
}

// The methods below call o's hooks, skipping the nil ones.

func (o Observer) attach() error {
	if o.Attach == nil {
		return nil
	}
	if err := o.Attach(); err != nil {
		return fmt.Errorf("etcdconf: Observer.Attach refused the watcher: %w", err)
	}
	return nil
}

func (o Observer) detach() {
	if o.Detach != nil {
		o.Detach()
	}
}

func (o Observer) started(status func() Status) {
	if o.Started != nil {
		o.Started(status)
	}
}

func (o Observer) decoded(rev int64, d time.Duration, err error) {
	if o.Decoded != nil {
		o.Decoded(rev, d, err)
	}
}

func (o Observer) reloaded(rev int64) {
	if o.Reloaded != nil {
		o.Reloaded(rev)
	}
}

func (o Observer) retrying(err error, delay time.Duration) {
	if o.Retrying != nil {
		o.Retrying(err, delay)
	}
}

// error passes err to the Error hook. A panic in the hook is logged, never
// passed on: the watcher's goroutine, or a Load that succeeded, must not
// fail because of it.
func (o Observer) error(err error, log *slog.Logger) {
	if o.Error == nil {
		return
	}
	defer recoverHook(log, "Error")
	o.Error(err)
}

// connectivity passes c to the Connectivity hook; a panic in it is logged.
func (o Observer) connectivity(c Connectivity, log *slog.Logger) {
	if o.Connectivity == nil {
		return
	}
	defer recoverHook(log, "Connectivity")
	o.Connectivity(c)
}

func recoverHook(log *slog.Logger, hook string) {
	if p := recover(); p != nil {
		log.Error("etcdconf: Observer."+hook+" panicked", "panic", p)
	}
}
