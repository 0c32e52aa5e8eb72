package e2e

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
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
	_ "modernc.org/sqlite"

	"github.com/onair-video/onair/test/e2e/harness"
)

// integrityCheck runs SQLite's PRAGMA integrity_check on a stopped
// server's store.
func integrityCheck(t *testing.T, dataDir string) {
	t.Helper()
	if harness.TestStore() == "postgres" {
		return // PostgreSQL answers for its own files after a kill
	}
	file := filepath.Join(dataDir, "onair.db")
	if _, err := os.Stat(file); err != nil {
		t.Fatal(err) // sql.Open would make an empty one, which checks fine
	}
	db, err := sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		t.Fatalf("PRAGMA integrity_check: %q, %v", res, err)
	}
}

// reservedAddr returns a loopback address nothing listens on (yet).
func reservedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serveWebhook starts the receiver on addr.
func serveWebhook(t *testing.T, addr, secret string) *receiver {
	t.Helper()
	rc := &receiver{t: t, secret: secret}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("webhook receiver: %v", err)
	}
	srv := &http.Server{Handler: rc, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return rc
}

// spooledSegments returns the keys of the recorded media segments waiting
// in the upload spool of the server with dataDir.
func spooledSegments(t *testing.T, dataDir string) []string {
	t.Helper()
	metas, _ := filepath.Glob(filepath.Join(dataDir, "spool", "*.json"))
	var keys []string
	for _, m := range metas {
		var meta struct{ Key string }
		if b, err := os.ReadFile(m); err == nil && json.Unmarshal(b, &meta) == nil && strings.HasSuffix(meta.Key, ".ts") {
			keys = append(keys, meta.Key)
		}
	}
	return keys
}

// all returns what the receiver got for a stream: event names and
// recording statuses, in order.
func (rc *receiver) all(streamID string) []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for _, e := range rc.events {
		if e.Detail.StreamID != streamID {
			continue
		}
		if e.Detail.RecordingStatus != "" {
			out = append(out, e.Detail.RecordingStatus)
		} else {
			out = append(out, e.Detail.EventName)
		}
	}
	return out
}

