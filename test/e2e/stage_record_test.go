package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ivsrealtime"
	rttypes "github.com/aws/aws-sdk-go-v2/service/ivsrealtime/types"
	"github.com/coder/websocket"

	"github.com/onair-video/onair/test/e2e/harness"
)

type recordedParticipant struct {
	ParticipantID         string
	RecordingState        string
	RecordingS3BucketName string
	RecordingS3Prefix     string
}

// recordingOf is a participant's recording fields, through aws-sdk-go-v2's
// IVS Real-Time client.
func recordingOf(ctx context.Context, c *ivsrealtime.Client, stageARN, session, participantID string) (recordedParticipant, error) {
	out, err := c.GetParticipant(ctx, &ivsrealtime.GetParticipantInput{StageArn: &stageARN, SessionId: &session,
		ParticipantId: &participantID})
	if err != nil {
		return recordedParticipant{}, err
	}
	p := out.Participant
	return recordedParticipant{ParticipantID: aws.ToString(p.ParticipantId), RecordingState: string(p.RecordingState),
		RecordingS3BucketName: aws.ToString(p.RecordingS3BucketName), RecordingS3Prefix: aws.ToString(p.RecordingS3Prefix)}, nil
}

// activeSession is the stage's one session (there must be one).
func activeSession(ctx context.Context, c *ivsrealtime.Client, stageARN string) (string, error) {
	out, err := c.ListStageSessions(ctx, &ivsrealtime.ListStageSessionsInput{StageArn: &stageARN})
	if err != nil {
		return "", err
	}
	if len(out.StageSessions) != 1 {
		return "", fmt.Errorf("%d sessions", len(out.StageSessions))
	}
	return aws.ToString(out.StageSessions[0].SessionId), nil
}

