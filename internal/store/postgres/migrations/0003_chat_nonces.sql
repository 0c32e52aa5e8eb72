-- The nonces of chat tokens that were used (internal/chat's Spent): a
-- token opens one connection, once, on whichever node of a cluster it is
-- presented. The first INSERT of a nonce wins (ON CONFLICT DO NOTHING);
-- rows are purged once the token could no longer be used anyway.
CREATE TABLE chat_nonces (
    nonce   TEXT COLLATE "C" PRIMARY KEY,
    expires TIMESTAMPTZ NOT NULL
);

CREATE INDEX chat_nonces_expires ON chat_nonces (expires);
