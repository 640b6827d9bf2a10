package etcdconf

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Liveness: how the etcd source's watch proves it is current, and gives up
// when it cannot.
// etcd's watch stream says nothing on a quiet prefix, and a stalled link
// looks the same as a quiet one; see checkProgress.

// mayRead proves the watcher may still read the prefix: a count-only read
// that a revoked permission refuses (an open watch would not notice).
func (s *etcdSource) mayRead(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, s.o.progress)
	defer cancel()
	_, err := s.cli.Get(rctx, s.prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if denied(err) {
		return fmt.Errorf("etcdconf: recheck %q: %w", s.prefix, err)
	}
	return nil // other failures are the progress checker's business
}

// checkProgress keeps the watch honest: every interval it asks etcd for a
// progress notification, and when the last interval brought no sign of life
// it proves currency with a linearizable read instead (see prove). etcd does
// not answer progress requests for a watch that starts past its current
// revision (a quiet store), nor does its grpc-proxy at all; a watch whose
// requests a read had to answer three times in a row stops asking, so a
// proxy is not flooded with requests it cannot serve. When nothing proves
// the watch live for three intervals (the link stalled, or the reads fail:
// no leader, a partition), it cancels the watch: a stalled connection must
// not leave the watcher silent.
//
// With a heartbeat (WithHeartbeat), an interval that brought an event
// needs neither a request nor a read: heartbeats are the proof. A silent
// one means the heartbeats stopped, for every watcher of the prefix at
// once; each read then waits a random part of the interval first, so a
// fleet spreads its reads over the interval instead of sending them
// together.
func (s *etcdSource) checkProgress(ctx context.Context, cancel context.CancelCauseFunc) {
	every := s.o.progress
	t := time.NewTicker(every)
	defer t.Stop()
	ask, unanswered := true, 0
	var proved int64 // etcd's revision at the last proof by a read
	last := s.lastHeard.Load()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		heard := s.lastHeard.Load()
		if time.Since(time.Unix(0, heard)) > 3*every {
			s.to.disconnected()
			cancel(errStale)
			return
		}
		silent := heard == last // nothing in the last interval, not even an answer
		if silent && s.hb != "" && !s.jitter(ctx, every, heard) {
			silent = false // a heartbeat came meanwhile, or the watch ended
		}
		if silent {
			var ok bool
			if proved, ok = s.prove(ctx, proved); ok && ask {
				if unanswered++; unanswered == 3 {
					ask = false
					s.o.logger.Debug("etcdconf: etcd does not answer progress requests; proving currency by reads",
						"prefix", s.prefix)
				}
			}
		} else {
			unanswered = 0
		}
		last = s.lastHeard.Load()
		if !ask || (!silent && s.hb != "") {
			continue
		}
		rctx, rcancel := context.WithTimeout(ctx, every)
		err := s.cli.RequestProgress(rctx)
		rcancel()
		if err != nil && ctx.Err() == nil {
			s.o.logger.Debug("etcdconf: progress request failed", "prefix", s.prefix, "err", err)
		}
	}
}

// jitter waits a random time in [0, every) before a read that replaces a
// missing heartbeat, and reports whether the read is still needed: false
// when ctx ended or the watch heard something after heard meanwhile.
func (s *etcdSource) jitter(ctx context.Context, every time.Duration, heard int64) bool {
	t := time.NewTimer(rand.N(every))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	}
	return s.lastHeard.Load() == heard
}

// prove reports whether a linearizable read shows that the watcher has
// every change of the prefix, and if so records it as heard and returns
// etcd's revision at the read. The read is as cheap as etcd allows: when
// etcd's revision is still the one last seen, or the one of the last proof
// (proved), nothing anywhere changed since; otherwise one range over the
// prefix's keys (no values, so only etcd's in-memory index) finds any key
// modified since, and its count any key deleted since. A failed read
// proves nothing: that is what makes a watcher behind a leaderless or
// partitioned etcd stale.
func (s *etcdSource) prove(ctx context.Context, proved int64) (int64, bool) {
	s.mu.Lock()
	seen, keys := s.at.rev, s.at.keys
	s.mu.Unlock()
	s.to.updateStatus(func(st *Status) { st.Probes++ })
	rctx, cancel := context.WithTimeout(ctx, s.o.progress)
	defer cancel()
	resp, err := s.cli.Get(rctx, s.prefix, clientv3.WithCountOnly())
	if err != nil {
		s.o.logger.Debug("etcdconf: currency read failed", "prefix", s.prefix, "err", err)
		return proved, false
	}
	rev := resp.Header.Revision
	if rev != seen && rev != proved {
		resp, err = s.cli.Get(rctx, s.prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly(),
			clientv3.WithMinModRev(seen+1), clientv3.WithLimit(1))
		if err != nil {
			s.o.logger.Debug("etcdconf: currency read failed", "prefix", s.prefix, "err", err)
			return proved, false
		}
		// Count is every key under the prefix; Kvs only those changed since.
		if len(resp.Kvs) > 0 || resp.Count != int64(keys) {
			return proved, false // changes on their way, or a watch that lost them
		}
		rev = resp.Header.Revision
	}
	s.heard()
	return rev, true
}
