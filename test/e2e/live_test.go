package e2e

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ivs"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"
	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/onair-video/onair/test/e2e/harness"
)

// waitMultivariant polls the playback URL until it serves a playlist.
func waitMultivariant(t *testing.T, u string) (*playlist.Multivariant, harness.HTTPResult) {
	t.Helper()
	var mv *playlist.Multivariant
	var res harness.HTTPResult
	harness.Eventually(t, 20*time.Second, func() error {
		var err error
		mv, res, err = harness.FetchMultivariant(harness.Context(t, 15*time.Second), u)
		return err
	})
	return mv, res
}

// firstFullSegment returns the first segment that is not a gap.
func firstFullSegment(m *playlist.Media) (*playlist.MediaSegment, error) {
	for _, s := range m.Segments {
		if !s.Gap && s.URI != "" {
			return s, nil
		}
	}
	return nil, fmt.Errorf("no complete segment yet")
}

// waitSegment polls a media playlist until it lists a complete segment and
// returns both.
func waitSegment(t *testing.T, ctx context.Context, mediaURL string) (*playlist.Media, *playlist.MediaSegment) {
	t.Helper()
	var m *playlist.Media
	var seg *playlist.MediaSegment
	harness.Eventually(t, 20*time.Second, func() error {
		var err error
		if m, _, err = harness.FetchMedia(ctx, mediaURL); err != nil {
			return err
		}
		seg, err = firstFullSegment(m)
		return err
	})
	return m, seg
}

// checkSegment downloads a segment (with its init section for fMP4) and
// checks with ffprobe that it decodes to the published size and frame count.
func checkSegment(t *testing.T, mediaURL string, m *playlist.Media, seg *playlist.MediaSegment, w, h, fps int) {
	t.Helper()
	ctx := harness.Context(t, 10*time.Second)
	var data []byte
	if m.Map != nil {
		init, err := harness.Fetch(ctx, harness.Resolve(mediaURL, m.Map.URI))
		if err != nil || init.Status != http.StatusOK {
			t.Fatalf("init section: %v %d", err, init.Status)
		}
		data = append(data, init.Body...)
	}
	body, err := harness.Fetch(ctx, harness.Resolve(mediaURL, seg.URI))
	if err != nil || body.Status != http.StatusOK {
		t.Fatalf("segment %s: %v %d", seg.URI, err, body.Status)
	}
	data = append(data, body.Body...)
	p := harness.FFprobe(t, data)
	want := int(math.Round(seg.Duration.Seconds() * float64(fps)))
	if p.Codec != "h264" || p.Width != w || p.Height != h || p.Frames != want {
		t.Fatalf("segment %s (%s) decodes to %+v, want h264 %dx%d with %d frames", seg.URI, seg.Duration, p, w, h, want)
	}
}

// checkLiveMetrics checks that Prometheus sees the live channel and its ingest.
func checkLiveMetrics(t *testing.T, s *harness.Server, ch *types.Channel) {
	t.Helper()
	if n, err := s.Metric("onair_live_channels"); err != nil || n != 1 {
		t.Errorf("onair_live_channels = %v, %v; want 1", n, err)
	}
	units := fmt.Sprintf(`onair_ingest_units_total{channel_arn=%q,channel_name=%q}`, aws.ToString(ch.Arn), aws.ToString(ch.Name))
	if n, err := s.Metric(units); err != nil || n <= 0 {
		t.Errorf("%s = %v, %v; want > 0", units, n, err)
	}
}

