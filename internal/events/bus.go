// Package events delivers onair's event log: to webhooks (HMAC-signed,
// retried with backoff, resumed from a cursor kept in the store) and to
// pages over Server-Sent Events. The store is the outbox; the in-process Bus
// only wakes the readers, so an event a reader misses while asleep is still
// read from the store, in order.
package events

import (
	"sync"

	"github.com/onair-video/onair/internal/ivs"
)

// Bus wakes the readers of the event log when an event is stored: by this
// process (Publish), or by another process that shares the store (Wake,
// from the store's notifications).
type Bus struct {
	mu      sync.Mutex
	waiters map[chan struct{}]struct{}
}

// NewBus returns a bus without readers.
func NewBus() *Bus { return &Bus{waiters: make(map[chan struct{}]struct{})} }

// Publish wakes every reader. It never blocks: a reader that has not taken
// its last wake-up yet needs no second one. It is the sink given to
// ivs.Service in ivs.Config.EventSink.
func (b *Bus) Publish(ivs.Event) { b.Wake() }

// Wake wakes every reader, as Publish does: the event log grew.
func (b *Bus) Wake() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for w := range b.waiters {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}

// Notify returns a channel that receives a value after each Publish, and
// a function that unregisters it.
func (b *Bus) Notify() (wake <-chan struct{}, cancel func()) {
	w := make(chan struct{}, 1)
	b.mu.Lock()
	b.waiters[w] = struct{}{}
	b.mu.Unlock()
	return w, func() {
		b.mu.Lock()
		delete(b.waiters, w)
		b.mu.Unlock()
	}
}
