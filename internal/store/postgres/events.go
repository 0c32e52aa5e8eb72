package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/onair-video/onair/internal/events"
	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/store/rowcodec"
)

var (
	_ ivs.EventStore    = (*Store)(nil)
	_ events.WebhookLog = (*Store)(nil)
	_ events.Log        = (*Store)(nil)
)

// notifyEvents is the channel that AppendEvent notifies with the new seq:
// the "the event log grew" wake-up for the processes that share the
// database: each process LISTENs (ListenEvents) and wakes its readers.
const notifyEvents = "onair_events"

// AppendEvent implements ivs.EventStore.
//
// The event log is an outbox that readers follow by seq (EventsAfter from a
// cursor: webhooks, SSE), so a seq must never become visible after a
// greater one: a reader that saw N+1 moves its cursor past N and never
// delivers N. An identity column alone gives that: it hands out seq N to
// one transaction and N+1 to another that may commit first. So every
// append first takes one transaction advisory lock: the next append takes
// its seq only after this one committed (the lock is released after the
// commit is visible), and seq order is commit order. This is also why the
// identity sequence keeps its default CACHE 1: a per-connection cache would
// hand out seqs out of order even under the lock. Appends are a few per
// stream per minute; serializing them costs nothing that shows.
func (s *Store) AppendEvent(ctx context.Context, e *ivs.Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("postgres: encode event: %w", err)
	}
	var seq int64
	err = s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockEvents); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `INSERT INTO events (id, time, detail_type, channel_id, stream_id, body)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq`,
			e.ID, rowcodec.FormatTime(e.Time), e.DetailType, e.ChannelID, e.StreamID, string(body)).Scan(&seq)
		if err != nil {
			return err
		}
		if e.IsError() && e.StreamID != "" {
			if _, err := tx.Exec(ctx, "UPDATE stream_sessions SET has_error = true WHERE stream_id = $1", e.StreamID); err != nil {
				return err
			}
		}
		// The wake-up of the processes that follow the log. PostgreSQL
		// delivers it only when this transaction commits, and in commit
		// order, so a listener woken for seq N can read N; a rolled-back
		// append notifies no one.
		_, err = tx.Exec(ctx, "SELECT pg_notify($1, $2)", notifyEvents, strconv.FormatInt(seq, 10))
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: append event %s: %w", e.ID, err)
	}
	e.Seq = seq
	return nil
}

// queryEvents reads events by a query that selects (seq, channel_id,
// stream_id, body).
func (s *Store) queryEvents(ctx context.Context, query string, args ...any) ([]ivs.Event, error) {
	return list(ctx, s, rowcodec.Event, "read events", query, args...)
}

// EventsAfter implements events.Log.
func (s *Store) EventsAfter(ctx context.Context, after int64, limit int) ([]ivs.Event, error) {
	return s.queryEvents(ctx, "SELECT seq, channel_id, stream_id, body FROM events WHERE seq > $1 ORDER BY seq LIMIT $2", after, limit)
}

// SessionEvents implements ivs.EventStore.
func (s *Store) SessionEvents(ctx context.Context, streamID string, limit int) ([]ivs.Event, error) {
	return s.queryEvents(ctx, "SELECT seq, channel_id, stream_id, body FROM events WHERE stream_id = $1 ORDER BY seq DESC LIMIT $2", streamID, limit)
}

// LastEventSeq implements events.Log.
func (s *Store) LastEventSeq(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, "SELECT COALESCE(MAX(seq), 0) FROM events").Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: last event: %w", err)
	}
	return n, nil
}

// Cursor implements events.WebhookLog.
func (s *Store) Cursor(ctx context.Context, name string) (int64, bool, error) {
	var n int64
	err := s.pool.QueryRow(ctx, "SELECT seq FROM cursors WHERE name = $1", name).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("postgres: cursor %s: %w", name, err)
	}
	return n, true, nil
}

// SetCursor implements events.WebhookLog: a cursor only moves forward,
// so that the late write of a process that lost a webhook's leadership
// mid-delivery cannot take back its successor's.
func (s *Store) SetCursor(ctx context.Context, name string, seq int64) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO cursors (name, seq) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET seq = GREATEST(cursors.seq, excluded.seq)`, name, seq)
	if err != nil {
		return fmt.Errorf("postgres: set cursor %s: %w", name, err)
	}
	return nil
}
