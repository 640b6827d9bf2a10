package flagprovider

import (
	"slices"
	"sync"

	of "github.com/open-feature/go-sdk/openfeature"
)

// eventQueue is the provider's event channel with the events not yet taken
// from it. A push never blocks: a new state event (READY, STALE, ERROR)
// replaces a state event not yet taken, and a CONFIGURATION_CHANGED merges
// its flag keys into one not yet taken, so a slow reader, or none, costs at
// most two pending events and always gets the newest state.
type eventQueue struct {
	out  chan of.Event // stable across Init and Shutdown
	wake chan struct{} // rung by push; capacity 1

	mu      sync.Mutex
	pending []queued // guarded by mu
	nextID  uint64   // guarded by mu
}

type queued struct {
	id uint64 // renewed whenever the event is changed
	ev of.Event
}

func newEventQueue() *eventQueue {
	return &eventQueue{out: make(chan of.Event), wake: make(chan struct{}, 1)}
}

func (q *eventQueue) push(ev of.Event) {
	q.mu.Lock()
	q.nextID++
	id := q.nextID
	if ev.EventType == of.ProviderConfigChange {
		i := slices.IndexFunc(q.pending, func(e queued) bool { return e.ev.EventType == of.ProviderConfigChange })
		if i >= 0 {
			merged := q.pending[i].ev
			keys := slices.Concat(merged.FlagChanges, ev.FlagChanges)
			slices.Sort(keys)
			merged.FlagChanges = slices.Compact(keys)
			q.pending[i] = queued{id: id, ev: merged}
			q.mu.Unlock()
			q.ring()
			return
		}
	} else {
		q.pending = slices.DeleteFunc(q.pending, func(e queued) bool { return e.ev.EventType != of.ProviderConfigChange })
	}
	q.pending = append(q.pending, queued{id: id, ev: ev})
	q.mu.Unlock()
	q.ring()
}

func (q *eventQueue) ring() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// clear drops the events not taken: after Shutdown they describe a watcher
// that is gone.
func (q *eventQueue) clear() {
	q.mu.Lock()
	q.pending = nil
	q.mu.Unlock()
}

// forward offers the oldest pending event on out until done is closed.
func (q *eventQueue) forward(done <-chan struct{}) {
	for {
		q.mu.Lock()
		var head queued
		has := len(q.pending) > 0
		if has {
			head = q.pending[0]
		}
		q.mu.Unlock()
		var send chan<- of.Event
		if has {
			send = q.out
		}
		select {
		case <-done:
			return
		case <-q.wake:
		case send <- head.ev:
			q.mu.Lock()
			// Drop what was sent, unless a push changed it meanwhile: then
			// it is sent again with what the push added.
			q.pending = slices.DeleteFunc(q.pending, func(e queued) bool { return e.id == head.id })
			q.mu.Unlock()
		}
	}
}
