package ivsrealtime

import (
	"context"
	"time"

	"github.com/onair-video/onair/internal/ivs"
)

// Stage limits, as IVS's.
const (
	// MaxStages is the stages an account may have (IVS's default quota per
	// region).
	MaxStages = 100
	// maxTokenConfigurations is the participant tokens CreateStage makes
	// at most.
	maxTokenConfigurations = 12
)

// Stage is a stage as stored.
type Stage struct {
	ID              string            `json:"id"`
	ARN             string            `json:"arn"`
	Name            string            `json:"name"`
	ActiveSessionID string            `json:"activeSessionId,omitempty"`
	Tags            map[string]string `json:"tags"`
	CreateTime      time.Time         `json:"createTime"`
	// AutoParticipantRecordingConfiguration records each publisher when
	// its storageConfigurationArn is set.
	AutoParticipantRecordingConfiguration AutoParticipantRecordingConfiguration `json:"autoParticipantRecordingConfiguration"`
}

// AutoParticipantRecordingConfiguration is a stage's individual participant
// recording configuration, with IVS's defaults filled.
type AutoParticipantRecordingConfiguration struct {
	StorageConfigurationArn         string                            `json:"storageConfigurationArn"`
	MediaTypes                      []string                          `json:"mediaTypes"`
	ThumbnailConfiguration          ParticipantThumbnailConfiguration `json:"thumbnailConfiguration"`
	RecordingReconnectWindowSeconds int32                             `json:"recordingReconnectWindowSeconds"`
	HLSConfiguration                ParticipantRecordingHLS           `json:"hlsConfiguration"`
	RecordParticipantReplicas       bool                              `json:"recordParticipantReplicas"`
}

// ParticipantThumbnailConfiguration is the thumbnail part of it.
type ParticipantThumbnailConfiguration struct {
	TargetIntervalSeconds int32    `json:"targetIntervalSeconds"`
	Storage               []string `json:"storage"`
	RecordingMode         string   `json:"recordingMode"`
}

// ParticipantRecordingHLS is the HLS part of it.
type ParticipantRecordingHLS struct {
	TargetSegmentDurationSeconds int32 `json:"targetSegmentDurationSeconds"`
}

// defaultRecording is what IVS answers for a stage created without one.
func defaultRecording() AutoParticipantRecordingConfiguration {
	return AutoParticipantRecordingConfiguration{
		MediaTypes: []string{"AUDIO_VIDEO"},
		ThumbnailConfiguration: ParticipantThumbnailConfiguration{TargetIntervalSeconds: 60, Storage: []string{"SEQUENTIAL"},
			RecordingMode: "DISABLED"},
		HLSConfiguration:          ParticipantRecordingHLS{TargetSegmentDurationSeconds: 6},
		RecordParticipantReplicas: true,
	}
}

// RecordingInput is the autoParticipantRecordingConfiguration of
// CreateStage and UpdateStage: absent members take IVS's defaults.
type RecordingInput struct {
	StorageConfigurationArn *string  `json:"storageConfigurationArn"`
	MediaTypes              []string `json:"mediaTypes"`
	ThumbnailConfiguration  *struct {
		TargetIntervalSeconds *int32   `json:"targetIntervalSeconds"`
		Storage               []string `json:"storage"`
		RecordingMode         *string  `json:"recordingMode"`
	} `json:"thumbnailConfiguration"`
	RecordingReconnectWindowSeconds *int32 `json:"recordingReconnectWindowSeconds"`
	HLSConfiguration                *struct {
		TargetSegmentDurationSeconds *int32 `json:"targetSegmentDurationSeconds"`
	} `json:"hlsConfiguration"`
	RecordParticipantReplicas *bool `json:"recordParticipantReplicas"`
}

const recField = "autoParticipantRecordingConfiguration"

// Enabled tells whether the stage records its publishers.
func (c AutoParticipantRecordingConfiguration) Enabled() bool { return c.StorageConfigurationArn != "" }

// config validates in and returns the configuration it gives: an empty
// storageConfigurationArn disables recording and resets the rest to the
// defaults, as IVS; a storage configuration must exist.
func (s *Service) recordingConfig(ctx context.Context, in *RecordingInput) (AutoParticipantRecordingConfiguration, error) {
	c, err := in.config()
	if err != nil || c.StorageConfigurationArn == "" {
		return c, err
	}
	f := recField + ".storageConfigurationArn"
	a, err := s.scope.OwnARN(f, ResourceStorageConfiguration, c.StorageConfigurationArn)
	if err == nil {
		_, err = s.storageConfigs().Get(ctx, a.ID, c.StorageConfigurationArn)
	}
	if isNotFound(err) {
		return c, ivs.Validation(f, "%s: storage configuration %s not found", f, c.StorageConfigurationArn)
	}
	return c, err
}

