-- Recording configurations: the wire fields as a JSON document, with the
-- state beside it (it changes after creation, once the bucket is checked).
CREATE TABLE recording_configurations (
    id         TEXT PRIMARY KEY,
    doc        TEXT NOT NULL,
    state      TEXT NOT NULL,
    created_at TEXT NOT NULL
);
