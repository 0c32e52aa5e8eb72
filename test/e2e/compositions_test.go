package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"
	"github.com/aws/aws-sdk-go-v2/service/ivsrealtime"
	rttypes "github.com/aws/aws-sdk-go-v2/service/ivsrealtime/types"
	"github.com/aws/smithy-go"

	"github.com/onair-video/onair/test/e2e/harness"
)

// rgb is a pixel.
type rgb struct{ R, G, B int }

// near says whether p is about the pure colour want (each component within
// 70 of it: x264 and two colour conversions move it a little).
func (p rgb) near(want rgb) bool {
	d := func(a, b int) bool { return a-b < 70 && b-a < 70 }
	return d(p.R, want.R) && d(p.G, want.G) && d(p.B, want.B)
}

var (
	red   = rgb{255, 0, 0}
	blue  = rgb{0, 0, 255}
	lime  = rgb{0, 255, 0}
	black = rgb{0, 0, 0}
)

// lastFrame fetches a channel's newest complete LL-HLS segment (with its
// init section) and decodes its last picture to w x h RGB.
func lastFrame(ctx context.Context, t *testing.T, playbackURL string, w, h int) ([]byte, error) {
	out, err := decodeNewest(ctx, t, playbackURL, "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "rgb24")
	if err != nil {
		return nil, err
	}
	n := w * h * 3
	if len(out) < n || len(out)%n != 0 {
		return nil, fmt.Errorf("decoded %d bytes, not whole %dx%d pictures", len(out), w, h)
	}
	return out[len(out)-n:], nil
}

// audioRMS decodes the audio of a channel's newest complete segment to
// mono and returns its root mean square (of 16-bit samples).
func audioRMS(ctx context.Context, t *testing.T, playbackURL string) (float64, error) {
	out, err := decodeNewest(ctx, t, playbackURL, "-map", "0:a:0", "-ac", "1", "-f", "s16le")
	if err != nil {
		return 0, err
	}
	if len(out) < 2000 {
		return 0, fmt.Errorf("%d bytes of audio", len(out))
	}
	var sum float64
	for i := 0; i+1 < len(out); i += 2 {
		v := float64(int16(uint16(out[i]) | uint16(out[i+1])<<8))
		sum += v * v
	}
	return math.Sqrt(sum / float64(len(out)/2)), nil
}

// decodeNewest fetches a channel's newest complete LL-HLS segment with its
// init section and decodes it with ffmpeg's output arguments args.
func decodeNewest(ctx context.Context, t *testing.T, playbackURL string, args ...string) ([]byte, error) {
	mv, _, err := harness.FetchMultivariant(ctx, playbackURL)
	if err != nil {
		return nil, err
	}
	if len(mv.Variants) == 0 {
		return nil, errors.New("no variant")
	}
	mediaURL := harness.Resolve(playbackURL, mv.Variants[0].URI)
	m, _, err := harness.FetchMedia(ctx, mediaURL)
	if err != nil {
		return nil, err
	}
	if m.PartInf == nil || m.Map == nil {
		return nil, fmt.Errorf("not LL-HLS: part-inf %v map %v", m.PartInf, m.Map)
	}
	var seg string
	for i := len(m.Segments) - 1; i >= 0; i-- {
		if s := m.Segments[i]; !s.Gap && s.URI != "" {
			seg = s.URI
			break
		}
	}
	if seg == "" {
		return nil, errors.New("no complete segment yet")
	}
	var data []byte
	for _, u := range []string{m.Map.URI, seg} {
		res, err := harness.Fetch(ctx, harness.Resolve(mediaURL, u))
		if err != nil {
			return nil, fmt.Errorf("GET %s: %w", u, err)
		}
		if res.Status != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %d", u, res.Status)
		}
		data = append(data, res.Body...)
	}
	f := filepath.Join(t.TempDir(), "seg.mp4")
	if err := os.WriteFile(f, data, 0o600); err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, harness.RequireProgram(t, "ffmpeg"),
		append(append([]string{"-hide_banner", "-loglevel", "error", "-i", f}, args...), "pipe:1")...).Output()
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", seg, err)
	}
	return out, nil
}

