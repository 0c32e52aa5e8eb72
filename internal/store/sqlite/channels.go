package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/store/rowcodec"
)

// CreateChannel implements ivs.ChannelStore.
func (s *Store) CreateChannel(ctx context.Context, c ivs.Channel, key *ivs.StreamKey) error {
	doc, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("sqlite: encode channel: %w", err)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO channels (id, name, recording_configuration_arn,
			playback_restriction_policy_arn, ad_configuration_arn, doc, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.Name, c.RecordingConfigurationARN, c.PlaybackRestrictionPolicyARN, c.AdConfigurationARN,
			string(doc), rowcodec.FormatTime(c.CreatedAt))
		if err != nil {
			return fmt.Errorf("sqlite: insert channel: %w", err)
		}
		if key != nil {
			return insertStreamKey(ctx, tx, *key)
		}
		return nil
	})
}

// GetChannel implements ivs.ChannelStore.
func (s *Store) GetChannel(ctx context.Context, id string) (ivs.Channel, error) {
	c, err := rowcodec.Channel(s.getChannel.QueryRowContext(ctx, id))
	if err != nil {
		return ivs.Channel{}, notFound(err, "get channel "+id)
	}
	return c, nil
}

// UpdateChannel implements ivs.ChannelStore.
func (s *Store) UpdateChannel(ctx context.Context, c ivs.Channel) error {
	doc, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("sqlite: encode channel: %w", err)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE channels SET name = ?, recording_configuration_arn = ?,
		playback_restriction_policy_arn = ?, ad_configuration_arn = ?, doc = ? WHERE id = ?`,
		c.Name, c.RecordingConfigurationARN, c.PlaybackRestrictionPolicyARN, c.AdConfigurationARN, string(doc), c.ID)
	return affected(res, err, "update channel "+c.ID)
}

// DeleteChannel implements ivs.ChannelStore.
func (s *Store) DeleteChannel(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, "DELETE FROM channels WHERE id = ?", id)
	return affected(res, err, "delete channel "+id)
}

func affected(res sql.Result, err error, what string) error {
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: %s: %w", what, ivs.ErrNotFound)
	}
	return nil
}

// ListChannels implements ivs.ChannelStore.
func (s *Store) ListChannels(ctx context.Context, f ivs.ChannelFilter, afterID string, limit int) ([]ivs.Channel, error) {
	q := "SELECT id, doc, created_at FROM channels WHERE id > ?"
	args := []any{afterID}
	for _, c := range []struct{ col, v string }{
		{"name", f.Name},
		{"recording_configuration_arn", f.RecordingConfigurationARN},
		{"playback_restriction_policy_arn", f.PlaybackRestrictionPolicyARN},
		{"ad_configuration_arn", f.AdConfigurationARN},
	} {
		if c.v != "" {
			q += " AND " + c.col + " = ?"
			args = append(args, c.v)
		}
	}
	q += " ORDER BY id LIMIT ?"
	args = append(args, limit)
	return list(ctx, s.db, rowcodec.Channel, "list channels", q, args...)
}
