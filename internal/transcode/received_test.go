package transcode

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/stream"
	"github.com/onair-video/onair/internal/stream/streamtest"
)

func TestReceivedTimes(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	now := base.Add(time.Hour)
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	var r receivedTimes
	if got := r.at(0, now); !got.Equal(now) {
		t.Fatalf("nothing remembered: %v, want now", got)
	}
	// Frames every 33 ms received 10 ms late each, one (99 ms) received
	// 500 ms late; in decode order with a B-frame (66 after 99).
	for _, f := range []struct{ pts, late int }{{0, 10}, {33, 10}, {99, 500}, {66, 10}, {132, 10}} {
		r.add(ms(f.pts), base.Add(ms(f.pts+f.late)))
	}
	for _, tc := range []struct {
		name      string
		pts, want int // ms; want from base
	}{
		{"a frame's own", 99, 599},
		{"reordered", 66, 76},
		{"between frames: the nearest (66), shifted", 50, 60},
		{"before the first", -40, -30},
		{"past the last", 200, 210},
	} {
		if got := r.at(ms(tc.pts), now); !got.Equal(base.Add(ms(tc.want))) {
			t.Errorf("%s: %v, want %v", tc.name, got.Sub(base), ms(tc.want))
		}
	}
	for i := range 3 * maxReceived {
		r.add(ms(1000+i), base)
	}
	if n := len(r.frames); n >= 2*maxReceived || n < maxReceived {
		t.Fatalf("%d frames remembered", n)
	}
}

// hubLog keeps the first rendition's hub, read from its first unit.
type hubLog struct {
	mu sync.Mutex
	r  *stream.Reader
}

func (h *hubLog) AddRendition(_ *live.Stream, _ string, hub *stream.Hub) func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.r == nil {
		h.r = hub.NewReader(4096)
	}
	return func() {}
}

func (h *hubLog) reader() *stream.Reader {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.r
}

// A rendition's video frames carry the receive time of their source
// frames (here a clock of the test's: base plus media time), not the time
// ffmpeg gave them back, so the latency HLS players measure from them
// includes transcoding.
func TestLadderKeepsReceiveTimes(t *testing.T) {
	t.Parallel()
	aus := clipAUs(t, "640x360")
	hl := &hubLog{}
	l := NewLadders(LadderConfig{Renditions: hl, Log: streamtest.Log()})
	v := &stream.Track{Codec: &stream.H264{SPS: aus[0][0], PPS: aus[0][1]}, ClockRate: 90000}
	hub := stream.NewHub([]*stream.Track{v})
	st := &live.Stream{Channel: ivs.Channel{ID: "AbCdEfGhIjKl", Type: ivs.TypeStandard}, StreamID: "st-1", Hub: hub}
	detach, err := l.Attach(st)
	if err != nil {
		t.Fatal(err)
	}
	defer detach()
	base := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	for i, au := range aus {
		d := time.Duration(i) * time.Second / 30
		hub.Write(&stream.Unit{Track: v, PTS: d, DTS: d, NTP: base.Add(d), Payload: au, RandomAccess: h264.IsRandomAccess(au)})
		time.Sleep(5 * time.Millisecond) // faster than real time, within the ladder's queue
	}
	streamtest.Eventually(t, 20*time.Second, "a rendition", func() bool { return hl.reader() != nil })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for n := 0; n < 15; n++ {
		u, err := hl.reader().Read(ctx)
		if err != nil {
			t.Fatalf("after %d frames: %v", n, err)
		}
		if !u.NTP.Equal(base.Add(u.PTS)) {
			t.Fatalf("frame at %v: received %v, want its source's %v", u.PTS, u.NTP, base.Add(u.PTS))
		}
	}
	hub.Close()
}
