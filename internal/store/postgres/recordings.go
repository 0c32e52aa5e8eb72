package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/onair-video/onair/internal/ivs"
)

var _ ivs.RecordingStore = (*Store)(nil)

// PutRecording implements ivs.RecordingStore: an upsert that never revives
// an ended row.
func (s *Store) PutRecording(ctx context.Context, r ivs.ClusterRecording) error {
	if err := unstored("recording", r.ID, r.Channel.ID, r.NodeID, r.Bucket, r.Prefix, r.Source); err != nil {
		return err
	}
	channel, err := json.Marshal(r.Channel)
	if err != nil {
		return fmt.Errorf("postgres: encode recording's channel: %w", err)
	}
	config, err := json.Marshal(r.Config)
	if err != nil {
		return fmt.Errorf("postgres: encode recording's configuration: %w", err)
	}
	streams, err := json.Marshal(r.StreamIDs)
	if err != nil {
		return fmt.Errorf("postgres: encode recording's streams: %w", err)
	}
	var window *time.Time
	if !r.WindowEnd.IsZero() {
		w := r.WindowEnd.UTC()
		window = &w
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO recordings AS r (id, channel_id, channel, stream_ids, node_id, run_id, bucket, prefix,
			source, config, state, started_at, window_end, ended_at, ended_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
			CASE WHEN $11 = 'ended' THEN now() END, CASE WHEN $11 = 'ended' THEN $5 ELSE '' END)
		ON CONFLICT (id) DO UPDATE SET stream_ids = excluded.stream_ids, state = excluded.state,
			window_end = excluded.window_end, ended_at = excluded.ended_at, ended_by = excluded.ended_by
			WHERE r.state <> 'ended'`,
		r.ID, r.Channel.ID, string(channel), string(streams), r.NodeID, r.RunID, r.Bucket, r.Prefix,
		r.Source, string(config), r.State, r.Started.UTC(), window)
	if err != nil {
		return fmt.Errorf("postgres: put recording: %w", err)
	}
	if r.State == ivs.RecordingEnded {
		if _, err := s.pool.Exec(ctx, "DELETE FROM recording_segments WHERE recording_id = $1", r.ID); err != nil {
			return fmt.Errorf("postgres: put recording: %w", err)
		}
	}
	return nil
}

// AddRecordedSegment implements ivs.RecordingStore. A segment uploaded
// twice (a spool resumed after a crash) is one row, and one of a recording
// that ended (a node that came back uploads what it had left) none, with
// ErrRecordingEnded: the rows are only for finishing recordings.
func (s *Store) AddRecordedSegment(ctx context.Context, g ivs.RecordedSegment) error {
	if err := unstored("recorded segment", g.RecordingID, g.Rendition, g.File, g.Codecs); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO recording_segments (recording_id, rendition, seq, file, duration_us, discontinuity,
			width, height, codecs, peak_bitrate)
		SELECT $1::text, $2::text, $3::integer, $4::text, $5::bigint, $6::boolean, $7::integer, $8::integer, $9::text, $10::integer
		WHERE NOT EXISTS (SELECT 1 FROM recordings WHERE id = $1 AND state = 'ended')
		ON CONFLICT DO NOTHING`,
		g.RecordingID, g.Rendition, g.Seq, g.File, g.Duration.Microseconds(), g.Discontinuity, g.Width, g.Height, g.Codecs,
		g.PeakBitrate)
	if err != nil {
		return fmt.Errorf("postgres: add recorded segment: %w", err)
	}
	if tag.RowsAffected() > 0 {
		return nil
	}
	var ended bool
	err = s.pool.QueryRow(ctx, "SELECT state = 'ended' FROM recordings WHERE id = $1", g.RecordingID).Scan(&ended)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("postgres: add recorded segment: %w", err)
	case ended:
		return ivs.ErrRecordingEnded
	}
	return nil
}

// EndRecording implements ivs.RecordingStore. The row is locked (FOR
// UPDATE) while finish runs: a node finishing it as an orphan makes this
// wait, and then answer ErrRecordingEnded. Not retried: finish must run
// at most once.
func (s *Store) EndRecording(ctx context.Context, id string, finish func() error) error {
	if err := unstored("recording", id); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var state string
		if err := tx.QueryRow(ctx, "SELECT state FROM recordings WHERE id = $1 FOR UPDATE", id).Scan(&state); err != nil {
			return notFound(err, "end recording")
		}
		if state == ivs.RecordingEnded {
			return ivs.ErrRecordingEnded
		}
		if err := finish(); err != nil {
			return err
		}
		return s.markEnded(ctx, tx, id)
	})
	if err != nil && !errors.Is(err, ivs.ErrRecordingEnded) && !errors.Is(err, ivs.ErrNotFound) {
		return fmt.Errorf("postgres: end recording: %w", err)
	}
	return err
}

