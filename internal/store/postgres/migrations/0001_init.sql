-- The whole schema of onair's store, as internal/store/sqlite's five
-- migrations leave it. Times are fixed-width UTC TEXT as on SQLite
-- (formatTime): nanoseconds round-trip and text order is time order, so
-- both stores pass storetest unchanged; timestamptz keeps microseconds.
-- Text columns use the "C" collation: ids and times sort bytewise, as on
-- SQLite, whatever the database's default locale.

-- The account of this installation and its admin key pair (one row).
CREATE TABLE account (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    account_id    TEXT COLLATE "C" NOT NULL,
    access_key_id TEXT COLLATE "C" NOT NULL,
    secret        TEXT COLLATE "C" NOT NULL
);

-- A channel's wire fields are kept as a JSON document (TEXT: nothing
-- queries inside it, and JSONB would reorder its keys); the columns beside
-- it are the ones queries filter on.
CREATE TABLE channels (
    id                               TEXT COLLATE "C" PRIMARY KEY,
    name                             TEXT COLLATE "C" NOT NULL,
    recording_configuration_arn      TEXT COLLATE "C" NOT NULL DEFAULT '',
    playback_restriction_policy_arn  TEXT COLLATE "C" NOT NULL DEFAULT '',
    ad_configuration_arn             TEXT COLLATE "C" NOT NULL DEFAULT '',
    doc                              TEXT COLLATE "C" NOT NULL,
    created_at                       TEXT COLLATE "C" NOT NULL
);

CREATE TABLE stream_keys (
    id         TEXT COLLATE "C" PRIMARY KEY,
    arn        TEXT COLLATE "C" NOT NULL,
    channel_id TEXT COLLATE "C" NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    value      TEXT COLLATE "C" NOT NULL UNIQUE,
    tags       TEXT COLLATE "C" NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL
);
CREATE INDEX stream_keys_channel ON stream_keys(channel_id, id);

-- Stream sessions with their ingest configuration, stats summary and error
-- flag.
CREATE TABLE stream_sessions (
    stream_id  TEXT COLLATE "C" PRIMARY KEY,
    channel_id TEXT COLLATE "C" NOT NULL,
    channel    TEXT COLLATE "C" NOT NULL,
    start_time TEXT COLLATE "C" NOT NULL,
    end_time   TEXT COLLATE "C",
    ingest     TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    stats      TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    has_error  BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX stream_sessions_channel ON stream_sessions(channel_id, start_time);
CREATE INDEX stream_sessions_open ON stream_sessions(channel_id) WHERE end_time IS NULL;

-- Per-second (span 1) or downsampled points of a session's metrics.
-- t is Unix seconds.
CREATE TABLE session_metrics (
    stream_id         TEXT COLLATE "C" NOT NULL REFERENCES stream_sessions(stream_id) ON DELETE CASCADE,
    t                 BIGINT NOT NULL,
    span              BIGINT NOT NULL,
    video_bitrate     BIGINT NOT NULL,
    framerate         DOUBLE PRECISION NOT NULL,
    audio_bitrate     BIGINT NOT NULL,
    keyframe_interval DOUBLE PRECISION NOT NULL,
    viewers           BIGINT NOT NULL,
    PRIMARY KEY (stream_id, t)
);
CREATE INDEX session_metrics_t ON session_metrics(t);

-- The event log: what sessions list as truncatedEvents, and the outbox that
-- webhooks and SSE read from by seq. seq is given under a transaction
-- advisory lock (AppendEvent), so that seq order is commit order.
CREATE TABLE events (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT COLLATE "C" NOT NULL UNIQUE,
    time        TEXT COLLATE "C" NOT NULL,
    detail_type TEXT COLLATE "C" NOT NULL,
    channel_id  TEXT COLLATE "C" NOT NULL,
    stream_id   TEXT COLLATE "C" NOT NULL,
    body        TEXT COLLATE "C" NOT NULL
);
CREATE INDEX events_stream ON events(stream_id, seq);

-- Named positions in the event log, e.g. a webhook's last delivered seq.
CREATE TABLE cursors (
    name TEXT COLLATE "C" PRIMARY KEY,
    seq  BIGINT NOT NULL
);

-- Recording configurations: the wire fields as a JSON document, with the
-- state beside it (it changes after creation, once the bucket is checked).
CREATE TABLE recording_configurations (
    id         TEXT COLLATE "C" PRIMARY KEY,
    doc        TEXT COLLATE "C" NOT NULL,
    state      TEXT COLLATE "C" NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL
);

-- Resources kept whole as JSON documents, by kind: playback key pairs,
-- playback restriction policies, viewer-session revocations, chat rooms,
-- stages and the like. Nothing queries inside a document.
CREATE TABLE documents (
    kind       TEXT COLLATE "C" NOT NULL,
    id         TEXT COLLATE "C" NOT NULL,
    doc        TEXT COLLATE "C" NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (kind, id)
);

-- Stages' sessions, their participants and the participants' events
-- (package ivsrealtime). Stages themselves are documents.
CREATE TABLE stage_sessions (
    stage_id   TEXT COLLATE "C" NOT NULL,
    session_id TEXT COLLATE "C" NOT NULL,
    start_time TEXT COLLATE "C" NOT NULL,
    end_time   TEXT COLLATE "C",
    PRIMARY KEY (stage_id, session_id)
);
CREATE INDEX stage_sessions_by_start ON stage_sessions (stage_id, start_time);

CREATE TABLE stage_participants (
    stage_id        TEXT COLLATE "C" NOT NULL,
    session_id      TEXT COLLATE "C" NOT NULL,
    participant_id  TEXT COLLATE "C" NOT NULL,
    first_join_time TEXT COLLATE "C" NOT NULL,
    doc             TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (stage_id, session_id, participant_id)
);

-- seq orders a participant's events as they were added.
CREATE TABLE stage_participant_events (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stage_id       TEXT COLLATE "C" NOT NULL,
    session_id     TEXT COLLATE "C" NOT NULL,
    participant_id TEXT COLLATE "C" NOT NULL,
    doc            TEXT COLLATE "C" NOT NULL
);
CREATE INDEX stage_participant_events_by_participant ON stage_participant_events (stage_id, session_id, participant_id, seq);
