package e2e

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ivs"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"

	"github.com/onair-video/onair/test/e2e/harness"
)

// metricPoint and sessionMetrics mirror GET .../sessions/{id}/metrics (docs/api.md).
type metricPoint struct {
	Time             time.Time `json:"time"`
	Span             int       `json:"span"`
	VideoBitrate     int64     `json:"videoBitrate"`
	Framerate        float64   `json:"framerate"`
	AudioBitrate     int64     `json:"audioBitrate"`
	KeyframeInterval float64   `json:"keyframeInterval"`
	Viewers          int64     `json:"viewers"`
}

type aggregate struct{ Min, Avg, Max float64 }

type sessionMetrics struct {
	StreamID string        `json:"streamId"`
	Live     bool          `json:"live"`
	Points   []metricPoint `json:"points"`
	Stats    struct {
		Points       int64     `json:"points"`
		VideoBitrate aggregate `json:"videoBitrate"`
		Viewers      aggregate `json:"viewers"`
	} `json:"stats"`
}

// webhookEvent is the part of an EventBridge event the test reads.
type webhookEvent struct {
	ID         string   `json:"id"`
	DetailType string   `json:"detail-type"`
	Source     string   `json:"source"`
	Resources  []string `json:"resources"`
	Detail     struct {
		EventName       string `json:"event_name"`
		RecordingStatus string `json:"recording_status"`
		StreamID        string `json:"stream_id"`
		LimitName       string `json:"limit_name"`
		// IVS Stage Update
		SessionID           string `json:"session_id"`
		ParticipantID       string `json:"participant_id"`
		UserID              string `json:"user_id"`
		RemoteParticipantID string `json:"remote_participant_id"`
		// IVS Participant Recording State Change
		RecordingS3BucketName string `json:"recording_s3_bucket_name"`
		RecordingS3KeyPrefix  string `json:"recording_s3_key_prefix"`
	} `json:"detail"`
}

// receiver is a webhook endpoint that checks every signature.
type receiver struct {
	t      *testing.T
	secret string
	mu     sync.Mutex
	events []webhookEvent
	bad    []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	mac := hmac.New(sha256.New, []byte(rc.secret))
	mac.Write([]byte(r.Header.Get("X-Onair-Timestamp") + "." + string(body)))
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if !hmac.Equal([]byte(want), []byte(r.Header.Get("X-Onair-Signature"))) {
		rc.bad = append(rc.bad, "bad signature on "+string(body))
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var e webhookEvent
	if err := json.Unmarshal(body, &e); err != nil {
		rc.bad = append(rc.bad, "bad body "+string(body))
	}
	rc.events = append(rc.events, e)
}

func (rc *receiver) names(streamID string) []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for _, e := range rc.events {
		if e.Detail.StreamID == streamID {
			out = append(out, e.Detail.EventName)
		}
	}
	return out
}