// SIGKILL while a channel is live, recording to S3 with the store down
// (its objects wait in the spool) and a webhook down (its events wait in
// the outbox): the store passes PRAGMA integrity_check; the next start
// ends the session with its events, finishes the recording (closed
// playlist, recording-ended.json with RECORDING_ENDED_WITH_FAILURE),
// uploads the spool and delivers every event to the webhook.
func TestKillWhileRecording(t *testing.T) {
	t.Parallel()
	s3srv := harness.StartS3(t)
	s3srv.CreateBucket(t, "crash")
	hookAddr := reservedAddr(t)
	const secret = "e2e-crash-secret"
	opts := s3srv.OnairOptions()
	opts.Args = append(opts.Args, "--webhook-url", "http://"+hookAddr+"/hook")
	opts.Env = append(opts.Env, "ONAIR_WEBHOOK_SECRET="+secret)
	s := harness.Start(t, opts)
	c := s.IVS()
	ctx := harness.Context(t, 150*time.Second)
	rc := createRecording(t, c, recordTo("crash"))
	out, err := c.CreateChannel(ctx, &ivs.CreateChannelInput{Name: aws.String("crash"), Type: types.ChannelTypeBasicChannelType,
		RecordingConfigurationArn: rc.Arn, InsecureIngest: true})
	if err != nil {
		t.Fatal(err)
	}
	ch := out.Channel
	pub := harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(aws.ToString(out.StreamKey.Value)), Size: "320x240", Audio: true})
	live := waitLive(t, c, aws.ToString(ch.Arn))
	streamID := aws.ToString(live.StreamId)
	// The recording is in S3 before it goes down.
	harness.Eventually(t, 30*time.Second, func() error {
		keys, err := s3srv.Keys(ctx, "crash", "ivs/v1/")
		if err != nil {
			return err
		}
		for _, k := range keys {
			if strings.HasSuffix(k, "events/recording-started.json") {
				return nil
			}
		}
		return fmt.Errorf("no recording-started.json among %d keys", len(keys))
	})
	s3srv.Stop() // from here the recording's objects wait in the spool
	downAt := time.Now()
	harness.Eventually(t, 60*time.Second, func() error {
		if n := len(spooledSegments(t, s.DataDir)); n < 2 {
			return fmt.Errorf("%d recorded segments in the spool, want 2 made while S3 is down", n)
		}
		return nil
	})
	if j, _ := filepath.Glob(filepath.Join(s.DataDir, "recordings-open", "*.jsonl")); len(j) != 1 {
		t.Fatalf("open recording journals: %v", j)
	}
	killedAt := time.Now()
	s.Kill()
	pub.Kill()
	integrityCheck(t, s.DataDir)

	s3srv.Restart()
	hook := serveWebhook(t, hookAddr, secret)
	s2 := harness.Start(t, harness.Options{DataDir: s.DataDir, Args: opts.Args, Env: opts.Env})
	c2 := s2.IVS()
	// The log travels through a pipe: it may trail /healthz a little.
	harness.Eventually(t, 15*time.Second, func() error {
		for _, want := range []string{"ended stream sessions interrupted by a stop", "finished recordings interrupted by a stop"} {
			if !strings.Contains(s2.Logs(), want) {
				return fmt.Errorf("restart did not log %q", want)
			}
		}
		return nil
	})
	sess, err := c2.GetStreamSession(ctx, &ivs.GetStreamSessionInput{ChannelArn: ch.Arn, StreamId: live.StreamId})
	if err != nil || sess.StreamSession.EndTime == nil {
		t.Fatalf("GetStreamSession after restart: %+v, %v", sess, err)
	}

	// Every event, the ones from before the kill and the ones the restart
	// made, reaches the webhook that was down throughout.
	want := []string{"Session Created", "Recording Start", "Stream Start", "Stream Failure", "Stream End", "Session Ended",
		"Recording End Failure"}
	harness.Eventually(t, 60*time.Second, func() error {
		got := hook.all(streamID)
		for _, w := range want {
			if !slices.Contains(got, w) {
				return fmt.Errorf("webhook got %q, want all of %q", got, want)
			}
		}
		return nil
	})
	t.Logf("webhook after the restart: %q", hook.all(streamID))
	if len(hook.bad) > 0 {
		t.Errorf("webhook: %q", hook.bad)
	}

	// The spool empties into S3 and the recording is finished there.
	var prefix string
	harness.Eventually(t, 60*time.Second, func() error {
		keys, err := s3srv.Keys(ctx, "crash", "ivs/v1/")
		if err != nil {
			return err
		}
		for _, k := range keys {
			if p, ok := strings.CutSuffix(k, "events/recording-ended.json"); ok {
				prefix = p
			}
		}
		if prefix == "" {
			return fmt.Errorf("no recording-ended.json among %d keys", len(keys))
		}
		if left, _ := filepath.Glob(filepath.Join(s.DataDir, "spool", "*.obj")); len(left) > 0 {
			return fmt.Errorf("%d objects still spooled", len(left))
		}
		return nil
	})
	ended, err := s3srv.Get(ctx, "crash", prefix+"events/recording-ended.json")
	if err != nil || !strings.Contains(string(ended), `"recording_status": "RECORDING_ENDED_WITH_FAILURE"`) {
		t.Fatalf("recording-ended.json: %v\n%s", err, ended)
	}
	dir := download(t, ctx, s3srv, "crash", prefix)
	pl, _ := os.ReadFile(filepath.Join(dir, "media", "hls", "240p30", "playlist.m3u8"))
	if !strings.HasSuffix(string(pl), "#EXT-X-ENDLIST\n") {
		t.Errorf("recorded playlist not closed:\n%s", pl)
	}
	// What was recorded before the kill plays: at least the two 6 s
	// segments made while S3 was down.
	d := probeDuration(t, filepath.Join(dir, "media", "hls", "master.m3u8"))
	t.Logf("the finished recording plays %.1f s (S3 down %v before the kill)", d, killedAt.Sub(downAt).Round(time.Second))
	if d < 10 {
		t.Errorf("the recording plays %.1f s", d)
	}
	if j, _ := filepath.Glob(filepath.Join(s.DataDir, "recordings-open", "*")); len(j) != 0 {
		t.Errorf("journals left: %v", j)
	}
	s2.Stop()
	integrityCheck(t, s.DataDir)
}
