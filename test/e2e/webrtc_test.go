package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ivs"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"

	"github.com/onair-video/onair/test/e2e/harness"
)

// An RTMP stream (H.264 + AAC) plays over WHEP: H.264 passed through at
// the encoder's frame rate, AAC converted to Opus; the viewer counts in
// viewerCount; a channel that is not live is a 404; DELETE ends the session.
func TestWHEPPlaysRTMP(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	c := s.IVS()
	ch, key := createChannel(t, c, "whep", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	whep := s.Endpoint() + "/whep/" + idOf(ch)
	ctx := harness.Context(t, 60*time.Second)

	if status, _, body, err := harness.PostSDP(ctx, whep, "", "v=0\r\n"); err != nil || status != http.StatusNotFound {
		t.Fatalf("offline channel: %d %v %s", status, err, body)
	}
	harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(aws.ToString(key.Value)), Size: "640x360", Rate: 30, GOP: 30, Audio: true})
	waitLive(t, c, aws.ToString(ch.Arn))

	for name, tc := range map[string]struct {
		ctype, body string
		status      int
	}{
		"garbage SDP":  {"application/sdp", "this is not SDP", http.StatusBadRequest},
		"wrong type":   {"text/plain", "v=0", http.StatusUnsupportedMediaType},
		"empty offer":  {"application/sdp", "", http.StatusBadRequest},
		"oversize SDP": {"application/sdp", strings.Repeat("a=x\r\n", 20000), http.StatusRequestEntityTooLarge},
	} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, whep, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", tc.ctype)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", name, resp.StatusCode, tc.status)
		}
	}

	v := watchWHEP(t, ctx, s, ch, 90, 100)
	if !strings.HasPrefix(v.Location, "/whep/"+idOf(ch)+"/") {
		t.Errorf("Location %q", v.Location)
	}
	// A viewer whose UDP is blocked plays over ICE-TCP.
	tv, err := harness.WatchWHEPOverTCP(ctx, whep)
	if err != nil {
		t.Fatal(err)
	}
	defer tv.Close()
	harness.Eventually(t, 15*time.Second, func() error {
		if n := len(tv.Frames()); n < 30 {
			return fmt.Errorf("%d frames over ICE-TCP", n)
		}
		return nil
	})
	vc, ac := v.Codecs()
	if vc != "video/H264" || ac != "audio/opus" {
		t.Errorf("codecs %s %s", vc, ac)
	}
	// 30 fps: frames 3000 ticks apart (RTMP's millisecond times make that
	// 2970 or 3060), and arriving in real time over the run (6 s after the
	// first second): each frame's arrival less its media time stays within
	// a band, judged from p10 to p90, where a lag that grows or frames held
	// back and sent at once would widen it. Not by a few seconds' span: the
	// encoder, paced by -re on a loaded machine, falls behind and catches up
	// (89 frames once came in 1.9 s).
	harness.Eventually(t, 30*time.Second, func() error {
		if n := len(v.Frames()); n < 210 {
			return fmt.Errorf("%d WHEP frames, want 210", n)
		}
		return nil
	})
	fs := v.Frames()[30:]
	for i := 1; i < len(fs); i++ {
		if d := fs[i].Timestamp - fs[i-1].Timestamp; d < 2900 || d > 3100 {
			t.Fatalf("frame %d: timestamp step %d, want 3000 ± 100", i, d)
		}
	}
	if d, n := fs[len(fs)-1].Timestamp-fs[0].Timestamp, uint32(len(fs)-1); d < n*2990 || d > n*3010 {
		t.Errorf("%d frame intervals span %d ticks, want %d", n, d, n*3000)
	}
	var lags []time.Duration
	for _, f := range fs {
		media := time.Duration(f.Timestamp-fs[0].Timestamp) * time.Second / 90000
		lags = append(lags, f.Arrived.Sub(fs[0].Arrived)-media)
	}
	p10, p90 := harness.Quantile(lags, 0.1), harness.Quantile(lags, 0.9)
	t.Logf("%d frames over %v; arrival less media time: p10 %v, p90 %v", len(fs), fs[len(fs)-1].Arrived.Sub(fs[0].Arrived), p10, p90)
	if p90-p10 > time.Second {
		t.Errorf("frames' arrival strays %v (p10 to p90) from their media time, want at most 1 s", p90-p10)
	}
	harness.Eventually(t, 10*time.Second, func() error {
		out, err := c.GetStream(ctx, &ivs.GetStreamInput{ChannelArn: ch.Arn})
		if err != nil {
			return err
		}
		if out.Stream.ViewerCount != 2 {
			return fmt.Errorf("viewerCount %d, want 2 (UDP and TCP)", out.Stream.ViewerCount)
		}
		return nil
	})

	for _, loc := range []string{v.Location, tv.Location} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, s.Endpoint()+loc, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("DELETE: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	harness.Eventually(t, 10*time.Second, func() error {
		out, err := c.GetStream(ctx, &ivs.GetStreamInput{ChannelArn: ch.Arn})
		if err != nil {
			return err
		}
		if out.Stream.ViewerCount != 0 {
			return fmt.Errorf("viewerCount %d after DELETE", out.Stream.ViewerCount)
		}
		return nil
	})
}

