-- Ingest configuration, the stats summary and the error flag of a session.
ALTER TABLE stream_sessions ADD COLUMN ingest TEXT NOT NULL DEFAULT '{}';
ALTER TABLE stream_sessions ADD COLUMN stats TEXT NOT NULL DEFAULT '{}';
ALTER TABLE stream_sessions ADD COLUMN has_error INTEGER NOT NULL DEFAULT 0;

-- Per-second (span 1) or downsampled points of a session's metrics.
-- t is Unix seconds.
CREATE TABLE session_metrics (
    stream_id         TEXT NOT NULL REFERENCES stream_sessions(stream_id) ON DELETE CASCADE,
    t                 INTEGER NOT NULL,
    span              INTEGER NOT NULL,
    video_bitrate     INTEGER NOT NULL,
    framerate         REAL NOT NULL,
    audio_bitrate     INTEGER NOT NULL,
    keyframe_interval REAL NOT NULL,
    viewers           INTEGER NOT NULL,
    PRIMARY KEY (stream_id, t)
) WITHOUT ROWID;
CREATE INDEX session_metrics_t ON session_metrics(t);

-- The event log: what sessions list as truncatedEvents, and the outbox that
-- webhooks and SSE read from by seq.
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    time        TEXT NOT NULL,
    detail_type TEXT NOT NULL,
    channel_id  TEXT NOT NULL,
    stream_id   TEXT NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX events_stream ON events(stream_id, seq);

-- Named positions in the event log, e.g. a webhook's last delivered seq.
CREATE TABLE cursors (
    name TEXT PRIMARY KEY,
    seq  INTEGER NOT NULL
);
