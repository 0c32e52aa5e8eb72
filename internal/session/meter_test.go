package session

import (
	"math"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/stream"
)

var (
	videoTrack = &stream.Track{Codec: &stream.H264{}, ClockRate: 90000}
	audioTrack = &stream.Track{Index: 1, Codec: &stream.AAC{}, ClockRate: 48000}
	t0         = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
)

// feed plays an encoder at fps with gop frames between keyframes, frame
// bytes per frame, and audio bytes per 1024-sample frame at 48 kHz, from
// media time from for dur of media, delivered at speed × real time
// starting at wall time at. It returns the wall time after the last unit.
func feed(m *meter, at time.Time, from, dur time.Duration, speed float64, fps, gop, frame, audio int) time.Time {
	var last time.Time
	first := int(from * time.Duration(fps) / time.Second)
	n := int(dur * time.Duration(fps) / time.Second)
	for i := first; i < first+n; i++ {
		dts := time.Duration(i) * time.Second / time.Duration(fps)
		wall := at.Add(time.Duration(float64(dts-from) / speed))
		m.observe(&stream.Unit{Track: videoTrack, DTS: dts, PTS: dts, Payload: [][]byte{make([]byte, frame)},
			RandomAccess: i%gop == 0}, wall)
		last = wall
	}
	astep := time.Second * 1024 / 48000
	for d := time.Duration(0); d < dur; d += astep {
		m.observe(&stream.Unit{Track: audioTrack, DTS: from + d, Payload: [][]byte{make([]byte, audio)}},
			at.Add(time.Duration(float64(d)/speed)))
	}
	return last
}

func TestMeterPoints(t *testing.T) {
	var m meter
	m.start(t0)
	for s := range 4 {
		sec := time.Duration(s) * time.Second
		feed(&m, t0.Add(sec), sec, time.Second, 1, 30, 60, 1000, 100)
		p := m.tick(t0.Add(sec+time.Second), 7)
		// 30 frames × 1000 B × 8 = 240 kbps; 47 audio frames × 100 B × 8.
		if p.VideoBitrate != 240_000 || p.Framerate != 30 || p.AudioBitrate != 37_600 || p.Viewers != 7 ||
			!p.Time.Equal(t0.Add(sec)) || p.Span != 1 {
			t.Fatalf("second %d: %+v", s, p)
		}
		if s >= 2 && p.KeyframeInterval != 2 {
			t.Fatalf("second %d: keyframe interval %v, want 2", s, p.KeyframeInterval)
		}
	}
	// A stall and its catch-up: 0.7 s of media in one second, 1.3 s in the
	// next. Both are the encoder's rate per second of media.
	feed(&m, t0.Add(4*time.Second), 4*time.Second, 700*time.Millisecond, 1, 30, 60, 1000, 100)
	stall := m.tick(t0.Add(5*time.Second), 0)
	feed(&m, t0.Add(5*time.Second), 4700*time.Millisecond, 1300*time.Millisecond, 1.3, 30, 60, 1000, 100)
	catchUp := m.tick(t0.Add(6*time.Second), 0)
	for _, p := range []ivs.MetricPoint{stall, catchUp} {
		if p.VideoBitrate != 240_000 || p.Framerate != 30 || math.Abs(float64(p.AudioBitrate)-37_600) > 1500 {
			t.Fatalf("stall/catch-up: %+v", p)
		}
	}
	// A stop: nothing for a whole second is zero, and a trickle (a tenth of
	// a second of media) is divided by the wall clock, not blown up.
	if p := m.tick(t0.Add(7*time.Second), 0); p.VideoBitrate != 0 || p.Framerate != 0 {
		t.Fatalf("stopped: %+v", p)
	}
	feed(&m, t0.Add(7*time.Second), 6*time.Second, 100*time.Millisecond, 1, 30, 60, 1000, 100)
	if p := m.tick(t0.Add(8*time.Second), 0); p.VideoBitrate != 24_000 || p.Framerate != 3 {
		t.Fatalf("trickle: %+v", p)
	}
}

func TestHealth(t *testing.T) {
	tests := []struct {
		name  string
		speed float64 // media seconds per real second for 8 s
		gap   time.Duration
		want  string
	}{
		{"real time", 1, 0, ivs.HealthHealthy},
		{"slightly slow", 0.9, 0, ivs.HealthHealthy},
		{"half speed", 0.5, 0, ivs.HealthStarving},
		{"stopped 3s", 1, 3 * time.Second, ivs.HealthStarving},
		{"paused 0.5s", 1, 500 * time.Millisecond, ivs.HealthHealthy},
		{"paused 1.5s", 1, 1500 * time.Millisecond, ivs.HealthStarving}, // a quarter of the window lost
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m meter
			m.start(t0)
			h := ivs.HealthUnknown
			if got := m.judge(h, t0); got != ivs.HealthUnknown {
				t.Fatalf("before data: %s", got)
			}
			media := time.Duration(0)
			for s := 1; s <= 8; s++ {
				d := time.Duration(float64(time.Second) * tc.speed)
				feed(&m, t0.Add(time.Duration(s-1)*time.Second), media, d, tc.speed, 30, 60, 100, 10)
				media += d
				now := t0.Add(time.Duration(s) * time.Second)
				m.tick(now, 0)
				h = m.judge(h, now)
			}
			now := t0.Add(8 * time.Second)
			if tc.gap > 0 {
				now = now.Add(tc.gap)
				m.tick(now, 0)
				h = m.judge(h, now)
			}
			if h != tc.want {
				t.Fatalf("health %s, want %s", h, tc.want)
			}
		})
	}
}

