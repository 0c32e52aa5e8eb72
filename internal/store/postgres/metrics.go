package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/store/rowcodec"
)

// lockDownsample serializes DownsampleMetrics between the processes that
// share the database: a second downsampler waits, then finds the buckets
// the first merged and leaves them alone.
const lockDownsample int64 = 0x6f6e616972_03 // "onair" 3

// appendMetrics updates a session's summary and upserts its points in one
// statement, so one round trip: a live stream writes once a second, and
// hundreds of them write at once. The points come as one array per column.
// The summary's update comes first (WITH), and the points join its row, so
// an unknown session writes nothing and returns 0 for its first column.
const appendMetrics = `WITH s AS (
	UPDATE stream_sessions SET stats = $2 WHERE stream_id = $1 RETURNING stream_id
), p AS (
	INSERT INTO session_metrics (stream_id, t, span, video_bitrate, framerate, audio_bitrate, keyframe_interval, viewers)
	SELECT s.stream_id, p.* FROM s,
		unnest($3::bigint[], $4::bigint[], $5::bigint[], $6::double precision[], $7::bigint[], $8::double precision[], $9::bigint[])
		AS p(t, span, video_bitrate, framerate, audio_bitrate, keyframe_interval, viewers)
	ON CONFLICT (stream_id, t) DO UPDATE SET span = excluded.span, video_bitrate = excluded.video_bitrate,
		framerate = excluded.framerate, audio_bitrate = excluded.audio_bitrate,
		keyframe_interval = excluded.keyframe_interval, viewers = excluded.viewers
	RETURNING 1
)
SELECT (SELECT count(*) FROM s), (SELECT count(*) FROM p)`

// AppendMetrics implements session.Store.
func (s *Store) AppendMetrics(ctx context.Context, streamID string, points []ivs.MetricPoint, stats ivs.SessionStats) error {
	doc, err := json.Marshal(stats)
	if err != nil {
		return fmt.Errorf("postgres: encode session stats: %w", err)
	}
	// One INSERT may not touch a row twice (ON CONFLICT would fail): of
	// points of the same second, the last replaces the others, as one
	// INSERT OR REPLACE after another does on SQLite.
	n := len(points)
	at := make(map[int64]int, n)
	t := make([]int64, 0, n)
	span := make([]int64, 0, n)
	video := make([]int64, 0, n)
	framerate := make([]float64, 0, n)
	audio := make([]int64, 0, n)
	keyframe := make([]float64, 0, n)
	viewers := make([]int64, 0, n)
	for _, p := range points {
		sec := p.Time.Unix()
		i, ok := at[sec]
		if !ok {
			i = len(t)
			at[sec] = i
			t = append(t, sec)
			span, video, framerate, audio, keyframe, viewers = append(span, 0), append(video, 0), append(framerate, 0),
				append(audio, 0), append(keyframe, 0), append(viewers, 0)
		}
		span[i], video[i], framerate[i] = int64(max(p.Span, 1)), p.VideoBitrate, p.Framerate
		audio[i], keyframe[i], viewers[i] = p.AudioBitrate, p.KeyframeInterval, p.Viewers
	}
	var sessions, written int64
	err = s.retry(ctx, func() error {
		return s.pool.QueryRow(ctx, appendMetrics, streamID, string(doc),
			t, span, video, framerate, audio, keyframe, viewers).Scan(&sessions, &written)
	})
	switch {
	case err != nil:
		return fmt.Errorf("postgres: append metrics of %s: %w", streamID, err)
	case sessions == 0:
		return fmt.Errorf("postgres: append metrics of %s: session %s: %w", streamID, streamID, ivs.ErrNotFound)
	case written != int64(len(t)):
		return fmt.Errorf("postgres: append metrics of %s: wrote %d of %d points", streamID, written, len(t))
	}
	return nil
}

// retry runs fn, a single statement (its own transaction), again when the
// server aborted it for a reason a retry cures, as tx does for a
// transaction.
func (s *Store) retry(ctx context.Context, fn func() error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = fn()
		if err == nil || attempt == maxAttempts || !retryTx(err) || ctx.Err() != nil {
			return err
		}
	}
}

// SessionMetrics implements ivs.SessionStore.
func (s *Store) SessionMetrics(ctx context.Context, streamID string, from, to time.Time) ([]ivs.MetricPoint, error) {
	lo, hi := rowcodec.MetricRange(from, to)
	return list(ctx, s, rowcodec.MetricPoint, "session metrics of "+streamID,
		`SELECT t, span, video_bitrate, framerate, audio_bitrate, keyframe_interval, viewers
		FROM session_metrics WHERE stream_id = $1 AND t >= $2 AND t < $3 ORDER BY t`, streamID, lo, hi)
}

