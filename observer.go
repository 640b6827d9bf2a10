package etcdconf

import "time"

// An Observer hears of a watcher's events as they happen, for metrics; see
// [WithObserver] and the ready Prometheus collector in package etcdconfprom.
// Every hook is optional: a nil one is not called, and later versions may
// add hooks without breaking yours. Hooks are called from the watcher's
// goroutine, one at a time, and must return quickly. Counts and revisions
// are also in [Watcher.Status].
type Observer struct {
	// Started is called once, before any other hook, when New has built
	// the watcher, with its Status method, so that a collector can read it
	// at every scrape.
	Started func(status func() Status)
	// Decoded reports a decode of revision rev that took d: err is nil when
	// the revision was applied, the rejection when it was not.
	Decoded func(rev int64, d time.Duration, err error)
	// Reloaded reports a full reload of the prefix at revision rev.
	Reloaded func(rev int64)
	// Retrying reports a lost watch or failed recovery attempt, before the
	// watcher waits delay and tries again.
	Retrying func(err error, delay time.Duration)
}

// WithObserver passes the watcher's events to o's hooks. Default: none.
func WithObserver(o Observer) Option {
	return optionFunc(func(opts *options) { opts.observer = observer(o) })
}

// observer calls an Observer's hooks, skipping the nil ones.
type observer Observer

func (o observer) started(status func() Status) {
	if o.Started != nil {
		o.Started(status)
	}
}

func (o observer) decoded(rev int64, d time.Duration, err error) {
	if o.Decoded != nil {
		o.Decoded(rev, d, err)
	}
}

func (o observer) reloaded(rev int64) {
	if o.Reloaded != nil {
		o.Reloaded(rev)
	}
}

func (o observer) retrying(err error, delay time.Duration) {
	if o.Retrying != nil {
		o.Retrying(err, delay)
	}
}
