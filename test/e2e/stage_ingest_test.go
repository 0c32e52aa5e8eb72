package e2e

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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

// ingestConfiguration is what `aws ivs-realtime` prints of one.
type ingestConfiguration struct {
	Arn, StreamKey, StageArn, ParticipantID, State, IngestProtocol, UserID string
	RedundantIngest                                                        bool
	RedundantIngestCredentials                                             []struct{ ParticipantID, StreamKey string }
}

// The aws CLI drives ingest configurations against encoders: plain RTMP is
// refused on an RTMPS configuration (INVALID_PROTOCOL) and taken on one
// with insecureIngest (protocol RTMP); a stream with B-frames is cut off
// with B_FRAME_PRESENT; a configuration's key publishes over SRT too; a
// redundant credential is its own participant; DisconnectParticipant cuts
// the encoder off and lets go of the stage; DeleteStage does too; the
// read, list and update operations and their refusals.
func TestStageIngestWithAWSCLI(t *testing.T) {
	t.Parallel()
	harness.RequireProgram(t, "ffmpeg")
	harness.Heavy(t)
	s := harness.Start(t)
	cli := newCLI(t, s)
	fail := func(code, msg string, args ...string) {
		t.Helper()
		cli.fail(code, msg, append([]string{"ivs-realtime"}, args...)...)
	}
	var created struct {
		Stage struct {
			Arn       string
			Endpoints map[string]string
		}
	}
	cli.realtime(&created, "create-stage", "--name", "ingest")
	st := created.Stage
	if st.Endpoints["rtmps"] != "rtmps://"+s.Addrs["rtmps"]+"/app/" || st.Endpoints["rtmp"] != "rtmp://"+s.Addrs["rtmp"]+"/app/" {
		t.Fatalf("endpoints %v", st.Endpoints)
	}
	create := func(args ...string) ingestConfiguration {
		t.Helper()
		var out struct{ IngestConfiguration ingestConfiguration }
		cli.realtime(&out, append([]string{"create-ingest-configuration", "--stage-arn", st.Arn}, args...)...)
		return out.IngestConfiguration
	}
	secure := create("--ingest-protocol", "RTMPS", "--user-id", "cam", "--name", "secure")
	insecure := create("--ingest-protocol", "RTMP", "--insecure-ingest", "--user-id", "old-encoder")
	fail("ValidationException", "insecureIngest", "create-ingest-configuration", "--ingest-protocol", "RTMP")
	fail("ValidationException", "ingestProtocol", "create-ingest-configuration", "--ingest-protocol", "SRT")
	fail("ResourceNotFoundException", "", "get-ingest-configuration", "--arn", strings.Replace(secure.Arn, secure.Arn[len(secure.Arn)-12:], "abcdABCDefgh", 1))
	fail("ValidationException", "one of", "list-ingest-configurations", "--filter-by-stage-arn", st.Arn, "--filter-by-state", "ACTIVE")

	sessionID := func() string {
		var g struct {
			Stage struct{ ActiveSessionID string }
		}
		cli.realtime(&g, "get-stage", "--arn", st.Arn)
		return g.Stage.ActiveSessionID
	}
	// events lists a participant's events, name:code, over every session.
	events := func(participantID string) []string {
		var ss struct{ StageSessions []struct{ SessionID string } }
		cli.realtime(&ss, "list-stage-sessions", "--stage-arn", st.Arn)
		var out []string
		for _, sess := range slices.Backward(ss.StageSessions) {
			var evs struct {
				Events []struct{ Name, ErrorCode string }
			}
			cli.realtime(&evs, "list-participant-events", "--stage-arn", st.Arn, "--session-id", sess.SessionID, "--participant-id", participantID)
			for _, e := range evs.Events {
				out = append(out, strings.TrimSuffix(e.Name+":"+e.ErrorCode, ":"))
			}
		}
		return out
	}
	hasEvent := func(participantID, ev string) func() error {
		return func() error {
			if got := events(participantID); !slices.Contains(got, ev) {
				return errors.New("events " + strings.Join(got, " "))
			}
			return nil
		}
	}
	// participant reads a participant of the active session (zero while
	// there is none, or it has not joined yet).
	type part struct {
		Protocol, State, IngestConfigurationArn, UserID string
		Published                                       bool
	}
	participant := func(id string) part {
		var out struct{ Participant part }
		sid := sessionID()
		if sid == "" {
			return part{}
		}
		b, err := cli.exec("ivs-realtime", "get-participant", "--stage-arn", st.Arn, "--session-id", sid, "--participant-id", id)
		if err != nil {
			return part{}
		}
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("get-participant: %v\n%s", err, b)
		}
		return out.Participant
	}
	state := func(arn string) string {
		var out struct{ IngestConfiguration ingestConfiguration }
		cli.realtime(&out, "get-ingest-configuration", "--arn", arn)
		return out.IngestConfiguration.State
	}
	waitState := func(arn, want string) {
		t.Helper()
		harness.Eventually(t, 30*time.Second, func() error {
			if got := state(arn); got != want {
				return errors.New(arn + " is " + got)
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

	t.Log("plain RTMP with an RTMPS configuration's key: refused, INVALID_PROTOCOL")
	p := harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(secure.StreamKey), Duration: 20 * time.Second})
	refused(p, "plain RTMP with an RTMPS configuration's key")
	harness.Eventually(t, 20*time.Second, hasEvent(secure.ParticipantID, "PUBLISH_ERROR:INVALID_PROTOCOL"))

	t.Log("plain RTMP with an insecureIngest configuration's key: published, protocol RTMP")
	p = harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(insecure.StreamKey), Audio: true})
	waitState(insecure.Arn, "ACTIVE")
	harness.Eventually(t, 20*time.Second, func() error {
		if got := participant(insecure.ParticipantID); got.Protocol != "RTMP" || !got.Published || got.IngestConfigurationArn != insecure.Arn || got.UserID != "old-encoder" {
			return errors.New("participant " + got.Protocol + " " + got.State)
		}
		return nil
	})
	var list struct{ IngestConfigurations []ingestConfiguration }
	cli.realtime(&list, "list-ingest-configurations", "--filter-by-state", "ACTIVE")
	if len(list.IngestConfigurations) != 1 || list.IngestConfigurations[0].Arn != insecure.Arn || list.IngestConfigurations[0].StreamKey != "" {
		t.Fatalf("ACTIVE ones: %+v", list)
	}
	fail("ConflictException", "in use", "update-ingest-configuration", "--arn", insecure.Arn, "--stage-arn", "")

	t.Log("DisconnectParticipant cuts the encoder off and lets go of the stage")
	cli.realtime(nil, "disconnect-participant", "--stage-arn", st.Arn, "--participant-id", insecure.ParticipantID)
	refused(p, "an encoder after DisconnectParticipant")
	var got struct{ IngestConfiguration ingestConfiguration }
	cli.realtime(&got, "get-ingest-configuration", "--arn", insecure.Arn)
	if got.IngestConfiguration.StageArn != "" {
		t.Fatalf("after DisconnectParticipant: %+v", got.IngestConfiguration)
	}
	waitState(insecure.Arn, "INACTIVE")
	// Its key publishes nowhere now.
	p = harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(insecure.StreamKey), Duration: 20 * time.Second})
	refused(p, "the key of a configuration on no stage")

	t.Log("B-frames: cut off with B_FRAME_PRESENT")
	bin := harness.RequireProgram(t, "ffmpeg")
	p = harness.StartProcess(t, bin, "-hide_banner", "-loglevel", "warning", "-nostdin", "-re", "-f", "lavfi", "-i",
		"testsrc2=size=640x360:rate=30:duration=20", "-c:v", "libx264", "-profile:v", "main", "-preset", "veryfast", "-bf", "2",
		"-g", "30", "-pix_fmt", "yuv420p", "-f", "flv", s.RTMPSURL(secure.StreamKey))
	refused(p, "a stream with B-frames")
	harness.Eventually(t, 20*time.Second, hasEvent(secure.ParticipantID, "PUBLISH_ERROR:B_FRAME_PRESENT"))
	if strings.Contains(strings.Join(events(secure.ParticipantID), " "), "PUBLISH_STARTED") {
		t.Fatalf("a stream with B-frames reached the stage: %v", events(secure.ParticipantID))
	}

	t.Log("SRT with a configuration's key (unencrypted: insecureIngest)")
	cli.realtime(nil, "update-ingest-configuration", "--arn", insecure.Arn, "--stage-arn", st.Arn, "--redundant-ingest")
	cli.realtime(&got, "get-ingest-configuration", "--arn", insecure.Arn)
	cred := got.IngestConfiguration.RedundantIngestCredentials
	if !got.IngestConfiguration.RedundantIngest || len(cred) != 1 || cred[0].ParticipantID == insecure.ParticipantID {
		t.Fatalf("redundant ingest: %+v", got.IngestConfiguration)
	}
	p = harness.StartFFmpeg(t, harness.Publish{URL: s.SRTURL(insecure.StreamKey, ""), Audio: true})
	waitState(insecure.Arn, "ACTIVE")
	harness.Eventually(t, 20*time.Second, func() error {
		if got := participant(insecure.ParticipantID); got.Protocol != "SRT" || !got.Published {
			return errors.New("participant " + got.Protocol)
		}
		return nil
	})

	t.Log("the redundant credential is a participant of its own, beside the first")
	backup := harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(cred[0].StreamKey)})
	harness.Eventually(t, 20*time.Second, func() error {
		if got := participant(cred[0].ParticipantID); got.Protocol != "RTMP" || !got.Published || got.IngestConfigurationArn != insecure.Arn {
			return errors.New("backup " + got.Protocol)
		}
		return nil
	})

	t.Log("DeleteStage cuts both off and lets go of the stage")
	cli.realtime(nil, "delete-stage", "--arn", st.Arn)
	refused(p, "the SRT encoder after DeleteStage")
	refused(backup, "the backup encoder after DeleteStage")
	cli.realtime(&got, "get-ingest-configuration", "--arn", insecure.Arn)
	if got.IngestConfiguration.StageArn != "" {
		t.Fatalf("after DeleteStage: %+v", got.IngestConfiguration)
	}
	waitState(insecure.Arn, "INACTIVE")
	cli.realtime(nil, "delete-ingest-configuration", "--arn", insecure.Arn)
	cli.realtime(nil, "delete-ingest-configuration", "--arn", secure.Arn)
	cli.realtime(&list, "list-ingest-configurations")
	if len(list.IngestConfigurations) != 0 {
		t.Fatalf("left: %+v", list)
	}
}