// downsample merges, in one statement, the points of sessions that ended
// before $2 in buckets of $1 seconds aligned to the Unix epoch. Its DELETE
// returns the points it removed and the INSERT aggregates those: the
// aggregate reads every removed point before it yields a row, so the
// merged point of a bucket replaces its old first point without a
// conflict. Averages weigh by span and round half away from zero (numeric
// ROUND), as the SQLite store's CAST(ROUND(...) AS INTEGER) does.
const downsample = `WITH buckets AS (
	SELECT m.stream_id, (m.t / $1) * $1 AS t
	FROM session_metrics m JOIN stream_sessions ss ON ss.stream_id = m.stream_id
	WHERE ss.end_time IS NOT NULL AND ss.end_time < $2
	GROUP BY m.stream_id, (m.t / $1) * $1 HAVING COUNT(*) > 1
), removed AS (
	DELETE FROM session_metrics m USING buckets b
	WHERE m.stream_id = b.stream_id AND m.t >= b.t AND m.t < b.t + $1
	RETURNING m.*
), added AS (
	INSERT INTO session_metrics (stream_id, t, span, video_bitrate, framerate, audio_bitrate, keyframe_interval, viewers)
	SELECT stream_id, (t / $1) * $1, SUM(span),
		ROUND(SUM(video_bitrate::numeric * span) / SUM(span))::bigint,
		SUM(framerate * span) / SUM(span)::double precision,
		ROUND(SUM(audio_bitrate::numeric * span) / SUM(span))::bigint,
		SUM(keyframe_interval * span) / SUM(span)::double precision,
		ROUND(SUM(viewers::numeric * span) / SUM(span))::bigint
	FROM removed GROUP BY stream_id, (t / $1) * $1
	RETURNING 1
)
SELECT (SELECT count(*) FROM removed) - (SELECT count(*) FROM added)`

// DownsampleMetrics implements session.Downsampler. Points are grouped into
// buckets of span seconds aligned to the Unix epoch; each bucket becomes one
// point whose values are the span-weighted averages and whose span is the
// sum of its points' spans, so viewer-seconds (viewers × span) are kept
// exactly. Buckets already made of a single point are left alone, which
// makes the operation idempotent.
//
// Every onair process sharing the database runs a downsampler; a
// transaction advisory lock makes them take turns, and the statement that
// runs after the lock is taken sees what the previous holder merged.
func (s *Store) DownsampleMetrics(ctx context.Context, endedBefore time.Time, span int) (int, error) {
	if span <= 1 {
		return 0, nil
	}
	var removed int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockDownsample); err != nil {
			return err
		}
		return tx.QueryRow(ctx, downsample, int64(span), rowcodec.FormatTime(endedBefore)).Scan(&removed)
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: downsample metrics: %w", err)
	}
	return int(removed), nil
}

// Usage implements ivs.UsageStore.
func (s *Store) Usage(ctx context.Context, from, to, now time.Time) ([]ivs.ChannelUsage, error) {
	u := rowcodec.NewUsage(from, to, now)
	// Sessions overlapping [from, to): clip each to the period.
	rows, err := s.pool.Query(ctx, `SELECT channel_id, start_time, end_time FROM stream_sessions
		WHERE start_time < $1 AND (end_time IS NULL OR end_time > $2) ORDER BY channel_id`,
		rowcodec.FormatTime(to), rowcodec.FormatTime(from))
	if err != nil {
		return nil, fmt.Errorf("postgres: usage: %w", err)
	}
	var id, start string
	var end *string
	_, err = pgx.ForEachRow(rows, []any{&id, &start, &end}, func() error { return u.AddSession(id, start, end) })
	if err != nil {
		return nil, fmt.Errorf("postgres: usage: %w", err)
	}
	// Σ viewers × span as numeric, cast back: an int64 sum, as on SQLite.
	rows, err = s.pool.Query(ctx, `SELECT ss.channel_id, SUM(m.viewers * m.span)::bigint FROM session_metrics m
		JOIN stream_sessions ss ON ss.stream_id = m.stream_id
		WHERE m.t >= $1 AND m.t < $2 GROUP BY ss.channel_id ORDER BY ss.channel_id`, from.Unix(), to.Unix())
	if err != nil {
		return nil, fmt.Errorf("postgres: usage: %w", err)
	}
	var vs int64
	_, err = pgx.ForEachRow(rows, []any{&id, &vs}, func() error {
		u.AddViewerSeconds(id, vs)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: usage: %w", err)
	}
	return u.Channels(), nil
}
