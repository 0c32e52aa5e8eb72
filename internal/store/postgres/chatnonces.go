package postgres

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// ChatNonces is the single-use record of chat tokens (chat.Spent) that
// every onair on the database shares: a token used on one node is refused
// on the others. Expired rows are purged by Spend itself, at most once per
// purgeEvery per process, so that no goroutine needs running.
type ChatNonces struct {
	s         *Store
	lastPurge atomic.Int64 // Unix nanoseconds
}

// purgeEvery is how often a process deletes the expired nonces.
const purgeEvery = time.Minute

// ChatNonces returns the store's record of used chat tokens.
func (s *Store) ChatNonces() *ChatNonces { return &ChatNonces{s: s} }

// Spend records nonce as used until expires; first says whether no
// process had recorded it before.
func (c *ChatNonces) Spend(ctx context.Context, nonce string, expires time.Time) (first bool, err error) {
	if !storable(nonce) {
		// Tokens are onair's, signed: such a nonce is a bug, not input.
		return false, fmt.Errorf("postgres: spend chat nonce %q: not UTF-8 text without NUL", nonce)
	}
	if now, last := time.Now(), c.lastPurge.Load(); now.UnixNano()-last >= int64(purgeEvery) && c.lastPurge.CompareAndSwap(last, now.UnixNano()) {
		if _, err := c.Purge(ctx); err != nil {
			return false, err
		}
	}
	var n int64
	err = c.s.retry(ctx, func() error {
		tag, err := c.s.pool.Exec(ctx, `INSERT INTO chat_nonces (nonce, expires) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING`,
			nonce, expires.UTC())
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("postgres: spend chat nonce: %w", err)
	}
	return n == 1, nil
}

// Purge deletes the nonces of tokens that expired (by the database's
// clock) and returns how many.
func (c *ChatNonces) Purge(ctx context.Context) (int64, error) {
	tag, err := c.s.pool.Exec(ctx, `DELETE FROM chat_nonces WHERE expires < now()`)
	if err != nil {
		return 0, fmt.Errorf("postgres: purge chat nonces: %w", err)
	}
	return tag.RowsAffected(), nil
}
