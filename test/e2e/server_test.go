package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ivs"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"
	"github.com/pion/webrtc/v4"

	"github.com/onair-video/onair/test/e2e/harness"
)

// The data dir holds what design.md §3 promises, with secrets private.
func TestFirstStartFiles(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	for _, name := range []string{"http", "rtmp", "rtmps"} {
		if !strings.HasPrefix(s.Addrs[name], "127.0.0.1:") {
			t.Errorf("listeners.json %s = %q", name, s.Addrs[name])
		}
	}
	for file, mode := range map[string]os.FileMode{"credentials": 0o600, "tls.key": 0o600} {
		fi, err := os.Stat(filepath.Join(s.DataDir, file))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s mode %v, want %v", file, fi.Mode().Perm(), mode)
		}
	}
	if !strings.HasPrefix(s.AccessKeyID, "AKIA") || len(s.SecretAccessKey) != 40 {
		t.Errorf("admin key pair %q / %d chars", s.AccessKeyID, len(s.SecretAccessKey))
	}
	// The banner goes to a pipe here, not a terminal: no secret in it.
	if strings.Contains(s.Logs(), s.SecretAccessKey) {
		t.Errorf("the secret access key appears in the output")
	}
	if _, err := s.Metric("go_goroutines"); err != nil {
		t.Errorf("/metrics: %v", err)
	}
}

// The aws CLI with the credentials file and profile of design.md §3.
func TestAWSCLIWithCredentialsFile(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	cli := newCLI(t, s)
	run, fail := cli.run, cli.fail
	var created struct {
		Channel   map[string]any `json:"channel"`
		StreamKey map[string]any `json:"streamKey"`
	}
	out := run("ivs", "create-channel", "--name", "demo", "--type", "BASIC", "--latency-mode", "LOW")
	if err := json.Unmarshal(out, &created); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	ch := created.Channel
	for _, field := range []string{"arn", "name", "latencyMode", "type", "recordingConfigurationArn", "ingestEndpoint",
		"playbackUrl", "authorized", "tags", "insecureIngest", "preset", "srt", "playbackRestrictionPolicyArn",
		"multitrackInputConfiguration", "containerFormat"} {
		if _, ok := ch[field]; !ok {
			t.Errorf("channel lacks %q: %s", field, out)
		}
	}
	if ch["type"] != "BASIC" || ch["latencyMode"] != "LOW" || ch["name"] != "demo" {
		t.Errorf("channel = %v", ch)
	}
	if want := "127.0.0.1:" + strings.Split(s.Addrs["rtmps"], ":")[1]; ch["ingestEndpoint"] != want {
		t.Errorf("ingestEndpoint = %v, want %s", ch["ingestEndpoint"], want)
	}
	if pu, _ := ch["playbackUrl"].(string); !strings.HasPrefix(pu, s.Endpoint()+"/api/video/v1/us-east-1.") || !strings.HasSuffix(pu, ".m3u8") {
		t.Errorf("playbackUrl = %v", ch["playbackUrl"])
	}
	if v, _ := created.StreamKey["value"].(string); !strings.HasPrefix(v, "sk_us-east-1_") || len(v) != len("sk_us-east-1_")+12+1+31 {
		t.Errorf("stream key value %q", v)
	}
	arn := ch["arn"].(string)
	out = run("ivs", "list-channels")
	if !strings.Contains(string(out), arn) {
		t.Errorf("list-channels lacks %s:\n%s", arn, out)
	}
	fail("ChannelNotBroadcasting", "not broadcasting", "ivs", "get-stream", "--channel-arn", arn)
	fail("ValidationException", "latencyMode", "ivs", "create-channel", "--latency-mode", "FAST")

	// Tags travel in the path, percent-encoded ARN and all.
	run("ivs", "tag-resource", "--resource-arn", arn, "--tags", `{"team":"video","cost center":"42"}`)
	run("ivs", "untag-resource", "--resource-arn", arn, "--tag-keys", "team")
	out = run("ivs", "list-tags-for-resource", "--resource-arn", arn)
	if !strings.Contains(string(out), `"cost center": "42"`) || strings.Contains(string(out), "team") {
		t.Errorf("tags after tag and untag:\n%s", out)
	}

	// A recording configuration: CREATING, then ACTIVE once its bucket (a
	// directory under the data dir until S3 is configured) can be written;
	// it cannot go while a channel uses it.
	var rc struct {
		RecordingConfiguration map[string]any `json:"recordingConfiguration"`
	}
	out = run("ivs", "create-recording-configuration", "--name", "rec",
		"--destination-configuration", "s3={bucketName=my-recordings}", "--recording-reconnect-window-seconds", "30")
	if err := json.Unmarshal(out, &rc); err != nil || rc.RecordingConfiguration["state"] != "CREATING" {
		t.Fatalf("create-recording-configuration: %v\n%s", err, out)
	}
	rcARN := rc.RecordingConfiguration["arn"].(string)
	harness.Eventually(t, 15*time.Second, func() error {
		out, err := cli.exec("ivs", "get-recording-configuration", "--arn", rcARN)
		if err != nil {
			return fmt.Errorf("get-recording-configuration: %w %s", err, out)
		}
		if !strings.Contains(string(out), `"state": "ACTIVE"`) {
			return fmt.Errorf("not ACTIVE: %s", out)
		}
		return nil
	})
	if fi, err := os.Stat(filepath.Join(s.DataDir, "recordings", "my-recordings")); err != nil || !fi.IsDir() {
		t.Errorf("bucket directory: %v", err)
	}
	run("ivs", "update-channel", "--arn", arn, "--recording-configuration-arn", rcARN)
	fail("ConflictException", "used by channel", "ivs", "delete-recording-configuration", "--arn", rcARN)
	fail("ValidationException", "bucketName", "ivs", "create-recording-configuration",
		"--destination-configuration", "s3={bucketName=Bad_Bucket}")

	run("ivs", "delete-channel", "--arn", arn)
	fail("ResourceNotFoundException", arn, "ivs", "get-channel", "--arn", arn)
	run("ivs", "delete-recording-configuration", "--arn", rcARN)
	if out := run("ivs", "list-recording-configurations"); strings.Contains(string(out), rcARN) {
		t.Errorf("deleted configuration still listed:\n%s", out)
	}
}

