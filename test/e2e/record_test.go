package e2e

import (
	"encoding/json"
	"fmt"
	"image/jpeg"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
	in := recordTo("rec-local")
	in.ThumbnailConfiguration = &types.ThumbnailConfiguration{RecordingMode: types.RecordingModeInterval, TargetIntervalSeconds: aws.Int64(2),
		Storage: []types.ThumbnailConfigurationStorage{types.ThumbnailConfigurationStorageSequential, types.ThumbnailConfigurationStorageLatest}}
	rc := createRecording(t, c, in)
	out, err := c.CreateChannel(ctx, &ivs.CreateChannelInput{Name: aws.String("recorded"), Type: types.ChannelTypeBasicChannelType,
		RecordingConfigurationArn: rc.Arn, InsecureIngest: true})
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
	if r := sess.StreamSession.RecordingConfiguration; r == nil || aws.ToString(r.Arn) != aws.ToString(rc.Arn) {
		t.Errorf("the session's recordingConfiguration: %+v", r)
	}

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

	var ended recordingEnded
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
	d := probeDuration(t, filepath.Join(prefix, "media", "hls", "master.m3u8"))
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
	harness.Eventually(t, 15*time.Second, func() error {
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

// recordingEnded is what the tests read of recording-ended.json.
type recordingEnded struct {
	Version    string `json:"version"`
	ChannelARN string `json:"channel_arn"`
	Status     string `json:"recording_status"`
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

// probeDuration is ffprobe's duration of a playlist (or media file).
func probeDuration(t *testing.T, path string) float64 {
	t.Helper()
	out, err := exec.Command(harness.RequireProgram(t, "ffprobe"), "-v", "error", "-show_entries", "format=duration",
		"-of", "csv=p=0", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", path, err, out)
	}
	d, _ := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	return d
}

// A STANDARD and a BASIC channel record at once to a real S3 server
// (versitygw): the source and every rendition of the ladder, in IVS's
// layout and event files; the S3 server is down in the middle, for a
// segment of each or more, and the recordings still have every second.
func TestRecordS3(t *testing.T) {
	t.Parallel()
	harness.Heavy(t) // the STANDARD channel's ladder
	s3srv := harness.StartS3(t)
	s3srv.CreateBucket(t, "vod")
	s := harness.Start(t, s3srv.OnairOptions())
	c := s.IVS()
	ctx := harness.Context(t, 180*time.Second)
	rc, err := c.CreateRecordingConfiguration(ctx, &ivs.CreateRecordingConfigurationInput{
		DestinationConfiguration: &types.DestinationConfiguration{S3: &types.S3DestinationConfiguration{BucketName: aws.String("vod")}},
		ThumbnailConfiguration: &types.ThumbnailConfiguration{RecordingMode: types.RecordingModeInterval, TargetIntervalSeconds: aws.Int64(5),
			Resolution: types.ThumbnailConfigurationResolutionLowestResolution},
	})
	if err != nil {
		t.Fatal(err)
	}
	missing, err := c.CreateRecordingConfiguration(ctx, &ivs.CreateRecordingConfigurationInput{
		DestinationConfiguration: &types.DestinationConfiguration{S3: &types.S3DestinationConfiguration{BucketName: aws.String("no-such-bucket")}}})
	if err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 10*time.Second, func() error {
		for arn, want := range map[*string]types.RecordingConfigurationState{
			rc.RecordingConfiguration.Arn:      types.RecordingConfigurationStateActive,
			missing.RecordingConfiguration.Arn: types.RecordingConfigurationStateCreateFailed,
		} {
			g, err := c.GetRecordingConfiguration(ctx, &ivs.GetRecordingConfigurationInput{Arn: arn})
			if err != nil {
				return fmt.Errorf("GetRecordingConfiguration: %w", err)
			}
			if st := g.RecordingConfiguration.State; st != want {
				return fmt.Errorf("state %s, want %s", st, want)
			}
		}
		return nil
	})
	channels := map[types.ChannelType]*types.Channel{}
	var pubs []*harness.Process
	for typ, size := range map[types.ChannelType]string{types.ChannelTypeStandardChannelType: "854x480", types.ChannelTypeBasicChannelType: "640x360"} {
		out, err := c.CreateChannel(ctx, &ivs.CreateChannelInput{Type: typ, RecordingConfigurationArn: rc.RecordingConfiguration.Arn,
			InsecureIngest: true})
		if err != nil {
			t.Fatal(err)
		}
		channels[typ] = out.Channel
		pubs = append(pubs, harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(aws.ToString(out.StreamKey.Value)), Size: size,
			Rate: 30, GOP: 60, Audio: true, Duration: 24 * time.Second}))
	}
	for _, ch := range channels {
		waitLive(t, c, aws.ToString(ch.Arn))
	}
	// Both recordings are in S3; then it is down until each has a whole
	// segment (6 s) made during the outage waiting in the spool: two of one
	// rendition.
	harness.Eventually(t, 30*time.Second, func() error {
		keys, err := s3srv.Keys(ctx, "vod", "ivs/v1/")
		if err != nil {
			return err
		}
		started := 0
		for _, k := range keys {
			if strings.HasSuffix(k, "events/recording-started.json") {
				started++
			}
		}
		if started != 2 {
			return fmt.Errorf("%d recordings started in S3, want 2", started)
		}
		return nil
	})
	s3srv.Stop()
	downAt := time.Now()
	harness.Eventually(t, 60*time.Second, func() error {
		perRendition := map[string]int{} // key up to the segment's name
		held := map[string]bool{}        // channel ids
		for _, k := range spooledSegments(t, s.DataDir) {
			dir := k[:strings.LastIndexByte(k, '/')]
			if perRendition[dir]++; perRendition[dir] == 2 {
				held[strings.Split(k, "/")[3]] = true
			}
		}
		if len(held) != 2 {
			return fmt.Errorf("two segments of a rendition in the spool for %d recordings, want both", len(held))
		}
		return nil
	})
	s3srv.Restart()
	t.Logf("S3 was down for %v", time.Since(downAt).Round(100*time.Millisecond))
	for _, p := range pubs {
		if err := p.Wait(60 * time.Second); err != nil {
			t.Fatalf("ffmpeg: %v", err)
		}
	}

	// Both recordings end up in the bucket; download each and play it.
	prefixes := map[string]string{} // channel id → prefix
	harness.Eventually(t, 60*time.Second, func() error {
		keys, err := s3srv.Keys(ctx, "vod", "ivs/v1/")
		if err != nil {
			return err
		}
		for _, k := range keys {
			if p, ok := strings.CutSuffix(k, "events/recording-ended.json"); ok {
				prefixes[strings.Split(p, "/")[3]] = p
			}
		}
		if len(prefixes) != 2 {
			return fmt.Errorf("%d recordings ended", len(prefixes))
		}
		return nil
	})
	for typ, ch := range channels {
		prefix := prefixes[idOf(ch)]
		if prefix == "" {
			t.Fatalf("no recording of the %s channel: %v", typ, prefixes)
		}
		dir := download(t, ctx, s3srv, "vod", prefix)
		var ended recordingEnded
		raw, _ := os.ReadFile(filepath.Join(dir, "events", "recording-ended.json"))
		if err := json.Unmarshal(raw, &ended); err != nil || ended.Version != "v1" || ended.ChannelARN != aws.ToString(ch.Arn) ||
			ended.Status != "RECORDING_ENDED" || ended.Media.HLS.Playlist != "master.m3u8" {
			t.Fatalf("%s recording-ended.json: %v\n%s", typ, err, raw)
		}
		started, _ := os.ReadFile(filepath.Join(dir, "events", "recording-started.json"))
		if !strings.Contains(string(started), `"recording_status": "RECORDING_STARTED"`) {
			t.Errorf("%s recording-started.json:\n%s", typ, started)
		}
		want := []string{"360p30"}
		if typ == types.ChannelTypeStandardChannelType {
			want = []string{"480p30", "360p30", "160p30"}
		}
		var got []string
		for _, r := range ended.Media.HLS.Renditions {
			got = append(got, r.Path)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s renditions %v, want %v", typ, got, want)
		}
		// Every second of the 24 is recorded, across the outage; the
		// ladder's renditions all but their first moments.
		if d := probeDuration(t, filepath.Join(dir, "media", "hls", "master.m3u8")); math.Abs(d-24) > 1 ||
			math.Abs(float64(ended.Media.HLS.DurationMs)/1000-24) > 1 {
			t.Errorf("%s: master plays %.2f s (duration_ms %d), published 24 s", typ, d, ended.Media.HLS.DurationMs)
		}
		for _, r := range want {
			pl := filepath.Join(dir, "media", "hls", r, "playlist.m3u8")
			if d := probeDuration(t, pl); d < 20 {
				t.Errorf("%s %s: %.2f s recorded", typ, r, d)
			}
			if b, _ := os.ReadFile(pl); strings.Contains(string(b), "#EXT-X-DISCONTINUITY") || !strings.Contains(string(b), "#EXT-X-ENDLIST") {
				t.Errorf("%s %s playlist:\n%s", typ, r, b)
			}
		}
		// Thumbnails every 5 s, at the lowest resolution.
		thumbs, _ := filepath.Glob(filepath.Join(dir, "media", "thumbnails", want[0], "thumb*.jpg"))
		if len(thumbs) < 4 {
			t.Errorf("%s: %d thumbnails for 24 s at 5 s", typ, len(thumbs))
		}
		for _, th := range thumbs[:min(1, len(thumbs))] {
			f, _ := os.Open(th)
			cfg, err := jpeg.DecodeConfig(f)
			f.Close()
			if err != nil || cfg.Height != 160 {
				t.Errorf("%s thumbnail %dx%d %v, want 160 high", typ, cfg.Width, cfg.Height, err)
			}
		}
	}
	if !strings.Contains(s.Logs(), "upload failed, retrying") {
		t.Errorf("the outage did not show: no upload retried")
	}
}

// A publisher that drops and comes back within the configuration's
// reconnect window continues the same recording (one prefix, a
// discontinuity, both stream ids on Recording End); one that comes back
// after it starts a new recording.
func TestRecordReconnectWindow(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	c := s.IVS()
	ctx := harness.Context(t, 120*time.Second)
	in := recordTo("window")
	in.RecordingReconnectWindowSeconds = 8
	rc := createRecording(t, c, in)
	out, err := c.CreateChannel(ctx, &ivs.CreateChannelInput{Type: types.ChannelTypeBasicChannelType,
		RecordingConfigurationArn: rc.Arn, InsecureIngest: true})
	if err != nil {
		t.Fatal(err)
	}
	ch, key := out.Channel, aws.ToString(out.StreamKey.Value)
	publish := func() {
		t.Helper()
		p := harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(key), Size: "320x240", Rate: 30, GOP: 30, Audio: true,
			Duration: 4 * time.Second})
		waitLive(t, c, aws.ToString(ch.Arn))
		if err := p.Wait(30 * time.Second); err != nil {
			t.Fatal(err)
		}
		waitOffline(t, c, aws.ToString(ch.Arn), 10*time.Second)
	}
	bucket := filepath.Join(s.DataDir, "recordings", "window")
	publish()
	publish() // within the 8 s window
	dirs := recordingDirs(t, bucket)
	if len(dirs) != 1 {
		t.Fatalf("%d recordings after a reconnect inside the window", len(dirs))
	}
	// The first recording ends once the window has passed.
	harness.Eventually(t, 20*time.Second, func() error {
		_, err := os.Stat(filepath.Join(dirs[0], "events", "recording-ended.json"))
		return err
	})
	pl, _ := os.ReadFile(filepath.Join(dirs[0], "media", "hls", "240p30", "playlist.m3u8"))
	if strings.Count(string(pl), "#EXT-X-DISCONTINUITY") != 1 || !strings.Contains(string(pl), "#EXT-X-ENDLIST") {
		t.Errorf("joined playlist:\n%s", pl)
	}
	publish() // after the window: a new recording
	harness.Eventually(t, 30*time.Second, func() error {
		if n := len(recordingDirs(t, bucket)); n != 2 {
			return fmt.Errorf("%d recordings", n)
		}
		return nil
	})
	// Three stream sessions made two recordings.
	events, err := c.ListStreamSessions(ctx, &ivs.ListStreamSessionsInput{ChannelArn: ch.Arn})
	if err != nil || len(events.StreamSessions) != 3 {
		t.Fatalf("sessions: %+v %v", events, err)
	}
}
