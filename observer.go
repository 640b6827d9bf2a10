package etcdconf

import "time"

// An Observer hears of a watcher's events as they happen, for metrics; see
// [WithObserver] and the ready Prometheus collector in package etcdconfprom.
// Its methods are called from the watcher's goroutine, one at a time, and
// must return quickly. Counts and revisions are also in [Watcher.Status].
type Observer interface {
	// Decoded reports a decode of revision rev that took d: err is nil when
	// the revision was applied, the rejection when it was not.
	Decoded(rev int64, d time.Duration, err error)
	// Reloaded reports a full reload of the prefix at revision rev.
	Reloaded(rev int64)
	// Retrying reports a lost watch or failed recovery attempt, before the
	// watcher waits delay and tries again.
	Retrying(err error, delay time.Duration)
}

// WithObserver passes the watcher's events to o. Default: none.
func WithObserver(o Observer) Option {
	return optionFunc(func(opts *options) { opts.observer = o })
}

// nopObserver is the default Observer.
type nopObserver struct{}

func (nopObserver) Decoded(int64, time.Duration, error) {}
func (nopObserver) Reloaded(int64)                      {}
func (nopObserver) Retrying(error, time.Duration)       {}
