package etcdconf

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"

	"github.com/etcdconf/etcdconf/internal/codec"
)

// An Event tells a subscriber what changed; see [Watcher.Subscribe].
type Event[T any] struct {
	// Old is the snapshot this subscriber saw last: the one current when it
	// subscribed, or New of the update it received before. It is nil in the
	// first update of a [WithInitial] subscription.
	Old *Snapshot[T]
	// New is the snapshot now current.
	New *Snapshot[T]
	// Changes is the field-level difference from Old.Value to New.Value,
	// sorted by path; with [WithPaths], only the changes under those paths.
	Changes []Change
}

// LogValue renders the event for log/slog: the revision it goes from
// (absent for a first [WithInitial] update) and to, the prefix, and each
// change as [Change.String] prints it, secrets withheld; never Old.Value
// or New.Value whole. (slog.Any of a Value itself prints what it holds.)
func (e Event[T]) LogValue() slog.Value {
	var attrs []slog.Attr
	if e.Old != nil {
		attrs = append(attrs, slog.Int64("from", e.Old.Revision))
	}
	changes := make([]string, len(e.Changes))
	for i, c := range e.Changes {
		changes[i] = c.String()
	}
	if e.New != nil {
		attrs = append(attrs, slog.Int64("revision", e.New.Revision), slog.String("prefix", e.New.prefix))
	}
	return slog.GroupValue(append(attrs, slog.Any("changes", changes))...)
}

// A SubscribeOption configures [Watcher.Subscribe].
type SubscribeOption interface{ applySub(*subOptions) }

type subOptions struct {
	paths   []string
	initial bool
}

type subOptionFunc func(*subOptions)

func (f subOptionFunc) applySub(o *subOptions) { f(o) }

// WithPaths delivers only updates with a change under one of paths, Go-style
// paths into T such as "DB" or `Services["api-1"]` (see [Change.Under]),
// and only those changes. A change above a path that holds it is delivered
// whole: with WithPaths("Limits.Max"), a nil Limits being set is delivered
// as its change at "Limits". Default: every update.
//
// Every path must lead into T: [Watcher.Subscribe] panics on one that does
// not, such as "db" for the field DB or "DB/Port" (a key's spelling), since
// a subscription that can never receive anything is a bug best found the
// first time the code runs.
func WithPaths(paths ...string) SubscribeOption {
	return subOptionFunc(func(o *subOptions) { o.paths = append(o.paths, paths...) })
}

// WithInitial makes the first update carry the current snapshot, with a nil
// Old, so a subscriber can configure itself from the channel alone. Its
// changes are the diff from the zero T, all Added: one per field whose
// value is not its zero value, one per map entry and per slice element, one
// per pointer that is set. A field that holds its zero value (absent, or
// set to 0, "" or false) has no change: read it from New.Value. Default:
// the first update is the first change after Subscribe.
func WithInitial() SubscribeOption {
	return subOptionFunc(func(o *subOptions) { o.initial = true })
}

// subscriber is the watcher's handle on one subscription: a doorbell rung on
// every publication. It holds nothing else, so the watch loop never waits
// for a subscriber.
type subscriber struct{ wake chan struct{} }

func (s *subscriber) notify() {
	select {
	case s.wake <- struct{}{}:
	default: // already rung: the subscriber will read the newest snapshot
	}
}

// Subscribe returns a channel of updates, one for each snapshot the watcher
// publishes after the call. Sends never block the watcher: a subscriber
// that falls behind receives one merged update, from the snapshot it saw
// last to the newest, so it never sees a stale value after a newer one.
//
// The channel is closed when ctx ends or the watcher is closed. After Close,
// Subscribe returns a closed channel.
func (w *Watcher[T]) Subscribe(ctx context.Context, opts ...SubscribeOption) <-chan Event[T] {
	var so subOptions
	for _, opt := range opts {
		opt.applySub(&so)
	}
	for _, p := range so.paths {
		if err := codec.CheckPath(reflect.TypeFor[T](), p); err != nil {
			panic(fmt.Sprintf("etcdconf: Subscribe: WithPaths(%q): %v", p, err))
		}
	}
	out := make(chan Event[T])
	s := &subscriber{wake: make(chan struct{}, 1)}
	w.mu.Lock()
	if w.closed || w.ctx.Err() != nil {
		w.mu.Unlock()
		close(out)
		return out
	}
	// Read the base under mu: a publication after this rings s, so none is missed.
	base := w.cur.Load()
	w.subs[s] = struct{}{}
	w.wg.Add(1)
	w.mu.Unlock()
	go w.deliver(ctx, s, out, base, so)
	return out
}

// deliver runs one subscription: on every ring it diffs the newest snapshot
// against the one the subscriber saw last and offers that update, replacing
// an offer not yet taken by a newer one.
func (w *Watcher[T]) deliver(ctx context.Context, s *subscriber, out chan<- Event[T], base *Snapshot[T], so subOptions) {
	defer func() {
		w.mu.Lock()
		delete(w.subs, s)
		w.mu.Unlock()
		close(out)
		w.wg.Done()
	}()
	owed := so.initial // an update is owed even without changes
	if owed {
		base = nil
	}
	var pending *Event[T]
	refresh := func() {
		pending = nil
		latest := w.cur.Load()
		if latest == base {
			return
		}
		changes := filterChanges(changes(w.dec, base, latest), so.paths)
		if len(changes) == 0 && !owed {
			return
		}
		pending = &Event[T]{Old: base, New: latest, Changes: changes}
	}
	if owed {
		refresh()
	}
	for {
		var send chan<- Event[T]
		var u Event[T]
		if pending != nil {
			send, u = out, *pending
		}
		select {
		case <-ctx.Done():
			return
		case <-w.ctx.Done():
			return
		case send <- u:
			base, owed, pending = u.New, false, nil
		case <-s.wake:
			refresh()
		}
	}
}

// filterChanges keeps the changes under one of paths, and those at an
// ancestor of one (Limits set from nil holds Limits.Max), whole; all of them
// when paths is empty.
func filterChanges(cs []Change, paths []string) []Change {
	if len(paths) == 0 {
		return cs
	}
	kept := cs[:0:0]
	for _, c := range cs {
		for _, p := range paths {
			if c.Under(p) || (Change{Path: p}).Under(c.Path) {
				kept = append(kept, c)
				break
			}
		}
	}
	return kept
}

// changes diffs two snapshots: with the delta the watcher computed when
// latest directly follows base, else from the keys that differ between
// them (see codec.Decoder.Between), else by the full diff.
func changes[T any](d *codec.Decoder[T], base, latest *Snapshot[T]) []Change {
	if base != nil && latest.deltaFrom != 0 && latest.deltaFrom == base.Generation {
		if len(latest.delta) == 0 {
			return nil // no change: as the full diff says it
		}
		return latest.delta
	}
	if base != nil {
		if cs, ok := d.Between(base.decoded(), latest.decoded(), latest.Revision); ok {
			return changesOf(cs)
		}
	}
	return diffSnapshots(base, latest)
}
