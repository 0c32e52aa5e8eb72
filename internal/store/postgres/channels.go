package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/store/rowcodec"
)

var _ ivs.ChannelStore = (*Store)(nil)

// CreateChannel implements ivs.ChannelStore. The channel and its key are
// one transaction: when another transaction holds the key's value, the
// insert waits for it and, if it commits, fails with ErrConflict and the
// channel is not stored either.
func (s *Store) CreateChannel(ctx context.Context, c ivs.Channel, key *ivs.StreamKey) error {
	doc, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("postgres: encode channel: %w", err)
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO channels (id, name, recording_configuration_arn,
			playback_restriction_policy_arn, ad_configuration_arn, doc, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			c.ID, c.Name, c.RecordingConfigurationARN, c.PlaybackRestrictionPolicyARN, c.AdConfigurationARN,
			string(doc), rowcodec.FormatTime(c.CreatedAt))
		if err != nil {
			return fmt.Errorf("postgres: insert channel: %w", err)
		}
		if key != nil {
			return insertStreamKey(ctx, tx, *key)
		}
		return nil
	})
}

// GetChannel implements ivs.ChannelStore.
func (s *Store) GetChannel(ctx context.Context, id string) (ivs.Channel, error) {
	return get(ctx, s, rowcodec.Channel, "get channel", []string{id},
		"SELECT id, doc, created_at FROM channels WHERE id = $1", id)
}

// UpdateChannel implements ivs.ChannelStore.
func (s *Store) UpdateChannel(ctx context.Context, c ivs.Channel) error {
	doc, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("postgres: encode channel: %w", err)
	}
	return s.change(ctx, "update channel", []string{c.ID}, `UPDATE channels SET name = $1, recording_configuration_arn = $2,
		playback_restriction_policy_arn = $3, ad_configuration_arn = $4, doc = $5 WHERE id = $6`,
		c.Name, c.RecordingConfigurationARN, c.PlaybackRestrictionPolicyARN, c.AdConfigurationARN, string(doc), c.ID)
}

// DeleteChannel implements ivs.ChannelStore. Its stream keys go with it
// (ON DELETE CASCADE).
func (s *Store) DeleteChannel(ctx context.Context, id string) error {
	return s.change(ctx, "delete channel", []string{id}, "DELETE FROM channels WHERE id = $1", id)
}

// ListChannels implements ivs.ChannelStore. Pages are keyed by id, so
// channels created or deleted between pages never make a page repeat or
// skip a channel that exists throughout.
func (s *Store) ListChannels(ctx context.Context, f ivs.ChannelFilter, afterID string, limit int) ([]ivs.Channel, error) {
	cond, after := afterCond("id", afterID, 1)
	q := "SELECT id, doc, created_at FROM channels WHERE " + cond
	args := []any{after}
	for _, c := range []struct{ col, v string }{
		{"name", f.Name},
		{"recording_configuration_arn", f.RecordingConfigurationARN},
		{"playback_restriction_policy_arn", f.PlaybackRestrictionPolicyARN},
		{"ad_configuration_arn", f.AdConfigurationARN},
	} {
		if c.v == "" {
			continue
		}
		if !storable(c.v) {
			return nil, nil // no stored value equals it
		}
		args = append(args, c.v)
		q += fmt.Sprintf(" AND %s = $%d", c.col, len(args))
	}
	args = append(args, limit)
	q += fmt.Sprintf(" ORDER BY id LIMIT $%d", len(args))
	return list(ctx, s, rowcodec.Channel, "list channels", q, args...)
}