// Two participants publish (pion, H.264 and Opus from ffmpeg-made clips)
// on a stage that records its participants to a real S3 server
// (versitygw), which is down for 10 s in the middle: each recording lands
// in S3 whole, in IVS's layout under <stage>/<session>/<participant>/<id>,
// plays in ffprobe for as long as it was published, with thumbnails; the
// participants' recording fields (aws-sdk-go-v2 and the aws CLI) and the
// IVS Participant Recording State Change events (webhook and SSE) say so.
func TestStageParticipantRecordingS3(t *testing.T) {
	t.Parallel()
	hookAddr := reservedAddr(t)
	const secret = "e2e-participant-recording-secret"
	rc := serveWebhook(t, hookAddr, secret)
	s3srv := harness.StartS3(t)
	s3srv.CreateBucket(t, "vod")
	opts := s3srv.OnairOptions()
	opts.Args = append(opts.Args, "--webhook-url", "http://"+hookAddr+"/hook")
	opts.Env = append(opts.Env, "ONAIR_WEBHOOK_SECRET="+secret)
	s := harness.Start(t, opts)
	c := s.RealTime() // one client: its connections are reused
	cli := newCLI(t, s)
	rt := cli.realtime
	ctx := harness.Context(t, 4*time.Minute)

	var sc struct{ StorageConfiguration struct{ Arn string } }
	rt(&sc, "create-storage-configuration", "--s3", "bucketName=vod")
	recCfg := fmt.Sprintf(`{"storageConfigurationArn": %q, "thumbnailConfiguration": {"recordingMode": "INTERVAL",
		"targetIntervalSeconds": 2, "storage": ["SEQUENTIAL", "LATEST"]}, "hlsConfiguration": {"targetSegmentDurationSeconds": 2}}`,
		sc.StorageConfiguration.Arn)
	var created struct {
		Stage struct {
			Arn                                   string
			Endpoints                             map[string]string
			AutoParticipantRecordingConfiguration struct {
				StorageConfigurationArn         string
				MediaTypes                      []string
				RecordingReconnectWindowSeconds int
				RecordParticipantReplicas       bool
			}
		}
	}
	rt(&created, "create-stage", "--name", "recorded", "--auto-participant-recording-configuration", recCfg)
	arn := created.Stage.Arn
	if c := created.Stage.AutoParticipantRecordingConfiguration; c.StorageConfigurationArn != sc.StorageConfiguration.Arn ||
		!slices.Equal(c.MediaTypes, []string{"AUDIO_VIDEO"}) || c.RecordingReconnectWindowSeconds != 0 || !c.RecordParticipantReplicas {
		t.Fatalf("autoParticipantRecordingConfiguration %+v", c)
	}
	cli.fail("ConflictException", "in use", "ivs-realtime", "delete-storage-configuration", "--arn", sc.StorageConfiguration.Arn)
	stageID := arn[strings.LastIndex(arn, "/")+1:]
	type token struct{ ParticipantID, Token string }
	newToken := func(user string) token {
		var pt struct{ ParticipantToken token }
		rt(&pt, "create-participant-token", "--stage-arn", arn, "--user-id", user)
		return pt.ParticipantToken
	}
	alice, bob := newToken("alice"), newToken("bob")
	who := map[string]string{alice.ParticipantID: "alice", bob.ParticipantID: "bob"}
	baseline := s.Goroutines(t)
	var socks []*stageClient
	for _, tok := range []token{alice, bob} {
		ws, err := dialStage(ctx, s.HTTPSClient(t), created.Stage.Endpoints["events"], stageID, tok.Token)
		if err != nil {
			t.Fatal(err)
		}
		ws.SetReadLimit(1 << 20)
		t.Cleanup(func() { _ = ws.CloseNow() })
		socks = append(socks, &stageClient{t: t, ws: ws})
	}
	socks[1].waitState(ctx, alice.ParticipantID, bob.ParticipantID)

	whip := s.Endpoint() + "/stage/whip"
	clip := harness.MakeClip(t, "320x240", 30, 2*time.Second)
	pubs := map[string]*harness.WHIPPublisher{}
	began := time.Now()
	for _, tok := range []token{alice, bob} {
		pub, err := harness.PublishWHIP(ctx, whip+"/publish/"+tok.ParticipantID, tok.Token, clip)
		if err != nil || pub.Status != http.StatusCreated {
			t.Fatalf("publish %s: %v %+v", who[tok.ParticipantID], err, pub)
		}
		t.Cleanup(pub.Close)
		pubs[tok.ParticipantID] = pub
	}

	// Both are recorded: ACTIVE, with their bucket and prefix.
	var session string
	harness.Eventually(t, 30*time.Second, func() error {
		var err error
		if session, err = activeSession(ctx, c, arn); err != nil {
			return err
		}
		for id := range who {
			p, err := recordingOf(ctx, c, arn, session, id)
			if err != nil {
				return err
			}
			if p.RecordingState != "ACTIVE" {
				return fmt.Errorf("%s: recordingState %q", who[id], p.RecordingState)
			}
		}
		return nil
	})
	active := time.Now()
	// Both have segments in S3; then S3 is down for 10 s and more, until
	// each recording has two segments made meanwhile in the spool.
	harness.Eventually(t, 30*time.Second, func() error {
		keys, err := s3srv.Keys(ctx, "vod", stageID+"/")
		if err != nil {
			return err
		}
		for id := range who {
			if !slices.ContainsFunc(keys, func(k string) bool { return strings.Contains(k, "/"+id+"/") && strings.HasSuffix(k, ".ts") }) {
				return fmt.Errorf("no segment of %s in S3 yet", who[id])
			}
		}
		return nil
	})
	s3srv.Stop()
	downAt := time.Now()
	harness.Eventually(t, 60*time.Second, func() error {
		held := map[string]int{}
		for _, k := range spooledSegments(t, s.DataDir) {
			held[strings.Split(k, "/")[2]]++
		}
		if held[alice.ParticipantID] < 2 || held[bob.ParticipantID] < 2 {
			return fmt.Errorf("segments waiting in the spool: %v", held)
		}
		if d := time.Since(downAt); d < 10*time.Second {
			return fmt.Errorf("S3 down for %v", d)
		}
		return nil
	})
	s3srv.Restart()
	t.Logf("S3 was down for %v", time.Since(downAt).Round(100*time.Millisecond))
	// A few seconds more after the outage, then both stop.
	harness.Eventually(t, 30*time.Second, func() error {
		if keys, _ := s3srv.Keys(ctx, "vod", stageID+"/"); len(keys) == 0 {
			return fmt.Errorf("nothing uploaded after the restart")
		}
		return nil
	})
	for _, p := range pubs {
		p.Close()
	}
	stopped := time.Now()
	for _, c := range socks {
		_ = c.ws.Close(websocket.StatusNormalClosure, "")
	}

	// Both recordings end (window 0) and are in S3 with every object.
	prefixes := map[string]string{}
	harness.Eventually(t, 60*time.Second, func() error {
		for id := range who {
			p, err := recordingOf(ctx, c, arn, session, id)
			if err != nil {
				return err
			}
			if p.RecordingState != "STOPPED" || p.RecordingS3BucketName != "vod" {
				return fmt.Errorf("%s: %+v", who[id], p)
			}
			prefixes[id] = p.RecordingS3Prefix
		}
		if left, _ := filepath.Glob(filepath.Join(s.DataDir, "spool", "*.json")); len(left) > 0 {
			return fmt.Errorf("%d objects still spooled", len(left))
		}
		return nil
	})
	for id, prefix := range prefixes {
		name := who[id]
		parts := strings.Split(prefix, "/")
		if len(parts) != 4 || parts[0] != stageID || parts[1] != session || parts[2] != id || len(parts[3]) != 10 {
			t.Fatalf("%s: prefix %q, want %s/%s/%s/<10 digits>", name, prefix, stageID, session, id)
		}
		dir := download(t, ctx, s3srv, "vod", prefix+"/")
		var ended struct {
			StageARN      string `json:"stage_arn"`
			ParticipantID string `json:"participant_id"`
			Status        string `json:"recording_status"`
			Media         struct {
				HLS struct {
					DurationMs int64 `json:"duration_ms"`
					Playlist   string
					Renditions []struct{ Path string }
				}
			}
		}
		raw, _ := os.ReadFile(filepath.Join(dir, "events", "recording-ended.json"))
		if err := json.Unmarshal(raw, &ended); err != nil || ended.StageARN != arn || ended.ParticipantID != id ||
			ended.Status != "RECORDING_ENDED" || ended.Media.HLS.Playlist != "multivariant.m3u8" ||
			len(ended.Media.HLS.Renditions) != 1 || ended.Media.HLS.Renditions[0].Path != "high" {
			t.Fatalf("%s recording-ended.json: %v\n%s", name, err, raw)
		}
		if _, err := os.Stat(filepath.Join(dir, "events", "recording-started.json")); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		pl, _ := os.ReadFile(filepath.Join(dir, "media", "hls", "high", "playlist.m3u8"))
		if strings.Contains(string(pl), "#EXT-X-DISCONTINUITY") || !strings.HasSuffix(string(pl), "#EXT-X-ENDLIST\n") {
			t.Errorf("%s playlist:\n%s", name, pl)
		}
		// Every second published since the recording was ACTIVE is there,
		// across the outage (and no more than since the publish began).
		d := probeDuration(t, filepath.Join(dir, "media", "hls", "multivariant.m3u8"))
		lo, hi := stopped.Sub(active).Seconds()-1, stopped.Sub(began).Seconds()+1
		if d < lo || d > hi || float64(ended.Media.HLS.DurationMs)/1000 < lo {
			t.Errorf("%s: plays %.2f s (duration_ms %d), published %.1f to %.1f s", name, d, ended.Media.HLS.DurationMs, lo+1, hi-1)
		}
		t.Logf("%s: %.2f s recorded, %.1f s published after ACTIVE", name, d, lo+1)
		thumbs, _ := filepath.Glob(filepath.Join(dir, "media", "thumbnails", "high", "thumb*.jpg"))
		if want := int(lo / 2); len(thumbs) < want {
			t.Errorf("%s: %d thumbnails, want %d (every 2 s)", name, len(thumbs), want)
		}
		for _, th := range append(thumbs[:min(1, len(thumbs))], filepath.Join(dir, "media", "latest_thumbnail", "high", "thumb.jpg")) {
			f, err := os.Open(th)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			cfg, err := jpeg.DecodeConfig(f)
			f.Close()
			if err != nil || cfg.Width != 320 || cfg.Height != 240 {
				t.Errorf("%s thumbnail %dx%d %v", name, cfg.Width, cfg.Height, err)
			}
		}
	}
	if !strings.Contains(s.Logs(), "upload failed, retrying") {
		t.Errorf("the outage did not show: no upload retried")
	}

	// The aws CLI shows the same, and filters by recording state.
	var got struct{ Participant recordedParticipant }
	rt(&got, "get-participant", "--stage-arn", arn, "--session-id", session, "--participant-id", alice.ParticipantID)
	if p := got.Participant; p.RecordingState != "STOPPED" || p.RecordingS3BucketName != "vod" || p.RecordingS3Prefix != prefixes[alice.ParticipantID] {
		t.Errorf("get-participant: %+v", p)
	}
	var list struct{ Participants []recordedParticipant }
	rt(&list, "list-participants", "--stage-arn", arn, "--session-id", session, "--filter-by-recording-state", "STOPPED")
	if len(list.Participants) != 2 {
		t.Errorf("list-participants --filter-by-recording-state STOPPED: %+v", list.Participants)
	}
	rt(&list, "list-participants", "--stage-arn", arn, "--session-id", session, "--filter-by-recording-state", "ACTIVE")
	if len(list.Participants) != 0 {
		t.Errorf("list-participants --filter-by-recording-state ACTIVE: %+v", list.Participants)
	}
	lp, err := c.ListParticipants(ctx, &ivsrealtime.ListParticipantsInput{StageArn: &arn, SessionId: &session,
		FilterByRecordingState: rttypes.ParticipantRecordingFilterByRecordingStateStopped})
	if err != nil || len(lp.Participants) != 2 || lp.Participants[0].RecordingState != rttypes.ParticipantRecordingStateStopped {
		t.Errorf("ListParticipants(STOPPED): %+v %v", lp, err)
	}

	// The webhook got Recording Start and Recording End of each, about
	// the stage, with the bucket and prefix.
	harness.Eventually(t, 30*time.Second, func() error {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		var got []string
		for _, e := range rc.events {
			if e.DetailType != "IVS Participant Recording State Change" {
				continue
			}
			d := e.Detail
			if e.Resources[0] != arn || d.SessionID != session || d.RecordingS3BucketName != "vod" || d.RecordingS3KeyPrefix != prefixes[d.ParticipantID] ||
				d.UserID != who[d.ParticipantID] {
				return fmt.Errorf("event %+v", e)
			}
			got = append(got, d.EventName+" "+who[d.ParticipantID])
		}
		if want := []string{"Recording End alice", "Recording End bob", "Recording Start alice", "Recording Start bob"}; !slices.Equal(sorted(got), want) {
			return fmt.Errorf("webhook got %q", got)
		}
		return nil
	})
	// Nothing of the recordings is left running (the stage's watch stays,
	// for its next session).
	s.WaitGoroutines(t, baseline+4, 30*time.Second)

	// The stage's SSE replay has them too.
	sse := stageEventsReplay(ctx, t, s, arn)
	seen := 0
	buf := make([]byte, 64<<10)
	var all []byte
	for seen < 4 {
		n, err := sse.Read(buf)
		all = append(all, buf[:n]...)
		seen = strings.Count(string(all), `"detail-type":"IVS Participant Recording State Change"`)
		if err != nil {
			t.Fatalf("SSE: %d recording events before %v", seen, err)
		}
	}
}

