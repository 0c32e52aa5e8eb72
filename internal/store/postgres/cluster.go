package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/store/rowcodec"
)

var _ ivs.ClusterStore = (*Store)(nil)

// fresh is the SQL condition "node n's heartbeat is within $ttl seconds of
// the database's now()", with ttl as parameter number param.
func fresh(n string, param int) string {
	return fmt.Sprintf("%s.heartbeat_at > now() - make_interval(secs => $%d)", n, param)
}

// Heartbeat implements ivs.ClusterStore. The first heartbeat of a boot
// replaces the node's row; the leases returned are those of this boot.
func (s *Store) Heartbeat(ctx context.Context, n ivs.Node) ([]ivs.Lease, error) {
	load := n.Load
	if len(load) == 0 {
		load = []byte("{}")
	}
	var leases []ivs.Lease
	err := s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO nodes (id, boot_id, addr, version, started_at, heartbeat_at, state, load)
			VALUES ($1, $2, $3, $4, $5, now(), 'serving', $6)
			ON CONFLICT (id) DO UPDATE SET boot_id = excluded.boot_id, addr = excluded.addr, version = excluded.version,
				started_at = excluded.started_at, heartbeat_at = now(), state = 'serving', load = excluded.load`,
			n.ID, n.BootID, n.Addr, n.Version, n.Started.UTC(), string(load))
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT channel_id, node_id, boot_id, epoch, claimed_at FROM channel_leases
			WHERE node_id = $1 AND boot_id = $2 ORDER BY channel_id`, n.ID, n.BootID)
		if err != nil {
			return err
		}
		leases, err = pgx.CollectRows(rows, scanLease)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: heartbeat: %w", err)
	}
	return leases, nil
}

func scanLease(row pgx.CollectableRow) (ivs.Lease, error) {
	var l ivs.Lease
	err := row.Scan(&l.ChannelID, &l.NodeID, &l.BootID, &l.Epoch, &l.Claimed)
	l.Claimed = l.Claimed.UTC()
	return l, err
}

// LeaveCluster implements ivs.ClusterStore.
func (s *Store) LeaveCluster(ctx context.Context, nodeID, bootID string) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE channel_leases SET node_id = '', boot_id = '' WHERE node_id = $1 AND boot_id = $2`,
			nodeID, bootID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE nodes SET state = 'stopped', load = '{}' WHERE id = $1 AND boot_id = $2`, nodeID, bootID)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: leave cluster: %w", err)
	}
	return nil
}

