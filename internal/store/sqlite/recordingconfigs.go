package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/store/rowcodec"
)

// CreateRecordingConfiguration implements ivs.RecordingConfigurationStore.
func (s *Store) CreateRecordingConfiguration(ctx context.Context, r ivs.RecordingConfiguration) error {
	doc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("sqlite: encode recording configuration: %w", err)
	}
	_, err = s.db.ExecContext(ctx, "INSERT INTO recording_configurations (id, doc, state, created_at) VALUES (?, ?, ?, ?)",
		r.ID, string(doc), r.State, rowcodec.FormatTime(r.CreatedAt))
	if err != nil {
		return fmt.Errorf("sqlite: insert recording configuration: %w", err)
	}
	return nil
}

const recordingColumns = "id, doc, state, created_at"

// GetRecordingConfiguration implements ivs.RecordingConfigurationStore.
func (s *Store) GetRecordingConfiguration(ctx context.Context, id string) (ivs.RecordingConfiguration, error) {
	r, err := rowcodec.RecordingConfiguration(s.db.QueryRowContext(ctx,
		"SELECT "+recordingColumns+" FROM recording_configurations WHERE id = ?", id))
	if err != nil {
		return ivs.RecordingConfiguration{}, notFound(err, "get recording configuration "+id)
	}
	return r, nil
}

// SetRecordingConfigurationState implements ivs.RecordingConfigurationStore.
func (s *Store) SetRecordingConfigurationState(ctx context.Context, id, state string) error {
	res, err := s.db.ExecContext(ctx, "UPDATE recording_configurations SET state = ? WHERE id = ?", state, id)
	return affected(res, err, "set recording configuration state "+id)
}

// UpdateRecordingConfigurationTags implements ivs.RecordingConfigurationStore.
func (s *Store) UpdateRecordingConfigurationTags(ctx context.Context, id string, tags map[string]string) error {
	r, err := s.GetRecordingConfiguration(ctx, id)
	if err != nil {
		return err
	}
	r.Tags = tags
	doc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("sqlite: encode recording configuration: %w", err)
	}
	res, err := s.db.ExecContext(ctx, "UPDATE recording_configurations SET doc = ? WHERE id = ?", string(doc), id)
	return affected(res, err, "update recording configuration tags "+id)
}

// DeleteRecordingConfiguration implements ivs.RecordingConfigurationStore.
func (s *Store) DeleteRecordingConfiguration(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, "DELETE FROM recording_configurations WHERE id = ?", id)
	return affected(res, err, "delete recording configuration "+id)
}

// ListRecordingConfigurations implements ivs.RecordingConfigurationStore.
func (s *Store) ListRecordingConfigurations(ctx context.Context, afterID string, limit int) ([]ivs.RecordingConfiguration, error) {
	return list(ctx, s.db, rowcodec.RecordingConfiguration, "list recording configurations", "SELECT "+recordingColumns+
		" FROM recording_configurations WHERE id > ? ORDER BY id LIMIT ?", afterID, limit)
}