func checkVariant(t *testing.T, v *playlist.MultivariantVariant, res harness.HTTPResult, resolution string, fps float64, codecs ...string) {
	t.Helper()
	if res.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("multivariant lacks CORS: %v", res.Header)
	}
	if v.Bandwidth <= 0 || v.Resolution != resolution || v.FrameRate == nil || math.Abs(*v.FrameRate-fps) > 0.01 {
		t.Errorf("variant BANDWIDTH=%d RESOLUTION=%s FRAME-RATE=%v, want >0 %s %v\n%s", v.Bandwidth, v.Resolution, v.FrameRate, resolution, fps, res.Body)
	}
	for _, c := range codecs {
		if !slices.ContainsFunc(v.Codecs, func(s string) bool { return strings.HasPrefix(s, c) }) {
			t.Errorf("CODECS %v lacks %s", v.Codecs, c)
		}
	}
}

// A LOW latency channel, published over RTMPS with audio, plays as LL-HLS;
// StopStream cuts the encoder off and the playlist goes away.
func TestLiveLowLatencyRTMPS(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	c := s.IVS()
	ch, key := createChannel(t, c, "low", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	pub := harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPSURL(aws.ToString(key.Value)), Size: "640x360", Rate: 30, Audio: true})

	st := waitLive(t, c, aws.ToString(ch.Arn))
	if id := aws.ToString(st.StreamId); !strings.HasPrefix(id, "st-") || len(id) != 26 {
		t.Errorf("streamId %q", id)
	}
	if aws.ToString(st.PlaybackUrl) != aws.ToString(ch.PlaybackUrl) || st.StartTime == nil || time.Since(*st.StartTime) > time.Minute {
		t.Errorf("stream = %+v", st)
	}
	harness.Eventually(t, 10*time.Second, func() error {
		out, err := c.GetStream(context.Background(), &ivs.GetStreamInput{ChannelArn: ch.Arn})
		if err != nil {
			return err
		}
		if out.Stream.Health != types.StreamHealthStreamHealthy {
			return fmt.Errorf("health %s", out.Stream.Health)
		}
		return nil
	})
	list, err := c.ListStreams(harness.Context(t, 5*time.Second), &ivs.ListStreamsInput{})
	if err != nil || len(list.Streams) != 1 || aws.ToString(list.Streams[0].ChannelArn) != aws.ToString(ch.Arn) {
		t.Fatalf("ListStreams = %+v, %v", list, err)
	}

	checkLiveMetrics(t, s, ch)

	playback := aws.ToString(ch.PlaybackUrl)
	mv, res := waitMultivariant(t, playback)
	checkVariant(t, mv.Variants[0], res, "640x360", 30, "avc1.", "mp4a.40.2")
	mediaURL := harness.Resolve(playback, mv.Variants[0].URI)

	ctx := harness.Context(t, 60*time.Second)
	m, mres, err := harness.FetchMedia(ctx, mediaURL)
	if err != nil {
		t.Fatal(err)
	}
	if m.ServerControl == nil || !m.ServerControl.CanBlockReload || m.ServerControl.CanSkipUntil == nil ||
		m.PartInf == nil || m.PreloadHint == nil || m.Map == nil {
		t.Fatalf("not an LL-HLS playlist:\n%s", mres.Body)
	}
	if mres.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("media playlist lacks CORS")
	}

	// Blocking reload: ask for the part after the last one and get a
	// playlist that has it; the preload hint downloads as that part.
	msn := m.MediaSequence + len(m.Segments)
	part := len(m.Parts)
	hint := harness.Resolve(mediaURL, m.PreloadHint.URI)
	hintc := make(chan harness.HTTPResult, 1)
	go func() {
		r, _ := harness.Fetch(ctx, hint) // a failure shows as status 0 below
		hintc <- r
	}()
	// The media URL carries the player's session id (?vsid=, docs/viewers.md);
	// the blocking-reload parameters join its query, as hls.js does.
	blocked, bres, err := harness.FetchMedia(ctx, mediaURL+"&_HLS_msn="+strconv.Itoa(msn)+"&_HLS_part="+strconv.Itoa(part))
	if err != nil {
		t.Fatal(err)
	}
	gotMSN := blocked.MediaSequence + len(blocked.Segments)
	if gotMSN < msn || (gotMSN == msn && len(blocked.Parts) <= part) {
		t.Fatalf("blocking reload for msn %d part %d returned msn %d with %d parts:\n%s", msn, part, gotMSN, len(blocked.Parts), bres.Body)
	}
	if h := <-hintc; h.Status != http.StatusOK || len(h.Body) == 0 {
		t.Fatalf("preload hint %s: status %d, %d bytes", hint, h.Status, len(h.Body))
	}

	// Segments decode to the published picture, frame for frame.
	m, seg := waitSegment(t, ctx, mediaURL)
	checkSegment(t, mediaURL, m, seg, 640, 360, 30)

	// Delta updates once the playlist is long enough to skip.
	harness.Eventually(t, 30*time.Second, func() error {
		r, err := harness.Fetch(ctx, mediaURL+"&_HLS_skip=YES")
		if err != nil {
			return err
		}
		if !strings.Contains(string(r.Body), "#EXT-X-SKIP:SKIPPED-SEGMENTS=") {
			return fmt.Errorf("no EXT-X-SKIP yet")
		}
		return nil
	})

	if _, err := c.StopStream(ctx, &ivs.StopStreamInput{ChannelArn: ch.Arn}); err != nil {
		t.Fatalf("StopStream: %v", err)
	}
	if err := pub.Wait(15 * time.Second); err == nil {
		t.Errorf("ffmpeg exited cleanly after StopStream; want its connection cut")
	} else if strings.Contains(err.Error(), "still running") {
		t.Fatalf("ffmpeg still running 15 s after StopStream")
	}
	waitOffline(t, c, aws.ToString(ch.Arn), 15*time.Second)
	if n, err := s.Metric("onair_live_channels"); err != nil || n != 0 {
		t.Errorf("onair_live_channels = %v, %v after the stream ended; want 0", n, err)
	}
	if strings.Contains(s.Logs(), aws.ToString(key.Value)) {
		t.Errorf("the stream key appears in the server log")
	}
	harness.Eventually(t, 15*time.Second, func() error {
		r, err := harness.Fetch(ctx, playback)
		if err != nil {
			return err
		}
		if r.Status != http.StatusNotFound {
			return fmt.Errorf("playlist status %d after the stream ended", r.Status)
		}
		return nil
	})
}