// A WHIP publisher (pion, H.264 + Opus) goes live: refusals first (garbage
// SDP, no or a wrong key, a second publisher), then HLS plays it with the
// Opus converted to AAC, and a WHEP viewer gets every frame in order with a
// measured latency; DELETE on the WHIP session ends the stream.
func TestWHIPToHLSAndWHEP(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	c := s.IVS()
	ch, key := createChannel(t, c, "whip", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	whip := s.Endpoint() + "/whip"
	ctx := harness.Context(t, 90*time.Second)
	clip := harness.MakeClip(t, "640x360", 30, 4*time.Second)

	for name, tc := range map[string]struct {
		key, sdp string
		status   int
	}{
		"no key":      {"", "v=0\r\n", http.StatusUnauthorized},
		"garbage SDP": {aws.ToString(key.Value), "this is not SDP", http.StatusBadRequest},
	} {
		if status, _, body, err := harness.PostSDP(ctx, whip, tc.key, tc.sdp); err != nil || status != tc.status {
			t.Errorf("%s: %d %v %s, want %d", name, status, err, body, tc.status)
		}
	}
	if p, err := harness.PublishWHIP(ctx, whip, "sk_us-east-1_nope", clip); err != nil || p.Status != http.StatusUnauthorized {
		t.Fatalf("unknown key: %+v %v", p, err)
	}

	pub, err := harness.PublishWHIP(ctx, whip, aws.ToString(key.Value), clip)
	if err != nil || pub.Status != http.StatusCreated || !strings.HasPrefix(pub.Location, "/whip/") {
		t.Fatalf("publish: %+v %v", pub, err)
	}
	defer pub.Close()
	// The answer caps the video at the BASIC channel's limit (at 1080p:
	// WHIP declares no resolution).
	if !strings.Contains(pub.Body, "b=AS:3500\r\nb=TIAS:3500000\r\n") {
		t.Errorf("the WHIP answer has no bit rate cap:\n%s", pub.Body)
	}
	st := waitLive(t, c, aws.ToString(ch.Arn))
	if p2, err := harness.PublishWHIP(ctx, whip, aws.ToString(key.Value), clip); err != nil || p2.Status != http.StatusConflict {
		t.Fatalf("second publisher: %+v %v", p2, err)
	}
	sess, err := c.GetStreamSession(ctx, &ivs.GetStreamSessionInput{ChannelArn: ch.Arn, StreamId: st.StreamId})
	if err != nil {
		t.Fatal(err)
	}
	in := sess.StreamSession.IngestConfigurations
	if len(in.VideoConfigurations) != 1 || in.VideoConfigurations[0].VideoWidth != 640 || len(in.AudioConfigurations) != 1 ||
		!strings.Contains(strings.ToLower(aws.ToString(in.AudioConfigurations[0].Codec)), "opus") {
		t.Errorf("ingest configurations %+v", in)
	}

	// HLS: H.264 with AAC converted from the Opus.
	checkHLS(t, ctx, ch, "640x360", 640, 360, 30, "avc1.", "mp4a.40.2")

	// WHEP: every frame, 3000 ticks apart, stamped with its send time.
	v := watchWHEP(t, ctx, s, ch, 150, 150)
	fs := v.Frames()
	var lat []time.Duration
	for i, f := range fs {
		if i > 0 && f.Timestamp-fs[i-1].Timestamp != 3000 {
			t.Fatalf("frame %d: timestamp step %d, want 3000", i, f.Timestamp-fs[i-1].Timestamp)
		}
		if f.Sent.IsZero() {
			t.Fatalf("frame %d carries no send stamp", i)
		}
		lat = append(lat, f.Arrived.Sub(f.Sent))
	}
	slices.Sort(lat)
	p50, p95 := lat[len(lat)/2], lat[len(lat)*95/100]
	t.Logf("WHIP→WHEP latency over %d frames: p50 %v, p95 %v, max %v", len(lat), p50, p95, lat[len(lat)-1])
	if p50 > 150*time.Millisecond {
		t.Errorf("WHIP→WHEP latency p50 %v over 150 ms", p50)
	}

	// DELETE of the WHIP session ends the stream.
	req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, s.Endpoint()+pub.Location, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %v %v", resp, err)
	}
	resp.Body.Close()
	waitOffline(t, c, aws.ToString(ch.Arn), 10*time.Second)

	// StopStream cuts a WHIP publisher off at once; its session is gone.
	pub2, err := harness.PublishWHIP(ctx, whip, aws.ToString(key.Value), clip)
	if err != nil || pub2.Status != http.StatusCreated {
		t.Fatalf("publish again: %+v %v", pub2, err)
	}
	defer pub2.Close()
	waitLive(t, c, aws.ToString(ch.Arn))
	if _, err := c.StopStream(ctx, &ivs.StopStreamInput{ChannelArn: ch.Arn}); err != nil {
		t.Fatal(err)
	}
	waitOffline(t, c, aws.ToString(ch.Arn), 3*time.Second)
	harness.Eventually(t, 15*time.Second, func() error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, s.Endpoint()+pub2.Location, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			return fmt.Errorf("DELETE after StopStream: %d", resp.StatusCode)
		}
		return nil
	})
	if strings.Contains(s.Logs(), aws.ToString(key.Value)) {
		t.Errorf("the stream key appears in the server log")
	}
}

