// Package rowcodec is what the SQLite and PostgreSQL stores share about
// their rows: both keep onair's values in the same columns (JSON documents
// in TEXT, times as fixed-width UTC text, metric points as integers), so
// turning a row back into a value is one piece of logic, written once here
// against Scanner, which database/sql's rows and pgx's rows both are. The
// SQL and the driver code stay in each store: this package reads the
// columns a store's query selected, in the order each function names.
package rowcodec

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/ivsrealtime"
)

// Scanner is a row: *sql.Row, *sql.Rows, pgx.Row and pgx.Rows all are.
type Scanner interface {
	Scan(dest ...any) error
}

// FormatTime writes fixed-width UTC times, so that SQL orders them as text
// correctly (RFC3339Nano trims trailing zeros: "05.5Z" sorts before "05Z").
func FormatTime(t time.Time) string { return t.UTC().Format(sortableTime) }

const sortableTime = "2006-01-02T15:04:05.000000000Z07:00"

// ParseTime reads a time FormatTime wrote (or any RFC 3339 time).
func ParseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }

// Channel reads (id, doc, created_at) of channels.
func Channel(row Scanner) (ivs.Channel, error) {
	var c ivs.Channel
	var id, doc, created string
	if err := row.Scan(&id, &doc, &created); err != nil {
		return c, err
	}
	if err := json.Unmarshal([]byte(doc), &c); err != nil {
		return c, fmt.Errorf("decode channel %s: %w", id, err)
	}
	c.ID = id
	t, err := ParseTime(created)
	if err != nil {
		return c, fmt.Errorf("decode channel %s: %w", id, err)
	}
	c.CreatedAt = t
	if c.Tags == nil {
		c.Tags = map[string]string{}
	}
	return c, nil
}

// StreamKey reads (id, arn, channel_id, value, tags, created_at) of
// stream_keys, then the doc of the key's channel.
func StreamKey(row Scanner) (ivs.StreamKey, error) {
	var k ivs.StreamKey
	var value, tags, created, doc string
	if err := row.Scan(&k.ID, &k.ARN, &k.ChannelID, &value, &tags, &created, &doc); err != nil {
		return k, err
	}
	k.Value = ivs.Secret(value)
	if err := json.Unmarshal([]byte(tags), &k.Tags); err != nil {
		return k, fmt.Errorf("decode stream key %s tags: %w", k.ID, err)
	}
	if k.Tags == nil {
		k.Tags = map[string]string{}
	}
	var c struct {
		ARN string `json:"arn"`
	}
	if err := json.Unmarshal([]byte(doc), &c); err != nil {
		return k, fmt.Errorf("decode stream key %s channel: %w", k.ID, err)
	}
	k.ChannelARN = c.ARN
	t, err := ParseTime(created)
	if err != nil {
		return k, fmt.Errorf("decode stream key %s: %w", k.ID, err)
	}
	k.CreatedAt = t
	return k, nil
}

// RecordingConfiguration reads (id, doc, state, created_at) of
// recording_configurations.
func RecordingConfiguration(row Scanner) (ivs.RecordingConfiguration, error) {
	var r ivs.RecordingConfiguration
	var id, doc, state, created string
	if err := row.Scan(&id, &doc, &state, &created); err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(doc), &r); err != nil {
		return r, fmt.Errorf("decode recording configuration %s: %w", id, err)
	}
	t, err := ParseTime(created)
	if err != nil {
		return r, fmt.Errorf("decode recording configuration %s: %w", id, err)
	}
	r.ID, r.State, r.CreatedAt = id, state, t
	if r.Tags == nil {
		r.Tags = map[string]string{}
	}
	return r, nil
}

// Doc reads (kind, id, doc, created_at) of documents.
func Doc(row Scanner) (ivs.Doc, error) {
	var d ivs.Doc
	var body, created string
	if err := row.Scan(&d.Kind, &d.ID, &body, &created); err != nil {
		return d, err
	}
	t, err := ParseTime(created)
	if err != nil {
		return d, fmt.Errorf("decode %s %s: %w", d.Kind, d.ID, err)
	}
	d.Body, d.CreatedAt = []byte(body), t
	return d, nil
}