// viewer plays an HLS channel like a player: the multivariant playlist
// once, then its media playlist every half second until stopped.
func viewer(ctx context.Context, playbackURL string) error {
	mv, _, err := harness.FetchMultivariant(ctx, playbackURL)
	if err != nil {
		return err
	}
	media := harness.Resolve(playbackURL, mv.Variants[0].URI)
	for ctx.Err() == nil {
		if _, err := harness.Fetch(ctx, media); err != nil && ctx.Err() == nil {
			return err
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	return nil
}

func viewerCount(t *testing.T, c *ivs.Client, arn *string) (int64, error) {
	out, err := c.GetStream(harness.Context(t, 5*time.Second), &ivs.GetStreamInput{ChannelArn: arn})
	if err != nil {
		return 0, err
	}
	return out.Stream.ViewerCount, nil
}

// wantViewers is nil once GetStream counts n viewers.
func wantViewers(t *testing.T, c *ivs.Client, arn *string, n int64) error {
	got, err := viewerCount(t, c, arn)
	if err != nil {
		return err
	}
	if got != n {
		return fmt.Errorf("viewerCount %d, want %d", got, n)
	}
	return nil
}

func health(c *ivs.Client, arn *string) string {
	out, err := c.GetStream(context.Background(), &ivs.GetStreamInput{ChannelArn: arn})
	if err != nil {
		return err.Error()
	}
	return string(out.Stream.Health)
}

// labelled returns the value of the first sample of a labelled metric.
func labelled(s *harness.Server, name string) (float64, error) {
	resp, err := http.Get(s.Endpoint() + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, name+"{") {
			return strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		}
	}
	return 0, fmt.Errorf("metric %s not found", name)
}

// TestStreamSessions is issue 4's scenario: two sessions at known settings,
// their ingest configuration, per-second metrics, viewers, starvation, and
// every event delivered to a webhook that was down while they happened.
func TestStreamSessions(t *testing.T) {
	t.Parallel()
	harness.Heavy(t) // a 720p encoder
	// The webhook's address is reserved and left closed: the receiver is
	// down for the whole of both sessions.
	hookAddr := reservedAddr(t)
	const secret = "e2e-webhook-secret"
	s := harness.Start(t, harness.Options{
		Args: []string{"--webhook-url", "http://" + hookAddr + "/hook", "--hls-viewer-timeout", "2s"},
		Env:  []string{"ONAIR_WEBHOOK_SECRET=" + secret},
	})
	c := s.IVS()
	ch, key := createChannel(t, c, "sessions", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)

	// Session 1: 1280x720 at 30 fps, 2000 kbps CBR, AAC 128 kbps 48 kHz stereo.
	pub := harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(aws.ToString(key.Value)), Size: "1280x720", Rate: 30, GOP: 60,
		VideoBitrate: "2000k", CBR: true, Audio: true, AudioBitrate: "128k"})
	first := waitLive(t, c, aws.ToString(ch.Arn))
	harness.Eventually(t, 10*time.Second, func() error {
		if h := health(c, ch.Arn); h != "HEALTHY" {
			return fmt.Errorf("health %s", h)
		}
		return nil
	})

	// The live series over SSE: two points arrive, a second apart.
	sseCtx, sseCancel := context.WithTimeout(context.Background(), 15*time.Second)
	req, err := s.SignedRequest(sseCtx, "/v1/channels/"+idOf(ch)+"/sessions/"+aws.ToString(first.StreamId)+"/metrics",
		http.Header{"Accept": {"text/event-stream"}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("metrics SSE: %v %+v", err, resp)
	}
	var live []metricPoint
	sc := bufio.NewScanner(resp.Body)
	for len(live) < 2 && sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var p metricPoint
			if err := json.Unmarshal([]byte(data), &p); err != nil {
				t.Fatalf("SSE point %q: %v", data, err)
			}
			live = append(live, p)
		}
	}
	sseCancel()
	resp.Body.Close()
	// Whole seconds carrying media (their rates are judged below, over
	// the whole session).
	if len(live) != 2 || live[1].Time.Sub(live[0].Time) != time.Second || live[1].Framerate <= 0 || live[1].VideoBitrate <= 0 {
		t.Fatalf("SSE points %+v", live)
	}

	// Viewers: three players, then one.
	playCtx, stopAll := context.WithCancel(context.Background())
	defer stopAll()
	cancels := make([]context.CancelFunc, 3)
	var wg sync.WaitGroup
	for i := range cancels {
		ctx, cancel := context.WithCancel(playCtx)
		cancels[i] = cancel
		wg.Add(1)
		go func() { defer wg.Done(); _ = viewer(ctx, aws.ToString(ch.PlaybackUrl)) }()
	}
	harness.Eventually(t, 15*time.Second, func() error {
		return wantViewers(t, c, ch.Arn, 3)
	})
	harness.Eventually(t, 15*time.Second, func() error {
		if v, err := labelled(s, "onair_channel_viewers"); err != nil {
			return err
		} else if v != 3 {
			return fmt.Errorf("onair_channel_viewers %v, want 3", v)
		}
		if v, err := labelled(s, "onair_ingest_video_bitrate_bps"); err != nil {
			return err
		} else if v < 1e6 {
			return fmt.Errorf("onair_ingest_video_bitrate_bps %v, want 1e6 or more", v)
		}
		return nil
	})
	cancels[0]()
	cancels[1]()
	harness.Eventually(t, 15*time.Second, func() error {
		return wantViewers(t, c, ch.Arn, 1)
	})
	stopAll()
	wg.Wait()
	// At least ten whole seconds of session 1 before it ends.
	harness.Eventually(t, 15*time.Second, func() error {
		var m sessionMetrics
		if err := s.GetJSON(harness.Context(t, 5*time.Second), "/v1/channels/"+idOf(ch)+"/sessions/latest/metrics", &m); err != nil {
			return err
		}
		if !m.Live || len(m.Points) < 10 {
			return fmt.Errorf("%d points so far", len(m.Points))
		}
		return nil
	})
	pub.Kill()
	waitOffline(t, c, aws.ToString(ch.Arn), 10*time.Second)

	// Session 2: 640x360 at 25 fps, 800 kbps, AAC 96 kbps 44.1 kHz mono;
	// the encoder is paused for 5 s.
	pub2 := harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(aws.ToString(key.Value)), Size: "640x360", Rate: 25, GOP: 50,
		VideoBitrate: "800k", CBR: true, Audio: true, AudioBitrate: "96k", AudioRate: 44100, AudioChannels: 1})
	second := waitLive(t, c, aws.ToString(ch.Arn))
	harness.Eventually(t, 10*time.Second, func() error {
		if h := health(c, ch.Arn); h != "HEALTHY" {
			return fmt.Errorf("health %s", h)
		}
		return nil
	})
	// Some healthy seconds first.
	harness.Eventually(t, 20*time.Second, func() error {
		var m sessionMetrics
		if err := s.GetJSON(harness.Context(t, 5*time.Second), "/v1/channels/"+idOf(ch)+"/sessions/"+aws.ToString(second.StreamId)+"/metrics", &m); err != nil {
			return err
		}
		if len(m.Points) < 2 {
			return fmt.Errorf("session 2 has %d points, want 2 before the encoder pauses", len(m.Points))
		}
		return nil
	})
	if err := pub2.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 8*time.Second, func() error {
		if h := health(c, ch.Arn); h != "STARVING" {
			return fmt.Errorf("health %s while the encoder is stopped", h)
		}
		return nil
	})
	// The encoder resumes once the starvation is an event of the session.
	harness.Eventually(t, 10*time.Second, func() error {
		got, err := c.GetStreamSession(harness.Context(t, 5*time.Second), &ivs.GetStreamSessionInput{ChannelArn: ch.Arn, StreamId: second.StreamId})
		if err != nil {
			return err
		}
		for _, e := range got.StreamSession.TruncatedEvents {
			if aws.ToString(e.Name) == "Starvation Start" {
				return nil
			}
		}
		return fmt.Errorf("no Starvation Start among %d events of session 2", len(got.StreamSession.TruncatedEvents))
	})
	if err := pub2.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 10*time.Second, func() error {
		if h := health(c, ch.Arn); h != "HEALTHY" {
			return fmt.Errorf("health %s after the encoder resumed", h)
		}
		return nil
	})
	pub2.Kill()
	waitOffline(t, c, aws.ToString(ch.Arn), 10*time.Second)

	// Both sessions, newest first, with what the encoder sent. GetStream
	// answers offline as the teardown begins; the session ends at its end.
	ctx := harness.Context(t, 20*time.Second)
	var list *ivs.ListStreamSessionsOutput
	harness.Eventually(t, 10*time.Second, func() error {
		list, err = c.ListStreamSessions(ctx, &ivs.ListStreamSessionsInput{ChannelArn: ch.Arn})
		if err != nil {
			return err
		}
		for _, ss := range list.StreamSessions {
			if ss.EndTime == nil {
				return fmt.Errorf("session %s not ended yet", aws.ToString(ss.StreamId))
			}
		}
		return nil
	})
	if len(list.StreamSessions) != 2 ||
		aws.ToString(list.StreamSessions[0].StreamId) != aws.ToString(second.StreamId) ||
		aws.ToString(list.StreamSessions[1].StreamId) != aws.ToString(first.StreamId) {
		t.Fatalf("ListStreamSessions: %+v, %v", list, err)
	}
	for _, want := range []struct {
		id                                 *string
		w, h, fps, vbps, rate, chans, abps int64
	}{
		{first.StreamId, 1280, 720, 30, 2_000_000, 48000, 2, 128_000},
		{second.StreamId, 640, 360, 25, 800_000, 44100, 1, 96_000},
	} {
		got, err := c.GetStreamSession(ctx, &ivs.GetStreamSessionInput{ChannelArn: ch.Arn, StreamId: want.id})
		if err != nil {
			t.Fatalf("GetStreamSession: %v", err)
		}
		ss := got.StreamSession
		vc, ac := ss.IngestConfigurations.VideoConfigurations, ss.IngestConfigurations.AudioConfigurations
		if len(vc) != 1 || len(ac) != 1 {
			t.Fatalf("ingestConfigurations %+v", ss.IngestConfigurations)
		}
		v, a := vc[0], ac[0]
		if !strings.HasPrefix(aws.ToString(v.Codec), "avc1.") || v.VideoWidth != want.w || v.VideoHeight != want.h ||
			v.TargetFramerate != want.fps || v.TargetBitrate != want.vbps || !strings.HasPrefix(aws.ToString(v.Encoder), "Lavf") ||
			aws.ToString(v.Profile) == "" || aws.ToString(v.Level) == "" || aws.ToString(v.Track) != "Track0" {
			t.Errorf("video configuration %s: %+v", aws.ToString(want.id), v)
		}
		if aws.ToString(a.Codec) != "mp4a.40.2" || a.SampleRate != want.rate || a.Channels != want.chans || a.TargetBitrate != want.abps {
			t.Errorf("audio configuration %s: %+v", aws.ToString(want.id), a)
		}
		legacy := ss.IngestConfiguration
		if legacy == nil || legacy.Video == nil || aws.ToString(legacy.Video.AvcProfile) != aws.ToString(v.Profile) ||
			legacy.Video.VideoWidth != want.w || legacy.Audio == nil || legacy.Audio.SampleRate != want.rate {
			t.Errorf("ingestConfiguration %s: %+v", aws.ToString(want.id), legacy)
		}
		var names []string
		for _, e := range ss.TruncatedEvents {
			names = append(names, aws.ToString(e.Type)+"/"+aws.ToString(e.Name))
		}
		wantNames := []string{"IVS Stream State Change/Session Ended", "IVS Stream State Change/Stream End"}
		if want.id == second.StreamId {
			wantNames = append(wantNames, "IVS Stream Health Change/Starvation End", "IVS Stream Health Change/Starvation Start")
		}
		wantNames = append(wantNames, "IVS Stream State Change/Stream Start", "IVS Stream State Change/Session Created")
		if !slices.Equal(names, wantNames) {
			t.Errorf("truncatedEvents of %s:\n got %q\nwant %q", aws.ToString(want.id), names, wantNames)
		}
	}

	// One point per second; session 1's rates those of the encoder's
	// settings.
	var m sessionMetrics
	if err := s.GetJSON(ctx, "/v1/channels/"+idOf(ch)+"/sessions/"+aws.ToString(first.StreamId)+"/metrics", &m); err != nil {
		t.Fatal(err)
	}
	if m.Live || len(m.Points) < 8 || m.Stats.Points != int64(len(m.Points)) || m.Stats.Viewers.Max != 3 {
		t.Fatalf("session 1 metrics: live %v, %d points, stats %+v", m.Live, len(m.Points), m.Stats)
	}
	var video, audio, fps []float64
	for i, p := range m.Points {
		if i > 0 && p.Time.Sub(m.Points[i-1].Time) != time.Second {
			t.Errorf("points %d and %d are %s apart", i-1, i, p.Time.Sub(m.Points[i-1].Time))
		}
		if p.KeyframeInterval != 0 && p.KeyframeInterval != 2 {
			t.Errorf("point %d: keyframe interval %v, want 2", i, p.KeyframeInterval)
		}
		// The encoder's first second fills its buffer; judge the rest.
		if i > 0 {
			video, audio, fps = append(video, float64(p.VideoBitrate)), append(audio, float64(p.AudioBitrate)), append(fps, p.Framerate)
		}
	}
	// Judged over the session, not second by second: x264's CBR keeps a
	// one-second buffer, and on a loaded machine the encoder (paced by
	// -re) falls behind and catches up, so a second strays while the
	// session holds. The median is the encoder's setting, and the middle
	// seconds are near it (p20 to p80: of about ten seconds, all but the
	// outermost one or two at each end).
	for _, r := range []struct {
		name        string
		got         []float64
		want        float64
		mid, spread float64 // relative tolerances of the median and of p20/p80
	}{
		{"video bps", video, 2_000_000, 0.10, 0.25},
		{"audio bps", audio, 128_000, 0.05, 0.15},
		{"fps", fps, 30, 0.05, 0.15},
	} {
		p20, p50, p80 := harness.Quantile(r.got, 0.2), harness.Quantile(r.got, 0.5), harness.Quantile(r.got, 0.8)
		if math.Abs(p50-r.want) > r.want*r.mid || p20 < r.want*(1-r.spread) || p80 > r.want*(1+r.spread) {
			t.Errorf("session 1 %s: p20 %.1f, median %.1f, p80 %.1f; want the median %.0f ±%.0f%% and p20-p80 within ±%.0f%%",
				r.name, p20, p50, p80, r.want, r.mid*100, r.spread*100)
		}
	}

	if math.Abs(m.Stats.VideoBitrate.Avg-2_000_000) > 100_000 {
		t.Errorf("session 1 video bitrate averages %.0f bps; want 2000k ±5%%", m.Stats.VideoBitrate.Avg)
	}
	t.Logf("session 1: %d points; video %.0f-%.0f bps (avg %.0f)", len(m.Points), m.Stats.VideoBitrate.Min,
		m.Stats.VideoBitrate.Max, m.Stats.VideoBitrate.Avg)
	for _, p := range m.Points {
		t.Logf("  %s video %7d audio %6d fps %4.1f keyint %.2f viewers %d", p.Time.Format("15:04:05"), p.VideoBitrate,
			p.AudioBitrate, p.Framerate, p.KeyframeInterval, p.Viewers)
	}

	// Usage: two sessions of input, and the viewers' seconds.
	var usage struct {
		Channels []struct {
			ChannelArn  string  `json:"channelArn"`
			InputHours  float64 `json:"inputHours"`
			ViewerHours float64 `json:"viewerHours"`
		} `json:"channels"`
	}
	if err := s.GetJSON(ctx, "/v1/usage", &usage); err != nil {
		t.Fatal(err)
	}
	// Input is the sessions' durations; viewer-seconds the sum of the
	// per-second viewer counts (session 2 had none).
	var input time.Duration
	for _, ss := range list.StreamSessions {
		input += ss.EndTime.Sub(*ss.StartTime)
	}
	var viewerSeconds int64
	for _, p := range m.Points {
		viewerSeconds += p.Viewers
	}
	if len(usage.Channels) != 1 || usage.Channels[0].ChannelArn != aws.ToString(ch.Arn) ||
		math.Abs(usage.Channels[0].InputHours*3600-input.Seconds()) > 0.01 ||
		math.Round(usage.Channels[0].ViewerHours*3600) != float64(viewerSeconds) || viewerSeconds < 4 {
		t.Fatalf("usage %+v; want %s of input and %d viewer-seconds", usage, input, viewerSeconds)
	}

	// The webhook comes up and receives every event, signed, in order.
	rc := serveWebhook(t, hookAddr, secret)
	want1 := []string{"Session Created", "Stream Start", "Stream End", "Session Ended"}
	want2 := []string{"Session Created", "Stream Start", "Starvation Start", "Starvation End", "Stream End", "Session Ended"}
	harness.Eventually(t, 30*time.Second, func() error {
		got1, got2 := rc.names(aws.ToString(first.StreamId)), rc.names(aws.ToString(second.StreamId))
		if !slices.Equal(got1, want1) || !slices.Equal(got2, want2) {
			return fmt.Errorf("webhook got %q and %q", got1, got2)
		}
		return nil
	})
	// The same log over SSE, replayed from the start (Last-Event-ID 0).
	sseCtx, sseCancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer sseCancel()
	req, err = s.SignedRequest(sseCtx, "/v1/events?channelArn="+aws.ToString(ch.Arn), http.Header{"Last-Event-ID": {"0"}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("events SSE: %v %+v", err, resp)
	}
	defer resp.Body.Close()
	var ids, names []string
	sc = bufio.NewScanner(resp.Body)
	for len(names) < len(want1) && sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
			ids = append(ids, id)
		}
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var e webhookEvent
			if err := json.Unmarshal([]byte(data), &e); err != nil {
				t.Fatalf("SSE event %q: %v", data, err)
			}
			names = append(names, e.Detail.EventName)
		}
	}
	if !slices.Equal(names, want1) || !slices.Equal(ids, []string{"1", "2", "3", "4"}) {
		t.Fatalf("SSE replay: ids %q names %q", ids, names)
	}

	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bad) > 0 {
		t.Fatalf("webhook: %q", rc.bad)
	}
	for _, e := range rc.events {
		if e.Source != "aws.ivs" || len(e.Resources) != 1 || e.Resources[0] != aws.ToString(ch.Arn) || e.ID == "" {
			t.Fatalf("event envelope %+v", e)
		}
	}
}

