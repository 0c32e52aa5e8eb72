-- Stages' sessions, their participants and the participants' events
-- (package ivsrealtime). Stages themselves are documents.
CREATE TABLE stage_sessions (
    stage_id   TEXT NOT NULL,
    session_id TEXT NOT NULL,
    start_time TEXT NOT NULL,
    end_time   TEXT,
    PRIMARY KEY (stage_id, session_id)
) WITHOUT ROWID;
CREATE INDEX stage_sessions_by_start ON stage_sessions (stage_id, start_time);

CREATE TABLE stage_participants (
    stage_id        TEXT NOT NULL,
    session_id      TEXT NOT NULL,
    participant_id  TEXT NOT NULL,
    first_join_time TEXT NOT NULL,
    doc             TEXT NOT NULL,
    PRIMARY KEY (stage_id, session_id, participant_id)
) WITHOUT ROWID;

-- seq orders a participant's events as they were added.
CREATE TABLE stage_participant_events (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    stage_id       TEXT NOT NULL,
    session_id     TEXT NOT NULL,
    participant_id TEXT NOT NULL,
    doc            TEXT NOT NULL
);
CREATE INDEX stage_participant_events_by_participant ON stage_participant_events (stage_id, session_id, participant_id, seq);