// A NORMAL channel, published over plain RTMP, plays as classic HLS with
// MPEG-TS segments; when the publisher leaves the channel goes offline.
func TestLiveNormalRTMP(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	c := s.IVS()
	ch, key := createChannel(t, c, "normal", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeNormalLatency)
	pub := harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(aws.ToString(key.Value)), Size: "320x240", Rate: 25, Duration: 14 * time.Second})
	waitLive(t, c, aws.ToString(ch.Arn))

	checkLiveMetrics(t, s, ch)

	playback := aws.ToString(ch.PlaybackUrl)
	mv, res := waitMultivariant(t, playback)
	checkVariant(t, mv.Variants[0], res, "320x240", 25, "avc1.")
	mediaURL := harness.Resolve(playback, mv.Variants[0].URI)
	ctx := harness.Context(t, 60*time.Second)
	m, seg := waitSegment(t, ctx, mediaURL)
	if m.PartInf != nil || len(m.Parts) > 0 || m.Map != nil || !strings.Contains(seg.URI, ".ts") {
		t.Fatalf("want classic HLS with TS segments, got PartInf=%v parts=%d map=%v uri=%s", m.PartInf, len(m.Parts), m.Map, seg.URI)
	}
	checkSegment(t, mediaURL, m, seg, 320, 240, 25)

	if err := pub.Wait(30 * time.Second); err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	waitOffline(t, c, aws.ToString(ch.Arn), 15*time.Second)
	r, err := harness.Fetch(ctx, playback)
	if err != nil || r.Status != http.StatusNotFound {
		t.Fatalf("playlist after the publisher left: %d %v", r.Status, err)
	}
}
