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

// AppendMetrics implements session.Store.
func (s *Store) AppendMetrics(ctx context.Context, streamID string, points []ivs.MetricPoint, stats ivs.SessionStats) error {
	doc, err := json.Marshal(stats)
	if err != nil {
		return fmt.Errorf("sqlite: encode session stats: %w", err)
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE stream_sessions SET stats = ? WHERE stream_id = ?", string(doc), streamID)
		if err := affected(res, err, "session "+streamID); err != nil {
			return err
		}
		if len(points) == 0 {
			return nil
		}
		st, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO session_metrics
			(stream_id, t, span, video_bitrate, framerate, audio_bitrate, keyframe_interval, viewers)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, p := range points {
			if _, err := st.ExecContext(ctx, streamID, p.Time.Unix(), max(p.Span, 1), p.VideoBitrate, p.Framerate,
				p.AudioBitrate, p.KeyframeInterval, p.Viewers); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: append metrics of %s: %w", streamID, err)
	}
	return nil
}

// SessionMetrics implements ivs.SessionStore.
func (s *Store) SessionMetrics(ctx context.Context, streamID string, from, to time.Time) ([]ivs.MetricPoint, error) {
	lo, hi := rowcodec.MetricRange(from, to)
	return list(ctx, s.db, rowcodec.MetricPoint, "session metrics of "+streamID,
		`SELECT t, span, video_bitrate, framerate, audio_bitrate, keyframe_interval, viewers
		FROM session_metrics WHERE stream_id = ? AND t >= ? AND t < ? ORDER BY t`, streamID, lo, hi)
}

// DownsampleMetrics implements session.Downsampler. Points are grouped into buckets
// of span seconds aligned to the Unix epoch; each bucket becomes one point
// whose values are the span-weighted averages and whose span is the sum of
// its points' spans, so viewer-seconds (viewers × span) are kept exactly.
// Buckets already made of a single point are left alone, which makes the
// operation idempotent.
func (s *Store) DownsampleMetrics(ctx context.Context, endedBefore time.Time, span int) (int, error) {
	if span <= 1 {
		return 0, nil
	}
	var removed int
	err := s.tx(ctx, func(tx *sql.Tx) error {
		const bucket = `(t / ?) * ?`
		if _, err := tx.ExecContext(ctx, `CREATE TEMP TABLE IF NOT EXISTS downsampled AS
			SELECT * FROM session_metrics WHERE 0`); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM temp.downsampled`); err != nil {
			return err
		}
		// Candidate points: of ended sessions, in buckets holding more than one point.
		if _, err := tx.ExecContext(ctx, `INSERT INTO temp.downsampled
			SELECT m.stream_id, `+bucket+`, SUM(m.span),
				CAST(ROUND(SUM(m.video_bitrate * m.span) * 1.0 / SUM(m.span)) AS INTEGER),
				SUM(m.framerate * m.span) / SUM(m.span),
				CAST(ROUND(SUM(m.audio_bitrate * m.span) * 1.0 / SUM(m.span)) AS INTEGER),
				SUM(m.keyframe_interval * m.span) / SUM(m.span),
				CAST(ROUND(SUM(m.viewers * m.span) * 1.0 / SUM(m.span)) AS INTEGER)
			FROM session_metrics m JOIN stream_sessions ss ON ss.stream_id = m.stream_id
			WHERE ss.end_time IS NOT NULL AND ss.end_time < ?
			GROUP BY m.stream_id, `+bucket+` HAVING COUNT(*) > 1`,
			span, span, rowcodec.FormatTime(endedBefore), span, span); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM session_metrics WHERE EXISTS (
			SELECT 1 FROM temp.downsampled d WHERE d.stream_id = session_metrics.stream_id
			AND session_metrics.t >= d.t AND session_metrics.t < d.t + ?)`, span)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		res, err = tx.ExecContext(ctx, `INSERT INTO session_metrics SELECT * FROM temp.downsampled`)
		if err != nil {
			return err
		}
		added, err := res.RowsAffected()
		if err != nil {
			return err
		}
		removed = int(n - added)
		_, err = tx.ExecContext(ctx, `DELETE FROM temp.downsampled`)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: downsample metrics: %w", err)
	}
	return removed, nil
}

// Usage implements ivs.UsageStore.
func (s *Store) Usage(ctx context.Context, from, to, now time.Time) ([]ivs.ChannelUsage, error) {
	u := rowcodec.NewUsage(from, to, now)
	// Sessions overlapping [from, to): clip each to the period.
	rows, err := s.db.QueryContext(ctx, `SELECT channel_id, start_time, end_time FROM stream_sessions
		WHERE start_time < ? AND (end_time IS NULL OR end_time > ?) ORDER BY channel_id`,
		rowcodec.FormatTime(to), rowcodec.FormatTime(from))
	if err != nil {
		return nil, fmt.Errorf("sqlite: usage: %w", err)
	}
	for rows.Next() {
		var id, start string
		var end *string
		err := rows.Scan(&id, &start, &end)
		if err == nil {
			err = u.AddSession(id, start, end)
		}
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlite: usage: %w", err)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: usage: %w", err)
	}
	rows, err = s.db.QueryContext(ctx, `SELECT ss.channel_id, SUM(m.viewers * m.span) FROM session_metrics m
		JOIN stream_sessions ss ON ss.stream_id = m.stream_id
		WHERE m.t >= ? AND m.t < ? GROUP BY ss.channel_id ORDER BY ss.channel_id`, from.Unix(), to.Unix())
	if err != nil {
		return nil, fmt.Errorf("sqlite: usage: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var vs int64
		if err := rows.Scan(&id, &vs); err != nil {
			return nil, fmt.Errorf("sqlite: usage: %w", err)
		}
		u.AddViewerSeconds(id, vs)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: usage: %w", err)
	}
	return u.Channels(), nil
}
