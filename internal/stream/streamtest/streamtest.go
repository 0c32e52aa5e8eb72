// Package streamtest gives the tests of the media packages (ingest, hls) a
// real encoded clip and small helpers. Only tests import it.
package streamtest

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// FPS is the frame rate of the clip.
const FPS = 30

// Video is 3 s of 320x240 H.264 at 30 fps with an IDR every second, made by
// ffmpeg (libx264), as access units of NALUs.
type Video struct {
	SPS, PPS []byte
	AUs      [][][]byte
}

var loadVideo = sync.OnceValues(func() (*Video, error) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "onair-streamtest")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "v.h264")
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-t", "3",
		"-c:v", "libx264", "-g", "30", "-bf", "0", "-threads", "1",
		"-bsf:v", "h264_mp4toannexb", "-f", "h264", "-y", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, errors.New(string(b))
	}
	buf, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	v := &Video{}
	// One slice per frame (-threads 1): every picture NALU closes an access
	// unit, and the parameter sets and SEI before it belong to it.
	var cur [][]byte
	for _, n := range SplitAnnexB(buf) {
		typ := h264.NALUType(n[0] & 0x1F)
		switch typ {
		case h264.NALUTypeSPS:
			v.SPS = n
		case h264.NALUTypePPS:
			v.PPS = n
		}
		cur = append(cur, n)
		if typ == h264.NALUTypeIDR || typ == h264.NALUTypeNonIDR {
			v.AUs = append(v.AUs, cur)
			cur = nil
		}
	}
	return v, nil
})

// H264 returns the clip, skipping the test when ffmpeg is absent, except
// under CI=true where a missing ffmpeg is a failure.
func H264(t testing.TB) *Video {
	t.Helper()
	v, err := loadVideo()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("ffmpeg is required under CI: %v", err)
		}
		t.Skipf("ffmpeg unavailable, skipping: %v", err)
	}
	return v
}

// SplitAnnexB cuts an Annex-B byte stream at its start codes
// (h264.AnnexB.Unmarshal caps the count at one access unit's worth).
func SplitAnnexB(buf []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i+2 < len(buf); i++ {
		if buf[i] == 0 && buf[i+1] == 0 && buf[i+2] == 1 {
			if start >= 0 {
				out = append(out, bytes.TrimRight(buf[start:i], "\x00"))
			}
			start = i + 3
			i += 2
		}
	}
	if start >= 0 && start < len(buf) {
		out = append(out, buf[start:])
	}
	return out
}

// Eventually polls fn until it holds, failing the test after d.
func Eventually(t testing.TB, d time.Duration, what string, fn func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !fn() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Log is a logger that prints under -v and discards otherwise.
func Log() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
