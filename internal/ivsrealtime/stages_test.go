package ivsrealtime_test

import (
	"context"
	"strings"
	"testing"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/ivsrealtime"
)

// Each rule of the inputs, as IVS's, refuses with a ValidationException
// naming the member.
func TestValidation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newService(t)
	st := newStage(t, s)
	tok := func(c ivsrealtime.ParticipantTokenConfiguration) error {
		_, err := s.CreateParticipantToken(ctx, ivsrealtime.CreateParticipantTokenInput{StageARN: st.ARN, ParticipantTokenConfiguration: c}, ep)
		return err
	}
	stage := func(in ivsrealtime.CreateStageInput) error { _, _, err := s.CreateStage(ctx, in, ep); return err }
	video := func(v ivsrealtime.VideoInput) error {
		_, err := s.CreateEncoderConfiguration(ctx, ivsrealtime.CreateEncoderConfigurationInput{Video: &v})
		return err
	}
	for _, tc := range []struct {
		name, field string
		err         error
	}{
		{"duration 0", "duration", tok(ivsrealtime.ParticipantTokenConfiguration{Duration: ptr(int32(0))})},
		{"duration over 14 days", "duration", tok(ivsrealtime.ParticipantTokenConfiguration{Duration: ptr(int32(20161))})},
		{"userId", "userId", tok(ivsrealtime.ParticipantTokenConfiguration{UserID: strings.Repeat("u", 129)})},
		{"attributes over 1 KB", "attributes", tok(ivsrealtime.ParticipantTokenConfiguration{Attributes: map[string]string{"k": strings.Repeat("v", 1024)}})},
		{"three capabilities", "capabilities", tok(ivsrealtime.ParticipantTokenConfiguration{Capabilities: []string{"PUBLISH", "SUBSCRIBE", "PUBLISH"}})},
		{"unknown capability", "capabilities", tok(ivsrealtime.ParticipantTokenConfiguration{Capabilities: []string{"ADMIN"}})},
		{"13 token configurations", "participantTokenConfigurations", stage(ivsrealtime.CreateStageInput{
			ParticipantTokenConfigurations: make([]ivsrealtime.ParticipantTokenConfiguration, 13)})},
		{"a configuration's duration", "participantTokenConfigurations.duration", stage(ivsrealtime.CreateStageInput{
			ParticipantTokenConfigurations: []ivsrealtime.ParticipantTokenConfiguration{{Duration: ptr(int32(-1))}}})},
		{"stage name", "name", stage(ivsrealtime.CreateStageInput{Name: ptr("a b")})},
		{"stage tags", "tags", stage(ivsrealtime.CreateStageInput{Tags: map[string]string{"aws:k": "v"}})},
		{"recording without storage ARN", "autoParticipantRecordingConfiguration.storageConfigurationArn",
			stage(ivsrealtime.CreateStageInput{AutoParticipantRecordingConfiguration: &ivsrealtime.RecordingInput{}})},
		{"recording media types", "autoParticipantRecordingConfiguration.mediaTypes", stage(ivsrealtime.CreateStageInput{
			AutoParticipantRecordingConfiguration: &ivsrealtime.RecordingInput{StorageConfigurationArn: ptr(""), MediaTypes: []string{"VIDEO"}}})},
		{"odd width", "video.width", video(ivsrealtime.VideoInput{Width: ptr(int32(1279))})},
		{"tall", "video.height", video(ivsrealtime.VideoInput{Height: ptr(int32(1922))})},
		{"too many pixels", "video.width", video(ivsrealtime.VideoInput{Width: ptr(int32(1920)), Height: ptr(int32(1200))})},
		{"framerate", "video.framerate", video(ivsrealtime.VideoInput{Framerate: ptr(float32(60.5))})},
		{"bitrate", "video.bitrate", video(ivsrealtime.VideoInput{Bitrate: ptr(int32(0))})},
		{"no s3", "s3", func() error {
			_, err := s.CreateStorageConfiguration(ctx, ivsrealtime.CreateStorageConfigurationInput{})
			return err
		}()},
		{"bucket name", "s3.bucketName", func() error {
			_, err := s.CreateStorageConfiguration(ctx, ivsrealtime.CreateStorageConfigurationInput{S3: &ivsrealtime.S3Storage{BucketName: "ab"}})
			return err
		}()},
		{"public key material", "publicKeyMaterial", func() error {
			_, err := s.ImportPublicKey(ctx, ivsrealtime.ImportPublicKeyInput{PublicKeyMaterial: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"})
			return err
		}()},
		{"stage ARN of a channel", "stageArn", tokErr(s, strings.Replace(st.ARN, ":stage/", ":channel/", 1))},
		{"session id", "sessionId", func() error { _, err := s.GetStageSession(ctx, st.ARN, "st-short"); return err }()},
	} {
		t.Run(tc.name, func(t *testing.T) { t.Parallel(); wantCode(t, tc.err, ivs.CodeValidation, tc.field) })
	}
}

func tokErr(s *ivsrealtime.Service, arn string) error {
	_, err := s.CreateParticipantToken(context.Background(), ivsrealtime.CreateParticipantTokenInput{StageARN: arn}, ep)
	return err
}

// Defaults are IVS's: a token lasts 720 minutes with both capabilities; a
// stage's recording configuration and an encoder's video are filled.
func TestDefaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newService(t)
	st, toks, err := s.CreateStage(ctx, ivsrealtime.CreateStageInput{Name: ptr("s"),
		ParticipantTokenConfigurations: []ivsrealtime.ParticipantTokenConfiguration{{}}}, ep)
	must(t, err)
	r := st.AutoParticipantRecordingConfiguration
	if r.StorageConfigurationArn != "" || len(r.MediaTypes) != 1 || r.ThumbnailConfiguration.RecordingMode != "DISABLED" ||
		r.ThumbnailConfiguration.TargetIntervalSeconds != 60 || r.HLSConfiguration.TargetSegmentDurationSeconds != 6 || !r.RecordParticipantReplicas {
		t.Fatalf("recording defaults %+v", r)
	}
	if len(toks) != 1 || toks[0].Duration != 720 || len(toks[0].Capabilities) != 2 || len(toks[0].ParticipantID) != 12 {
		t.Fatalf("token defaults %+v", toks)
	}
	e, err := s.CreateEncoderConfiguration(ctx, ivsrealtime.CreateEncoderConfigurationInput{})
	must(t, err)
	if e.Video != (ivsrealtime.Video{Width: 1280, Height: 720, Framerate: 30, Bitrate: 2_500_000}) {
		t.Fatalf("video defaults %+v", e.Video)
	}
}

