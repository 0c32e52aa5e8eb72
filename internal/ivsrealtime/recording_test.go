package ivsrealtime_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/ivsrealtime"
)

// A stage's autoParticipantRecordingConfiguration: defaults filled, an
// existing storage configuration required, "" disabling and resetting to
// the defaults.
func TestRecordingConfiguration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newService(t)
	sc, err := s.CreateStorageConfiguration(ctx, ivsrealtime.CreateStorageConfigurationInput{S3: &ivsrealtime.S3Storage{BucketName: "vod"}})
	must(t, err)
	other := strings.Replace(sc.ARN, sc.ID, "abcdABCDefgh", 1)
	create := func(in *ivsrealtime.RecordingInput) (ivsrealtime.Stage, error) {
		st, _, err := s.CreateStage(ctx, ivsrealtime.CreateStageInput{AutoParticipantRecordingConfiguration: in}, ep)
		return st, err
	}
	for _, tc := range []struct {
		name  string
		in    *ivsrealtime.RecordingInput
		field string // of the ValidationException; "" wants success
		check func(c ivsrealtime.AutoParticipantRecordingConfiguration) bool
	}{
		{"defaults", &ivsrealtime.RecordingInput{StorageConfigurationArn: &sc.ARN}, "",
			func(c ivsrealtime.AutoParticipantRecordingConfiguration) bool {
				return c.Enabled() && c.MediaTypes[0] == "AUDIO_VIDEO" && c.HLSConfiguration.TargetSegmentDurationSeconds == 6 &&
					c.ThumbnailConfiguration.RecordingMode == "DISABLED" && c.RecordParticipantReplicas
			}},
		{"all set", &ivsrealtime.RecordingInput{StorageConfigurationArn: &sc.ARN, MediaTypes: []string{"AUDIO_ONLY"},
			RecordingReconnectWindowSeconds: ptr(int32(300)), RecordParticipantReplicas: ptr(false)}, "",
			func(c ivsrealtime.AutoParticipantRecordingConfiguration) bool {
				return c.MediaTypes[0] == "AUDIO_ONLY" && c.RecordingReconnectWindowSeconds == 300 && !c.RecordParticipantReplicas
			}},
		{"empty ARN resets", &ivsrealtime.RecordingInput{StorageConfigurationArn: ptr(""), MediaTypes: []string{"NONE"},
			RecordingReconnectWindowSeconds: ptr(int32(10))}, "",
			func(c ivsrealtime.AutoParticipantRecordingConfiguration) bool {
				return !c.Enabled() && c.MediaTypes[0] == "AUDIO_VIDEO" && c.RecordingReconnectWindowSeconds == 0
			}},
		{"unknown storage configuration", &ivsrealtime.RecordingInput{StorageConfigurationArn: &other},
			"autoParticipantRecordingConfiguration.storageConfigurationArn", nil},
		{"another account's", &ivsrealtime.RecordingInput{StorageConfigurationArn: ptr(strings.Replace(sc.ARN, account, "999999999999", 1))},
			"autoParticipantRecordingConfiguration.storageConfigurationArn", nil},
		{"a channel's ARN", &ivsrealtime.RecordingInput{StorageConfigurationArn: ptr(strings.Replace(sc.ARN, "storage-configuration", "channel", 1))},
			"autoParticipantRecordingConfiguration.storageConfigurationArn", nil},
		{"window", &ivsrealtime.RecordingInput{StorageConfigurationArn: &sc.ARN, RecordingReconnectWindowSeconds: ptr(int32(301))},
			"autoParticipantRecordingConfiguration.recordingReconnectWindowSeconds", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st, err := create(tc.in)
			if tc.field != "" {
				wantCode(t, err, ivs.CodeValidation, tc.field)
				return
			}
			must(t, err)
			got, err := s.GetStage(ctx, st.ARN)
			must(t, err)
			if !tc.check(got.AutoParticipantRecordingConfiguration) {
				t.Fatalf("configuration %+v", got.AutoParticipantRecordingConfiguration)
			}
		})
	}
}

