package etcdconf

import (
	"context"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// A watchQueue holds the responses of one watch that have arrived and are
// not applied yet. clientv3 hands responses over one at a time on an
// unbuffered channel, so a watch loop that reads the channel only between
// applies sees about one response per apply however many are waiting: when
// decoding and validating are slower than the writes, it falls ever further
// behind. The queue's own goroutine (pump) receives every response as it
// comes, and the loop takes all that have arrived at once (take), so an
// apply's fixed costs — Validate, the diff, publishing — are paid once per
// batch, not once per revision.
type watchQueue struct {
	ready chan struct{} // rung (capacity 1) when a response arrives or the channel closes

	mu     sync.Mutex // guards the fields below
	resps  []clientv3.WatchResponse
	closed bool // the watch channel was closed
}

func newWatchQueue() *watchQueue { return &watchQueue{ready: make(chan struct{}, 1)} }

// pump moves responses from wch into the queue until wch closes or ctx
// ends. It never blocks on the loop.
func (q *watchQueue) pump(ctx context.Context, wch clientv3.WatchChan) {
	for {
		select {
		case <-ctx.Done():
			return
		case resp, ok := <-wch:
			q.mu.Lock()
			if ok {
				q.resps = append(q.resps, resp)
			} else {
				q.closed = true
			}
			q.mu.Unlock()
			select {
			case q.ready <- struct{}{}:
			default: // already rung: the loop takes everything queued
			}
			if !ok {
				return
			}
		}
	}
}

// take returns every response queued, in order, and whether the watch
// channel has closed after them.
func (q *watchQueue) take() ([]clientv3.WatchResponse, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	resps := q.resps
	q.resps = nil
	return resps, q.closed
}
