// Package ratelimit keeps a token bucket per key (a client's address), in a
// table that stays bounded when a flood comes from many keys.
package ratelimit

import (
	"net"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// MaxEntries bounds a table: full, it forgets the keys whose buckets
// refilled, and if none did, all of them, rather than grow.
const MaxEntries = 65536

// Table is a token bucket per key. The zero value is not usable; see New.
type Table struct {
	limit rate.Limit
	burst int
	// Now is the clock; tests may replace it before first use.
	Now func() time.Time

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// New returns a table whose buckets hold burst tokens and refill one every
// every.
func New(burst int, every time.Duration) *Table {
	return &Table{limit: rate.Every(every), burst: burst, Now: time.Now, buckets: make(map[string]*rate.Limiter)}
}

// PerSecond returns a table whose buckets refill n tokens a second.
func PerSecond(n float64, burst int) *Table {
	return &Table{limit: rate.Limit(n), burst: burst, Now: time.Now, buckets: make(map[string]*rate.Limiter)}
}

// Allow spends a token of key's bucket, reporting false if it had none.
func (t *Table) Allow(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.bucket(key).AllowN(t.Now(), 1)
}

// Has reports whether key's bucket has a token, without spending it.
func (t *Table) Has(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	b, ok := t.buckets[key]
	return !ok || b.TokensAt(t.Now()) >= 1
}

// Len returns the number of keys the table holds.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.buckets)
}

func (t *Table) bucket(key string) *rate.Limiter {
	b, ok := t.buckets[key]
	if ok {
		return b
	}
	if len(t.buckets) >= MaxEntries {
		t.sweep(t.Now())
	}
	b = rate.NewLimiter(t.limit, t.burst)
	t.buckets[key] = b
	return b
}

func (t *Table) sweep(now time.Time) {
	for k, b := range t.buckets {
		if b.TokensAt(now) >= float64(t.burst) {
			delete(t.buckets, k)
		}
	}
	if len(t.buckets) >= MaxEntries {
		clear(t.buckets)
	}
}

// Host returns a host:port address without its port, the key clients are
// counted by.
func Host(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
