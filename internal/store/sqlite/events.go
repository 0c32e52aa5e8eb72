package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/store/rowcodec"
)

// AppendEvent implements ivs.EventStore.
func (s *Store) AppendEvent(ctx context.Context, e *ivs.Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("sqlite: encode event: %w", err)
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO events (id, time, detail_type, channel_id, stream_id, body) VALUES (?, ?, ?, ?, ?, ?)`,
			e.ID, rowcodec.FormatTime(e.Time), e.DetailType, e.ChannelID, e.StreamID, string(body))
		if err != nil {
			return err
		}
		if e.Seq, err = res.LastInsertId(); err != nil {
			return err
		}
		if e.IsError() && e.StreamID != "" {
			_, err = tx.ExecContext(ctx, `UPDATE stream_sessions SET has_error = 1 WHERE stream_id = ?`, e.StreamID)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: append event: %w", err)
	}
	return nil
}

// EventsAfter implements events.Log.
func (s *Store) EventsAfter(ctx context.Context, after int64, limit int) ([]ivs.Event, error) {
	return list(ctx, s.db, rowcodec.Event, "read events",
		`SELECT seq, channel_id, stream_id, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
}

// SessionEvents implements ivs.EventStore.
func (s *Store) SessionEvents(ctx context.Context, streamID string, limit int) ([]ivs.Event, error) {
	return list(ctx, s.db, rowcodec.Event, "read events",
		`SELECT seq, channel_id, stream_id, body FROM events WHERE stream_id = ? ORDER BY seq DESC LIMIT ?`, streamID, limit)
}

// LastEventSeq implements events.Log.
func (s *Store) LastEventSeq(ctx context.Context) (int64, error) {
	var n sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MAX(seq) FROM events`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: last event: %w", err)
	}
	return n.Int64, nil
}

// Cursor implements events.WebhookLog.
func (s *Store) Cursor(ctx context.Context, name string) (int64, bool, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT seq FROM cursors WHERE name = ?`, name).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("sqlite: cursor: %w", err)
	}
	return n, true, nil
}

// SetCursor implements events.WebhookLog: a cursor only moves forward.
func (s *Store) SetCursor(ctx context.Context, name string, seq int64) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO cursors (name, seq) VALUES (?, ?)
		ON CONFLICT(name) DO UPDATE SET seq = max(seq, excluded.seq)`, name, seq)
	if err != nil {
		return fmt.Errorf("sqlite: set cursor %s: %w", name, err)
	}
	return nil
}
