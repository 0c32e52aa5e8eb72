-- The account of this installation and its admin key pair (one row).
CREATE TABLE account (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    account_id    TEXT NOT NULL,
    access_key_id TEXT NOT NULL,
    secret        TEXT NOT NULL
);

-- A channel's wire fields are kept as a JSON document; the columns beside it
-- are the ones queries filter on.
CREATE TABLE channels (
    id                               TEXT PRIMARY KEY,
    name                             TEXT NOT NULL,
    recording_configuration_arn      TEXT NOT NULL DEFAULT '',
    playback_restriction_policy_arn  TEXT NOT NULL DEFAULT '',
    ad_configuration_arn             TEXT NOT NULL DEFAULT '',
    doc                              TEXT NOT NULL,
    created_at                       TEXT NOT NULL
);

CREATE TABLE stream_keys (
    id         TEXT PRIMARY KEY,
    arn        TEXT NOT NULL,
    channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    value      TEXT NOT NULL UNIQUE,
    tags       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX stream_keys_channel ON stream_keys(channel_id, id);

CREATE TABLE stream_sessions (
    stream_id  TEXT PRIMARY KEY,
    channel_id TEXT NOT NULL,
    channel    TEXT NOT NULL,
    start_time TEXT NOT NULL,
    end_time   TEXT
);
CREATE INDEX stream_sessions_channel ON stream_sessions(channel_id, start_time);
CREATE INDEX stream_sessions_open ON stream_sessions(channel_id) WHERE end_time IS NULL;
