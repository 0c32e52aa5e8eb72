package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/store/rowcodec"
)

// CreateStreamSession implements ivs.SessionStore.
func (s *Store) CreateStreamSession(ctx context.Context, ss ivs.StreamSession) error {
	doc, err := json.Marshal(ss.Channel)
	if err != nil {
		return fmt.Errorf("sqlite: encode session channel: %w", err)
	}
	ingest, err := json.Marshal(ss.Ingest)
	if err != nil {
		return fmt.Errorf("sqlite: encode ingest configuration: %w", err)
	}
	_, err = s.db.ExecContext(ctx, "INSERT INTO stream_sessions (stream_id, channel_id, channel, start_time, ingest) VALUES (?, ?, ?, ?, ?)",
		ss.StreamID, ss.ChannelID, string(doc), rowcodec.FormatTime(ss.StartTime), string(ingest))
	if err != nil {
		return fmt.Errorf("sqlite: insert stream session: %w", err)
	}
	return nil
}

// EndStreamSession implements ivs.SessionStore.
func (s *Store) EndStreamSession(ctx context.Context, streamID string, end time.Time) error {
	res, err := s.db.ExecContext(ctx, "UPDATE stream_sessions SET end_time = ? WHERE stream_id = ? AND end_time IS NULL",
		rowcodec.FormatTime(end), streamID)
	return affected(res, err, "end stream session "+streamID)
}

// EndOpenStreamSessions implements ivs.SessionStore. A session's end is the end
// of its last metric point: the last second the server saw it alive.
func (s *Store) EndOpenStreamSessions(ctx context.Context, end time.Time) ([]ivs.StreamSession, error) {
	var ended []ivs.StreamSession
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, sessionSelect+`,
			(SELECT MAX(t + span) FROM session_metrics m WHERE m.stream_id = stream_sessions.stream_id)
			FROM stream_sessions WHERE end_time IS NULL`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var last sql.NullInt64
			ss, err := rowcodec.StreamSession(rows, &last)
			if err != nil {
				rows.Close()
				return err
			}
			ss.EndTime = end.UTC()
			if last.Valid {
				if t := time.Unix(last.Int64, 0).UTC(); t.Before(ss.EndTime) && t.After(ss.StartTime) {
					ss.EndTime = t
				}
			}
			ended = append(ended, ss)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, ss := range ended {
			if _, err := tx.ExecContext(ctx, "UPDATE stream_sessions SET end_time = ? WHERE stream_id = ?",
				rowcodec.FormatTime(ss.EndTime), ss.StreamID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: end open sessions: %w", err)
	}
	return ended, nil
}

// OpenStreamSession implements ivs.SessionStore.
func (s *Store) OpenStreamSession(ctx context.Context, channelID string) (ivs.StreamSession, error) {
	row := s.db.QueryRowContext(ctx, sessionColumns+`
		WHERE channel_id = ? AND end_time IS NULL ORDER BY start_time DESC LIMIT 1`, channelID)
	ss, err := rowcodec.StreamSession(row)
	if err != nil {
		return ivs.StreamSession{}, notFound(err, "open stream session of "+channelID)
	}
	return ss, nil
}

// GetStreamSession implements ivs.SessionStore.
func (s *Store) GetStreamSession(ctx context.Context, channelID, streamID string) (ivs.StreamSession, error) {
	q := sessionColumns + ` WHERE channel_id = ? AND stream_id = ?`
	args := []any{channelID, streamID}
	if streamID == "" {
		q = sessionColumns + ` WHERE channel_id = ? ORDER BY start_time DESC, stream_id DESC LIMIT 1`
		args = args[:1]
	}
	ss, err := rowcodec.StreamSession(s.db.QueryRowContext(ctx, q, args...))
	if err != nil {
		return ivs.StreamSession{}, notFound(err, "stream session "+streamID+" of "+channelID)
	}
	return ss, nil
}

// ListStreamSessions implements ivs.SessionStore.
func (s *Store) ListStreamSessions(ctx context.Context, channelID, afterStreamID string, limit int) ([]ivs.StreamSession, error) {
	q := sessionColumns + ` WHERE channel_id = ? ORDER BY start_time DESC, stream_id DESC LIMIT ?`
	args := []any{channelID, limit}
	if afterStreamID != "" {
		// Row values keep the order total when two sessions share a start.
		q = sessionColumns + ` WHERE channel_id = ? AND (start_time, stream_id) <
			(SELECT start_time, stream_id FROM stream_sessions WHERE stream_id = ?)
			ORDER BY start_time DESC, stream_id DESC LIMIT ?`
		args = []any{channelID, afterStreamID, limit}
	}
	return list(ctx, s.db, func(r rowcodec.Scanner) (ivs.StreamSession, error) { return rowcodec.StreamSession(r) },
		"list stream sessions", q, args...)
}

// sessionSelect is the column list rowcodec.StreamSession reads;
// sessionColumns adds the table for the common case.
const (
	sessionSelect  = `SELECT stream_id, channel_id, channel, start_time, end_time, ingest, stats, has_error`
	sessionColumns = sessionSelect + ` FROM stream_sessions`
)