// A WHIP publisher that offers VP8 only (a browser without H.264) goes
// live: the VP8 is transcoded to H.264 for HLS and WHEP, and the session
// records what was sent (VP8).
func TestWHIPVP8(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	c := s.IVS()
	ch, key := createChannel(t, c, "whip-vp8", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	ctx := harness.Context(t, 90*time.Second)
	clip := harness.MakeVP8Clip(t, "640x360", 30, 4*time.Second)
	pub, err := harness.PublishWHIP(ctx, s.Endpoint()+"/whip", aws.ToString(key.Value), clip)
	if err != nil || pub.Status != http.StatusCreated {
		t.Fatalf("publish: %+v %v", pub, err)
	}
	defer pub.Close()
	st := waitLive(t, c, aws.ToString(ch.Arn))
	sess, err := c.GetStreamSession(ctx, &ivs.GetStreamSessionInput{ChannelArn: ch.Arn, StreamId: st.StreamId})
	if err != nil {
		t.Fatal(err)
	}
	if in := sess.StreamSession.IngestConfigurations; len(in.VideoConfigurations) != 1 ||
		aws.ToString(in.VideoConfigurations[0].Codec) != "vp8" || in.VideoConfigurations[0].VideoWidth != 640 {
		t.Errorf("ingest configurations %+v", in.VideoConfigurations)
	}

	checkHLS(t, ctx, ch, "640x360", 640, 360, 30, "avc1.", "mp4a.40.2")
	v := watchWHEP(t, ctx, s, ch, 60, 0)
	if vc, _ := v.Codecs(); vc != "video/H264" {
		t.Errorf("WHEP video %s", vc)
	}
	fs := v.Frames()
	for i := 1; i < len(fs); i++ {
		if d := fs[i].Timestamp - fs[i-1].Timestamp; d < 2900 || d > 3100 {
			t.Fatalf("WHEP frame %d: timestamp step %d", i, d)
		}
	}
}

// checkHLS checks that a channel's HLS plays size at fps with codecs: the
// multivariant's variant and a segment that decodes frame for frame.
func checkHLS(t *testing.T, ctx context.Context, ch *types.Channel, size string, w, h, fps int, codecs ...string) {
	t.Helper()
	playback := aws.ToString(ch.PlaybackUrl)
	mv, res := waitMultivariant(t, playback)
	checkVariant(t, mv.Variants[0], res, size, float64(fps), codecs...)
	mediaURL := harness.Resolve(playback, mv.Variants[0].URI)
	m, seg := waitSegment(t, ctx, mediaURL)
	checkSegment(t, mediaURL, m, seg, w, h, fps)
}

// watchWHEP plays a channel over WHEP until it has frames video frames and
// audio audio packets.
func watchWHEP(t *testing.T, ctx context.Context, s *harness.Server, ch *types.Channel, frames, audio int) *harness.WHEPViewer {
	t.Helper()
	v, err := harness.WatchWHEP(ctx, s.Endpoint()+"/whep/"+idOf(ch))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	harness.Eventually(t, 20*time.Second, func() error {
		if n := len(v.Frames()); n < frames {
			return fmt.Errorf("%d frames", n)
		}
		if n := v.AudioPackets(); n < audio {
			return fmt.Errorf("%d audio packets", n)
		}
		return nil
	})
	return v
}
