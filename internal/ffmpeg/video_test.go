package ffmpeg

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"

	"github.com/onair-video/onair/internal/stream/streamtest"
)

// vp8Clip is 2 s of 320x240 VP8 at 30 fps with a keyframe every second.
func vp8Clip(t testing.TB) [][]byte {
	t.Helper()
	out := streamtest.FFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
		"-t", "2", "-c:v", "libvpx", "-deadline", "realtime", "-g", "30", "-keyint_min", "30", "-b:v", "500k", "-f", "ivf", "pipe:1")
	r, _, err := ivfreader.NewWith(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	for {
		f, _, err := r.ParseNextFrame()
		if err != nil {
			return frames
		}
		frames = append(frames, f)
	}
}

func TestVP8ToH264(t *testing.T) {
	t.Parallel()
	frames := vp8Clip(t)
	if len(frames) != 60 {
		t.Fatalf("%d VP8 frames", len(frames))
	}
	var got collectorAU
	base := 3 * time.Second
	conv, err := VP8ToH264(context.Background(), 320, 240, streamtest.Log(), got.add)
	if err != nil {
		t.Fatal(err)
	}
	defer conv.Close()
	for i, f := range frames {
		conv.Write(Frame{PTS: base + time.Duration(i)*time.Second/30, Data: f})
	}
	// x264 holds its lookahead back until more comes; a live stream brings it.
	streamtest.Eventually(t, 15*time.Second, "H.264 for 1.5 s", func() bool { return len(got.get()) >= 45 })
	aus := got.get()
	for i, au := range aus {
		want := base + time.Duration(i)*time.Second/30
		if d := au.PTS - want; d < -time.Millisecond || d > time.Millisecond {
			t.Fatalf("AU %d at %v, want %v", i, au.PTS, want)
		}
		// A keyframe in is a keyframe out: frames 0 and 30.
		if idr := h264.IsRandomAccess(au.NALUs); idr != (i%30 == 0) {
			t.Fatalf("AU %d: IDR %v", i, idr)
		}
	}
}

type collectorAU struct{ c collector }

func (c *collectorAU) add(au Frame) {
	c.c.mu.Lock()
	defer c.c.mu.Unlock()
	c.c.aus = append(c.c.aus, au)
}

func (c *collectorAU) get() []Frame {
	c.c.mu.Lock()
	defer c.c.mu.Unlock()
	return append([]Frame(nil), c.c.aus...)
}
