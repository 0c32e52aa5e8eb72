package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ivsrealtime"
	rttypes "github.com/aws/aws-sdk-go-v2/service/ivsrealtime/types"
	"github.com/aws/smithy-go"

	"github.com/onair-video/onair/test/e2e/harness"
)

// TestStageIngestInBrowser runs web/e2e/stageingest.mjs: an ingest
// configuration made with @aws-sdk/client-ivs-realtime, ffmpeg publishing
// H.264 and AAC over RTMPS to the stage's endpoints.rtmps with its key,
// IVS's own Stage client in Chromium (SUBSCRIBE only) decoding the
// encoder's video and receiving its audio as Opus, GetParticipant's
// protocol RTMPS, a second encoder refused with REUSE_OF_STREAM_KEY, and a
// forced DeleteIngestConfiguration cutting ffmpeg off.
func TestStageIngestInBrowser(t *testing.T) {
	t.Parallel()
	root, _ := browserTest(t)
	if _, err := os.Stat(filepath.Join(root, "web/node_modules/amazon-ivs-web-broadcast/dist/amazon-ivs-web-broadcast.js")); err != nil {
		t.Skipf("amazon-ivs-web-broadcast not installed (npm ci in web/): %v", err)
	}
	ffmpeg := harness.RequireProgram(t, "ffmpeg")
	s := harness.Start(t)
	browserScript(t, s, "e2e/stageingest.mjs", 4*time.Minute, []string{"ingest-"},
		"ONAIR_URL="+s.Endpoint(), "ONAIR_AKID="+s.AccessKeyID, "ONAIR_SECRET="+s.SecretAccessKey, "TLS_SPKI="+s.TLSPublicKeyHash(t),
		"FFMPEG="+ffmpeg)
}

// ingestConfiguration is what `aws ivs-realtime` prints of one (the
// redundant credentials, which the Go SDK v1.30.0 has no field for).
type ingestConfiguration struct {
	Arn, StreamKey, StageArn, ParticipantID, State string
	RedundantIngest                                bool
	RedundantIngestCredentials                     []struct{ ParticipantID, StreamKey string }
}

