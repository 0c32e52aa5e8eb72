package live

import (
	"net"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Unknown stream keys allowed per source address: a burst of 10, then one
// every 6 s. An encoder with a typo retries far slower than that; a key
// scanner (hopeless against 256-bit keys, but costly in store lookups and
// logs) is refused without a lookup.
const (
	keyFailureBurst = 10
	keyFailureEvery = 6 * time.Second
	// maxFailureEntries bounds the table when a flood comes from many
	// addresses: full, it forgets the addresses whose budget refilled.
	maxFailureEntries = 65536
)

// failureLimiter counts failed key attempts per source address.
type failureLimiter struct {
	burst int
	every time.Duration
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func newFailureLimiter(burst int, every time.Duration) *failureLimiter {
	return &failureLimiter{burst: burst, every: every, now: time.Now, buckets: make(map[string]*rate.Limiter)}
}

// allowed reports whether host may try a key now.
func (l *failureLimiter) allowed(host string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[host]
	return !ok || b.TokensAt(l.now()) >= 1
}

// fail spends one of host's attempts.
func (l *failureLimiter) fail(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.buckets[host]
	if !ok {
		if len(l.buckets) >= maxFailureEntries {
			l.sweep(now)
		}
		b = rate.NewLimiter(rate.Every(l.every), l.burst)
		l.buckets[host] = b
	}
	b.AllowN(now, 1)
}

// sweep forgets addresses whose budget is whole again; if none is, it
// forgets them all rather than grow without bound.
func (l *failureLimiter) sweep(now time.Time) {
	for h, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, h)
		}
	}
	if len(l.buckets) >= maxFailureEntries {
		clear(l.buckets)
	}
}

// hostOf returns the address without its port.
func hostOf(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}
