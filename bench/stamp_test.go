package main

import (
	"bytes"
	"os/exec"
	"testing"
	"time"

	"github.com/onair-video/onair/test/e2e/harness"
)

// halve scales a w x h luma plane to half its size (2x2 averages), as a
// tile of a 2x2 grid is, and draws it into a w x h black plane at x, y.
func halve(luma []byte, w, h, x, y int) []byte {
	out := bytes.Repeat([]byte{lumaBlack}, w*h)
	for r := range h / 2 {
		for c := range w / 2 {
			if y+r >= h || x+c >= w {
				continue
			}
			s := int(luma[2*r*w+2*c]) + int(luma[2*r*w+2*c+1]) + int(luma[(2*r+1)*w+2*c]) + int(luma[(2*r+1)*w+2*c+1])
			out[(y+r)*w+x+c] = byte(s / 4)
		}
	}
	return out
}

// gradient is a yuv420p picture that is neither black nor white where the
// stamp goes.
func gradient(w, h int) []byte {
	pic := make([]byte, w*h*3/2)
	for i := range w * h {
		pic[i] = byte(40 + i%w*150/w)
	}
	for i := w * h; i < len(pic); i++ {
		pic[i] = 128
	}
	return pic
}

func TestStampRoundTrip(t *testing.T) {
	const w, h = composeW, composeH
	for _, tc := range []struct {
		name     string
		pub, idx int
		// where the picture is read: at full size, or halved and drawn at
		// (x, y) of the canvas, read at the quadrant (qx, qy) a 2x2 grid
		// is assumed to put it at.
		half           bool
		x, y, qx, qy   int
		wantPub, wantI int
	}{
		{name: "full size, first frame", pub: 0, idx: 0},
		{name: "full size, last pub and frame", pub: 3, idx: 255},
		{name: "full size, alternating bits", pub: 2, idx: 0xaa},
		{name: "tile top left", pub: 1, idx: 77, half: true},
		{name: "tile right of a 2 px gap", pub: 1, idx: 128, half: true, x: 642, qx: 640},
		{name: "tile below, off by 2", pub: 2, idx: 5, half: true, x: 2, y: 362, qy: 360},
		{name: "tile bottom right, off by 3", pub: 3, idx: 239, half: true, x: 643, y: 363, qx: 640, qy: 360},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pic := gradient(w, h)
			paintStamp(pic, w, h, tc.pub, tc.idx)
			luma, scale := pic[:w*h], 1.0
			if tc.half {
				luma, scale = halve(luma, w, h, tc.x, tc.y), 0.5
			}
			pub, idx, ok := readStamp(luma, w, h, tc.qx, tc.qy, scale)
			if !ok || pub != tc.pub || idx != tc.idx {
				t.Errorf("read %d, %d, %v; want %d, %d", pub, idx, ok, tc.pub, tc.idx)
			}
		})
	}
}

func TestStampRefusesWhatIsNotAStamp(t *testing.T) {
	const w, h = composeW, composeH
	flipped := gradient(w, h)
	paintStamp(flipped, w, h, 1, 100)
	// One data block turned black→white or white→black: the check bits
	// no longer agree.
	x := stampX + 7*stampBlock
	for r := stampY; r < stampY+stampBlock; r++ {
		for c := x; c < x+stampBlock; c++ {
			flipped[r*w+c] = lumaBlack + lumaWhite - flipped[r*w+c]
		}
	}
	grey := gradient(w, h)
	paintStamp(grey, w, h, 2, 3)
	x = stampX + 5*stampBlock
	for r := stampY; r < stampY+stampBlock; r++ {
		for c := x; c < x+stampBlock; c++ {
			grey[r*w+c] = 125
		}
	}
	for _, tc := range []struct {
		name string
		luma []byte
		x, y int
	}{
		{"no stamp", gradient(w, h)[:w*h], 0, 0},
		{"black", bytes.Repeat([]byte{lumaBlack}, w*h), 0, 0},
		{"a block flipped", flipped[:w*h], 0, 0},
		{"a block neither black nor white", grey[:w*h], 0, 0},
		{"read off the picture", flipped[:w*h], w - 100, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if pub, idx, ok := readStamp(tc.luma, w, h, tc.x, tc.y, 1); ok {
				t.Errorf("read %d, %d from %s", pub, idx, tc.name)
			}
		})
	}
}