// StreamSession reads (stream_id, channel_id, channel, start_time,
// end_time, ingest, stats, has_error) of stream_sessions, then any extra
// columns into extra.
func StreamSession(row Scanner, extra ...any) (ivs.StreamSession, error) {
	var ss ivs.StreamSession
	var doc, start, ingest, stats string
	var end *string
	dest := append([]any{&ss.StreamID, &ss.ChannelID, &doc, &start, &end, &ingest, &stats, &ss.HasErrorEvent}, extra...)
	if err := row.Scan(dest...); err != nil {
		return ss, err
	}
	for _, d := range []struct {
		raw string
		v   any
	}{{doc, &ss.Channel}, {ingest, &ss.Ingest}, {stats, &ss.Stats}} {
		if err := json.Unmarshal([]byte(d.raw), d.v); err != nil {
			return ss, fmt.Errorf("decode session %s: %w", ss.StreamID, err)
		}
	}
	ss.Channel.ID = ss.ChannelID
	var err error
	if ss.StartTime, err = ParseTime(start); err != nil {
		return ss, fmt.Errorf("decode session %s: %w", ss.StreamID, err)
	}
	if end != nil {
		if ss.EndTime, err = ParseTime(*end); err != nil {
			return ss, fmt.Errorf("decode session %s: %w", ss.StreamID, err)
		}
	}
	return ss, nil
}

// Event reads (seq, channel_id, stream_id, body) of events.
func Event(row Scanner) (ivs.Event, error) {
	var e ivs.Event
	var body []byte
	if err := row.Scan(&e.Seq, &e.ChannelID, &e.StreamID, &body); err != nil {
		return e, err
	}
	// The index fields are not in the body (json:"-"): Unmarshal leaves
	// them as scanned.
	if err := json.Unmarshal(body, &e); err != nil {
		return e, fmt.Errorf("decode event %d: %w", e.Seq, err)
	}
	return e, nil
}

// MetricRange is the range of session_metrics.t that [from, to) selects; a
// zero bound is no bound.
func MetricRange(from, to time.Time) (lo, hi int64) {
	lo, hi = int64(-1<<62), int64(1<<62)
	if !from.IsZero() {
		lo = from.Unix()
	}
	if !to.IsZero() {
		hi = to.Unix()
	}
	return lo, hi
}

// MetricPoint reads (t, span, video_bitrate, framerate, audio_bitrate,
// keyframe_interval, viewers) of session_metrics.
func MetricPoint(row Scanner) (ivs.MetricPoint, error) {
	var p ivs.MetricPoint
	var t int64
	if err := row.Scan(&t, &p.Span, &p.VideoBitrate, &p.Framerate, &p.AudioBitrate, &p.KeyframeInterval, &p.Viewers); err != nil {
		return p, err
	}
	p.Time = time.Unix(t, 0).UTC()
	return p, nil
}

// StageSession reads (stage_id, session_id, start_time, end_time) of
// stage_sessions.
func StageSession(row Scanner) (ivsrealtime.StageSession, error) {
	var ss ivsrealtime.StageSession
	var start string
	var end *string
	if err := row.Scan(&ss.StageID, &ss.SessionID, &start, &end); err != nil {
		return ss, err
	}
	t, err := ParseTime(start)
	if err != nil {
		return ss, fmt.Errorf("decode stage session %s: %w", ss.SessionID, err)
	}
	ss.StartTime = t
	if end != nil {
		e, err := ParseTime(*end)
		if err != nil {
			return ss, fmt.Errorf("decode stage session %s: %w", ss.SessionID, err)
		}
		ss.EndTime = &e
	}
	return ss, nil
}

// JSON reads one column holding a JSON document of a T (a stage
// participant or a participant event).
func JSON[T any](row Scanner) (T, error) {
	var v T
	var doc []byte
	if err := row.Scan(&doc); err != nil {
		return v, err
	}
	if err := json.Unmarshal(doc, &v); err != nil {
		return v, fmt.Errorf("decode: %w", err)
	}
	return v, nil
}
