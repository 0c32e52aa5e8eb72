package transcode

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/stream"
	"github.com/onair-video/onair/internal/stream/streamtest"
)

func TestLadderFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		w, h int
		fps  float64
		want string
	}{
		{1920, 1080, 30, "720p30:1280x720 480p30:854x480 360p30:640x360 160p30:284x160"},
		{1920, 1080, 60, "720p60:1280x720 480p30:854x480 360p30:640x360 160p30:284x160"},
		{1280, 720, 30, "480p30:854x480 360p30:640x360 160p30:284x160"},
		{1280, 720, 25, "480p25:854x480 360p25:640x360 160p25:284x160"},
		{640, 360, 30, "160p30:284x160"},
		{720, 1280, 30, "720p30:406x720 480p30:270x480 360p30:202x360 160p30:90x160"}, // portrait
		{320, 160, 30, ""},
		{1280, 720, 0, "480p30:854x480 360p30:640x360 160p30:284x160"}, // no timing in the SPS
	}
	for _, tc := range tests {
		var got []string
		for _, r := range ladderFor(standardRungs, tc.w, tc.h, tc.fps) {
			got = append(got, fmt.Sprintf("%s:%dx%d", r.Name, r.Width, r.Height))
		}
		if s := strings.Join(got, " "); s != tc.want {
			t.Errorf("%dx%d@%v: %s, want %s", tc.w, tc.h, tc.fps, s, tc.want)
		}
	}
}

func TestLadderArgs(t *testing.T) {
	t.Parallel()
	args := strings.Join(ladderArgs(ladderFor(standardRungs, 1920, 1080, 60), 60), " ")
	for _, want := range []string{
		"[0:v]split=4[s0][s1][s2][s3]", "[s0]scale=1280:720[o0]", "[s1]scale=854:480,fps=30[o1]",
		"-map [o3]", "-force_key_frames source", "-b:v:3 250000", "-r:v:0 60", "-bf 0", "-f mpegts",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("ffmpeg arguments lack %q:\n%s", want, args)
		}
	}
}

type events struct{ got []ivs.Event }

func (e *events) Emit(_ context.Context, ev ivs.Event) (ivs.Event, error) {
	e.got = append(e.got, ev)
	return ev, nil
}

type noRenditions struct{}

func (noRenditions) AddRendition(*live.Stream, string, *stream.Hub) func() { return func() {} }

// Without ffmpeg a STANDARD channel plays its source only, and Attach's
// error comes with the health event that says why (live emits it); a
// BASIC channel gets no ladder and no error.
func TestLadderWithoutFFmpeg(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no ffmpeg on it
	ev := &events{}
	l := NewLadders(LadderConfig{Renditions: noRenditions{}, Events: ev})
	tr := &stream.Track{Codec: &stream.H264{}, ClockRate: 90000}
	for _, typ := range []string{ivs.TypeBasic, ivs.TypeStandard} {
		st := &live.Stream{Channel: ivs.Channel{ID: "AbCdEfGhIjKl", Type: typ}, StreamID: "st-1",
			Hub: stream.NewHub([]*stream.Track{tr})}
		detach, err := l.Attach(st)
		if detach != nil {
			t.Fatalf("%s: a ladder without ffmpeg", typ)
		}
		var f *live.Failure
		switch {
		case typ == ivs.TypeBasic && err != nil:
			t.Fatalf("BASIC: %v", err)
		case typ == ivs.TypeStandard && (!errors.As(err, &f) || f.Event.DetailType != ivs.EventTypeStreamHealth ||
			f.Event.Detail.EventName != ivs.EventTranscodeUnavailable || !strings.Contains(f.Event.Detail.Reason, "ffmpeg")):
			t.Fatalf("STANDARD: %#v", err)
		}
	}
	if len(ev.got) != 0 {
		t.Fatalf("the ladder emitted %+v itself", ev.got)
	}
}

// clipAUs encodes 2 s of size at 30 fps (a keyframe a second) and returns
// its access units.
func clipAUs(t testing.TB, size string) [][][]byte {
	t.Helper()
	raw := streamtest.FFmpeg(t, "-f", "lavfi", "-i", "testsrc2=size="+size+":rate=30", "-t", "2",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-keyint_min", "30", "-sc_threshold", "0", "-bf", "0",
		"-pix_fmt", "yuv420p", "-bsf:v", "h264_metadata=aud=insert", "-f", "h264", "pipe:1")
	return splitAUs(raw)
}

// splitAUs cuts an Annex-B stream whose access units open with a
// delimiter (h264_metadata=aud=insert) into access units.
func splitAUs(raw []byte) [][][]byte {
	var aus [][][]byte
	var cur [][]byte
	for _, n := range streamtest.SplitAnnexB(raw) {
		if len(n) > 0 && h264.NALUType(n[0]&0x1f) == h264.NALUTypeAccessUnitDelimiter {
			if cur != nil {
				aus = append(aus, cur)
			}
			cur = [][]byte{}
			continue
		}
		cur = append(cur, n)
	}
	return append(aus, cur)
}

type renditionLog struct {
	mu    sync.Mutex
	added []string
	live  map[string]bool
}

func (r *renditionLog) AddRendition(_ *live.Stream, name string, _ *stream.Hub) func() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.added = append(r.added, name)
	r.live[name] = true
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.live, name)
	}
}

func (r *renditionLog) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for n := range r.live {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// An encoder that switches from 640x360 to 854x480 mid-stream gets a new
// ladder: 160p30 alone, then 360p30 and 160p30.
func TestLadderFollowsResolution(t *testing.T) {
	t.Parallel()
	small, big := clipAUs(t, "640x360"), clipAUs(t, "854x480")
	rl := &renditionLog{live: map[string]bool{}}
	l := NewLadders(LadderConfig{Renditions: rl, Log: streamtest.Log()})
	v := &stream.Track{Codec: &stream.H264{SPS: small[0][0], PPS: small[0][1]}, ClockRate: 90000}
	hub := stream.NewHub([]*stream.Track{v})
	st := &live.Stream{Channel: ivs.Channel{ID: "AbCdEfGhIjKl", Type: ivs.TypeStandard}, StreamID: "st-1", Hub: hub}
	detach, err := l.Attach(st)
	if err != nil {
		t.Fatal(err)
	}
	defer detach()
	frame := 0
	write := func(aus [][][]byte) {
		for _, au := range aus {
			d := time.Duration(frame) * time.Second / 30
			hub.Write(&stream.Unit{Track: v, PTS: d, DTS: d, NTP: time.Now(), Payload: au, RandomAccess: h264.IsRandomAccess(au)})
			frame++
			time.Sleep(5 * time.Millisecond) // faster than real time, within the ladder's queue
		}
	}
	write(small)
	streamtest.Eventually(t, 10*time.Second, "160p30", func() bool { return slices.Equal(rl.names(), []string{"160p30"}) })
	write(big)
	streamtest.Eventually(t, 10*time.Second, "360p30 and 160p30", func() bool {
		return slices.Equal(rl.names(), []string{"160p30", "360p30"})
	})
	hub.Close()
}
