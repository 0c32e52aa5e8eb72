package ffmpeg

import (
	"bytes"
	"context"
	"image/jpeg"
	"strings"
	"testing"

	"github.com/onair-video/onair/internal/stream/streamtest"
)

// A keyframe becomes a JPEG of its picture, scaled down (never up) to the
// height asked for; what is not a picture is an error that says what
// ffmpeg said.
func TestKeyframeJPEG(t *testing.T) {
	t.Parallel()
	v := streamtest.H264(t)
	tests := []struct {
		name      string
		au        [][]byte
		maxHeight int
		w, h      int // 0: an error
	}{
		{"as it is", v.AUs[0], 0, 320, 240},
		{"scaled down", v.AUs[0], 120, 160, 120},
		{"not scaled up", v.AUs[0], 360, 320, 240},
		{"no picture", [][]byte{{0x09, 0xf0}}, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := KeyframeJPEG(context.Background(), tc.au, tc.maxHeight)
			if tc.w == 0 {
				if err == nil || !strings.Contains(err.Error(), "keyframe JPEG") {
					t.Fatalf("got %d bytes, err %v: want an error", len(b), err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			img, err := jpeg.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if r := img.Bounds(); r.Dx() != tc.w || r.Dy() != tc.h {
				t.Fatalf("%v, want %dx%d", r, tc.w, tc.h)
			}
		})
	}
}

// Run hands back stdout, and an ffmpeg that fails with its stderr.
func TestRun(t *testing.T) {
	t.Parallel()
	streamtest.FFmpeg(t, "-version") // skips without ffmpeg
	out, err := Run(context.Background(), strings.NewReader("hello"), "-loglevel", "error", "-f", "data", "-i", "pipe:0",
		"-map", "0", "-c", "copy", "-f", "data", "pipe:1")
	if err != nil || string(out) != "hello" {
		t.Fatalf("%q %v", out, err)
	}
	_, err = Run(context.Background(), nil, "-loglevel", "error", "-i", "/nonexistent/input.ts", "-f", "null", "-")
	if err == nil || !strings.Contains(err.Error(), "No such file") {
		t.Fatalf("err %v: want ffmpeg's reason", err)
	}
}