func idOf(ch *types.Channel) string {
	arn := aws.ToString(ch.Arn)
	return arn[strings.LastIndexByte(arn, '/')+1:]
}

// TestLimitBreach: a BASIC channel takes at most 1.5 Mbps at 480p and below;
// an encoder sending 2.5 Mbps is disconnected with IVS's Limit Breach event.
func TestLimitBreach(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	c := s.IVS()
	ch, key := createChannel(t, c, "breach", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	pub := harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(aws.ToString(key.Value)), Size: "640x360", VideoBitrate: "2500k", CBR: true})
	st := waitLive(t, c, aws.ToString(ch.Arn))
	if err := pub.Wait(30 * time.Second); err == nil || strings.Contains(err.Error(), "still running") {
		t.Fatalf("ffmpeg over the limit: %v, want it disconnected", err)
	}
	waitOffline(t, c, aws.ToString(ch.Arn), 10*time.Second)
	ctx := harness.Context(t, 10*time.Second)
	got, err := c.GetStreamSession(ctx, &ivs.GetStreamSessionInput{ChannelArn: ch.Arn, StreamId: st.StreamId})
	if err != nil {
		t.Fatal(err)
	}
	var breach *types.StreamEvent
	for i, e := range got.StreamSession.TruncatedEvents {
		if aws.ToString(e.Type) == "IVS Limit Breach" {
			breach = &got.StreamSession.TruncatedEvents[i]
		}
	}
	if breach == nil || aws.ToString(breach.Code) != "Ingest Bitrate" {
		t.Fatalf("truncatedEvents %+v, want an Ingest Bitrate limit breach", got.StreamSession.TruncatedEvents)
	}
	list, err := c.ListStreamSessions(ctx, &ivs.ListStreamSessionsInput{ChannelArn: ch.Arn})
	if err != nil || len(list.StreamSessions) != 1 || !list.StreamSessions[0].HasErrorEvent {
		t.Fatalf("ListStreamSessions: %+v, %v; want hasErrorEvent", list, err)
	}
	s.WaitLog(t, "over the channel type's limit of 1.50 Mbps", 10*time.Second) // the disconnect's reason
}