// onair killed in the middle of a participant's recording finishes it at
// the next start, from its journal: the playlist closed with the segments
// it had, recording-ended.json RECORDING_ENDED_WITH_FAILURE, the
// participant FAILED. (Local storage: DATA_DIR/recordings/{bucket}.)
func TestKillWhileRecordingParticipant(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	rt := newCLI(t, s).realtime
	ctx := harness.Context(t, 2*time.Minute)
	// Made with aws-sdk-go-v2 here (the other test uses the aws CLI).
	c := s.RealTime()
	sc, err := c.CreateStorageConfiguration(ctx, &ivsrealtime.CreateStorageConfigurationInput{
		S3: &rttypes.S3StorageConfiguration{BucketName: aws.String("kept")}})
	if err != nil {
		t.Fatal(err)
	}
	created, err := c.CreateStage(ctx, &ivsrealtime.CreateStageInput{AutoParticipantRecordingConfiguration: &rttypes.AutoParticipantRecordingConfiguration{
		StorageConfigurationArn: sc.StorageConfiguration.Arn,
		HlsConfiguration:        &rttypes.ParticipantRecordingHlsConfiguration{TargetSegmentDurationSeconds: aws.Int32(2)}}})
	if err != nil {
		t.Fatal(err)
	}
	if r := created.Stage.AutoParticipantRecordingConfiguration; aws.ToString(r.StorageConfigurationArn) != aws.ToString(sc.StorageConfiguration.Arn) ||
		aws.ToInt32(r.HlsConfiguration.TargetSegmentDurationSeconds) != 2 || r.ThumbnailConfiguration.RecordingMode != rttypes.ThumbnailRecordingModeDisabled {
		t.Fatalf("autoParticipantRecordingConfiguration %+v", r)
	}
	arn := aws.ToString(created.Stage.Arn)
	stageID := arn[strings.LastIndex(arn, "/")+1:]
	var pt struct {
		ParticipantToken struct{ ParticipantID, Token string }
	}
	rt(&pt, "create-participant-token", "--stage-arn", arn, "--user-id", "ivan")
	tok := pt.ParticipantToken
	ws, err := dialStage(ctx, s.HTTPSClient(t), aws.ToString(created.Stage.Endpoints.Events), stageID, tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	pub, err := harness.PublishWHIP(ctx, s.Endpoint()+"/stage/whip/publish/"+tok.ParticipantID, tok.Token,
		harness.MakeClip(t, "320x240", 30, 2*time.Second))
	if err != nil || pub.Status != http.StatusCreated {
		t.Fatalf("publish: %v %+v", err, pub)
	}
	t.Cleanup(pub.Close)
	var session, prefix string
	harness.Eventually(t, 30*time.Second, func() error {
		var err error
		if session, err = activeSession(ctx, c, arn); err != nil {
			return err
		}
		p, err := recordingOf(ctx, c, arn, session, tok.ParticipantID)
		if err != nil {
			return err
		}
		prefix = p.RecordingS3Prefix
		segs, _ := filepath.Glob(filepath.Join(s.DataDir, "recordings", "kept", prefix, "media", "hls", "high", "*.ts"))
		if p.RecordingState != "ACTIVE" || len(segs) < 2 {
			return fmt.Errorf("%+v, %d segments stored", p, len(segs))
		}
		return nil
	})
	if j, _ := filepath.Glob(filepath.Join(s.DataDir, "participant-recordings-open", "*.jsonl")); len(j) != 1 {
		t.Fatalf("open participant recording journals: %v", j)
	}
	s.Kill()
	pub.Close()

	s2 := harness.Start(t, harness.Options{DataDir: s.DataDir})
	harness.Eventually(t, 15*time.Second, func() error {
		if !strings.Contains(s2.Logs(), "finished participant recordings interrupted by a stop") {
			return fmt.Errorf("the restart did not finish the recording")
		}
		return nil
	})
	if p, err := recordingOf(ctx, s2.RealTime(), arn, session, tok.ParticipantID); err != nil || p.RecordingState != "FAILED" || p.RecordingS3Prefix != prefix {
		t.Fatalf("after the restart: %+v %v", p, err)
	}
	dir := filepath.Join(s.DataDir, "recordings", "kept", prefix)
	harness.Eventually(t, 30*time.Second, func() error {
		ended, err := os.ReadFile(filepath.Join(dir, "events", "recording-ended.json"))
		if err != nil || !strings.Contains(string(ended), "RECORDING_ENDED_WITH_FAILURE") {
			return fmt.Errorf("recording-ended.json %s: %w", ended, err)
		}
		return nil
	})
	pl, _ := os.ReadFile(filepath.Join(dir, "media", "hls", "high", "playlist.m3u8"))
	if !strings.HasSuffix(string(pl), "#EXT-X-ENDLIST\n") {
		t.Fatalf("playlist:\n%s", pl)
	}
	if d := probeDuration(t, filepath.Join(dir, "media", "hls", "multivariant.m3u8")); d < 3 {
		t.Errorf("the recovered recording plays %.2f s", d)
	}
}
