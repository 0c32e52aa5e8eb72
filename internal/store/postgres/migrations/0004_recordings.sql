-- Channel recordings of a cluster (docs/cluster.md, "Recordings when a
-- node dies"): a node writes its recordings' rows, and its spool uploader
-- a recording_segments row per media segment that reached storage, so
-- that when the node dies and does not come back another node can finish
-- its recordings (final playlists, recording-ended.json, Recording End).

-- One row per recording. channel is the channel's JSON (for the events),
-- config the recording configuration's, stream_ids a JSON array. state is
-- open, waiting (its reconnect window) or ended; an ended row stays, so
-- that a node that comes back does not finish the recording again.
CREATE TABLE recordings (
    id         TEXT COLLATE "C" PRIMARY KEY,
    channel_id TEXT COLLATE "C" NOT NULL,
    channel    TEXT COLLATE "C" NOT NULL,
    stream_ids TEXT COLLATE "C" NOT NULL,
    node_id    TEXT COLLATE "C" NOT NULL,
    run_id     TEXT COLLATE "C" NOT NULL,
    bucket     TEXT COLLATE "C" NOT NULL,
    prefix     TEXT COLLATE "C" NOT NULL,
    source     TEXT COLLATE "C" NOT NULL,
    config     TEXT COLLATE "C" NOT NULL,
    state      TEXT COLLATE "C" NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    window_end TIMESTAMPTZ,
    ended_at   TIMESTAMPTZ,
    ended_by   TEXT COLLATE "C" NOT NULL DEFAULT ''
);
-- What the orphan finisher looks through on every node, every few seconds.
CREATE INDEX recordings_unended ON recordings(node_id) WHERE state <> 'ended';

-- The media segments of recordings not ended that reached storage; a
-- recording's rows go when it ends.
CREATE TABLE recording_segments (
    recording_id  TEXT COLLATE "C" NOT NULL,
    rendition     TEXT COLLATE "C" NOT NULL,
    seq           INTEGER NOT NULL,
    file          TEXT COLLATE "C" NOT NULL,
    duration_us   BIGINT NOT NULL,
    discontinuity BOOLEAN NOT NULL,
    width         INTEGER NOT NULL,
    height        INTEGER NOT NULL,
    codecs        TEXT COLLATE "C" NOT NULL,
    peak_bitrate  INTEGER NOT NULL,
    uploaded_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (recording_id, rendition, seq)
);
