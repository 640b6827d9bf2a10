package etcdconf

import (
	"errors"
	"fmt"
)

// Sentinel errors. Compare with [errors.Is]; the typed errors below wrap them.
var (
	// ErrClosed is returned by every method of a [Watcher] after [Watcher.Close].
	ErrClosed = errors.New("etcdconf: watcher closed")
	// ErrConflict is returned by writes whose guarded keys changed since they were
	// read: nothing was written, and the caller may retry with the new snapshot.
	ErrConflict = errors.New("etcdconf: conflict: keys changed since they were read")
	// ErrInvalid reports configuration that does not decode or does not validate.
	// Every [*DecodeError] matches it.
	ErrInvalid = errors.New("etcdconf: invalid configuration")
)

// A DecodeError reports a revision whose keys did not decode into the
// configuration type, or whose decoded value failed its Validate method. The
// watcher rejects such a revision and keeps the last good snapshot.
//
// errors.Is(err, ErrInvalid) is true for every DecodeError.
type DecodeError struct {
	// Key is the full etcd key at fault. It is empty when the value as a whole
	// was rejected by Validate.
	Key string
	// Revision is the etcd revision that was rejected; 0 when the error did not
	// come from a revision of etcd (a value given to the decoder directly).
	Revision int64
	// Err is the cause.
	Err error
}

func (e *DecodeError) Error() string {
	switch {
	case e.Key == "" && e.Revision == 0:
		return fmt.Sprintf("etcdconf: invalid configuration: %v", e.Err)
	case e.Key == "":
		return fmt.Sprintf("etcdconf: revision %d: invalid configuration: %v", e.Revision, e.Err)
	case e.Revision == 0:
		return fmt.Sprintf("etcdconf: key %q: %v", e.Key, e.Err)
	}
	return fmt.Sprintf("etcdconf: key %q at revision %d: %v", e.Key, e.Revision, e.Err)
}

// Unwrap returns the cause.
func (e *DecodeError) Unwrap() error { return e.Err }

// Is reports whether target is [ErrInvalid].
func (e *DecodeError) Is(target error) bool { return target == ErrInvalid }
