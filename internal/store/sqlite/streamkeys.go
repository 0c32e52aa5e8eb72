package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/store/rowcodec"
)

func insertStreamKey(ctx context.Context, tx *sql.Tx, k ivs.StreamKey) error {
	tags, err := json.Marshal(k.Tags)
	if err != nil {
		return fmt.Errorf("sqlite: encode tags: %w", err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO stream_keys (id, arn, channel_id, value, tags, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		k.ID, k.ARN, k.ChannelID, k.Value.Reveal(), string(tags), rowcodec.FormatTime(k.CreatedAt))
	if isUnique(err) {
		return fmt.Errorf("sqlite: insert stream key: %w", ivs.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("sqlite: insert stream key: %w", err)
	}
	return nil
}

// CreateStreamKey implements ivs.ChannelStore.
func (s *Store) CreateStreamKey(ctx context.Context, k ivs.StreamKey) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return insertStreamKey(ctx, tx, k) })
}

const keyColumns = "k.id, k.arn, k.channel_id, k.value, k.tags, k.created_at, c.doc"

// GetStreamKey implements ivs.ChannelStore.
func (s *Store) GetStreamKey(ctx context.Context, id string) (ivs.StreamKey, error) {
	k, err := rowcodec.StreamKey(s.db.QueryRowContext(ctx,
		"SELECT "+keyColumns+" FROM stream_keys k JOIN channels c ON c.id = k.channel_id WHERE k.id = ?", id))
	if err != nil {
		return ivs.StreamKey{}, notFound(err, "get stream key "+id)
	}
	return k, nil
}

// GetStreamKeyByValue implements ivs.ChannelStore.
func (s *Store) GetStreamKeyByValue(ctx context.Context, value string) (ivs.StreamKey, error) {
	k, err := rowcodec.StreamKey(s.db.QueryRowContext(ctx,
		"SELECT "+keyColumns+" FROM stream_keys k JOIN channels c ON c.id = k.channel_id WHERE k.value = ?", value))
	if err != nil {
		// The key's value is a secret: the error names no key.
		return ivs.StreamKey{}, notFound(err, "get stream key by value")
	}
	return k, nil
}

// UpdateStreamKeyTags implements ivs.ChannelStore.
func (s *Store) UpdateStreamKeyTags(ctx context.Context, id string, tags map[string]string) error {
	b, err := json.Marshal(tags)
	if err != nil {
		return fmt.Errorf("sqlite: encode tags: %w", err)
	}
	res, err := s.db.ExecContext(ctx, "UPDATE stream_keys SET tags = ? WHERE id = ?", string(b), id)
	return affected(res, err, "update stream key "+id)
}

// DeleteStreamKey implements ivs.ChannelStore.
func (s *Store) DeleteStreamKey(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, "DELETE FROM stream_keys WHERE id = ?", id)
	return affected(res, err, "delete stream key "+id)
}

// ListStreamKeys implements ivs.ChannelStore.
func (s *Store) ListStreamKeys(ctx context.Context, channelID, afterID string, limit int) ([]ivs.StreamKey, error) {
	return list(ctx, s.db, rowcodec.StreamKey, "list stream keys", "SELECT "+keyColumns+
		" FROM stream_keys k JOIN channels c ON c.id = k.channel_id WHERE k.channel_id = ? AND k.id > ? ORDER BY k.id LIMIT ?",
		channelID, afterID, limit)
}