// config validates in and returns the configuration it gives.
func (in *RecordingInput) config() (AutoParticipantRecordingConfiguration, error) {
	c := defaultRecording()
	if in.StorageConfigurationArn == nil {
		return c, ivs.Validation(recField+".storageConfigurationArn", "%s.storageConfigurationArn is required", recField)
	}
	if *in.StorageConfigurationArn != "" {
		if _, err := ivs.ParseARN(recField+".storageConfigurationArn", *in.StorageConfigurationArn); err != nil {
			return c, err
		}
		c.StorageConfigurationArn = *in.StorageConfigurationArn
	}
	if in.MediaTypes != nil {
		if len(in.MediaTypes) > 1 {
			return c, ivs.Validation(recField+".mediaTypes", "%s.mediaTypes may hold at most 1 media type", recField)
		}
		for _, m := range in.MediaTypes {
			if err := ivs.ValidateEnum(recField+".mediaTypes", m, "AUDIO_VIDEO", "AUDIO_ONLY", "NONE"); err != nil {
				return c, err
			}
		}
		c.MediaTypes = in.MediaTypes
	}
	if t := in.ThumbnailConfiguration; t != nil {
		f := recField + ".thumbnailConfiguration"
		if v := t.TargetIntervalSeconds; v != nil {
			if *v < 1 || *v > 86400 {
				return c, ivs.Validation(f+".targetIntervalSeconds", "%s.targetIntervalSeconds must be 1 to 86400, got %d", f, *v)
			}
			c.ThumbnailConfiguration.TargetIntervalSeconds = *v
		}
		if t.Storage != nil {
			if len(t.Storage) > 2 {
				return c, ivs.Validation(f+".storage", "%s.storage may hold at most 2 storage types", f)
			}
			for _, v := range t.Storage {
				if err := ivs.ValidateEnum(f+".storage", v, "SEQUENTIAL", "LATEST"); err != nil {
					return c, err
				}
			}
			c.ThumbnailConfiguration.Storage = t.Storage
		}
		if v := t.RecordingMode; v != nil {
			if err := ivs.ValidateEnum(f+".recordingMode", *v, "INTERVAL", "DISABLED"); err != nil {
				return c, err
			}
			c.ThumbnailConfiguration.RecordingMode = *v
		}
	}
	if v := in.RecordingReconnectWindowSeconds; v != nil {
		if *v < 0 || *v > 300 {
			return c, ivs.Validation(recField+".recordingReconnectWindowSeconds",
				"%s.recordingReconnectWindowSeconds must be 0 to 300, got %d", recField, *v)
		}
		c.RecordingReconnectWindowSeconds = *v
	}
	if h := in.HLSConfiguration; h != nil && h.TargetSegmentDurationSeconds != nil {
		if v := *h.TargetSegmentDurationSeconds; v < 2 || v > 10 {
			return c, ivs.Validation(recField+".hlsConfiguration.targetSegmentDurationSeconds",
				"%s.hlsConfiguration.targetSegmentDurationSeconds must be 2 to 10, got %d", recField, v)
		}
		c.HLSConfiguration.TargetSegmentDurationSeconds = *h.TargetSegmentDurationSeconds
	}
	if in.RecordParticipantReplicas != nil {
		c.RecordParticipantReplicas = *in.RecordParticipantReplicas
	}
	if c.StorageConfigurationArn == "" {
		return defaultRecording(), nil
	}
	return c, nil
}

// CreateStageInput is the input of CreateStage.
type CreateStageInput struct {
	Name                                  *string                         `json:"name"`
	ParticipantTokenConfigurations        []ParticipantTokenConfiguration `json:"participantTokenConfigurations"`
	Tags                                  map[string]string               `json:"tags"`
	AutoParticipantRecordingConfiguration *RecordingInput                 `json:"autoParticipantRecordingConfiguration"`
}

// UpdateStageInput is the input of UpdateStage.
type UpdateStageInput struct {
	ARN                                   string          `json:"arn"`
	Name                                  *string         `json:"name"`
	AutoParticipantRecordingConfiguration *RecordingInput `json:"autoParticipantRecordingConfiguration"`
}

// ListStagesInput is the input of ListStages.
type ListStagesInput struct {
	NextToken  string `json:"nextToken"`
	MaxResults *int32 `json:"maxResults"`
}

func (s *Service) stages() ivs.Docs[Stage] {
	return ivs.Docs[Stage]{Store: s.docs, Kind: ResourceStage, Noun: "stage", ID: func(st *Stage) string { return st.ID }}
}

