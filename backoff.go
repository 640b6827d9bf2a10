package etcdconf

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff yields exponential, jittered, capped delays between recovery
// attempts. The first attempt after a healthy period waits nothing, so a
// compaction is recovered at once; every further one waits longer, so a
// watch that fails instantly can never spin.
type backoff struct {
	min, max time.Duration
	attempt  int
}

// next returns the delay before the next attempt and counts the attempt.
func (b *backoff) next() time.Duration {
	d := b.peek()
	b.attempt++
	if d == 0 {
		return 0
	}
	// Full jitter over the upper half: spreads a fleet of watchers that lost
	// the same etcd, while never retrying sooner than half the delay.
	return d/2 + rand.N(d/2+1)
}

// peek returns the ceiling of the next delay without counting an attempt.
func (b *backoff) peek() time.Duration {
	if b.attempt == 0 {
		return 0
	}
	d := b.min
	for i := 1; i < b.attempt && d < b.max; i++ {
		d *= 2
	}
	return min(d, b.max)
}

// reset starts over after a recovery that needs no further proof.
func (b *backoff) reset() { b.attempt = 0 }

// settle is called when a watch proves live, up for the given time. A
// watch up for a second starts the backoff over, so the next fault is
// recovered at once; one that proves live and then fails at once keeps
// the shortest delay, so it can never spin.
func (b *backoff) settle(up time.Duration) {
	if up > time.Second {
		b.reset()
	} else {
		b.attempt = min(b.attempt, 1)
	}
}

// sleep waits d, and reports false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