// rtMessage is the exceptionMessage of an IVS Real-Time error (the SDK's
// ErrorMessage reads a message member the model does not have).
func rtMessage(err error) string {
	var (
		v *rttypes.ValidationException
		n *rttypes.ResourceNotFoundException
		c *rttypes.ConflictException
	)
	switch {
	case errors.As(err, &v):
		return aws.ToString(v.ExceptionMessage)
	case errors.As(err, &n):
		return aws.ToString(n.ExceptionMessage)
	case errors.As(err, &c):
		return aws.ToString(c.ExceptionMessage)
	}
	return ""
}

func pixel(img []byte, w, x, y int) rgb {
	i := (y*w + x) * 3
	return rgb{int(img[i]), int(img[i+1]), int(img[i+2])}
}

// checkPixels waits until the channel's newest picture has the colours
// want at the points given.
func checkPixels(ctx context.Context, t *testing.T, playbackURL string, w, h int, want map[[2]int]rgb) {
	t.Helper()
	harness.Eventually(t, 60*time.Second, func() error {
		img, err := lastFrame(ctx, t, playbackURL, w, h)
		if err != nil {
			return err
		}
		for at, c := range want {
			if p := pixel(img, w, at[0], at[1]); !p.near(c) {
				return fmt.Errorf("pixel %v is %v, want about %v", at, p, c)
			}
		}
		return nil
	})
}

