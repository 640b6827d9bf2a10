package etcdconf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdconf/etcdconf/release"
)

// DefaultMetaPrefix is where etcdconf keeps what is not configuration:
// release records and the instances' status records, outside every
// application prefix (see [WithMetaPrefix]).
const DefaultMetaPrefix = release.DefaultMeta

// WithInstance makes the watcher publish its state as instance name: a
// small status record ([InstanceStatus]) at [InstanceKey], under a lease,
// so that `etcdconf status` and `etcdconf apply --wait` can tell which
// instances applied which state, and a dead instance leaves the view
// within the lease's TTL ([WithInstanceTTL]). The record is written when
// the state it holds changes, at most once a second, from a goroutine of
// its own: never on the watch loop's path. While etcd cannot be reached
// the record is written once it can. Close removes it at once.
//
// The record holds no value of the configuration, and a rejection's error
// as [DecodeError] renders it, secret fields withheld. The roles of the
// watcher's client need write access to the instances' keys under the
// meta prefix.
func WithInstance(name string) Option {
	return optionFunc(func(o *options) { o.instance = name })
}

// WithInstanceTTL sets the TTL of an instance's status record lease
// ([WithInstance]): how long a dead instance stays in the view. Default:
// 10s; at least 1s.
func WithInstanceTTL(d time.Duration) Option {
	return optionFunc(func(o *options) { o.instanceTTL = d })
}

// InstanceKey returns the key of instance name's status record for the
// watchers of prefix, under meta (see [WithMetaPrefix]): meta +
// "instances/" + the prefix path-escaped + "/" + name, as release records
// are kept: "/_etcdconf/instances/%2Fapp%2F/api-1" for prefix "/app/", so
// the instances of /app/ and of /app/flags/ never share a range.
func InstanceKey(meta, prefix, name string) string {
	return InstancesPrefix(meta, prefix) + name
}

// InstancesPrefix returns the key prefix of every status record of the
// watchers of prefix (see [InstanceKey]).
func InstancesPrefix(meta, prefix string) string {
	return meta + "instances/" + url.PathEscape(prefix) + "/"
}

// An InstanceStatus is what a watcher with [WithInstance] publishes of
// itself, as JSON.
type InstanceStatus struct {
	Name    string    `json:"name"`
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	Prefix  string    `json:"prefix"`
	// Revision is the etcd revision of the snapshot in use, Digest the
	// [release.Digest] of its etcd keys (relative to the prefix, leased
	// ones included): revisions alone cannot say "the same state" (a load
	// reports the header's revision, and a deletion leaves no mod
	// revision).
	Revision int64  `json:"revision"`
	Digest   string `json:"digest"`
	// Rejected is the revision last rejected since the snapshot in use,
	// with its error (secret fields withheld); 0 and "" for none.
	Rejected      int64  `json:"rejected,omitempty"`
	RejectedError string `json:"rejected_error,omitempty"`
	// Connectivity is "connected", "disconnected" or
	// "serving_snapshot_file" (see [Connectivity]).
	Connectivity string `json:"connectivity"`
	// Source is where the snapshot in use came from: "etcd" or "snapshot
	// file".
	Source string `json:"source"`
}

// digestOf returns the digest of a snapshot's etcd keys, leased ones
// included (see InstanceStatus.Digest).
func digestOf[T any](s *Snapshot[T]) string {
	keys := make(map[string]string, s.etcdKeys().Len())
	for kv := range s.etcdKeys().All() {
		keys[kv.Key] = string(kv.Value)
	}
	return release.Digest(keys)
}

// An instanceReporter keeps a watcher's status record (see WithInstance).
type instanceReporter struct {
	cli  *clientv3.Client
	key  string
	ttl  time.Duration
	base InstanceStatus
	wake chan struct{}
}

