package etcdconf

import (
	"errors"
	"fmt"

	"github.com/etcdconf/etcdconf/internal/codec"
)

// Sentinel errors. Compare with [errors.Is]; the typed errors below wrap them.
var (
	// ErrClosed is returned by the writes of a [Watcher] (Update, Set,
	// Delete) after [Watcher.Close], and by [Registration.Set] after its
	// Close. Reads go on working after Close: Current and Status return the
	// last snapshot and status, Subscribe a closed channel, Done a closed
	// channel.
	ErrClosed = errors.New("etcdconf: watcher closed")
	// ErrConflict is returned by writes whose guarded keys changed since they were
	// read: nothing was written, and the caller may retry with the new snapshot.
	ErrConflict = errors.New("etcdconf: conflict: keys changed since they were read")
	// ErrUnapplied is returned by a write (Update, Set, Delete) that etcd
	// committed but that the watcher had not applied when the call ended:
	// the watcher was closed, or ctx ended, while the call waited for it.
	// The write is in etcd; retrying it would apply it twice. The error is
	// an [*UnappliedError] with the revision; it does not match [ErrClosed].
	ErrUnapplied = errors.New("etcdconf: written to etcd, not applied by the watcher")
	// ErrInvalid reports configuration that does not decode or does not validate.
	// Every [*DecodeError] matches it.
	ErrInvalid = errors.New("etcdconf: invalid configuration")

	// ErrUnreachable: no endpoint accepted a connection in time, or one did
	// and etcd did not answer (no leader, a hung member).
	ErrUnreachable = errors.New("etcdconf: etcd unreachable")
	// ErrTLS: client and server disagree about TLS: the server wants TLS
	// (or a client certificate) and the client has none, the client speaks
	// TLS to a plaintext server, or the server's certificate is not trusted.
	ErrTLS = errors.New("etcdconf: TLS mismatch")
	// ErrAuth: etcd rejected the username or password, or the token.
	ErrAuth = errors.New("etcdconf: authentication failed")
	// ErrPermission: the user is authenticated, and its roles may not read
	// (or write) the keys asked for.
	ErrPermission = errors.New("etcdconf: permission denied")
)

// Sentinel errors of a [Registration]. Each matches a general sentinel
// above under [errors.Is], so a caller may test either.
var (
	// ErrKeyHeld: the key is registered by someone else. [Register] with
	// [Exclusive] returns it when the key exists, and [Registration.Set]
	// while another holder has taken the key over. It matches ErrConflict.
	ErrKeyHeld error = &sentinel{"etcdconf: key held by another registration", ErrConflict}
	// ErrRegistrationClosed is returned by [Registration.Set] after Close.
	// It matches ErrClosed.
	ErrRegistrationClosed error = &sentinel{"etcdconf: registration closed", ErrClosed}
)

// A sentinel is an error of its own that also matches a more general one.
type sentinel struct {
	msg  string
	kind error
}

func (e *sentinel) Error() string { return e.msg }

// Is reports whether target is the general sentinel e belongs to.
func (e *sentinel) Is(target error) bool { return target == e.kind }

// [ClientConfig.Client], [New] and [Load] wrap ErrUnreachable, ErrTLS,
// ErrAuth and ErrPermission with a message that names the endpoint or
// prefix and what to check.

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
	return (&codec.Error{Key: e.Key, Revision: e.Revision, Err: e.Err}).Error() // one wording
}

// Unwrap returns the cause.
func (e *DecodeError) Unwrap() error { return e.Err }

// Is reports whether target is [ErrInvalid].
func (e *DecodeError) Is(target error) bool { return target == ErrInvalid }

// An UnappliedError reports a write that etcd committed at Revision while
// the call that made it could not wait for the watcher to apply it: the
// watcher was closed, or the caller's ctx ended. The configuration in etcd
// includes the write. errors.Is(err, ErrUnapplied) is true; when ctx ended,
// so is errors.Is(err, ctx.Err()).
type UnappliedError struct {
	// Revision is the revision of the committed write.
	Revision int64
	// Err is why the call stopped waiting.
	Err error
}

func (e *UnappliedError) Error() string {
	return fmt.Sprintf("etcdconf: written at revision %d, not applied by the watcher: %v", e.Revision, e.Err)
}

// Unwrap returns why the call stopped waiting.
func (e *UnappliedError) Unwrap() error { return e.Err }

// Is reports whether target is [ErrUnapplied].
func (e *UnappliedError) Is(target error) bool { return target == ErrUnapplied }

// errStopped is why a write stopped waiting when the watcher was closed.
var errStopped = errors.New("the watcher was closed before it applied the write")
