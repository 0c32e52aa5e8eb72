package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/store/rowcodec"
)

var _ ivs.RecordingConfigurationStore = (*Store)(nil)

// CreateRecordingConfiguration implements ivs.RecordingConfigurationStore.
func (s *Store) CreateRecordingConfiguration(ctx context.Context, r ivs.RecordingConfiguration) error {
	doc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("postgres: encode recording configuration: %w", err)
	}
	_, err = s.pool.Exec(ctx, "INSERT INTO recording_configurations (id, doc, state, created_at) VALUES ($1, $2, $3, $4)",
		r.ID, string(doc), r.State, rowcodec.FormatTime(r.CreatedAt))
	if err != nil {
		return fmt.Errorf("postgres: insert recording configuration: %w", err)
	}
	return nil
}

const recordingColumns = "id, doc, state, created_at"

// GetRecordingConfiguration implements ivs.RecordingConfigurationStore.
func (s *Store) GetRecordingConfiguration(ctx context.Context, id string) (ivs.RecordingConfiguration, error) {
	return get(ctx, s, rowcodec.RecordingConfiguration, "get recording configuration", []string{id},
		"SELECT "+recordingColumns+" FROM recording_configurations WHERE id = $1", id)
}

// SetRecordingConfigurationState implements ivs.RecordingConfigurationStore.
func (s *Store) SetRecordingConfigurationState(ctx context.Context, id, state string) error {
	return s.change(ctx, "set recording configuration state", []string{id},
		"UPDATE recording_configurations SET state = $1 WHERE id = $2", state, id)
}

// UpdateRecordingConfigurationTags implements ivs.RecordingConfigurationStore.
// The document is read and rewritten in one transaction with the row
// locked, so that two processes updating the same configuration's tags do
// not interleave.
func (s *Store) UpdateRecordingConfigurationTags(ctx context.Context, id string, tags map[string]string) error {
	if err := unstored("get recording configuration", id); err != nil {
		return err
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		r, err := rowcodec.RecordingConfiguration(tx.QueryRow(ctx,
			"SELECT "+recordingColumns+" FROM recording_configurations WHERE id = $1 FOR UPDATE", id))
		if err != nil {
			return notFound(err, "get recording configuration "+id)
		}
		r.Tags = tags
		doc, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("postgres: encode recording configuration: %w", err)
		}
		tag, err := tx.Exec(ctx, "UPDATE recording_configurations SET doc = $1 WHERE id = $2", string(doc), id)
		return affected(tag, err, "update recording configuration tags "+id)
	})
}

// DeleteRecordingConfiguration implements ivs.RecordingConfigurationStore.
func (s *Store) DeleteRecordingConfiguration(ctx context.Context, id string) error {
	return s.change(ctx, "delete recording configuration", []string{id}, "DELETE FROM recording_configurations WHERE id = $1", id)
}

// ListRecordingConfigurations implements ivs.RecordingConfigurationStore.
func (s *Store) ListRecordingConfigurations(ctx context.Context, afterID string, limit int) ([]ivs.RecordingConfiguration, error) {
	cond, after := afterCond("id", afterID, 1)
	return list(ctx, s, rowcodec.RecordingConfiguration, "list recording configurations",
		"SELECT "+recordingColumns+" FROM recording_configurations WHERE "+cond+" ORDER BY id LIMIT $2", after, limit)
}
