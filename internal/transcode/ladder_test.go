package transcode

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/stream"
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

// Without ffmpeg a STANDARD channel plays its source only, and a health
// event says why; a BASIC channel gets no ladder and no event.
func TestLadderWithoutFFmpeg(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no ffmpeg on it
	ev := &events{}
	l := NewLadders(LadderConfig{Renditions: noRenditions{}, Events: ev})
	tr := &stream.Track{Codec: &stream.H264{}, ClockRate: 90000}
	for _, typ := range []string{ivs.TypeBasic, ivs.TypeStandard} {
		st := &live.Stream{Channel: ivs.Channel{ID: "AbCdEfGhIjKl", Type: typ}, StreamID: "st-1",
			Hub: stream.NewHub([]*stream.Track{tr})}
		l.Attach(st)()
	}
	if len(ev.got) != 1 || ev.got[0].DetailType != ivs.EventTypeStreamHealth ||
		ev.got[0].Detail.EventName != ivs.EventTranscodeUnavailable || !strings.Contains(ev.got[0].Detail.Reason, "ffmpeg") {
		t.Fatalf("events %+v", ev.got)
	}
}