// SIGKILL loses no channel or key, and a stream that was live is ended
// cleanly at the next start.
func TestKillAndRestart(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	c := s.IVS()
	ch, key := createChannel(t, c, "survivor", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	pub := harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(aws.ToString(key.Value))})
	waitLive(t, c, aws.ToString(ch.Arn))
	// A few seconds of metrics.
	var seen int
	harness.Eventually(t, 20*time.Second, func() error {
		var m sessionMetrics
		if err := s.GetJSON(harness.Context(t, 5*time.Second), "/v1/channels/"+idOf(ch)+"/sessions/latest/metrics", &m); err != nil {
			return err
		}
		if seen = len(m.Points); seen < 3 {
			return fmt.Errorf("%d points so far, want 3", seen)
		}
		return nil
	})
	killedAt := time.Now()

	s.Kill()
	pub.Kill()
	s2 := harness.Start(t, harness.Options{DataDir: s.DataDir})
	c2 := s2.IVS()
	ctx := harness.Context(t, 10*time.Second)
	got, err := c2.GetChannel(ctx, &ivs.GetChannelInput{Arn: ch.Arn})
	if err != nil || aws.ToString(got.Channel.Name) != "survivor" {
		t.Fatalf("GetChannel after restart: %+v, %v", got, err)
	}
	k, err := c2.GetStreamKey(ctx, &ivs.GetStreamKeyInput{Arn: key.Arn})
	if err != nil || aws.ToString(k.StreamKey.Value) != aws.ToString(key.Value) {
		t.Fatalf("GetStreamKey after restart: %v", err)
	}
	_, err = c2.GetStream(ctx, &ivs.GetStreamInput{ChannelArn: ch.Arn})
	var cnb *types.ChannelNotBroadcasting
	if !errors.As(err, &cnb) {
		t.Fatalf("GetStream after restart: %v, want ChannelNotBroadcasting", err)
	}
	s2.WaitLog(t, "ended stream sessions interrupted by a stop", 10*time.Second)
	// The session ended, so the channel is not live and can be changed.
	if _, err := c2.UpdateChannel(ctx, &ivs.UpdateChannelInput{Arn: ch.Arn, Name: aws.String("renamed")}); err != nil {
		t.Fatalf("UpdateChannel after restart: %v", err)
	}
	// The same key publishes again after the restart.
	harness.StartFFmpeg(t, harness.Publish{URL: s2.RTMPURL(aws.ToString(key.Value))})
	live := waitLive(t, c2, aws.ToString(ch.Arn))

	// Both sessions are kept: the interrupted one ended, the new one live.
	list, err := c2.ListStreamSessions(ctx, &ivs.ListStreamSessionsInput{ChannelArn: ch.Arn})
	if err != nil || len(list.StreamSessions) != 2 {
		t.Fatalf("ListStreamSessions: %+v, %v", list, err)
	}
	cur, old := list.StreamSessions[0], list.StreamSessions[1]
	if aws.ToString(cur.StreamId) != aws.ToString(live.StreamId) || cur.EndTime != nil || old.EndTime == nil {
		t.Fatalf("sessions after restart: %+v / %+v", cur, old)
	}
	ended, err := c2.GetStreamSession(ctx, &ivs.GetStreamSessionInput{ChannelArn: ch.Arn, StreamId: old.StreamId})
	if err != nil || aws.ToString(ended.StreamSession.Channel.Name) != "survivor" {
		t.Fatalf("GetStreamSession of the interrupted session: %+v, %v", ended, err)
	}
	var names []string
	for _, e := range ended.StreamSession.TruncatedEvents {
		names = append(names, aws.ToString(e.Name))
	}
	if want := []string{"Session Ended", "Stream End", "Stream Failure", "Stream Start", "Session Created"}; !slices.Equal(names, want) {
		t.Errorf("events of the interrupted session %q, want %q", names, want)
	}
	// Points are stored every second: the kill lost the newest at most.
	// The session ended at the end of its last stored second, not at the
	// restart.
	var m sessionMetrics
	if err := s2.GetJSON(ctx, "/v1/channels/"+idOf(ch)+"/sessions/"+aws.ToString(old.StreamId)+"/metrics", &m); err != nil || len(m.Points) < seen-1 {
		t.Fatalf("metrics of the interrupted session: %d points (%d seen before the kill), %v", len(m.Points), seen, err)
	}
	last := m.Points[len(m.Points)-1]
	if end := *ended.StreamSession.EndTime; !end.Equal(last.Time.Add(time.Duration(last.Span)*time.Second)) || end.After(killedAt.Add(time.Second)) {
		t.Errorf("interrupted session ended at %s, killed at %s; its last point %+v", end, killedAt, last)
	}
	if !old.HasErrorEvent || cur.HasErrorEvent {
		t.Errorf("hasErrorEvent: interrupted %v, live %v", old.HasErrorEvent, cur.HasErrorEvent)
	}
}

