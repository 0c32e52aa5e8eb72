package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/store/rowcodec"
)

// insertStreamKey stores k in tx. A value (or id) another key has is
// ErrConflict, as on SQLite; the failed statement aborts tx, which the
// caller's s.tx then rolls back.
func insertStreamKey(ctx context.Context, tx pgx.Tx, k ivs.StreamKey) error {
	tags, err := json.Marshal(k.Tags)
	if err != nil {
		return fmt.Errorf("postgres: encode tags: %w", err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO stream_keys (id, arn, channel_id, value, tags, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		k.ID, k.ARN, k.ChannelID, k.Value.Reveal(), string(tags), rowcodec.FormatTime(k.CreatedAt))
	if isUnique(err) {
		return fmt.Errorf("postgres: insert stream key: %w", ivs.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("postgres: insert stream key: %w", err)
	}
	return nil
}

// CreateStreamKey implements ivs.ChannelStore.
func (s *Store) CreateStreamKey(ctx context.Context, k ivs.StreamKey) error {
	return s.tx(ctx, func(tx pgx.Tx) error { return insertStreamKey(ctx, tx, k) })
}

const keyColumns = "k.id, k.arn, k.channel_id, k.value, k.tags, k.created_at, c.doc"

// GetStreamKey implements ivs.ChannelStore.
func (s *Store) GetStreamKey(ctx context.Context, id string) (ivs.StreamKey, error) {
	return get(ctx, s, rowcodec.StreamKey, "get stream key", []string{id},
		"SELECT "+keyColumns+" FROM stream_keys k JOIN channels c ON c.id = k.channel_id WHERE k.id = $1", id)
}

// GetStreamKeyByValue implements ivs.ChannelStore. The value comes from
// an encoder (RTMP, SRT, WHIP) and may be any bytes.
func (s *Store) GetStreamKeyByValue(ctx context.Context, value string) (ivs.StreamKey, error) {
	// The key's value is a secret: the errors name no key.
	if !storable(value) {
		return ivs.StreamKey{}, notFound(pgx.ErrNoRows, "get stream key by value")
	}
	k, err := rowcodec.StreamKey(s.pool.QueryRow(ctx,
		"SELECT "+keyColumns+" FROM stream_keys k JOIN channels c ON c.id = k.channel_id WHERE k.value = $1", value))
	if err != nil {
		return ivs.StreamKey{}, notFound(err, "get stream key by value")
	}
	return k, nil
}

// UpdateStreamKeyTags implements ivs.ChannelStore.
func (s *Store) UpdateStreamKeyTags(ctx context.Context, id string, tags map[string]string) error {
	b, err := json.Marshal(tags)
	if err != nil {
		return fmt.Errorf("postgres: encode tags: %w", err)
	}
	return s.change(ctx, "update stream key", []string{id}, "UPDATE stream_keys SET tags = $1 WHERE id = $2", string(b), id)
}

// DeleteStreamKey implements ivs.ChannelStore.
func (s *Store) DeleteStreamKey(ctx context.Context, id string) error {
	return s.change(ctx, "delete stream key", []string{id}, "DELETE FROM stream_keys WHERE id = $1", id)
}

// ListStreamKeys implements ivs.ChannelStore.
func (s *Store) ListStreamKeys(ctx context.Context, channelID, afterID string, limit int) ([]ivs.StreamKey, error) {
	if !storable(channelID) {
		return nil, nil // no channel has this id
	}
	cond, after := afterCond("k.id", afterID, 2)
	return list(ctx, s, rowcodec.StreamKey, "list stream keys",
		"SELECT "+keyColumns+" FROM stream_keys k JOIN channels c ON c.id = k.channel_id"+
			" WHERE k.channel_id = $1 AND "+cond+" ORDER BY k.id LIMIT $3",
		channelID, after, limit)
}
