-- The cluster (docs/cluster.md): onair nodes sharing this database.

-- One row per node, renewed by its heartbeat. Liveness is judged by the
-- database's clock (heartbeat_at against now()), never by a node's.
-- boot_id changes at every start, so that a restarted node does not
-- inherit its previous life's leases. load is the JSON the node reports
-- (its publishers and viewers by channel).
CREATE TABLE nodes (
    id           TEXT COLLATE "C" PRIMARY KEY,
    boot_id      TEXT COLLATE "C" NOT NULL,
    addr         TEXT COLLATE "C" NOT NULL,
    version      TEXT COLLATE "C" NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL,
    state        TEXT COLLATE "C" NOT NULL DEFAULT 'serving',
    load         TEXT COLLATE "C" NOT NULL DEFAULT '{}'
);

-- Which node publishes a channel. A lease holds while its node's
-- heartbeat (of the same boot) is fresh; epoch grows with every claim, so
-- that a node that was frozen past its TTL finds its lease moved and cuts
-- its publisher. A released lease keeps its row with node_id ''.
CREATE TABLE channel_leases (
    channel_id TEXT COLLATE "C" PRIMARY KEY,
    node_id    TEXT COLLATE "C" NOT NULL,
    boot_id    TEXT COLLATE "C" NOT NULL,
    epoch      BIGINT NOT NULL,
    claimed_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX channel_leases_node ON channel_leases(node_id);

-- The node a session's stream was published on: a start ends its own
-- node's leftovers only, and the survivors end a dead node's.
ALTER TABLE stream_sessions ADD COLUMN node_id TEXT COLLATE "C" NOT NULL DEFAULT '';
CREATE INDEX stream_sessions_node ON stream_sessions(node_id) WHERE end_time IS NULL;
-- At most one open session per channel, whichever node writes it.
DROP INDEX stream_sessions_open;
CREATE UNIQUE INDEX stream_sessions_open ON stream_sessions(channel_id) WHERE end_time IS NULL;
