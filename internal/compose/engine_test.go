package compose

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/onair-video/onair/internal/ffmpeg"
	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/live/livetest"
	"github.com/onair-video/onair/internal/stream"
)

func needFFmpeg(t *testing.T) string {
	t.Helper()
	p, err := ffmpeg.Path()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return p
}

// h264Clip is d of a colour at size and fps, as H.264 access units
// (Annex-B, a keyframe every second).
func h264Clip(t *testing.T, color, size string, fps int) [][]byte {
	t.Helper()
	f := filepath.Join(t.TempDir(), "v.h264")
	out, err := exec.Command(needFFmpeg(t), "-hide_banner", "-loglevel", "error", "-f", "lavfi",
		"-i", fmt.Sprintf("color=c=%s:size=%s:rate=%d", color, size, fps), "-t", "1",
		"-c:v", "libx264", "-profile:v", "baseline", "-preset", "ultrafast", "-tune", "zerolatency", "-g", fmt.Sprint(fps),
		"-bsf:v", "h264_metadata=aud=insert", "-f", "h264", f).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	aud := []byte{0, 0, 0, 1, 9}
	var aus [][]byte
	for _, p := range bytes.Split(raw, aud)[1:] {
		aus = append(aus, append(slices.Clone(aud), p...))
	}
	return aus
}

// fakeTap sends a clip's frames as RTP, looping, at its frame rate; a
// keyframe request restarts the clip (its first frame is a keyframe).
type fakeTap struct {
	done   chan struct{}
	closed sync.Once
	key    chan struct{}
	layers []Layer

	mu       sync.Mutex
	selected string
}

func (f *fakeTap) Close()                { f.closed.Do(func() { close(f.done) }) }
func (f *fakeTap) Done() <-chan struct{} { return f.done }
func (f *fakeTap) RequestKeyframe() {
	select {
	case f.key <- struct{}{}:
	default:
	}
}
func (f *fakeTap) Codecs() (VideoCodec, bool) { return CodecH264, false }
func (f *fakeTap) Layers() []Layer            { return f.layers }
func (f *fakeTap) SelectLayer(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.selected = id
	return nil
}

type fakeStage struct {
	mu     sync.Mutex
	pubs   []Publisher
	fns    []func([]Publisher)
	clip   [][]byte
	fps    int
	wg     sync.WaitGroup
	layers []Layer
	taps   []*fakeTap
}

func (s *fakeStage) Watch(_ string, fn func([]Publisher)) func() {
	s.mu.Lock()
	s.fns = append(s.fns, fn)
	pubs := slices.Clone(s.pubs)
	s.mu.Unlock()
	fn(pubs)
	return func() {}
}

// update tells the watchers of a new set of publishers.
func (s *fakeStage) update(pubs []Publisher) {
	s.mu.Lock()
	s.pubs = pubs
	fns := slices.Clone(s.fns)
	s.mu.Unlock()
	for _, fn := range fns {
		fn(slices.Clone(pubs))
	}
}

func (s *fakeStage) Tap(_, id, _ string, _, video func(*rtp.Header, []byte)) (Tap, error) {
	t := &fakeTap{done: make(chan struct{}), key: make(chan struct{}, 1), layers: s.layers}
	s.mu.Lock()
	s.taps = append(s.taps, t)
	s.mu.Unlock()
	s.wg.Go(func() {
		pz := &codecs.H264Payloader{}
		tick := time.NewTicker(time.Second / time.Duration(s.fps))
		defer tick.Stop()
		var seq uint16
		var ts uint32
		for i := 0; ; i++ {
			select {
			case <-t.done:
				return
			case <-t.key:
				i = 0
			case <-tick.C:
			}
			au := s.clip[i%len(s.clip)]
			payloads := pz.Payload(1200, au)
			for j, p := range payloads {
				video(&rtp.Header{SequenceNumber: seq, Timestamp: ts, Marker: j == len(payloads)-1}, p)
				seq++
			}
			ts += uint32(90000 / s.fps)
		}
	})
	return t, nil
}

type fakeChannels struct{ ch ivs.Channel }

func (f fakeChannels) GetChannel(_ context.Context, arn string) (ivs.Channel, error) {
	if arn != f.ch.ARN {
		return ivs.Channel{}, ivs.NotFound("channel", arn)
	}
	return f.ch, nil
}

type fakeReporter struct {
	mu     sync.Mutex
	states []string
}

func (f *fakeReporter) SetCompositionState(_ context.Context, _, state, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.states = append(f.states, "composition "+state)
	return nil
}

func (f *fakeReporter) SetDestinationState(_ context.Context, _, dest, state, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.states = append(f.states, dest+" "+state)
	return nil
}

