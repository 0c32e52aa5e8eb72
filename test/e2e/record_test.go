package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ivs"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"

	"github.com/onair-video/onair/test/e2e/harness"
)

// recordingDirs returns the recording prefixes under a bucket directory.
func recordingDirs(t *testing.T, bucketDir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(bucketDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == "events" {
			out = append(out, filepath.Dir(p))
		}
		return nil
	})
	return out
}

// A BASIC channel with a recording configuration records to the default
// storage (a bucket directory in the data dir) in IVS's layout: the event
// files with IVS's fields, a master playlist whose recording plays in
// ffprobe as long as the session lasted, and thumbnails at the interval.
func TestRecordLocal(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	c := s.IVS()
	ctx := harness.Context(t, 90*time.Second)
	rc, err := c.CreateRecordingConfiguration(ctx, &ivs.CreateRecordingConfigurationInput{
		DestinationConfiguration: &types.DestinationConfiguration{S3: &types.S3DestinationConfiguration{BucketName: aws.String("rec-local")}},
		ThumbnailConfiguration: &types.ThumbnailConfiguration{RecordingMode: types.RecordingModeInterval, TargetIntervalSeconds: aws.Int64(2),
			Storage: []types.ThumbnailConfigurationStorage{types.ThumbnailConfigurationStorageSequential, types.ThumbnailConfigurationStorageLatest}},
	})
	if err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 5*time.Second, func() error {
		g, err := c.GetRecordingConfiguration(ctx, &ivs.GetRecordingConfigurationInput{Arn: rc.RecordingConfiguration.Arn})
		if err != nil || g.RecordingConfiguration.State != types.RecordingConfigurationStateActive {
			return fmt.Errorf("state %v %v", g, err)
		}
		return nil
	})
	out, err := c.CreateChannel(ctx, &ivs.CreateChannelInput{Name: aws.String("recorded"), Type: types.ChannelTypeBasicChannelType,
		RecordingConfigurationArn: rc.RecordingConfiguration.Arn})
	if err != nil {
		t.Fatal(err)
	}
	ch := out.Channel
	pub := harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(aws.ToString(out.StreamKey.Value)), Size: "640x360", Rate: 30,
		GOP: 60, Audio: true, Duration: 12 * time.Second})
	waitLive(t, c, aws.ToString(ch.Arn))
	if err := pub.Wait(30 * time.Second); err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	waitOffline(t, c, aws.ToString(ch.Arn), 15*time.Second)
	var sess *ivs.GetStreamSessionOutput
	harness.Eventually(t, 10*time.Second, func() error {
		if sess, err = c.GetStreamSession(ctx, &ivs.GetStreamSessionInput{ChannelArn: ch.Arn}); err != nil {
			return err
		}
		if sess.StreamSession.EndTime == nil {
			return fmt.Errorf("session not ended")
		}
		return nil
	})
	live := sess.StreamSession.EndTime.Sub(*sess.StreamSession.StartTime)

	bucket := filepath.Join(s.DataDir, "recordings", "rec-local")
	var prefix string
	harness.Eventually(t, 15*time.Second, func() error {
		dirs := recordingDirs(t, bucket)
		if len(dirs) != 1 {
			return fmt.Errorf("%d recordings", len(dirs))
		}
		prefix = dirs[0]
		if _, err := os.Stat(filepath.Join(prefix, "events", "recording-ended.json")); err != nil {
			return err
		}
		return nil
	})
	rel, _ := filepath.Rel(bucket, prefix)
	parts := strings.Split(rel, string(filepath.Separator))
	now := time.Now().UTC()
	if len(parts) != 10 || parts[0] != "ivs" || parts[1] != "v1" || parts[3] != idOf(ch) || parts[4] != strconv.Itoa(now.Year()) ||
		parts[5] != strconv.Itoa(int(now.Month())) || len(parts[9]) != 12 {
		t.Fatalf("prefix %s, want ivs/v1/{account}/{channelId}/{y}/{m}/{d}/{h}/{mi}/{recordingId}", rel)
	}

	var ended struct {
		Version    string `json:"version"`
		ChannelARN string `json:"channel_arn"`
		Status     string `json:"recording_status"`
		Started    string `json:"recording_started_at"`
		Ended      string `json:"recording_ended_at"`
		Media      struct {
			HLS struct {
				DurationMs int64  `json:"duration_ms"`
				Path       string `json:"path"`
				Playlist   string `json:"playlist"`
				Renditions []struct {
					Path   string `json:"path"`
					Width  int    `json:"resolution_width"`
					Height int    `json:"resolution_height"`
				} `json:"renditions"`
			} `json:"hls"`
		} `json:"media"`
	}
	raw, err := os.ReadFile(filepath.Join(prefix, "events", "recording-ended.json"))
	if err != nil || json.Unmarshal(raw, &ended) != nil {
		t.Fatalf("recording-ended.json: %v\n%s", err, raw)
	}
	if ended.Version != "v1" || ended.ChannelARN != aws.ToString(ch.Arn) || ended.Status != "RECORDING_ENDED" ||
		ended.Media.HLS.Path != "media/hls" || ended.Media.HLS.Playlist != "master.m3u8" || len(ended.Media.HLS.Renditions) != 1 ||
		ended.Media.HLS.Renditions[0].Height != 360 || ended.Media.HLS.Renditions[0].Path != "360p30" {
		t.Fatalf("recording-ended.json:\n%s", raw)
	}
	if _, err := os.Stat(filepath.Join(prefix, "events", "recording-started.json")); err != nil {
		t.Fatal(err)
	}
	// The recording plays, as long as the stream was live (±1 s).
	ffprobe := harness.RequireProgram(t, "ffprobe")
	master := filepath.Join(prefix, "media", "hls", "master.m3u8")
	pout, err := exec.Command(ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", master).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, pout)
	}
	d, _ := strconv.ParseFloat(strings.TrimSpace(string(pout)), 64)
	// Every second ffmpeg sent is recorded: 12 s, of which the first ~2 s
	// reached onair at once (the RTMP track discovery) when the session
	// began, so the session's wall-clock length is a little shorter.
	if math.Abs(d-12) > 1 || d < live.Seconds()-0.5 || math.Abs(float64(ended.Media.HLS.DurationMs)/1000-d) > 1 {
		t.Errorf("recorded %.2f s (duration_ms %d), published 12 s, live %.2f s", d, ended.Media.HLS.DurationMs, live.Seconds())
	}
	pl, _ := os.ReadFile(filepath.Join(prefix, "media", "hls", "360p30", "playlist.m3u8"))
	if !strings.Contains(string(pl), "#EXT-X-ENDLIST") {
		t.Errorf("playlist not closed:\n%s", pl)
	}
	thumbs, _ := filepath.Glob(filepath.Join(prefix, "media", "thumbnails", "360p30", "thumb*.jpg"))
	if len(thumbs) < 5 || len(thumbs) > 7 {
		t.Errorf("%d thumbnails for 12 s at 2 s", len(thumbs))
	}
	if _, err := os.Stat(filepath.Join(prefix, "media", "latest_thumbnail", "360p30", "thumb.jpg")); err != nil {
		t.Error(err)
	}
	// The session's events include the recording's.
	var names []string
	for _, e := range sess.StreamSession.TruncatedEvents {
		names = append(names, aws.ToString(e.Name))
	}
	harness.Eventually(t, 5*time.Second, func() error {
		sess, err := c.GetStreamSession(ctx, &ivs.GetStreamSessionInput{ChannelArn: ch.Arn})
		if err != nil {
			return err
		}
		names = names[:0]
		for _, e := range sess.StreamSession.TruncatedEvents {
			names = append(names, aws.ToString(e.Name))
		}
		j := strings.Join(names, ",")
		if !strings.Contains(j, "Recording Start") || !strings.Contains(j, "Recording End") {
			return fmt.Errorf("events %s", j)
		}
		return nil
	})
}
