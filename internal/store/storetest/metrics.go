package storetest

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/ivs"
)

func point(t time.Time, video int64, viewers int64) ivs.MetricPoint {
	return ivs.MetricPoint{Time: t, Span: 1, VideoBitrate: video, Framerate: 30, AudioBitrate: 128000,
		KeyframeInterval: 2, Viewers: viewers}
}

func testMetrics(t *testing.T, s Sessions) {
	ctx := context.Background()
	start := time.Date(2026, 3, 31, 23, 59, 0, 0, time.UTC)
	ingest := ivs.IngestConfigurations{
		Video: []ivs.VideoConfiguration{{Codec: "avc1.64001F", Encoder: "Lavf59.27.100", VideoWidth: 1280, VideoHeight: 720, Track: "Track0"}},
		Audio: []ivs.AudioConfiguration{{Codec: "mp4a.40.2", SampleRate: 48000, Channels: 2, Track: "Track0"}},
	}
	must(t, s.CreateStreamSession(ctx, ivs.StreamSession{StreamID: "st-m", ChannelID: "chm", Channel: channel("chm"),
		StartTime: start, Ingest: ingest}))

	// 120 one-second points, written in two batches; the second batch
	// repeats the last point of the first (a retried flush) without doubling.
	var pts []ivs.MetricPoint
	for i := range 120 {
		pts = append(pts, point(start.Add(time.Duration(i)*time.Second), int64(1000*(i+1)), int64(i%3)))
	}
	stats := ivs.SessionStats{Points: 120, VideoBitrate: ivs.Aggregate{Min: 1000, Avg: 60500, Max: 120000}}
	must(t, s.AppendMetrics(ctx, "st-m", pts[:61], stats))
	must(t, s.AppendMetrics(ctx, "st-m", pts[60:], stats))
	wantNotFound(t, s.AppendMetrics(ctx, "st-none", nil, stats))

	got, err := s.SessionMetrics(ctx, "st-m", time.Time{}, time.Time{})
	must(t, err)
	if len(got) != 120 || !got[0].Time.Equal(start) || got[119].VideoBitrate != 120000 || got[5].Viewers != 2 {
		t.Fatalf("metrics: %d points, first %+v", len(got), got[0])
	}
	got, err = s.SessionMetrics(ctx, "st-m", start.Add(10*time.Second), start.Add(20*time.Second))
	must(t, err)
	if len(got) != 10 || !got[0].Time.Equal(start.Add(10*time.Second)) {
		t.Fatalf("metrics in [10s, 20s): %d points", len(got))
	}
	ss, err := s.GetStreamSession(ctx, "chm", "st-m")
	must(t, err)
	if ss.Stats != stats || len(ss.Ingest.Video) != 1 || ss.Ingest.Video[0] != ingest.Video[0] || ss.Ingest.Audio[0] != ingest.Audio[0] {
		t.Fatalf("session stats %+v ingest %+v", ss.Stats, ss.Ingest)
	}

	// A crash leaves the session open: it ends at its last point's end.
	ended, err := s.EndOpenStreamSessions(ctx, start.Add(time.Hour))
	must(t, err)
	if len(ended) != 1 || !ended[0].EndTime.Equal(start.Add(120*time.Second)) {
		t.Fatalf("ended %+v, want st-m at its last point", ended)
	}

	// Usage: the session crosses midnight into April 1st; viewer-seconds
	// are Σ viewers × span.
	march := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	april := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	may := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	wantUsage := func(from, to time.Time, input, viewers float64) {
		t.Helper()
		u, err := s.Usage(ctx, from, to, to)
		must(t, err)
		if len(u) != 1 || u[0].ChannelID != "chm" || math.Abs(u[0].InputSeconds-input) > 1e-6 || u[0].ViewerSeconds != viewers {
			t.Fatalf("usage [%s, %s) = %+v, want input %v viewers %v", from, to, u, input, viewers)
		}
	}
	// Points 0..59 are in March: viewers 0,1,2 repeating → 20×3 = 60.
	wantUsage(march, april, 60, 60)
	wantUsage(april, may, 60, 60)

	// Downsampling keeps viewer-seconds and the number of seconds covered.
	removed, err := s.DownsampleMetrics(ctx, start.Add(time.Hour), 60)
	must(t, err)
	if removed != 118 {
		t.Fatalf("downsample removed %d points, want 118", removed)
	}
	again, err := s.DownsampleMetrics(ctx, start.Add(time.Hour), 60)
	must(t, err)
	if again != 0 {
		t.Fatalf("second downsample removed %d points, want 0", again)
	}
	got, err = s.SessionMetrics(ctx, "st-m", time.Time{}, time.Time{})
	must(t, err)
	if len(got) != 2 || got[0].Span != 60 || got[1].Span != 60 || got[0].VideoBitrate != 30500 {
		t.Fatalf("downsampled: %+v", got)
	}
	wantUsage(march, may, 120, 120)
	// Sessions that are still open are never downsampled.
	must(t, s.CreateStreamSession(ctx, ivs.StreamSession{StreamID: "st-o", ChannelID: "chm", Channel: channel("chm"), StartTime: start}))
	must(t, s.AppendMetrics(ctx, "st-o", pts[:3], ivs.SessionStats{}))
	removed, err = s.DownsampleMetrics(ctx, start.Add(time.Hour), 60)
	must(t, err)
	if removed != 0 {
		t.Fatalf("downsample of an open session removed %d points", removed)
	}
}