// TestInputQuota: once the month's input hours reach the quota, a new
// publish is refused with the reason in the log.
func TestInputQuota(t *testing.T) {
	t.Parallel()
	s := harness.Start(t, harness.Options{Args: []string{"--input-hours-quota", "0.001"}}) // 3.6 s
	c := s.IVS()
	ch, key := createChannel(t, c, "quota", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	// 12 s of media is about 10 s live (track discovery takes 2, more on
	// a loaded machine): well over 3.6 s.
	pub := harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(aws.ToString(key.Value)), Duration: 12 * time.Second})
	waitLive(t, c, aws.ToString(ch.Arn))
	if err := pub.Wait(40 * time.Second); err != nil {
		t.Fatalf("first publish: %v", err)
	}
	waitOffline(t, c, aws.ToString(ch.Arn), 10*time.Second)
	refused := harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(aws.ToString(key.Value)), Duration: 5 * time.Second})
	if err := refused.Wait(15 * time.Second); err == nil {
		t.Fatal("a publish over the quota succeeded")
	}
	s.WaitLog(t, "monthly input quota of 0.001 hours is used up", 10*time.Second) // the refusal's reason
	var usage struct {
		InputQuota struct {
			Hours          float64 `json:"hours"`
			RemainingHours float64 `json:"remainingHours"`
		} `json:"inputQuota"`
	}
	if err := s.GetJSON(harness.Context(t, 5*time.Second), "/v1/usage", &usage); err != nil ||
		usage.InputQuota.Hours != 0.001 || usage.InputQuota.RemainingHours != 0 {
		t.Fatalf("usage %+v, %v", usage, err)
	}
}