// CreateStage creates a stage and a participant token for each of its
// token configurations; ep goes into the tokens.
func (s *Service) CreateStage(ctx context.Context, in CreateStageInput, ep Endpoints) (Stage, []ParticipantToken, error) {
	id := ivs.NewResourceID()
	now := s.now().UTC()
	st := Stage{ID: id, ARN: s.scope.ARN(ResourceStage, id), Tags: ivs.CloneTags(in.Tags), CreateTime: now,
		AutoParticipantRecordingConfiguration: defaultRecording()}
	if in.Name != nil {
		if err := ivs.ValidateName("name", *in.Name); err != nil {
			return Stage{}, nil, err
		}
		st.Name = *in.Name
	}
	if err := ivs.ValidateTags("tags", in.Tags); err != nil {
		return Stage{}, nil, err
	}
	if len(in.ParticipantTokenConfigurations) > maxTokenConfigurations {
		return Stage{}, nil, ivs.Validation("participantTokenConfigurations",
			"participantTokenConfigurations may hold at most %d configurations", maxTokenConfigurations)
	}
	for i := range in.ParticipantTokenConfigurations {
		if err := in.ParticipantTokenConfigurations[i].validate("participantTokenConfigurations"); err != nil {
			return Stage{}, nil, err
		}
	}
	if in.AutoParticipantRecordingConfiguration != nil {
		c, err := s.recordingConfig(ctx, in.AutoParticipantRecordingConfiguration)
		if err != nil {
			return Stage{}, nil, err
		}
		st.AutoParticipantRecordingConfiguration = c
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.stages().Count(ctx)
	if err != nil {
		return Stage{}, nil, err
	}
	if n >= MaxStages {
		return Stage{}, nil, quota("stages", n, MaxStages)
	}
	// Tokens first: a failure leaves no stage behind.
	toks := make([]ParticipantToken, 0, len(in.ParticipantTokenConfigurations))
	for _, c := range in.ParticipantTokenConfigurations {
		t, err := s.issue(ctx, st, c, ep)
		if err != nil {
			return Stage{}, nil, err
		}
		toks = append(toks, t)
	}
	if err := s.stages().Create(ctx, &st, now); err != nil {
		return Stage{}, nil, err
	}
	return st, toks, nil
}

// GetStage returns the stage named by its ARN.
func (s *Service) GetStage(ctx context.Context, arn string) (Stage, error) {
	return s.stage(ctx, "arn", arn)
}

func (s *Service) stage(ctx context.Context, field, arn string) (Stage, error) {
	a, err := s.scope.OwnARN(field, ResourceStage, arn)
	if err != nil {
		return Stage{}, err
	}
	return s.stages().Get(ctx, a.ID, arn)
}

// StageByID returns the stage with id (the media side knows stages by the
// topic of a token).
func (s *Service) StageByID(ctx context.Context, id string) (Stage, error) {
	return s.stages().Get(ctx, id, s.scope.ARN(ResourceStage, id))
}

// UpdateStage changes a stage's name or recording configuration.
func (s *Service) UpdateStage(ctx context.Context, in UpdateStageInput) (Stage, error) {
	if _, err := s.stage(ctx, "arn", in.ARN); err != nil {
		return Stage{}, err
	}
	var rec *AutoParticipantRecordingConfiguration
	if in.AutoParticipantRecordingConfiguration != nil {
		c, err := s.recordingConfig(ctx, in.AutoParticipantRecordingConfiguration)
		if err != nil {
			return Stage{}, err
		}
		rec = &c
	}
	if in.Name != nil {
		if err := ivs.ValidateName("name", *in.Name); err != nil {
			return Stage{}, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.stage(ctx, "arn", in.ARN)
	if err != nil {
		return Stage{}, err
	}
	if in.Name != nil {
		st.Name = *in.Name
	}
	if rec != nil {
		st.AutoParticipantRecordingConfiguration = *rec
	}
	if err := s.stages().Update(ctx, &st, in.ARN); err != nil {
		return Stage{}, err
	}
	return st, nil
}

// DeleteStage deletes a stage: its active session ends, its participants
// are disconnected (the StageDeleted hook), its sessions are forgotten.
func (s *Service) DeleteStage(ctx context.Context, arn string) error {
	s.mu.Lock()
	st, err := s.stage(ctx, "arn", arn)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	if st.ActiveSessionID != "" {
		if err := s.endSession(ctx, &st); err != nil {
			s.mu.Unlock()
			return err
		}
	}
	err = s.stages().Delete(ctx, st.ID, arn)
	if err == nil {
		err = s.sessions.DeleteStageSessions(ctx, st.ID)
	}
	if err == nil {
		err = s.forgetDisconnections(ctx, st.ID)
	}
	if err == nil {
		err = s.detachIngest(ctx, st.ARN, "")
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if s.hooks.StageDeleted != nil {
		s.hooks.StageDeleted(st.ID)
	}
	return nil
}

// ListStages returns a page of stages, by id.
func (s *Service) ListStages(ctx context.Context, in ListStagesInput) ([]Stage, string, error) {
	return s.stages().Page(ctx, in.NextToken, in.MaxResults, 100, 50)
}