func (f *fakeReporter) waitFor(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		f.mu.Lock()
		got := slices.Clone(f.states)
		f.mu.Unlock()
		if len(got) >= len(want) && slices.Equal(got[len(got)-len(want):], want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("states %q, want them to end with %q", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// decodeCentre decodes a keyframe access unit (with the track's
// parameter sets) and returns the RGB of its middle pixel.
func decodeCentre(t *testing.T, tr *stream.Track, u *stream.Unit, w, h int) [3]byte {
	t.Helper()
	c := tr.Codec.(*stream.H264)
	var b []byte
	for _, n := range append([][]byte{c.SPS, c.PPS}, u.Payload...) {
		b = append(append(b, 0, 0, 0, 1), n...)
	}
	out, err := ffmpeg.Run(context.Background(), bytes.NewReader(b), "-hide_banner", "-loglevel", "error", "-f", "h264", "-i", "pipe:0",
		"-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1")
	if err != nil || len(out) < w*h*3 {
		t.Fatalf("decode the composite: %v (%d bytes)", err, len(out))
	}
	i := (h/2*w + w/2) * 3
	return [3]byte{out[i], out[i+1], out[i+2]}
}

// The engine end to end without a stage or a server: a publisher's H.264
// composed alone onto a channel (the live registry's), the channel live
// with H.264 and AAC, the picture red; a StopStream makes the destination
// reconnect; Stop ends it as STOPPED; a second composition on the live
// channel is a conflict; a composition with nobody stops after the idle
// timeout.
func TestEngine(t *testing.T) {
	t.Parallel()
	needFFmpeg(t)
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	reg := live.New(livetest.Sessions{}, log)
	capture := livetest.NewCapture(4)
	reg.AddConsumer(capture)
	ch, err := livetest.Sessions{}.ResolveStreamKey(ctx, livetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	stage := &fakeStage{pubs: []Publisher{{ID: "red", Since: time.Now()}}, clip: h264Clip(t, "red", "160x120", 10), fps: 10}
	rep := &fakeReporter{}
	e := New(Config{Stage: stage, Channels: fakeChannels{ch}, Live: reg, Reporter: rep, Log: log, IdleTimeout: time.Minute})
	t.Cleanup(e.Close)
	spec := Spec{ARN: "arn:composition/a", StageARN: "arn:stage/s", Destinations: []DestinationSpec{{ID: "d", ChannelARN: ch.ARN,
		Video: VideoSpec{Width: 320, Height: 180, FPS: 10, Bitrate: 300_000}}}}
	if err := e.Start(ctx, Spec{ARN: "x", Destinations: []DestinationSpec{{ChannelARN: ch.ARN + "x"}}}); !isCode(err, ivs.CodeResourceNotFound) {
		t.Fatalf("unknown channel: %v", err)
	}
	if err := e.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	other := spec
	other.ARN = "arn:composition/b"
	if err := e.Start(ctx, other); !isCode(err, ivs.CodeConflict) {
		t.Fatalf("a second composition onto the channel: %v", err)
	}

	att := waitLive(t, capture)
	if tr := att.Stream.Hub.Tracks(); len(tr) != 2 || !tr[0].Codec.IsVideo() {
		t.Fatalf("tracks %+v", tr)
	} else if _, ok := tr[1].Codec.(*stream.AAC); !ok {
		t.Fatalf("audio track %T", tr[1].Codec)
	}
	rep.waitFor(t, "composition ACTIVE", "d ACTIVE")
	// The composite's keyframes: once the publisher's picture is decoded,
	// the canvas is its red (it alone fills the canvas).
	deadline := time.Now().Add(30 * time.Second)
	var last time.Duration = -1
	for {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		u, err := att.Reader.Read(rctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if u.Track.Index != 0 {
			continue
		}
		if u.DTS <= last {
			t.Fatalf("video DTS went from %v to %v", last, u.DTS)
		}
		last = u.DTS
		if u.RandomAccess {
			if px := decodeCentre(t, u.Track, u, 320, 180); px[0] > 200 && px[1] < 60 && px[2] < 60 {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("the composite's centre is %v, not red", px)
			}
		}
	}

	// The publisher stops its video: its tile goes black.
	stage.update([]Publisher{{ID: "red", Since: stage.pubs[0].Since, VideoStopped: true}})
	deadline = time.Now().Add(30 * time.Second)
	for {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		u, err := att.Reader.Read(rctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if u.Track.Index != 0 || !u.RandomAccess {
			continue
		}
		if px := decodeCentre(t, u.Track, u, 320, 180); px[0] < 40 && px[1] < 40 && px[2] < 40 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the stopped video's tile is %v, not black", px)
		}
	}

	// StopStream: the destination reconnects and the channel is live again.
	if err := reg.Stop(ch.ID); err != nil {
		t.Fatal(err)
	}
	rep.waitFor(t, "d RECONNECTING", "d ACTIVE")
	waitLive(t, capture)

	if !e.Stop(spec.ARN) || e.Stop("arn:composition/none") {
		t.Fatal("Stop of a running / an unknown composition")
	}
	rep.waitFor(t, "d STOPPED", "composition STOPPED")
	waitFree(t, reg, ch)

	// Nobody publishing: the composition ends after the idle timeout.
	idle := New(Config{Stage: &fakeStage{fps: 10}, Channels: fakeChannels{ch}, Live: reg, Reporter: rep, Log: log, IdleTimeout: 300 * time.Millisecond})
	t.Cleanup(idle.Close)
	if err := idle.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	rep.waitFor(t, "d STOPPED", "composition STOPPED")
	waitFree(t, reg, ch)
	e.Close()
	stage.wg.Wait() // every tap was closed
}

func TestFitLayer(t *testing.T) {
	t.Parallel()
	sim := []Layer{{"hi", 1280, 720}, {"mid", 640, 360}, {"low", 320, 180}}
	for _, tc := range []struct {
		name   string
		layers []Layer
		w, h   int
		want   string
	}{
		{"a quarter of 720p", sim, 638, 358, "mid"},
		{"exactly mid", sim, 640, 360, "mid"},
		{"just over mid", sim, 642, 360, "hi"},
		{"a small tile", sim, 200, 112, "low"},
		{"larger than all", sim, 1920, 1080, "hi"},
		{"a tall tile needs the height", sim, 300, 700, "hi"},
		{"no simulcast", sim[:1], 100, 100, ""},
		{"sizes unknown", []Layer{{"hi", 0, 0}, {"low", 320, 180}}, 100, 100, ""},
		{"none", nil, 100, 100, ""},
	} {
		if got := fitLayer(tc.layers, tc.w, tc.h); got != tc.want {
			t.Errorf("%s: fitLayer = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func isCode(err error, code ivs.Code) bool {
	var e *ivs.Error
	return errors.As(err, &e) && e.Code == code
}

func waitLive(t *testing.T, c *livetest.Capture) livetest.Attachment {
	t.Helper()
	select {
	case a := <-c.C:
		return a
	case <-time.After(30 * time.Second):
		t.Fatal("the channel did not go live")
	}
	return livetest.Attachment{}
}

// waitFree waits until the channel can be claimed again.
func waitFree(t *testing.T, reg *live.Registry, ch ivs.Channel) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := reg.ClaimChannel(context.Background(), ch, live.ConnInfo{})
		if err == nil {
			p.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the channel is still claimed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Four simulcast publishers in a 640x360 grid: each tap is pinned to the
// 320x180 layer, the smallest that covers its 318x178 tile.
func TestEngineSelectsLayers(t *testing.T) {
	t.Parallel()
	needFFmpeg(t)
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	reg := live.New(livetest.Sessions{}, log)
	ch, err := livetest.Sessions{}.ResolveStreamKey(ctx, livetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	stage := &fakeStage{clip: h264Clip(t, "blue", "160x120", 10), fps: 10,
		layers: []Layer{{"hi", 1280, 720}, {"mid", 640, 360}, {"low", 320, 180}}}
	for i := range 4 {
		stage.pubs = append(stage.pubs, Publisher{ID: fmt.Sprint("p", i), Since: now.Add(time.Duration(i))})
	}
	e := New(Config{Stage: stage, Channels: fakeChannels{ch}, Live: reg, Reporter: &fakeReporter{}, Log: log})
	t.Cleanup(e.Close)
	if err := e.Start(ctx, Spec{ARN: "arn:composition/l", Destinations: []DestinationSpec{{ID: "d", ChannelARN: ch.ARN,
		Video: VideoSpec{Width: 640, Height: 360, FPS: 10, Bitrate: 300_000}}}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		stage.mu.Lock()
		var got []string
		for _, tp := range stage.taps {
			tp.mu.Lock()
			got = append(got, tp.selected)
			tp.mu.Unlock()
		}
		stage.mu.Unlock()
		if slices.Equal(got, []string{"low", "low", "low", "low"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("layers selected %q, want low for each", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.Close()
	stage.wg.Wait()
}

func TestParseConfiguration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		raw, field string
		grid, pip  bool
	}{
		{"", "", false, false},
		{"null", "", false, false},
		{`{}`, "", false, false},
		{`{"grid":{"gridGap":4}}`, "", true, false},
		{`{"pip":{"pipPosition":"TOP_LEFT","pipWidth":320}}`, "", false, true},
		{`{"grid":{"gridGap":"wide"}}`, "layout.grid.gridGap", false, false},
		{`{"pip":{"omitStoppedVideo":1}}`, "layout.pip.omitStoppedVideo", false, false},
		{`[1]`, "layout", false, false},
		{`{"grid":`, "layout", false, false},
	} {
		c, err := ParseConfiguration([]byte(tc.raw))
		var e *ivs.Error
		if tc.field != "" {
			if !errors.As(err, &e) || e.Code != ivs.CodeValidation || e.Field != tc.field {
				t.Errorf("%s: %v, want a ValidationException naming %s", tc.raw, err, tc.field)
			}
			continue
		}
		if err != nil || (c.Grid != nil) != tc.grid || (c.Pip != nil) != tc.pip {
			t.Errorf("%s: %+v, %v", tc.raw, c, err)
		}
	}
}