// TestStampSurvivesTheGrid runs the stamps through what a composition does
// to them: the publisher's x264 encode at 720p, a decode, the scale to a
// 2x2 grid's tile (638x358, the bottom right one, 2 px off the quadrant
// the bench reads), the composite's x264 encode at 1280x720 and 2.5 Mbps,
// and the player's decode. Every frame must read back as sent.
func TestStampSurvivesTheGrid(t *testing.T) {
	harness.RequireProgram(t, "ffmpeg")
	const frames, pub = 60, 3
	clip, err := stampedClip(pub, frames, composeW, composeH, composeFPS, composeKbps)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "h264", "-i", "pipe:0",
		"-vf", "scale=638:358,pad=1280:720:642:362:black", "-fps_mode", "passthrough",
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "main", "-bf", "0",
		"-b:v", "2500k", "-maxrate", "3000k", "-bufsize", "2500k", "-f", "h264", "pipe:1")
	cmd.Stdin = bytes.NewReader(annexB(clip))
	composite, err := cmd.Output()
	if err != nil {
		t.Fatalf("composite encode: %v", err)
	}
	read := 0
	err = decodeLuma(composite, composeW, composeH, "", func(i int, luma []byte) {
		p, idx, ok := readStamp(luma, composeW, composeH, composeW/2, composeH/2, 0.5)
		if !ok || p != pub || idx != i {
			t.Errorf("picture %d: read %d, %d, %v", i, p, idx, ok)
		}
		// Where there is no stamp, none is read.
		if _, _, ok := readStamp(luma, composeW, composeH, 0, 0, 0.5); ok {
			t.Errorf("picture %d: a stamp in the empty top left tile", i)
		}
		read++
	})
	if err != nil {
		t.Fatal(err)
	}
	if read != frames {
		t.Errorf("decoded %d pictures of %d", read, frames)
	}
}

func TestSendLogSentBefore(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var l sendLog
	l.add(5, t0)
	l.add(5, t0.Add(8*time.Second))
	l.add(5, t0.Add(16*time.Second))
	for _, tc := range []struct {
		name string
		idx  int
		at   time.Time
		want time.Time
		ok   bool
	}{
		{"before any send", 5, t0.Add(-time.Millisecond), time.Time{}, false},
		{"at the first send", 5, t0, t0, true},
		{"between the first two", 5, t0.Add(300 * time.Millisecond), t0, true},
		{"just before the second", 5, t0.Add(8*time.Second - 1), t0, true},
		{"after the last", 5, t0.Add(20 * time.Second), t0.Add(16 * time.Second), true},
		{"a frame never sent", 6, t0.Add(20 * time.Second), time.Time{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := l.sentBefore(tc.idx, tc.at)
			if ok != tc.ok || !got.Equal(tc.want) {
				t.Errorf("sentBefore(%d, %v) = %v, %v; want %v, %v", tc.idx, tc.at, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestSendLogSentIn(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var l sendLog
	for i := range 90 { // three loops of a 30-frame clip, 30 fps
		l.add(i%30, t0.Add(time.Duration(i)*time.Second/30))
	}
	for _, tc := range []struct {
		name     string
		from, to time.Time
		want     int
	}{
		{"all", t0, t0.Add(3 * time.Second), 90},
		{"the second loop", t0.Add(time.Second), t0.Add(2 * time.Second), 30},
		{"from is in, to is out", t0, t0.Add(time.Second / 30), 1},
		{"before", t0.Add(-time.Second), t0, 0},
	} {
		if got := l.sentIn(tc.from, tc.to); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}