func newInstanceReporter(cli *clientv3.Client, prefix string, o *options) (*instanceReporter, error) {
	if o.instance == "" {
		return nil, nil
	}
	if strings.ContainsAny(o.instance, "/\x00") {
		return nil, fmt.Errorf("etcdconf: WithInstance %q: a name cannot hold %q", o.instance, "/")
	}
	meta := o.meta
	if meta == "" {
		meta = DefaultMetaPrefix
	}
	if !strings.HasSuffix(meta, "/") || strings.HasPrefix(meta, prefix) || strings.HasPrefix(prefix, meta) {
		return nil, fmt.Errorf("etcdconf: WithMetaPrefix %q: it must end in \"/\" and lie outside the watched prefix %q", meta, prefix)
	}
	if o.instanceTTL < time.Second {
		return nil, fmt.Errorf("etcdconf: WithInstanceTTL %v: under etcd's one-second minimum", o.instanceTTL)
	}
	host, _ := os.Hostname()
	return &instanceReporter{
		cli: cli, key: InstanceKey(meta, prefix, o.instance), ttl: o.instanceTTL,
		base: InstanceStatus{Name: o.instance, Host: host, PID: os.Getpid(), Started: time.Now().UTC().Truncate(time.Millisecond), Prefix: prefix},
		wake: make(chan struct{}, 1),
	}, nil
}

// changed tells the reporter the watcher's state may have changed.
func (r *instanceReporter) changed() {
	if r == nil {
		return
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// status returns the record of the watcher's state now.
func (w *Watcher[T]) instanceStatus() InstanceStatus {
	s := w.instance.base
	snap, st := w.Current(), w.Status()
	s.Revision, s.Digest = snap.Revision, digestOf(snap)
	if st.Rejected != nil && st.Rejected.Revision > snap.Revision {
		s.Rejected, s.RejectedError = st.Rejected.Revision, st.Rejected.Error()
	}
	s.Connectivity = st.Connectivity().String()
	s.Source = "etcd"
	if !snap.FromSnapshotFile().IsZero() {
		s.Source = "snapshot file"
	}
	return s
}

// reportInstance keeps the status record until Close: registered (and
// registered again after a failure, with backoff), and written when the
// state changes, at most once a second. Close revokes its lease.
func (w *Watcher[T]) reportInstance() {
	defer w.wg.Done()
	r := w.instance
	var reg *Registration[string]
	defer func() {
		switch {
		case reg == nil:
		case r.cli.Ctx().Err() != nil:
			<-reg.Done() // the client is closed: no revoke can reach etcd, and the lease expires
		default:
			reg.Close()
		}
	}()
	b := &backoff{min: w.o.backoffMin, max: w.o.backoffMax}
	var last string
	var lastWrite time.Time
	for {
		enc, err := json.Marshal(w.instanceStatus())
		if err != nil {
			w.report(err, "etcdconf: instance status not encoded")
			return
		}
		if string(enc) != last || reg == nil || reg.Err() != nil {
			if wait := time.Second - time.Since(lastWrite); wait > 0 && reg != nil {
				if !sleep(w.ctx, wait) {
					return
				}
				continue // the state may have moved on meanwhile
			}
			ctx, cancel := context.WithTimeout(w.ctx, 5*time.Second)
			if reg == nil {
				reg, err = Register(ctx, r.cli, r.key, string(enc), r.ttl)
			} else {
				err = reg.Set(ctx, string(enc))
			}
			cancel()
			lastWrite = time.Now()
			if err != nil {
				if w.ctx.Err() != nil {
					return
				}
				if errors.Is(err, ErrRegistrationClosed) {
					reg = nil
				}
				w.o.logger.Debug("etcdconf: instance status not written; retrying", "key", r.key, "err", err)
				if !sleep(w.ctx, max(b.next(), w.o.backoffMin)) {
					return
				}
				continue
			}
			b.reset()
			last = string(enc)
		}
		select {
		case <-w.ctx.Done():
			return
		case <-r.wake:
		case <-time.After(r.ttl):
			// a registration recovering on its own, or a stale state to
			// say: look again now and then
		}
	}
}