func TestEndpointsFor(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		host              string
		https, http       int
		wantEvents, wantW string
	}{
		{"example.com", 8443, 8080, "wss://example.com:8443/stage/events", "https://example.com:8443/stage/whip"},
		{"example.com", 443, 80, "wss://example.com/stage/events", "https://example.com/stage/whip"},
		{"127.0.0.1", 0, 8080, "ws://127.0.0.1:8080/stage/events", "http://127.0.0.1:8080/stage/whip"},
		{"::1", 0, 80, "ws://[::1]/stage/events", "http://[::1]/stage/whip"},
		{"::1", 8443, 80, "wss://[::1]:8443/stage/events", "https://[::1]:8443/stage/whip"},
	} {
		got := ivsrealtime.EndpointsFor(tc.host, tc.https, tc.http)
		if got.Events != tc.wantEvents || got.WHIP != tc.wantW {
			t.Errorf("EndpointsFor(%q, %d, %d) = %+v", tc.host, tc.https, tc.http, got)
		}
	}
	for _, tc := range []struct {
		host             string
		rtmp, rtmps      int
		wantRTMP, wantTS string
	}{
		{"example.com", 1935, 443, "rtmp://example.com:1935/app/", "rtmps://example.com:443/app/"},
		{"::1", 0, 1936, "", "rtmps://[::1]:1936/app/"},
		{"127.0.0.1", 0, 0, "", ""},
	} {
		got := ivsrealtime.Endpoints{}.WithIngest(tc.host, tc.rtmp, tc.rtmps)
		if got.RTMP != tc.wantRTMP || got.RTMPS != tc.wantTS {
			t.Errorf("WithIngest(%q, %d, %d) = %+v", tc.host, tc.rtmp, tc.rtmps, got)
		}
	}
}