// UpdateStage turns recording on and off; a storage configuration in use
// cannot be deleted.
func TestStorageConfigurationInUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newService(t)
	sc, err := s.CreateStorageConfiguration(ctx, ivsrealtime.CreateStorageConfigurationInput{S3: &ivsrealtime.S3Storage{BucketName: "vod"}})
	must(t, err)
	st := newStage(t, s)
	up, err := s.UpdateStage(ctx, ivsrealtime.UpdateStageInput{ARN: st.ARN, AutoParticipantRecordingConfiguration: &ivsrealtime.RecordingInput{
		StorageConfigurationArn: &sc.ARN, ThumbnailConfiguration: &struct {
			TargetIntervalSeconds *int32   `json:"targetIntervalSeconds"`
			Storage               []string `json:"storage"`
			RecordingMode         *string  `json:"recordingMode"`
		}{TargetIntervalSeconds: ptr(int32(5)), Storage: []string{"SEQUENTIAL", "LATEST"}, RecordingMode: ptr("INTERVAL")}}})
	must(t, err)
	if c := up.AutoParticipantRecordingConfiguration; !c.Enabled() || c.ThumbnailConfiguration.TargetIntervalSeconds != 5 || len(c.ThumbnailConfiguration.Storage) != 2 {
		t.Fatalf("updated %+v", c)
	}
	wantCode(t, s.DeleteStorageConfiguration(ctx, sc.ARN), ivs.CodeConflict, "")
	_, err = s.UpdateStage(ctx, ivsrealtime.UpdateStageInput{ARN: st.ARN, AutoParticipantRecordingConfiguration: &ivsrealtime.RecordingInput{
		StorageConfigurationArn: ptr("")}})
	must(t, err)
	must(t, s.DeleteStorageConfiguration(ctx, sc.ARN))
}

// The recorder's view: a participant's target (its session, the bucket),
// then its states on the participant (GetParticipant, ListParticipants'
// filterByRecordingState) with IVS Participant Recording State Change
// events about the stage.
func TestParticipantRecordingState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, h := newService(t)
	sc, err := s.CreateStorageConfiguration(ctx, ivsrealtime.CreateStorageConfigurationInput{S3: &ivsrealtime.S3Storage{BucketName: "vod"}})
	must(t, err)
	st, _, err := s.CreateStage(ctx, ivsrealtime.CreateStageInput{AutoParticipantRecordingConfiguration: &ivsrealtime.RecordingInput{
		StorageConfigurationArn: &sc.ARN}}, ep)
	must(t, err)
	claims := token(t, s, st, ivsrealtime.ParticipantTokenConfiguration{UserID: "alice"})
	if _, err := s.ParticipantRecordingTarget(ctx, st.ARN, claims.ParticipantID); !errors.Is(err, ivsrealtime.ErrNotJoined) {
		t.Fatalf("target before the join: %v", err)
	}
	alice, sid := join(t, s, st, "alice")
	tg, err := s.ParticipantRecordingTarget(ctx, st.ARN, alice.ParticipantID)
	must(t, err)
	if tg.Bucket != "vod" || tg.SessionID != sid || tg.UserID != "alice" || tg.StageID != st.ID {
		t.Fatalf("target %+v", tg)
	}
	p, err := s.GetParticipant(ctx, ivsrealtime.GetParticipantInput{StageARN: st.ARN, SessionID: sid, ParticipantID: alice.ParticipantID})
	must(t, err)
	if p.RecordingState != ivsrealtime.RecordingDisabled {
		t.Fatalf("before recording: %q", p.RecordingState)
	}
	prefix := st.ID + "/" + sid + "/" + alice.ParticipantID + "/1700000000"
	for _, step := range []struct{ state, event string }{
		{ivsrealtime.RecordingStarting, ""},
		{ivsrealtime.RecordingActive, ivsrealtime.EventRecordingStart},
		{ivsrealtime.RecordingStopped, ivsrealtime.EventRecordingEnd},
	} {
		must(t, s.SetParticipantRecording(ctx, st.ARN, ivsrealtime.ParticipantRecording{SessionID: sid, ParticipantID: alice.ParticipantID,
			UserID: "alice", State: step.state, Bucket: "vod", Prefix: prefix, Event: step.event}))
		for _, f := range []string{step.state, ivsrealtime.RecordingFailed} {
			ps, _, err := s.ListParticipants(ctx, ivsrealtime.ListParticipantsInput{StageARN: st.ARN, SessionID: sid, FilterByRecordingState: &f})
			must(t, err)
			if (len(ps) == 1) != (f == step.state) {
				t.Fatalf("filterByRecordingState %s in %s: %+v", f, step.state, ps)
			}
		}
	}
	p, err = s.GetParticipant(ctx, ivsrealtime.GetParticipantInput{StageARN: st.ARN, SessionID: sid, ParticipantID: alice.ParticipantID})
	must(t, err)
	if p.RecordingState != ivsrealtime.RecordingStopped || p.RecordingS3BucketName != "vod" || p.RecordingS3Prefix != prefix {
		t.Fatalf("participant %+v", p)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var got []string
	for _, e := range h.emitted {
		if e.DetailType != ivs.EventTypeParticipantRecording {
			continue
		}
		got = append(got, e.Detail.EventName)
		if d := e.Detail; e.Resources[0] != st.ARN || d.SessionID != sid || d.ParticipantID != alice.ParticipantID ||
			d.RecordingS3BucketName != "vod" || d.RecordingS3KeyPrefix != prefix {
			t.Errorf("event %+v", e)
		}
	}
	if strings.Join(got, ",") != "Recording Start,Recording End" {
		t.Fatalf("events %q", got)
	}
}
