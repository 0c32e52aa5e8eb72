package conns

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/onair-video/onair/internal/live"
)

// Set is a protocol server's connections (or sessions) by key, and the
// goroutines that serve them. Close ends it: nothing joins after, every
// connection is closed and every goroutine waited for.
//
// A goroutine is added under the set's lock only while it is open, so
// Close's wait never races with a new one.
type Set[K comparable, V io.Closer] struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	items  map[K]V
	closed bool
	wg     sync.WaitGroup
}

// NewSet returns an empty, open set.
func NewSet[K comparable, V io.Closer]() *Set[K, V] {
	ctx, cancel := context.WithCancel(context.Background())
	return &Set[K, V]{ctx: ctx, cancel: cancel, items: make(map[K]V)}
}

// Context is cancelled when Close begins; the connections' work derives
// from it.
func (s *Set[K, V]) Context() context.Context { return s.ctx }

// Add puts v in the set under k, for Close to close. It returns false,
// leaving v to the caller, once the set is closed.
func (s *Set[K, V]) Add(k K, v V) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.items[k] = v
	return true
}

// Remove takes k out of the set; it does not close it.
func (s *Set[K, V]) Remove(k K) {
	s.mu.Lock()
	delete(s.items, k)
	s.mu.Unlock()
}

// Get returns what is in the set under k.
func (s *Set[K, V]) Get(k K) (V, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.items[k]
	return v, ok
}

// Track counts the calling goroutine (a Serve loop) in what Close waits
// for, until it calls Done. It returns false once the set is closed; the
// caller must then not call Done.
func (s *Set[K, V]) Track() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

// Done ends what Track began.
func (s *Set[K, V]) Done() { s.wg.Done() }

// Go runs fn in a goroutine Close waits for. It returns false, without
// running fn, once the set is closed.
func (s *Set[K, V]) Go(fn func()) bool {
	if !s.Track() {
		return false
	}
	go func() {
		defer s.Done()
		fn()
	}()
	return true
}

// Closed reports whether Close has begun.
func (s *Set[K, V]) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close cancels the context, closes everything in the set and waits for
// every goroutine. It is idempotent: a second call waits too. The items
// are closed outside the lock, so an item's Close may Remove itself.
func (s *Set[K, V]) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return
	}
	s.closed = true
	s.cancel()
	items := make([]V, 0, len(s.items))
	for _, v := range s.items {
		items = append(items, v)
	}
	s.mu.Unlock()
	for _, v := range items {
		_ = v.Close()
	}
	s.wg.Wait()
}

// End logs how a connection of the set ended (Log). One that broke
// because the set is closing (its connection closed under it) ended with
// the server's shutdown, which is routine.
func (s *Set[K, V]) End(log *slog.Logger, err error) Outcome {
	if o := Classify(err); (o == PeerGone || o == Failed) && s.ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", live.ErrShutdown, err)
	}
	return Log(log, err)
}