// apiCode is the error code of an SDK call's error ("" for none).
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// Ingest configurations against encoders, through aws-sdk-go-v2: an RTMPS
// configuration's key on the stage's endpoints.rtmps publishes (ACTIVE,
// protocol RTMPS), DeleteIngestConfiguration refuses without force and
// cuts ffmpeg off with it; plain RTMP is refused on an RTMPS configuration
// (INVALID_PROTOCOL) and taken on one with insecureIngest (protocol RTMP);
// a stream with B-frames is refused with B_FRAME_PRESENT before anyone
// sees it; DisconnectParticipant cuts the encoder off and lets go of the
// stage. Then once with the aws CLI: redundant ingest (which the Go SDK
// has no field for), SRT with a configuration's key, the backup encoder as
// its own participant, DeleteStage cutting both off.
func TestStageIngest(t *testing.T) {
	t.Parallel()
	harness.RequireProgram(t, "ffmpeg")
	harness.Heavy(t)
	s := harness.Start(t)
	rt := s.RealTime()
	ctx := harness.Context(t, 4*time.Minute)

	created, err := rt.CreateStage(ctx, &ivsrealtime.CreateStageInput{Name: aws.String("ingest")})
	if err != nil {
		t.Fatal(err)
	}
	st := created.Stage
	// Every encoder, feed and converter ends with the test: the count of
	// goroutines comes back.
	baseline := s.Goroutines(t)
	if aws.ToString(st.Endpoints.Rtmps) != "rtmps://"+s.Addrs["rtmps"]+"/app/" || aws.ToString(st.Endpoints.Rtmp) != "rtmp://"+s.Addrs["rtmp"]+"/app/" {
		t.Fatalf("endpoints rtmp %q rtmps %q", aws.ToString(st.Endpoints.Rtmp), aws.ToString(st.Endpoints.Rtmps))
	}
	newConfig := func(in *ivsrealtime.CreateIngestConfigurationInput) *rttypes.IngestConfiguration {
		t.Helper()
		in.StageArn = st.Arn
		out, err := rt.CreateIngestConfiguration(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return out.IngestConfiguration
	}
	secure := newConfig(&ivsrealtime.CreateIngestConfigurationInput{IngestProtocol: rttypes.IngestProtocolRtmps, UserId: aws.String("cam"),
		Attributes: map[string]string{"role": "camera"}, Name: aws.String("secure")})
	insecure := newConfig(&ivsrealtime.CreateIngestConfigurationInput{IngestProtocol: rttypes.IngestProtocolRtmp, InsecureIngest: true,
		UserId: aws.String("old-encoder")})
	if secure.State != rttypes.IngestConfigurationStateInactive || !strings.HasPrefix(aws.ToString(secure.StreamKey), "rt_") ||
		aws.ToString(secure.StageArn) != aws.ToString(st.Arn) || secure.Attributes["role"] != "camera" {
		t.Fatalf("created %+v", secure)
	}
	_, err = rt.CreateIngestConfiguration(ctx, &ivsrealtime.CreateIngestConfigurationInput{IngestProtocol: rttypes.IngestProtocolRtmp})
	// The Go SDK decodes the message into ExceptionMessage only.
	var ve *rttypes.ValidationException
	if !errors.As(err, &ve) || !strings.Contains(aws.ToString(ve.ExceptionMessage), "insecureIngest") {
		t.Fatalf("RTMP without insecureIngest: %v", err)
	}

	sessionID := func() string {
		g, err := rt.GetStage(ctx, &ivsrealtime.GetStageInput{Arn: st.Arn})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(g.Stage.ActiveSessionId)
	}
	// events lists a participant's events, name:code, over every session.
	events := func(participantID *string) []string {
		ss, err := rt.ListStageSessions(ctx, &ivsrealtime.ListStageSessionsInput{StageArn: st.Arn})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, sess := range slices.Backward(ss.StageSessions) {
			evs, err := rt.ListParticipantEvents(ctx, &ivsrealtime.ListParticipantEventsInput{StageArn: st.Arn, SessionId: sess.SessionId,
				ParticipantId: participantID})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range evs.Events {
				out = append(out, strings.TrimSuffix(string(e.Name)+":"+string(e.ErrorCode), ":"))
			}
		}
		return out
	}
	hasEvent := func(participantID *string, ev string) func() error {
		return func() error {
			if got := events(participantID); !slices.Contains(got, ev) {
				return errors.New("events " + strings.Join(got, " "))
			}
			return nil
		}
	}
	// participant reads a participant of the active session (nil while
	// there is none, or it has not joined yet).
	participant := func(id *string) *rttypes.Participant {
		sid := sessionID()
		if sid == "" {
			return nil
		}
		out, err := rt.GetParticipant(ctx, &ivsrealtime.GetParticipantInput{StageArn: st.Arn, SessionId: &sid, ParticipantId: id})
		if err != nil {
			return nil
		}
		return out.Participant
	}
	waitState := func(arn *string, want rttypes.IngestConfigurationState) {
		t.Helper()
		harness.Eventually(t, 30*time.Second, func() error {
			out, err := rt.GetIngestConfiguration(ctx, &ivsrealtime.GetIngestConfigurationInput{Arn: arn})
			if err != nil {
				return err
			}
			if out.IngestConfiguration.State != want {
				return errors.New(string(out.IngestConfiguration.State))
			}
			return nil
		})
	}
	// refused waits for an encoder that must fail (not run on, not end
	// well).
	refused := func(p *harness.Process, what string) {
		t.Helper()
		select {
		case <-p.Done():
			if p.Err() == nil {
				t.Fatalf("%s: ffmpeg ended without an error:\n%s", what, p.Output())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: ffmpeg still runs:\n%s", what, p.Output())
		}
	}

	t.Log("ffmpeg publishes to endpoints.rtmps with the RTMPS configuration's key")
	p := harness.StartFFmpeg(t, harness.Publish{URL: aws.ToString(st.Endpoints.Rtmps) + aws.ToString(secure.StreamKey), Audio: true})
	waitState(secure.Arn, rttypes.IngestConfigurationStateActive)
	harness.Eventually(t, 20*time.Second, func() error {
		if got := participant(secure.ParticipantId); got == nil || got.Protocol != rttypes.ParticipantProtocolRtmps || !got.Published ||
			aws.ToString(got.UserId) != "cam" || got.Attributes["role"] != "camera" || got.State != rttypes.ParticipantStateConnected {
			return fmt.Errorf("participant %+v", got)
		}
		return nil
	})
	list, err := rt.ListIngestConfigurations(ctx, &ivsrealtime.ListIngestConfigurationsInput{FilterByState: rttypes.IngestConfigurationStateActive})
	if err != nil || len(list.IngestConfigurations) != 1 || aws.ToString(list.IngestConfigurations[0].Arn) != aws.ToString(secure.Arn) {
		t.Fatalf("ACTIVE ones: %+v %v", list, err)
	}
	_, err = rt.UpdateIngestConfiguration(ctx, &ivsrealtime.UpdateIngestConfigurationInput{Arn: secure.Arn, StageArn: aws.String("")})
	if apiCode(err) != "ConflictException" {
		t.Fatalf("moving an active configuration: %v", err)
	}
	_, err = rt.DeleteIngestConfiguration(ctx, &ivsrealtime.DeleteIngestConfigurationInput{Arn: secure.Arn})
	if apiCode(err) != "ConflictException" {
		t.Fatalf("deleting an active configuration without force: %v", err)
	}
	// The forced delete cuts ffmpeg off: how long that takes is measured.
	t0 := time.Now()
	if _, err := rt.DeleteIngestConfiguration(ctx, &ivsrealtime.DeleteIngestConfigurationInput{Arn: secure.Arn, Force: true}); err != nil {
		t.Fatal(err)
	}
	refused(p, "an encoder after its configuration's forced delete")
	t.Logf("ffmpeg ended %v after the forced delete", time.Since(t0).Round(time.Millisecond))
	if got := events(secure.ParticipantId); !slices.Contains(got, "PUBLISH_STOPPED") || !slices.Contains(got, "LEFT") {
		t.Fatalf("events after the forced delete: %v", got)
	}
	// Its key publishes nowhere now.
	refused(harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPSURL(aws.ToString(secure.StreamKey)), Duration: 20 * time.Second}),
		"the key of a deleted configuration")

	t.Log("plain RTMP with an RTMPS configuration's key: refused, INVALID_PROTOCOL")
	secure = newConfig(&ivsrealtime.CreateIngestConfigurationInput{IngestProtocol: rttypes.IngestProtocolRtmps, UserId: aws.String("cam")})
	refused(harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(aws.ToString(secure.StreamKey)), Duration: 20 * time.Second}),
		"plain RTMP with an RTMPS configuration's key")
	harness.Eventually(t, 20*time.Second, hasEvent(secure.ParticipantId, "PUBLISH_ERROR:INVALID_PROTOCOL"))

	t.Log("B-frames: refused with B_FRAME_PRESENT before anyone sees them")
	p = harness.StartProcess(t, harness.RequireProgram(t, "ffmpeg"), "-hide_banner", "-loglevel", "warning", "-nostdin", "-re", "-f", "lavfi", "-i",
		"testsrc2=size=640x360:rate=30:duration=20", "-c:v", "libx264", "-profile:v", "main", "-preset", "veryfast", "-bf", "2",
		"-g", "30", "-pix_fmt", "yuv420p", "-f", "flv", s.RTMPSURL(aws.ToString(secure.StreamKey)))
	refused(p, "a stream with B-frames")
	harness.Eventually(t, 20*time.Second, hasEvent(secure.ParticipantId, "PUBLISH_ERROR:B_FRAME_PRESENT"))
	if got := events(secure.ParticipantId); slices.Contains(got, "PUBLISH_STARTED") {
		t.Fatalf("a stream with B-frames reached the stage: %v", got)
	}

	t.Log("plain RTMP with an insecureIngest configuration's key: published, protocol RTMP")
	p = harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(aws.ToString(insecure.StreamKey)), Audio: true})
	waitState(insecure.Arn, rttypes.IngestConfigurationStateActive)
	harness.Eventually(t, 20*time.Second, func() error {
		if got := participant(insecure.ParticipantId); got == nil || got.Protocol != rttypes.ParticipantProtocolRtmp || !got.Published ||
			aws.ToString(got.UserId) != "old-encoder" {
			return fmt.Errorf("participant %+v", got)
		}
		return nil
	})

	t.Log("DisconnectParticipant cuts the encoder off and lets go of the stage")
	if _, err := rt.DisconnectParticipant(ctx, &ivsrealtime.DisconnectParticipantInput{StageArn: st.Arn, ParticipantId: insecure.ParticipantId}); err != nil {
		t.Fatal(err)
	}
	refused(p, "an encoder after DisconnectParticipant")
	got, err := rt.GetIngestConfiguration(ctx, &ivsrealtime.GetIngestConfigurationInput{Arn: insecure.Arn})
	if err != nil || aws.ToString(got.IngestConfiguration.StageArn) != "" {
		t.Fatalf("after DisconnectParticipant: %+v %v", got, err)
	}
	waitState(insecure.Arn, rttypes.IngestConfigurationStateInactive)
	refused(harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(aws.ToString(insecure.StreamKey)), Duration: 20 * time.Second}),
		"the key of a configuration on no stage")

	t.Log("the aws CLI: redundant ingest, SRT with a configuration's key, the backup encoder, DeleteStage")
	cli := newCLI(t, s)
	var up struct{ IngestConfiguration ingestConfiguration }
	cli.realtime(&up, "update-ingest-configuration", "--arn", aws.ToString(insecure.Arn), "--stage-arn", aws.ToString(st.Arn), "--redundant-ingest")
	cred := up.IngestConfiguration.RedundantIngestCredentials
	if !up.IngestConfiguration.RedundantIngest || len(cred) != 1 || cred[0].ParticipantID == aws.ToString(insecure.ParticipantId) ||
		up.IngestConfiguration.StageArn != aws.ToString(st.Arn) {
		t.Fatalf("redundant ingest: %+v", up.IngestConfiguration)
	}
	// cliParticipant reads what the Go SDK v1.30.0 has no field for.
	cliParticipant := func(id string) (out struct {
		Participant struct {
			Protocol, IngestConfigurationArn string
			Published                        bool
		}
	}) {
		sid := sessionID()
		if sid == "" {
			return out
		}
		if b, err := cli.exec("ivs-realtime", "get-participant", "--stage-arn", aws.ToString(st.Arn), "--session-id", sid, "--participant-id", id); err == nil {
			_ = json.Unmarshal(b, &out)
		}
		return out
	}
	srt := harness.StartFFmpeg(t, harness.Publish{URL: s.SRTURL(aws.ToString(insecure.StreamKey), ""), Audio: true})
	backup := harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(cred[0].StreamKey)})
	harness.Eventually(t, 30*time.Second, func() error {
		main, b := cliParticipant(aws.ToString(insecure.ParticipantId)).Participant, cliParticipant(cred[0].ParticipantID).Participant
		if main.Protocol != "SRT" || !main.Published || main.IngestConfigurationArn != aws.ToString(insecure.Arn) ||
			b.Protocol != "RTMP" || !b.Published || b.IngestConfigurationArn != aws.ToString(insecure.Arn) {
			return fmt.Errorf("the SRT encoder %+v, the backup %+v", main, b)
		}
		return nil
	})
	cli.realtime(nil, "delete-stage", "--arn", aws.ToString(st.Arn))
	refused(srt, "the SRT encoder after DeleteStage")
	refused(backup, "the backup encoder after DeleteStage")
	var after struct{ IngestConfiguration ingestConfiguration }
	cli.realtime(&after, "get-ingest-configuration", "--arn", aws.ToString(insecure.Arn))
	if after.IngestConfiguration.StageArn != "" {
		t.Fatalf("after DeleteStage: %+v", after.IngestConfiguration)
	}
	waitState(insecure.Arn, rttypes.IngestConfigurationStateInactive)
	for _, c := range []*rttypes.IngestConfiguration{insecure, secure} {
		if _, err := rt.DeleteIngestConfiguration(ctx, &ivsrealtime.DeleteIngestConfigurationInput{Arn: c.Arn}); err != nil {
			t.Fatal(err)
		}
	}
	if left, err := rt.ListIngestConfigurations(ctx, &ivsrealtime.ListIngestConfigurationsInput{}); err != nil || len(left.IngestConfigurations) != 0 {
		t.Fatalf("left: %+v %v", left, err)
	}
	s.WaitGoroutines(t, baseline+5, 20*time.Second)

	t.Log("onair stops while an encoder publishes into a stage: the encoder is cut off, the participant leaves")
	st2, err := rt.CreateStage(ctx, &ivsrealtime.CreateStageInput{})
	if err != nil {
		t.Fatal(err)
	}
	st = st2.Stage
	last := newConfig(&ivsrealtime.CreateIngestConfigurationInput{IngestProtocol: rttypes.IngestProtocolRtmps})
	p = harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPSURL(aws.ToString(last.StreamKey)), Audio: true})
	waitState(last.Arn, rttypes.IngestConfigurationStateActive)
	harness.Eventually(t, 20*time.Second, func() error {
		if participant(last.ParticipantId) == nil {
			return errors.New("not joined")
		}
		return nil
	})
	s.Stop()
	if err := s.ExitErr(); err != nil {
		t.Fatalf("onair exited with %v", err)
	}
	refused(p, "an encoder of a stopping server")
	if !strings.Contains(s.Logs(), "stopped publishing into a stage") {
		t.Fatalf("the stage publishing did not end in the log:\n%s", s.Logs())
	}
}
