package chat

import (
	"context"
	"sync"
	"time"
)

// Spent records the nonces of chat tokens that were used: a token opens
// one connection, once. On one node the record is in memory (the default);
// the nodes of a cluster share one in the database, so that a token used on
// one node is refused on every other.
type Spent interface {
	// Spend marks nonce used until expires (when the token could no longer
	// be used anyway) and says whether this was its first use. An error
	// leaves the question open: the connection is refused.
	Spend(ctx context.Context, nonce string, expires time.Time) (first bool, err error)
}

// memSpent is the in-memory Spent of a single node.
type memSpent struct {
	mu sync.Mutex
	m  map[string]time.Time // nonce → when it expires
}

func newMemSpent() *memSpent { return &memSpent{m: make(map[string]time.Time)} }

func (s *memSpent) Spend(_ context.Context, nonce string, expires time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if len(s.m) > 1024 {
		for n, exp := range s.m {
			if now.After(exp) {
				delete(s.m, n)
			}
		}
	}
	if _, used := s.m[nonce]; used {
		return false, nil
	}
	s.m[nonce] = expires
	return true, nil
}
