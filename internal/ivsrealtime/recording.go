package ivsrealtime

import (
	"context"
	"errors"
	"fmt"

	"github.com/onair-video/onair/internal/ivs"
)

// Participant recording states (IVS's ParticipantRecordingState).
const (
	RecordingStarting = "STARTING"
	RecordingActive   = "ACTIVE"
	RecordingStopping = "STOPPING"
	RecordingStopped  = "STOPPED"
	RecordingFailed   = "FAILED"
	RecordingDisabled = "DISABLED"
)

// Event names of IVS Participant Recording State Change.
const (
	EventRecordingStart        = "Recording Start"
	EventRecordingEnd          = "Recording End"
	EventRecordingStartFailure = "Recording Start Failure"
	EventRecordingEndFailure   = "Recording End Failure"
)

// RecordingTarget is what the recorder of a stage's publisher needs from
// the control plane.
type RecordingTarget struct {
	StageID, StageARN string
	// SessionID is the stage session the participant is connected to.
	SessionID string
	UserID    string
	Config    AutoParticipantRecordingConfiguration
	// Bucket is the storage configuration's; "" when the stage does not
	// record its participants.
	Bucket string
}

// ParticipantRecordingTarget returns the recording configuration of a
// stage and the session of one of its connected participants:
// ErrNotJoined while its join is not recorded yet (the media side
// records it asynchronously). A storage configuration that is gone is an
// error, with the target filled but its Bucket.
func (s *Service) ParticipantRecordingTarget(ctx context.Context, stageARN, participantID string) (RecordingTarget, error) {
	a, err := s.scope.OwnARN("stageArn", ResourceStage, stageARN)
	if err != nil {
		return RecordingTarget{}, err
	}
	s.mu.Lock()
	st, p, err := s.connected(ctx, a.ID, participantID)
	s.mu.Unlock()
	if err != nil {
		return RecordingTarget{}, err
	}
	t := RecordingTarget{StageID: st.ID, StageARN: st.ARN, SessionID: st.ActiveSessionID, UserID: p.UserID,
		Config: st.AutoParticipantRecordingConfiguration}
	if !t.Config.Enabled() {
		return t, nil
	}
	sc, err := s.GetStorageConfiguration(ctx, t.Config.StorageConfigurationArn)
	if err != nil {
		return t, fmt.Errorf("ivsrealtime: the stage's storage configuration: %w", err)
	}
	t.Bucket = sc.S3.BucketName
	return t, nil
}

// ParticipantRecording is a change of a participant's recording.
type ParticipantRecording struct {
	SessionID, ParticipantID, UserID string
	// State is the participant's recordingState from now on.
	State          string
	Bucket, Prefix string
	// Event is the IVS Participant Recording State Change to emit ("" none);
	// Reason says why, for a failure.
	Event  string
	Reason string
}

// SetParticipantRecording records a participant's recording state on the
// participant of its session and emits the change's event. A participant
// that is gone (its stage was deleted) keeps nothing; the event is
// emitted all the same.
func (s *Service) SetParticipantRecording(ctx context.Context, stageARN string, r ParticipantRecording) error {
	a, err := s.scope.OwnARN("stageArn", ResourceStage, stageARN)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.sessions.GetParticipant(ctx, a.ID, r.SessionID, r.ParticipantID)
	switch {
	case err == nil:
		p.RecordingState, p.RecordingS3BucketName, p.RecordingS3Prefix = r.State, r.Bucket, r.Prefix
		if err := s.sessions.PutParticipant(ctx, a.ID, r.SessionID, p); err != nil {
			return fmt.Errorf("ivsrealtime: store participant: %w", err)
		}
	case !errors.Is(err, ivs.ErrNotFound):
		return fmt.Errorf("ivsrealtime: get participant: %w", err)
	}
	if r.Event == "" || s.emit == nil {
		return nil
	}
	_, err = s.emit(ctx, ivs.Event{DetailType: ivs.EventTypeParticipantRecording, Time: s.now().UTC(), Resources: []string{stageARN},
		Detail: ivs.EventDetail{EventName: r.Event, SessionID: r.SessionID, ParticipantID: r.ParticipantID, UserID: r.UserID,
			RecordingS3BucketName: r.Bucket, RecordingS3KeyPrefix: r.Prefix, Reason: r.Reason}})
	return err
}