func TestStarvationRecovers(t *testing.T) {
	var m meter
	m.start(t0)
	h := ivs.HealthUnknown
	media := time.Duration(0)
	wall := t0
	step := func(speed float64, elapsed time.Duration) {
		d := time.Duration(float64(elapsed) * speed)
		if d > 0 {
			feed(&m, wall, media, d, speed, 30, 60, 100, 10)
		}
		media += d
		wall = wall.Add(elapsed)
		m.tick(wall, 0)
		h = m.judge(h, wall)
	}
	var seen []string
	for range 3 {
		step(1, time.Second)
	}
	seen = append(seen, h)
	for range 4 { // paused (SIGSTOP)
		step(0, time.Second)
	}
	seen = append(seen, h)
	step(3, time.Second) // catching up after SIGCONT
	step(1, time.Second)
	step(1, time.Second)
	seen = append(seen, h)
	if want := "[HEALTHY STARVING HEALTHY]"; fmtList(seen) != want {
		t.Fatalf("health went %v, want %s", seen, want)
	}
}

func fmtList(s []string) string {
	out := "["
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out + "]"
}

func TestLimits(t *testing.T) {
	tests := []struct {
		typ           string
		width, height int64
		bps           int // per second of input
		wantBreach    bool
		wantLimit     int64
	}{
		{ivs.TypeBasic, 854, 480, 1_400_000, false, basicSDBitrate},
		{ivs.TypeBasic, 854, 480, 1_700_000, true, basicSDBitrate},
		{ivs.TypeBasic, 1280, 720, 3_000_000, false, basicHDBitrate},
		{ivs.TypeBasic, 1280, 720, 5_000_000, true, basicHDBitrate},
		{ivs.TypeStandard, 1920, 1080, 8_000_000, false, standardBitrate},
		{ivs.TypeStandard, 1920, 1080, 9_800_000, true, standardBitrate},
	}
	for _, tc := range tests {
		limit := bitrateLimit(tc.typ, tc.width, tc.height)
		if limit != tc.wantLimit {
			t.Fatalf("%s %dx%d: limit %d, want %d", tc.typ, tc.width, tc.height, limit, tc.wantLimit)
		}
		var m meter
		m.start(t0)
		frame := tc.bps / 8 / 30
		for s := range bitrateWindow + 1 {
			sec := time.Duration(s) * time.Second
			feed(&m, t0.Add(sec), sec, time.Second, 1, 30, 60, frame, 0)
			m.tick(t0.Add(sec+time.Second), 0)
			if _, ok := m.bitrateBreach(limit); ok && s < bitrateWindow {
				t.Fatalf("%+v: breach after %d s, before a whole window", tc, s+1)
			}
		}
		b, ok := m.bitrateBreach(limit)
		if ok != tc.wantBreach {
			t.Fatalf("%+v: breach %v (%+v)", tc, ok, b)
		}
		if ok && (b.Name != ivs.LimitIngestBitrate || b.Limit != limit || b.ExceededBy <= 0 || b.Unit != ivs.UnitBitsPerSecond) {
			t.Fatalf("%+v: breach %+v", tc, b)
		}
	}
}

func TestResolutionLimit(t *testing.T) {
	tests := []struct {
		w, h     int64
		breach   bool
		unit     string
		exceeded int64
	}{
		{1920, 1080, false, "", 0},
		{1080, 1920, false, "", 0},
		{2560, 1440, true, ivs.UnitPixelsPerEdge, 640},
		{1920, 1200, true, ivs.UnitTotalPixels, 1920 * 120},
	}
	for _, tc := range tests {
		b, ok := resolutionBreach(tc.w, tc.h)
		if ok != tc.breach || b.Unit != tc.unit || b.ExceededBy != tc.exceeded {
			t.Fatalf("%dx%d: %+v %v", tc.w, tc.h, b, ok)
		}
	}
}

func TestBacklog(t *testing.T) {
	var m meter
	m.start(t0)
	if m.backlog(t0.Add(time.Second)) {
		t.Fatal("backlog before any media")
	}
	// 2.5 s of media (an RTMP server's track discovery) arrive within 50 ms.
	feed(&m, t0.Add(100*time.Millisecond), 0, 2500*time.Millisecond, 50, 30, 60, 1000, 100)
	if !m.backlog(t0.Add(time.Second)) {
		t.Fatal("a 2.5 s burst in one second is not a backlog")
	}
	m.start(t0.Add(time.Second))
	feed(&m, t0.Add(time.Second), 2500*time.Millisecond, time.Second, 1, 30, 60, 1000, 100)
	if m.backlog(t0.Add(2 * time.Second)) {
		t.Fatal("a real-time second is a backlog")
	}
}
