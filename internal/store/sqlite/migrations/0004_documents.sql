-- Resources kept whole as JSON documents, by kind: playback key pairs,
-- playback restriction policies, viewer-session revocations, and the
-- resources of later features. Nothing queries inside a document.
CREATE TABLE documents (
    kind       TEXT NOT NULL,
    id         TEXT NOT NULL,
    doc        TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