// Nodes implements ivs.ClusterStore.
func (s *Store) Nodes(ctx context.Context, ttl time.Duration) ([]ivs.Node, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, boot_id, addr, version, state, started_at,
			EXTRACT(EPOCH FROM now() - n.heartbeat_at)::float8, `+fresh("n", 1)+` AND state = 'serving', load
		FROM nodes n ORDER BY id`, ttl.Seconds())
	if err != nil {
		return nil, fmt.Errorf("postgres: nodes: %w", err)
	}
	nodes, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ivs.Node, error) {
		var n ivs.Node
		var age float64
		var load string
		err := row.Scan(&n.ID, &n.BootID, &n.Addr, &n.Version, &n.State, &n.Started, &age, &n.Live, &load)
		n.Started = n.Started.UTC()
		n.HeartbeatAge = time.Duration(age * float64(time.Second))
		n.Load = []byte(load)
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: nodes: %w", err)
	}
	return nodes, nil
}

// ClaimChannel implements ivs.ClusterStore: the lease is taken when it is
// free, already this boot's, or held by a node that is not live; its
// epoch grows either way.
func (s *Store) ClaimChannel(ctx context.Context, channelID, nodeID, bootID string, ttl time.Duration) (ivs.Lease, error) {
	if err := unstored("channel", channelID); err != nil {
		return ivs.Lease{}, err
	}
	row := s.pool.QueryRow(ctx, `WITH prev AS (SELECT node_id FROM channel_leases WHERE channel_id = $1)
		INSERT INTO channel_leases AS l (channel_id, node_id, boot_id, epoch, claimed_at)
		VALUES ($1, $2, $3, 1, now())
		ON CONFLICT (channel_id) DO UPDATE
			SET node_id = excluded.node_id, boot_id = excluded.boot_id, epoch = l.epoch + 1, claimed_at = now()
			WHERE l.node_id = '' OR (l.node_id = excluded.node_id AND l.boot_id = excluded.boot_id)
				OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = l.node_id AND n.boot_id = l.boot_id
					AND n.state = 'serving' AND `+fresh("n", 4)+`)
		RETURNING channel_id, node_id, boot_id, epoch, claimed_at, COALESCE((SELECT node_id FROM prev), '')`,
		channelID, nodeID, bootID, ttl.Seconds())
	var l ivs.Lease
	err := row.Scan(&l.ChannelID, &l.NodeID, &l.BootID, &l.Epoch, &l.Claimed, &l.PrevNodeID)
	if errors.Is(err, pgx.ErrNoRows) {
		return ivs.Lease{}, ivs.ErrChannelLeased
	}
	if err != nil {
		return ivs.Lease{}, fmt.Errorf("postgres: claim channel: %w", err)
	}
	l.Claimed = l.Claimed.UTC()
	return l, nil
}

// ReleaseChannel implements ivs.ClusterStore. The row stays, so that the
// next claim's epoch is greater than every earlier one.
func (s *Store) ReleaseChannel(ctx context.Context, channelID string, epoch int64) error {
	if _, err := s.pool.Exec(ctx, `UPDATE channel_leases SET node_id = '', boot_id = '' WHERE channel_id = $1 AND epoch = $2`,
		channelID, epoch); err != nil {
		return fmt.Errorf("postgres: release channel: %w", err)
	}
	return nil
}

// LiveLeases implements ivs.ClusterStore.
func (s *Store) LiveLeases(ctx context.Context, ttl time.Duration) ([]ivs.Lease, error) {
	rows, err := s.pool.Query(ctx, `SELECT l.channel_id, l.node_id, l.boot_id, l.epoch, l.claimed_at
		FROM channel_leases l JOIN nodes n ON n.id = l.node_id AND n.boot_id = l.boot_id
		WHERE n.state = 'serving' AND `+fresh("n", 1)+` ORDER BY l.channel_id`, ttl.Seconds())
	if err != nil {
		return nil, fmt.Errorf("postgres: live leases: %w", err)
	}
	leases, err := pgx.CollectRows(rows, scanLease)
	if err != nil {
		return nil, fmt.Errorf("postgres: live leases: %w", err)
	}
	return leases, nil
}

// LiveStreams implements ivs.ClusterStore.
func (s *Store) LiveStreams(ctx context.Context, ttl time.Duration, channelID string) ([]ivs.LiveStream, error) {
	if err := unstored("channel", channelID); err != nil {
		return nil, nil //nolint:nilerr // no such channel is live
	}
	rows, err := s.pool.Query(ctx, sessionSelect+`, node_id FROM stream_sessions JOIN nodes n ON n.id = node_id
		WHERE end_time IS NULL AND n.state = 'serving' AND `+fresh("n", 1)+` AND ($2 = '' OR channel_id = $2)
		ORDER BY channel_id`, ttl.Seconds(), channelID)
	if err != nil {
		return nil, fmt.Errorf("postgres: live streams: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ivs.LiveStream, error) {
		var ls ivs.LiveStream
		ss, err := rowcodec.StreamSession(row, &ls.NodeID)
		ls.Session = ss
		return ls, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: live streams: %w", err)
	}
	return out, nil
}

// EndChannelSessions implements ivs.ClusterStore.
func (s *Store) EndChannelSessions(ctx context.Context, channelID string, end time.Time) ([]ivs.StreamSession, error) {
	if err := unstored("channel", channelID); err != nil {
		return nil, nil //nolint:nilerr // no such channel has sessions
	}
	return s.endSessions(ctx, "end a channel's sessions", end, "channel_id = $1", channelID)
}

// EndDeadNodeSessions implements ivs.ClusterStore. A session of no node
// (from before the cluster) is its starting node's to end, not a sweep's.
func (s *Store) EndDeadNodeSessions(ctx context.Context, ttl time.Duration, end time.Time) ([]ivs.StreamSession, error) {
	return s.endSessions(ctx, "end dead nodes' sessions", end, `node_id <> '' AND NOT EXISTS (
		SELECT 1 FROM nodes n WHERE n.id = stream_sessions.node_id AND n.state = 'serving' AND `+fresh("n", 1)+`)`, ttl.Seconds())
}

// ForgetNodes implements ivs.ClusterStore.
func (s *Store) ForgetNodes(ctx context.Context, age time.Duration) (int, error) {
	tag, err := s.pool.Exec(ctx, "DELETE FROM nodes n WHERE NOT ("+fresh("n", 1)+")", age.Seconds())
	if err != nil {
		return 0, fmt.Errorf("postgres: forget nodes: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
