package etcdconf

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/etcdconf/etcdconf/internal/codec"
)

// errStatic is what a static watcher's writes return.
var errStatic = errors.New("etcdconf: a static watcher has no etcd to write to")

// NewStatic returns a watcher that serves v and never talks to etcd: a test
// double for code that takes a *Watcher[T], so that its unit tests need no
// etcd and no etcdtest server. v is validated as [New] validates a loaded
// value; the watcher starts at revision 1. NewStatic and set copy the value
// they are given deeply, so the caller may go on changing its maps and
// slices, and name its [Flag]s by their paths, as the decoder does, so a
// rollout enables the same subjects as in production.
//
// set publishes a new value as the next revision: Current returns it and
// subscribers receive its diff, WithPaths and WithInitial apply, exactly as
// with etcd. A value that fails Validate is rejected as a bad revision would
// be: set returns the [*DecodeError], the last value stays, and Status
// records the rejection. After Close, set returns [ErrClosed].
//
// The static watcher is connected and confirmed current until Close, has no
// keys (Snapshot.Keys is empty, Change.Keys nil), and its writes (Update,
// Set, Delete) return an error.
func NewStatic[T any](v T) (w *Watcher[T], set func(T) error, err error) {
	v = ownStatic(v)
	if err := codec.Validate(&v); err != nil {
		return nil, nil, &DecodeError{Revision: 1, Err: err}
	}
	ctx, cancel := context.WithCancel(context.Background())
	w = &Watcher[T]{
		src: staticSource{}, o: newOptions(nil), ctx: ctx, cancel: cancel,
		// A decoder of no keys: the static watcher's snapshots have none,
		// so it only diffs their values (see decoder.changes).
		dec:  &codec.Decoder[T]{},
		subs: make(map[*subscriber]struct{}), advance: make(chan struct{}),
	}
	w.cur.Store(&Snapshot[T]{Value: v, Revision: 1, Generation: 1})
	w.status = Status{Revision: 1, Seen: 1, Confirmed: time.Now(), Connected: true}
	w.start()
	return w, w.setStatic, nil
}

// The staticSource is the source of a watcher made by NewStatic: its
// values are handed in by set (see Watcher.setStatic), so there is nothing
// to watch, nothing to miss and nothing to write to.
type staticSource struct{}

func (staticSource) run(context.Context) error { return nil }

func (staticSource) current(context.Context) (int64, bool) { return 0, false }

func (staticSource) alwaysCurrent() bool { return true }

func (staticSource) writer() (keyWriter, error) { return nil, errStatic }

// ownStatic returns a deep copy of v, a value handed to NewStatic or set,
// with its flags named by their paths as the decoder names them: the
// caller keeps its maps and slices, and changing them later changes no
// snapshot.
func ownStatic[T any](v T) T {
	v = codec.CopyOf(v)
	codec.NameValues(reflect.ValueOf(&v).Elem(), "")
	return v
}

// setStatic publishes v as a static watcher's next revision.
func (w *Watcher[T]) setStatic(v T) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("etcdconf: static watcher: %w", ErrClosed)
	}
	rev := w.status.Seen + 1
	w.status.Seen = rev
	v = ownStatic(v)
	if err := codec.Validate(&v); err != nil {
		de := &DecodeError{Revision: rev, Err: err}
		w.status.Rejections++
		w.status.Rejected = de
		w.signalLocked()
		return de
	}
	w.cur.Store(&Snapshot[T]{Value: v, Revision: rev, Generation: uint64(rev)}) // one snapshot per revision
	w.status.Revision = rev
	for s := range w.subs {
		s.notify()
	}
	w.signalLocked()
	return nil
}
