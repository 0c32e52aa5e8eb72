package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/session"
	"github.com/onair-video/onair/internal/store/rowcodec"
)

var (
	_ ivs.SessionStore    = (*Store)(nil)
	_ ivs.UsageStore      = (*Store)(nil)
	_ session.Store       = (*Store)(nil)
	_ session.Downsampler = (*Store)(nil)
)

// CreateStreamSession implements ivs.SessionStore.
func (s *Store) CreateStreamSession(ctx context.Context, ss ivs.StreamSession) error {
	doc, err := json.Marshal(ss.Channel)
	if err != nil {
		return fmt.Errorf("postgres: encode session channel: %w", err)
	}
	ingest, err := json.Marshal(ss.Ingest)
	if err != nil {
		return fmt.Errorf("postgres: encode ingest configuration: %w", err)
	}
	_, err = s.pool.Exec(ctx, "INSERT INTO stream_sessions (stream_id, channel_id, channel, start_time, ingest, node_id) VALUES ($1, $2, $3, $4, $5, $6)",
		ss.StreamID, ss.ChannelID, string(doc), rowcodec.FormatTime(ss.StartTime), string(ingest), s.node)
	if err != nil {
		return fmt.Errorf("postgres: insert stream session: %w", err)
	}
	return nil
}

// EndStreamSession implements ivs.SessionStore.
func (s *Store) EndStreamSession(ctx context.Context, streamID string, end time.Time) error {
	tag, err := s.pool.Exec(ctx, "UPDATE stream_sessions SET end_time = $1 WHERE stream_id = $2 AND end_time IS NULL",
		rowcodec.FormatTime(end), streamID)
	return affected(tag, err, "end stream session "+streamID)
}

// EndOpenStreamSessions implements ivs.SessionStore. A session's end is the
// end of its last metric point: the last second the server saw it alive.
//
// Processes sharing the database may call it at once: the open sessions are
// locked as they are read, and a caller that waited for another's lock
// finds them ended (READ COMMITTED re-checks end_time on the row it
// waited for), so each session is ended, and returned, once.
func (s *Store) EndOpenStreamSessions(ctx context.Context, end time.Time) ([]ivs.StreamSession, error) {
	// A node of a cluster ends its own leftovers only (and those of a
	// time before the cluster); the others' are live or the sweeper's.
	if s.node != "" {
		return s.endSessions(ctx, "end open sessions", end, "node_id IN ($1, '')", s.node)
	}
	return s.endSessions(ctx, "end open sessions", end, "true")
}

// endSessions ends the open sessions that match cond (a WHERE condition
// on stream_sessions with args as $1…), each at the end of its last
// metric point when that is before end, and returns them. Two processes
// that end the same sessions at once each end those they locked: no
// session is returned twice.
func (s *Store) endSessions(ctx context.Context, what string, end time.Time, cond string, args ...any) ([]ivs.StreamSession, error) {
	var ended []ivs.StreamSession
	err := s.tx(ctx, func(tx pgx.Tx) error {
		ended = ended[:0] // a retried transaction starts again
		rows, err := tx.Query(ctx, sessionSelect+`,
			(SELECT MAX(t + span) FROM session_metrics m WHERE m.stream_id = stream_sessions.stream_id)
			FROM stream_sessions WHERE end_time IS NULL AND (`+cond+`) ORDER BY start_time, stream_id FOR UPDATE SKIP LOCKED`, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var last *int64
			ss, err := rowcodec.StreamSession(rows, &last)
			if err != nil {
				rows.Close()
				return err
			}
			ss.EndTime = end.UTC()
			if last != nil {
				if t := time.Unix(*last, 0).UTC(); t.Before(ss.EndTime) && t.After(ss.StartTime) {
					ss.EndTime = t
				}
			}
			ended = append(ended, ss)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ended) == 0 {
			return nil
		}
		b := &pgx.Batch{}
		for _, ss := range ended {
			b.Queue("UPDATE stream_sessions SET end_time = $1 WHERE stream_id = $2", rowcodec.FormatTime(ss.EndTime), ss.StreamID)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", what, err)
	}
	return ended, nil
}

// OpenStreamSession implements ivs.SessionStore.
func (s *Store) OpenStreamSession(ctx context.Context, channelID string) (ivs.StreamSession, error) {
	row := s.pool.QueryRow(ctx, sessionColumns+`
		WHERE channel_id = $1 AND end_time IS NULL ORDER BY start_time DESC LIMIT 1`, channelID)
	ss, err := rowcodec.StreamSession(row)
	if err != nil {
		return ivs.StreamSession{}, notFound(err, "open stream session of "+channelID)
	}
	return ss, nil
}

// GetStreamSession implements ivs.SessionStore.
func (s *Store) GetStreamSession(ctx context.Context, channelID, streamID string) (ivs.StreamSession, error) {
	q := sessionColumns + ` WHERE channel_id = $1 AND stream_id = $2`
	args := []any{channelID, streamID}
	if streamID == "" {
		q = sessionColumns + ` WHERE channel_id = $1 ORDER BY start_time DESC, stream_id DESC LIMIT 1`
		args = args[:1]
	}
	ss, err := rowcodec.StreamSession(s.pool.QueryRow(ctx, q, args...))
	if err != nil {
		return ivs.StreamSession{}, notFound(err, "stream session "+streamID+" of "+channelID)
	}
	return ss, nil
}

// ListStreamSessions implements ivs.SessionStore.
func (s *Store) ListStreamSessions(ctx context.Context, channelID, afterStreamID string, limit int) ([]ivs.StreamSession, error) {
	q := sessionColumns + ` WHERE channel_id = $1 ORDER BY start_time DESC, stream_id DESC LIMIT $2`
	args := []any{channelID, limit}
	if afterStreamID != "" {
		// Row values keep the order total when two sessions share a start.
		q = sessionColumns + ` WHERE channel_id = $1 AND (start_time, stream_id) <
			(SELECT start_time, stream_id FROM stream_sessions WHERE stream_id = $2)
			ORDER BY start_time DESC, stream_id DESC LIMIT $3`
		args = []any{channelID, afterStreamID, limit}
	}
	return list(ctx, s, func(r rowcodec.Scanner) (ivs.StreamSession, error) { return rowcodec.StreamSession(r) },
		"list stream sessions", q, args...)
}

// sessionSelect is the column list rowcodec.StreamSession reads;
// sessionColumns adds the table for the common case.
const (
	sessionSelect  = `SELECT stream_id, channel_id, channel, start_time, end_time, ingest, stats, has_error`
	sessionColumns = sessionSelect + ` FROM stream_sessions`
)