// SIGTERM stops the server in order: RTMP, SRT and WHIP publishers are cut
// off, their sessions end, the recording is finished (closed playlist,
// recording-ended.json), the store is consistent, and it exits 0; the
// next start finds nothing to clean up.
func TestGracefulStop(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	c := s.IVS()
	ctx := harness.Context(t, 90*time.Second)
	rc := createRecording(t, c, recordTo("graceful"))
	out, err := c.CreateChannel(ctx, &ivs.CreateChannelInput{Name: aws.String("graceful"), Type: types.ChannelTypeBasicChannelType,
		LatencyMode: types.ChannelLatencyModeNormalLatency, RecordingConfigurationArn: rc.Arn, InsecureIngest: true})
	if err != nil {
		t.Fatal(err)
	}
	rtmpPub := harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(aws.ToString(out.StreamKey.Value)), Size: "320x240"})
	srtCh, srtKey := createChannel(t, c, "graceful-srt", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	srtPub := harness.StartFFmpeg(t, harness.Publish{URL: s.SRTURL(aws.ToString(srtKey.Value), ""), Size: "320x240"})
	whipCh, whipKey := createChannel(t, c, "graceful-whip", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	whipPub, err := harness.PublishWHIP(ctx, s.Endpoint()+"/whip", aws.ToString(whipKey.Value), harness.MakeClip(t, "320x240", 30, 4*time.Second))
	if err != nil || whipPub.Status != http.StatusCreated {
		t.Fatalf("WHIP: %+v %v", whipPub, err)
	}
	defer whipPub.Close()
	var ids []*string
	for _, arn := range []*string{out.Channel.Arn, srtCh.Arn, whipCh.Arn} {
		ids = append(ids, waitLive(t, c, aws.ToString(arn)).StreamId)
	}
	// A recorded segment or more.
	harness.Eventually(t, 30*time.Second, func() error {
		for _, dir := range recordingDirs(t, filepath.Join(s.DataDir, "recordings", "graceful")) {
			if segs, _ := filepath.Glob(filepath.Join(dir, "media", "hls", "*", "*.ts")); len(segs) > 0 {
				return nil
			}
		}
		return fmt.Errorf("no recorded segment yet")
	})

	s.Stop()
	if err := s.ExitErr(); err != nil {
		t.Errorf("onair exited with %v after SIGTERM", err)
	}
	if err := rtmpPub.Wait(10 * time.Second); err == nil {
		t.Errorf("ffmpeg (RTMP) exited cleanly; want its connection cut")
	}
	// ffmpeg's SRT output notices a closed peer at its idle timeout.
	if err := srtPub.Wait(15 * time.Second); err != nil && strings.Contains(err.Error(), "still running") {
		t.Errorf("ffmpeg (SRT) still running 15 s after the server stopped")
	}
	harness.Eventually(t, 15*time.Second, func() error {
		if st := whipPub.PC.ConnectionState(); st != webrtc.PeerConnectionStateClosed && st != webrtc.PeerConnectionStateFailed &&
			st != webrtc.PeerConnectionStateDisconnected {
			return fmt.Errorf("WHIP publisher %s", st)
		}
		return nil
	})
	if n := strings.Count(s.Logs(), "stream ended"); n != 3 {
		t.Errorf("%d streams ended, want 3", n)
	}
	integrityCheck(t, s.DataDir)
	dirs := recordingDirs(t, filepath.Join(s.DataDir, "recordings", "graceful"))
	if len(dirs) != 1 {
		t.Fatalf("recordings %v", dirs)
	}
	ended, err := os.ReadFile(filepath.Join(dirs[0], "events", "recording-ended.json"))
	if err != nil || !strings.Contains(string(ended), `"recording_status": "RECORDING_ENDED"`) {
		t.Fatalf("recording-ended.json: %v\n%s", err, ended)
	}
	if pl, _ := os.ReadFile(filepath.Join(dirs[0], "media", "hls", "240p30", "playlist.m3u8")); !strings.HasSuffix(string(pl), "#EXT-X-ENDLIST\n") {
		t.Errorf("recorded playlist not closed:\n%s", pl)
	}

	s2 := harness.Start(t, harness.Options{DataDir: s.DataDir})
	if strings.Contains(s2.Logs(), "interrupted by a stop") {
		t.Errorf("a graceful stop left a session or a recording open:\n%s", s2.Logs())
	}
	c2 := s2.IVS()
	for i, arn := range []*string{out.Channel.Arn, srtCh.Arn, whipCh.Arn} {
		sess, err := c2.GetStreamSession(ctx, &ivs.GetStreamSessionInput{ChannelArn: arn, StreamId: ids[i]})
		if err != nil || sess.StreamSession.EndTime == nil {
			t.Fatalf("session %d after a graceful stop: %+v, %v", i, sess, err)
		}
		for _, e := range sess.StreamSession.TruncatedEvents {
			if aws.ToString(e.Name) == "Stream Failure" {
				t.Errorf("session %d has a Stream Failure after a graceful stop", i)
			}
		}
	}
}