// A composition end to end: two pion publishers of distinct colours on a
// stage, composed in a grid (aws-sdk-go-v2's StartComposition) onto a LOW
// channel: the channel goes LIVE, its LL-HLS shows red beside blue, with
// both publishers' audio mixed (and a second composition of the stage, in
// PiP onto another channel, shows blue in red's corner); a third
// publisher (lime) re-lays it to three tiles, and blue leaving to two
// again; GetComposition and ListCompositions show it ACTIVE; the AWS CLI reads it; StopComposition
// takes the channel offline and the composition to STOPPED; the
// composition's events reach the webhook and the stage's SSE stream.
func TestCompositionGridOntoChannel(t *testing.T) {
	t.Parallel()
	harness.Heavy(t)
	hookAddr := reservedAddr(t)
	const secret = "e2e-composition-webhook-secret"
	rc := serveWebhook(t, hookAddr, secret)
	s := harness.Start(t, harness.Options{
		Args: []string{"--webhook-url", "http://" + hookAddr + "/hook"},
		Env:  []string{"ONAIR_WEBHOOK_SECRET=" + secret},
	})
	ctx := harness.Context(t, 5*time.Minute)
	rt, ivsc := s.RealTime(), s.IVS()

	ch, _ := createChannel(t, ivsc, "composite", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	st, err := rt.CreateStage(ctx, &ivsrealtime.CreateStageInput{Name: aws.String("compose")})
	if err != nil {
		t.Fatal(err)
	}
	stageARN := aws.ToString(st.Stage.Arn)
	const w, h = 640, 360
	enc, err := rt.CreateEncoderConfiguration(ctx, &ivsrealtime.CreateEncoderConfigurationInput{Name: aws.String("small"),
		Video: &rttypes.Video{Width: aws.Int32(w), Height: aws.Int32(h), Framerate: aws.Float32(15), Bitrate: aws.Int32(800_000)}})
	if err != nil {
		t.Fatal(err)
	}
	storage, err := rt.CreateStorageConfiguration(ctx, &ivsrealtime.CreateStorageConfigurationInput{S3: &rttypes.S3StorageConfiguration{BucketName: aws.String("composites")}})
	if err != nil {
		t.Fatal(err)
	}
	dest := []rttypes.DestinationConfiguration{{Name: aws.String("live"), Channel: &rttypes.ChannelDestinationConfiguration{
		ChannelArn: ch.Arn, EncoderConfigurationArn: enc.EncoderConfiguration.Arn}}}

	// Refusals, each naming what is wrong.
	var ae smithy.APIError
	for _, tc := range []struct {
		name string
		in   *ivsrealtime.StartCompositionInput
		code string
		msg  string
	}{
		{"unknown channel", &ivsrealtime.StartCompositionInput{StageArn: aws.String(stageARN), Destinations: []rttypes.DestinationConfiguration{{
			Channel: &rttypes.ChannelDestinationConfiguration{ChannelArn: aws.String(strings.Replace(aws.ToString(ch.Arn), "channel/", "channel/x", 1))}}}},
			"ResourceNotFoundException", "not found"},
		{"unknown stage", &ivsrealtime.StartCompositionInput{StageArn: aws.String(stageARN + "x"), Destinations: dest},
			"ResourceNotFoundException", "not found"},
		{"grid and pip", &ivsrealtime.StartCompositionInput{StageArn: aws.String(stageARN), Destinations: dest,
			Layout: &rttypes.LayoutConfiguration{Grid: &rttypes.GridConfiguration{}, Pip: &rttypes.PipConfiguration{}}},
			"ValidationException", "layout"},
		{"bad fill mode", &ivsrealtime.StartCompositionInput{StageArn: aws.String(stageARN), Destinations: dest,
			Layout: &rttypes.LayoutConfiguration{Grid: &rttypes.GridConfiguration{VideoFillMode: "STRETCH"}}},
			"ValidationException", "layout.grid.videoFillMode"},
		{"s3", &ivsrealtime.StartCompositionInput{StageArn: aws.String(stageARN), Destinations: []rttypes.DestinationConfiguration{{
			S3: &rttypes.S3DestinationConfiguration{StorageConfigurationArn: aws.String("arn:aws:ivs:us-east-1:123456789012:storage-configuration/abcdABCDefgh"),
				EncoderConfigurationArns: []string{aws.ToString(enc.EncoderConfiguration.Arn)}}}}},
			"ResourceNotFoundException", "storage"},
		{"s3 with two encoders", &ivsrealtime.StartCompositionInput{StageArn: aws.String(stageARN), Destinations: []rttypes.DestinationConfiguration{{
			S3: &rttypes.S3DestinationConfiguration{StorageConfigurationArn: storage.StorageConfiguration.Arn,
				EncoderConfigurationArns: []string{aws.ToString(enc.EncoderConfiguration.Arn), aws.ToString(enc.EncoderConfiguration.Arn)}}}}},
			"ValidationException", "destinations[0].s3.encoderConfigurationArns"},
	} {
		if _, err := rt.StartComposition(ctx, tc.in); !errors.As(err, &ae) || ae.ErrorCode() != tc.code || !strings.Contains(rtMessage(err), tc.msg) {
			t.Errorf("%s: %v, want %s naming %q", tc.name, err, tc.code, tc.msg)
		}
	}

	baseline := s.Goroutines(t)
	whip := s.Endpoint() + "/stage/whip"
	var pubs []*harness.WHIPPublisher
	publish := func(color string) {
		t.Helper()
		tok, err := rt.CreateParticipantToken(ctx, &ivsrealtime.CreateParticipantTokenInput{StageArn: aws.String(stageARN),
			UserId: aws.String(color), Capabilities: []rttypes.ParticipantTokenCapability{rttypes.ParticipantTokenCapabilityPublish}})
		if err != nil {
			t.Fatal(err)
		}
		clip := harness.MakeColorClip(t, color, "320x180", 15, 2*time.Second)
		p, err := harness.PublishWHIP(ctx, whip, aws.ToString(tok.ParticipantToken.Token), clip)
		if err != nil || p.Status != http.StatusCreated {
			t.Fatalf("publish %s: %v %+v", color, err, p)
		}
		t.Cleanup(p.Close)
		pubs = append(pubs, p)
		id := aws.ToString(tok.ParticipantToken.ParticipantId)
		// Wait until the stage has it publishing, so arrival order is the
		// order of the calls.
		harness.Eventually(t, 30*time.Second, func() error {
			g, err := rt.GetStage(ctx, &ivsrealtime.GetStageInput{Arn: aws.String(stageARN)})
			if err != nil || g.Stage.ActiveSessionId == nil {
				return fmt.Errorf("no session: %w", err)
			}
			pp, err := rt.GetParticipant(ctx, &ivsrealtime.GetParticipantInput{StageArn: aws.String(stageARN),
				SessionId: g.Stage.ActiveSessionId, ParticipantId: aws.String(id)})
			if err != nil || !pp.Participant.Published {
				return fmt.Errorf("%s not published yet: %w", color, err)
			}
			return nil
		})
	}
	publish("red")
	publish("blue")

	started, err := rt.StartComposition(ctx, &ivsrealtime.StartCompositionInput{StageArn: aws.String(stageARN),
		IdempotencyToken: aws.String("e2e-grid"), Destinations: dest, Tags: map[string]string{"team": "e2e"}})
	if err != nil {
		t.Fatal(err)
	}
	comp := started.Composition
	arn := aws.ToString(comp.Arn)
	if comp.State != rttypes.CompositionStateStarting || len(comp.Destinations) != 1 || comp.Layout == nil || comp.Layout.Grid == nil ||
		comp.Layout.Grid.GridGap != 2 || comp.Layout.Grid.VideoAspectRatio != rttypes.VideoAspectRatioVideo || comp.Tags["team"] != "e2e" {
		t.Fatalf("StartComposition returned %+v", comp)
	}
	// The same idempotency token is the same composition.
	again, err := rt.StartComposition(ctx, &ivsrealtime.StartCompositionInput{StageArn: aws.String(stageARN),
		IdempotencyToken: aws.String("e2e-grid"), Destinations: dest})
	if err != nil || aws.ToString(again.Composition.Arn) != arn {
		t.Fatalf("repeated StartComposition: %v %+v", err, again)
	}
	// The channel is now the composition's: another composition (or an
	// encoder) finds it busy.
	if _, err := rt.StartComposition(ctx, &ivsrealtime.StartCompositionInput{StageArn: aws.String(stageARN), Destinations: dest}); !errors.As(err, &ae) || ae.ErrorCode() != "ConflictException" {
		t.Errorf("second composition onto the channel: %v, want ConflictException", err)
	}
	if _, err := rt.DeleteEncoderConfiguration(ctx, &ivsrealtime.DeleteEncoderConfigurationInput{Arn: enc.EncoderConfiguration.Arn}); !errors.As(err, &ae) || ae.ErrorCode() != "ConflictException" {
		t.Errorf("deleting the encoder configuration in use: %v, want ConflictException", err)
	}

	live := waitLive(t, ivsc, aws.ToString(ch.Arn))
	t.Logf("the channel is live: stream %s", aws.ToString(live.StreamId))
	playback := aws.ToString(ch.PlaybackUrl)
	// Two side by side: 318x178 tiles, red on the left, blue on the right,
	// black above and below.
	checkPixels(ctx, t, playback, w, h, map[[2]int]rgb{{160, 180}: red, {480, 180}: blue, {320, 40}: black, {320, 330}: black})
	// The publishers' tones are mixed into the composite's AAC (each alone
	// is a sine of RMS about 2,900; silence would be 0).
	harness.Eventually(t, 30*time.Second, func() error {
		rms, err := audioRMS(ctx, t, playback)
		if err != nil {
			return err
		}
		if rms < 500 {
			return fmt.Errorf("the composite's audio has RMS %.0f: silent", rms)
		}
		t.Logf("the composite's audio: RMS %.0f", rms)
		return nil
	})

	// The same stage in PiP onto a second channel at once: red fills the
	// canvas, blue is in the bottom-right window (a sixteenth of the canvas:
	// 160x90).
	ch2, _ := createChannel(t, ivsc, "pip", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	pip, err := rt.StartComposition(ctx, &ivsrealtime.StartCompositionInput{StageArn: aws.String(stageARN),
		Layout: &rttypes.LayoutConfiguration{Pip: &rttypes.PipConfiguration{PipPosition: rttypes.PipPositionBottomRight}},
		Destinations: []rttypes.DestinationConfiguration{{Channel: &rttypes.ChannelDestinationConfiguration{ChannelArn: ch2.Arn,
			EncoderConfigurationArn: enc.EncoderConfiguration.Arn}}}})
	if err != nil {
		t.Fatal(err)
	}
	waitLive(t, ivsc, aws.ToString(ch2.Arn))
	checkPixels(ctx, t, aws.ToString(ch2.PlaybackUrl), w, h, map[[2]int]rgb{{100, 100}: red, {560, 315}: blue, {440, 315}: red})
	if _, err := rt.StopComposition(ctx, &ivsrealtime.StopCompositionInput{Arn: pip.Composition.Arn}); err != nil {
		t.Fatal(err)
	}
	waitOffline(t, ivsc, aws.ToString(ch2.Arn), 30*time.Second)

	g, err := rt.GetComposition(ctx, &ivsrealtime.GetCompositionInput{Arn: aws.String(arn)})
	if err != nil || g.Composition.State != rttypes.CompositionStateActive || g.Composition.Destinations[0].State != rttypes.DestinationStateActive ||
		g.Composition.Destinations[0].StartTime == nil || g.Composition.StartTime == nil {
		t.Fatalf("GetComposition: %v %+v", err, g)
	}
	if c := g.Composition.Destinations[0].Configuration.Channel; c == nil || aws.ToString(c.ChannelArn) != aws.ToString(ch.Arn) {
		t.Errorf("destination configuration %+v", g.Composition.Destinations[0].Configuration)
	}
	l, err := rt.ListCompositions(ctx, &ivsrealtime.ListCompositionsInput{FilterByStageArn: aws.String(stageARN)})
	if err != nil || len(l.Compositions) != 2 { // the grid and the PiP one (stopped, still readable)
		t.Fatalf("ListCompositions: %v %+v", err, l)
	}
	if i := slices.IndexFunc(l.Compositions, func(c rttypes.CompositionSummary) bool { return aws.ToString(c.Arn) == arn }); i < 0 ||
		l.Compositions[i].State != rttypes.CompositionStateActive {
		t.Fatalf("ListCompositions: the grid composition is not listed ACTIVE: %+v", l.Compositions)
	}
	if l, err := rt.ListCompositions(ctx, &ivsrealtime.ListCompositionsInput{FilterByStageArn: aws.String(stageARN + "x")}); err != nil || len(l.Compositions) != 0 {
		t.Errorf("ListCompositions of another stage: %v %+v", err, l)
	}

	// A third participant: a 2x2 grid, red and blue above, lime centred
	// below.
	publish("lime")
	checkPixels(ctx, t, playback, w, h, map[[2]int]rgb{{160, 90}: red, {480, 90}: blue, {320, 270}: lime, {60, 270}: black})

	// Blue leaves: two tiles again, red and lime side by side.
	pubs[1].Close()
	checkPixels(ctx, t, playback, w, h, map[[2]int]rgb{{160, 180}: red, {480, 180}: lime, {320, 40}: black})

	// The AWS CLI reads the composition too.
	var got struct {
		Composition struct {
			State        string
			Destinations []struct{ State string }
		}
	}
	newCLI(t, s).realtime(&got, "get-composition", "--arn", arn)
	if got.Composition.State != "ACTIVE" || len(got.Composition.Destinations) != 1 || got.Composition.Destinations[0].State != "ACTIVE" {
		t.Errorf("aws ivs-realtime get-composition: %+v", got)
	}

	if _, err := rt.StopComposition(ctx, &ivsrealtime.StopCompositionInput{Arn: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	waitOffline(t, ivsc, aws.ToString(ch.Arn), 30*time.Second)
	harness.Eventually(t, 30*time.Second, func() error {
		g, err := rt.GetComposition(ctx, &ivsrealtime.GetCompositionInput{Arn: aws.String(arn)})
		if err != nil {
			return err
		}
		if c := g.Composition; c.State != rttypes.CompositionStateStopped || c.EndTime == nil || c.Destinations[0].State != rttypes.DestinationStateStopped {
			return fmt.Errorf("composition %s, destination %s", c.State, c.Destinations[0].State)
		}
		return nil
	})

	// Events: the webhook and the stage's SSE stream both have the
	// composition's session and destination.
	want := []string{"Session Start", "Destination Start", "Destination End", "Session End"}
	harness.Eventually(t, 30*time.Second, func() error {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		var got []string
		for _, e := range rc.events {
			if e.DetailType == "IVS Composition State Change" && len(e.Resources) == 2 && e.Resources[0] == arn {
				if e.Resources[1] != stageARN {
					return fmt.Errorf("resources %v", e.Resources)
				}
				got = append(got, e.Detail.EventName)
			}
		}
		if !slices.Equal(sorted(got), sorted(want)) {
			return fmt.Errorf("webhook got %q", got)
		}
		return nil
	})
	stream := stageEventsReplay(ctx, t, s, stageARN)
	var sse []string
	sc := bufio.NewScanner(stream)
	for len(sse) < len(want) && sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || !strings.Contains(data, "IVS Composition State Change") {
			continue
		}
		var e struct {
			Resources []string
			Detail    struct {
				EventName string `json:"event_name"`
				StageARN  string `json:"stage_arn"`
				ID        string `json:"id"`
			}
		}
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			t.Fatal(err)
		}
		if len(e.Resources) == 0 || e.Resources[0] != arn {
			continue // the PiP composition's
		}
		if e.Detail.StageARN != stageARN || (strings.HasPrefix(e.Detail.EventName, "Destination") && e.Detail.ID != aws.ToString(comp.Destinations[0].Id)) {
			t.Errorf("SSE event %s", data)
		}
		sse = append(sse, e.Detail.EventName)
	}
	if !slices.Equal(sorted(sse), sorted(want)) {
		t.Errorf("SSE composition events %q, want %q", sse, want)
	}
	stream.Close()
	for _, p := range pubs {
		p.Close()
	}
	// Nothing of the composition is left running: its taps, decoders,
	// encoders and destination are gone with the publishers.
	s.WaitGoroutines(t, baseline+5, 30*time.Second)
	if strings.Contains(s.Logs(), "level=ERROR") {
		t.Errorf("the server logged errors:\n%s", grepLines(s.Logs(), "level=ERROR"))
	}
}

// A composition outlives a restart: the server stops with it running (the
// channel goes offline), and when it starts again on the same data the
// composition runs again and its channel is live (an empty stage composes
// black until the idle timeout).
func TestCompositionResumesAfterRestart(t *testing.T) {
	t.Parallel()
	harness.Heavy(t)
	s := harness.Start(t)
	ctx := harness.Context(t, 3*time.Minute)
	rt, ivsc := s.RealTime(), s.IVS()
	ch, _ := createChannel(t, ivsc, "resumed", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	st, err := rt.CreateStage(ctx, &ivsrealtime.CreateStageInput{})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := rt.CreateEncoderConfiguration(ctx, &ivsrealtime.CreateEncoderConfigurationInput{
		Video: &rttypes.Video{Width: aws.Int32(320), Height: aws.Int32(180), Framerate: aws.Float32(10), Bitrate: aws.Int32(200_000)}})
	if err != nil {
		t.Fatal(err)
	}
	started, err := rt.StartComposition(ctx, &ivsrealtime.StartCompositionInput{StageArn: st.Stage.Arn,
		Destinations: []rttypes.DestinationConfiguration{{Channel: &rttypes.ChannelDestinationConfiguration{ChannelArn: ch.Arn,
			EncoderConfigurationArn: enc.EncoderConfiguration.Arn}}}})
	if err != nil {
		t.Fatal(err)
	}
	arn := started.Composition.Arn
	waitLive(t, ivsc, aws.ToString(ch.Arn))
	s.Stop()

	s2 := harness.Start(t, harness.Options{DataDir: s.DataDir})
	rt2, ivsc2 := s2.RealTime(), s2.IVS()
	waitLive(t, ivsc2, aws.ToString(ch.Arn))
	g, err := rt2.GetComposition(ctx, &ivsrealtime.GetCompositionInput{Arn: arn})
	if err != nil || g.Composition.State != rttypes.CompositionStateActive {
		t.Fatalf("after the restart: %v %+v", err, g)
	}
	if _, err := rt2.StopComposition(ctx, &ivsrealtime.StopCompositionInput{Arn: arn}); err != nil {
		t.Fatal(err)
	}
	waitOffline(t, ivsc2, aws.ToString(ch.Arn), 30*time.Second)
	for _, srv := range []*harness.Server{s, s2} {
		if strings.Contains(srv.Logs(), "level=ERROR") {
			t.Errorf("the server logged errors:\n%s", grepLines(srv.Logs(), "level=ERROR"))
		}
	}
}

// A composition with a channel and an S3 destination: both go ACTIVE; the
// S3 destination's recordingPrefix (<stage>/<composition>/<destination>/
// composite) holds, once the composition stops, the event files, a
// multivariant and an ended media playlist of the encoder configuration's
// size, segments that decode to the red publisher's picture, and
// thumbnails.
func TestCompositionToS3(t *testing.T) {
	t.Parallel()
	harness.Heavy(t)
	s3srv := harness.StartS3(t)
	s3srv.CreateBucket(t, "composites")
	s := harness.Start(t, s3srv.OnairOptions())
	ctx := harness.Context(t, 4*time.Minute)
	rt, ivsc := s.RealTime(), s.IVS()
	ch, _ := createChannel(t, ivsc, "both", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	st, err := rt.CreateStage(ctx, &ivsrealtime.CreateStageInput{Name: aws.String("recorded")})
	if err != nil {
		t.Fatal(err)
	}
	stageARN := aws.ToString(st.Stage.Arn)
	const w, h = 320, 180
	enc, err := rt.CreateEncoderConfiguration(ctx, &ivsrealtime.CreateEncoderConfigurationInput{
		Video: &rttypes.Video{Width: aws.Int32(w), Height: aws.Int32(h), Framerate: aws.Float32(15), Bitrate: aws.Int32(300_000)}})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := rt.CreateStorageConfiguration(ctx, &ivsrealtime.CreateStorageConfigurationInput{S3: &rttypes.S3StorageConfiguration{BucketName: aws.String("composites")}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := rt.CreateParticipantToken(ctx, &ivsrealtime.CreateParticipantTokenInput{StageArn: st.Stage.Arn,
		Capabilities: []rttypes.ParticipantTokenCapability{rttypes.ParticipantTokenCapabilityPublish}})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := harness.PublishWHIP(ctx, s.Endpoint()+"/stage/whip", aws.ToString(tok.ParticipantToken.Token), harness.MakeColorClip(t, "red", "320x180", 15, 2*time.Second))
	if err != nil || pub.Status != http.StatusCreated {
		t.Fatalf("publish: %v %+v", err, pub)
	}
	t.Cleanup(pub.Close)
	began := time.Now()
	started, err := rt.StartComposition(ctx, &ivsrealtime.StartCompositionInput{StageArn: st.Stage.Arn, Destinations: []rttypes.DestinationConfiguration{
		{Channel: &rttypes.ChannelDestinationConfiguration{ChannelArn: ch.Arn, EncoderConfigurationArn: enc.EncoderConfiguration.Arn}},
		{S3: &rttypes.S3DestinationConfiguration{StorageConfigurationArn: sc.StorageConfiguration.Arn,
			EncoderConfigurationArns: []string{aws.ToString(enc.EncoderConfiguration.Arn)},
			RecordingConfiguration:   &rttypes.RecordingConfiguration{HlsConfiguration: &rttypes.CompositionRecordingHlsConfiguration{TargetSegmentDurationSeconds: aws.Int32(2)}},
			ThumbnailConfigurations:  []rttypes.CompositionThumbnailConfiguration{{TargetIntervalSeconds: aws.Int32(1)}}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(started.Composition.Arn)
	d := started.Composition.Destinations[1]
	if d.Detail == nil || d.Detail.S3 == nil {
		t.Fatalf("the s3 destination has no detail: %+v", d)
	}
	prefix := aws.ToString(d.Detail.S3.RecordingPrefix)
	stageID := stageARN[strings.LastIndexByte(stageARN, '/')+1:]
	compID := arn[strings.LastIndexByte(arn, '/')+1:]
	if prefix != stageID+"/"+compID+"/"+aws.ToString(d.Id)+"/composite" {
		t.Fatalf("recordingPrefix %q", prefix)
	}
	harness.Eventually(t, 60*time.Second, func() error {
		g, err := rt.GetComposition(ctx, &ivsrealtime.GetCompositionInput{Arn: aws.String(arn)})
		if err != nil {
			return err
		}
		for _, d := range g.Composition.Destinations {
			if d.State != rttypes.DestinationStateActive {
				return fmt.Errorf("destination %s is %s", aws.ToString(d.Id), d.State)
			}
		}
		return nil
	})
	waitLive(t, ivsc, aws.ToString(ch.Arn))
	// Let a few segments and thumbnails be made, then stop.
	harness.Eventually(t, 60*time.Second, func() error {
		keys, err := s3srv.Keys(ctx, "composites", prefix+"/media/hls/")
		if err != nil {
			return err
		}
		n := 0
		for _, k := range keys {
			if strings.HasSuffix(k, ".ts") {
				n++
			}
		}
		if n < 2 {
			return fmt.Errorf("%d segments so far: %v", n, keys)
		}
		return nil
	})
	active, err := rt.GetComposition(ctx, &ivsrealtime.GetCompositionInput{Arn: aws.String(arn)})
	if err != nil || active.Composition.Destinations[1].StartTime == nil {
		t.Fatalf("the S3 destination's start: %v %+v", err, active)
	}
	if _, err := rt.StopComposition(ctx, &ivsrealtime.StopCompositionInput{Arn: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	rendition := fmt.Sprintf("%dx%d", w, h)
	var playlist string
	harness.Eventually(t, 60*time.Second, func() error {
		b, err := s3srv.Get(ctx, "composites", prefix+"/media/hls/"+rendition+"/playlist.m3u8")
		if err != nil {
			return err
		}
		if !strings.Contains(string(b), "#EXT-X-ENDLIST") {
			return errors.New("the media playlist has not ended")
		}
		if _, err := s3srv.Get(ctx, "composites", prefix+"/events/recording-ended.json"); err != nil {
			return err
		}
		playlist = string(b)
		return nil
	})
	keys, err := s3srv.Keys(ctx, "composites", prefix+"/")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"/events/recording-started.json", "/media/hls/multivariant.m3u8", "/media/thumbnails/" + rendition + "/thumb0.jpg"} {
		if !slices.Contains(keys, prefix+want) {
			t.Errorf("%s missing from %v", want, keys)
		}
	}
	// The whole recording plays in ffprobe for as long as the destination
	// was ACTIVE (and no longer than the composition ran).
	local := t.TempDir()
	for _, k := range keys {
		b, err := s3srv.Get(ctx, "composites", k)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(local, strings.TrimPrefix(k, prefix+"/"))
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	played := probeDuration(t, filepath.Join(local, "media", "hls", "multivariant.m3u8"))
	lo, hi := stopped.Sub(*active.Composition.Destinations[1].StartTime).Seconds()-2, stopped.Sub(began).Seconds()+1
	if played < lo || played > hi {
		t.Errorf("the composite recording plays %.2f s; its destination was active %.1f s, the composition ran %.1f s", played, lo+2, hi-1)
	}
	t.Logf("composite recording: %.2f s; destination active %.1f s", played, lo+2)
	var seg string
	for _, l := range strings.Split(playlist, "\n") {
		if strings.HasSuffix(l, ".ts") {
			seg = l
			break
		}
	}
	data, err := s3srv.Get(ctx, "composites", prefix+"/media/hls/"+rendition+"/"+seg)
	if err != nil {
		t.Fatalf("segment %q: %v\n%s", seg, err, playlist)
	}
	if p := harness.FFprobe(t, data); p.Codec != "h264" || p.Width != w || p.Height != h || p.Frames == 0 {
		t.Errorf("segment %s: %+v", seg, p)
	}
	cmd := exec.CommandContext(ctx, harness.RequireProgram(t, "ffmpeg"), "-hide_banner", "-loglevel", "error", "-i", "pipe:0",
		"-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1")
	cmd.Stdin = bytes.NewReader(data)
	img, err := cmd.Output()
	if n := w * h * 3; err != nil || len(img) < n {
		t.Fatalf("decode segment %s: %v (%d bytes)", seg, err, len(img))
	} else if p := pixel(img[len(img)-n:], w, w/2, h/2); !p.near(red) {
		t.Errorf("the recorded composite's centre is %v, not red", p)
	}
	harness.Eventually(t, 30*time.Second, func() error {
		g, err := rt.GetComposition(ctx, &ivsrealtime.GetCompositionInput{Arn: aws.String(arn)})
		if err != nil {
			return err
		}
		if g.Composition.State != rttypes.CompositionStateStopped || g.Composition.Destinations[1].State != rttypes.DestinationStateStopped {
			return fmt.Errorf("%s, s3 destination %s", g.Composition.State, g.Composition.Destinations[1].State)
		}
		return nil
	})
	if strings.Contains(s.Logs(), "level=ERROR") {
		t.Errorf("the server logged errors:\n%s", grepLines(s.Logs(), "level=ERROR"))
	}
}