// markEnded marks a locked recording row ended by this node and drops its
// segment rows.
func (s *Store) markEnded(ctx context.Context, tx pgx.Tx, id string) error {
	if _, err := tx.Exec(ctx, `UPDATE recordings SET state = 'ended', window_end = NULL, ended_at = now(), ended_by = $2
		WHERE id = $1`, id, s.node); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, "DELETE FROM recording_segments WHERE recording_id = $1", id)
	return err
}

// maxOrphansPerCall bounds the recordings one EndOrphanRecordings call
// finishes; the next call takes the rest.
const maxOrphansPerCall = 20

// EndOrphanRecordings implements ivs.RecordingStore: one transaction per
// recording, which takes the row with FOR UPDATE SKIP LOCKED, so that
// nodes running it at once each finish different recordings, and a
// recording whose own node is ending it (EndRecording) is left to it.
func (s *Store) EndOrphanRecordings(ctx context.Context, nodeID, runID string, deadFor time.Duration,
	finish func(ivs.ClusterRecording, []ivs.RecordedSegment) error,
) (int, error) {
	n := 0
	for n < maxOrphansPerCall {
		found := false
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			rec, err := scanRecording(tx.QueryRow(ctx, `SELECT id, channel_id, channel, stream_ids, node_id, run_id, bucket, prefix,
					source, config, state, started_at, window_end
				FROM recordings r WHERE state <> 'ended' AND (
					(node_id = $1 AND run_id <> $2)
					OR (node_id <> $1 AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = r.node_id AND `+fresh("n", 3)+`)))
				ORDER BY started_at LIMIT 1 FOR UPDATE SKIP LOCKED`, nodeID, runID, deadFor.Seconds()))
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			if err != nil {
				return err
			}
			found = true
			rows, err := tx.Query(ctx, `SELECT recording_id, rendition, seq, file, duration_us, discontinuity, width, height,
					codecs, peak_bitrate
				FROM recording_segments WHERE recording_id = $1 ORDER BY rendition, seq`, rec.ID)
			if err != nil {
				return err
			}
			segs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ivs.RecordedSegment, error) {
				var g ivs.RecordedSegment
				var us int64
				err := row.Scan(&g.RecordingID, &g.Rendition, &g.Seq, &g.File, &us, &g.Discontinuity, &g.Width, &g.Height,
					&g.Codecs, &g.PeakBitrate)
				g.Duration = time.Duration(us) * time.Microsecond
				return g, err
			})
			if err != nil {
				return err
			}
			if err := finish(rec, slices.Clip(segs)); err != nil {
				return err
			}
			return s.markEnded(ctx, tx, rec.ID)
		})
		if err != nil {
			return n, fmt.Errorf("postgres: end orphan recordings: %w", err)
		}
		if !found {
			break
		}
		n++
	}
	return n, nil
}

func scanRecording(row pgx.Row) (ivs.ClusterRecording, error) {
	var r ivs.ClusterRecording
	var channel, streams, config string
	var window *time.Time
	err := row.Scan(&r.ID, &r.Channel.ID, &channel, &streams, &r.NodeID, &r.RunID, &r.Bucket, &r.Prefix, &r.Source, &config,
		&r.State, &r.Started, &window)
	if err != nil {
		return r, err
	}
	id := r.Channel.ID
	if err := json.Unmarshal([]byte(channel), &r.Channel); err != nil {
		return r, fmt.Errorf("decode recording %s's channel: %w", r.ID, err)
	}
	r.Channel.ID = id // not in the channel's JSON
	if err := json.Unmarshal([]byte(streams), &r.StreamIDs); err != nil {
		return r, fmt.Errorf("decode recording %s's streams: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(config), &r.Config); err != nil {
		return r, fmt.Errorf("decode recording %s's configuration: %w", r.ID, err)
	}
	r.Started = r.Started.UTC()
	if window != nil {
		r.WindowEnd = window.UTC()
	}
	return r, nil
}
