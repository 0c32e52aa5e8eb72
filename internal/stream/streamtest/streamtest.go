// Package streamtest gives the tests of the media packages (ingest, hls) a
// real encoded clip and small helpers. Only tests and the bench program
// import it.
package streamtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
)

// FPS is the frame rate of the clip.
const FPS = 30

// Video is 3 s of 320x240 video at 30 fps with a key frame every second,
// made by ffmpeg, as access units of NALUs. VPS is set for H.265 only.
type Video struct {
	VPS, SPS, PPS []byte
	AUs           [][][]byte
}

// encode makes the clip with the given ffmpeg encoder arguments and splits
// it with kind, which names a NALU's role.
func encode(kind func(nalu []byte) naluKind, codec ...string) (*Video, error) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "onair-streamtest")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "v.es")
	args := append([]string{"-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-t", "3"}, codec...)
	cmd := exec.Command("ffmpeg", append(args, "-y", out)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, errors.New(string(b))
	}
	buf, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	v := &Video{}
	// One slice per frame: every picture NALU closes an access unit, and
	// the parameter sets and SEI before it belong to it.
	var cur [][]byte
	for _, n := range SplitAnnexB(buf) {
		switch kind(n) {
		case naluVPS:
			v.VPS = n
		case naluSPS:
			v.SPS = n
		case naluPPS:
			v.PPS = n
		}
		cur = append(cur, n)
		if kind(n) == naluPicture {
			v.AUs = append(v.AUs, cur)
			cur = nil
		}
	}
	if len(v.AUs) == 0 || v.SPS == nil || v.PPS == nil {
		return nil, errors.New("streamtest: the encoded clip has no pictures or parameter sets")
	}
	return v, nil
}

type naluKind int

const (
	naluOther naluKind = iota
	naluVPS
	naluSPS
	naluPPS
	naluPicture
)

var loadH264 = sync.OnceValues(func() (*Video, error) {
	return encode(func(n []byte) naluKind {
		switch h264.NALUType(n[0] & 0x1F) {
		case h264.NALUTypeSPS:
			return naluSPS
		case h264.NALUTypePPS:
			return naluPPS
		case h264.NALUTypeIDR, h264.NALUTypeNonIDR:
			return naluPicture
		}
		return naluOther
	}, "-c:v", "libx264", "-g", "30", "-bf", "0", "-threads", "1", "-bsf:v", "h264_mp4toannexb", "-f", "h264")
})

var loadH265 = sync.OnceValues(func() (*Video, error) {
	return encode(func(n []byte) naluKind {
		switch typ := h265.NALUType((n[0] >> 1) & 0x3F); {
		case typ == h265.NALUType_VPS_NUT:
			return naluVPS
		case typ == h265.NALUType_SPS_NUT:
			return naluSPS
		case typ == h265.NALUType_PPS_NUT:
			return naluPPS
		case typ < 32: // VCL
			return naluPicture
		}
		return naluOther
	}, "-c:v", "libx265", "-x265-params", "keyint=30:min-keyint=30:bframes=0:frame-threads=1:pools=none:log-level=error",
		"-f", "hevc")
})

// H264 returns the H.264 clip, skipping the test when ffmpeg is absent,
// except under CI=true where a missing ffmpeg is a failure.
func H264(t testing.TB) *Video { return need(t, loadH264) }

// H265 returns the H.265 clip (libx265), like H264.
func H265(t testing.TB) *Video { return need(t, loadH265) }

func need(t testing.TB, load func() (*Video, error)) *Video {
	t.Helper()
	v, err := load()
	if err != nil {
		noFFmpeg(t, err)
	}
	return v
}

// noFFmpeg skips t, or fails it under CI=true, for err.
func noFFmpeg(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("ffmpeg is required under CI: %v", err)
	}
	t.Skipf("ffmpeg unavailable, skipping: %v", err)
}

// FFmpeg runs ffmpeg with args and returns what it wrote to stdout,
// skipping the test without ffmpeg (failing it under CI=true), as H264 does.
func FFmpeg(t testing.TB, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		noFFmpeg(t, err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command("ffmpeg", append([]string{"-hide_banner", "-loglevel", "error"}, args...)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg %v: %v: %s", args, err, stderr.Bytes())
	}
	return out
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

// stampUUID marks the SEI NAL unit (user data unregistered) in which a test
// publisher writes a frame's send time, as 16 hex digits of Unix
// nanoseconds: hex has no zero bytes, so no emulation prevention is needed
// and the stamp reads the same in Annex-B, AVCC, MPEG-TS and fMP4.
var stampUUID = []byte("onair-latency-v1")

// StampSEI returns an H.264 SEI NAL unit carrying t.
func StampSEI(t time.Time) []byte {
	payload := append(append(make([]byte, 0, 32), stampUUID...), fmt.Sprintf("%016x", t.UnixNano())...)
	return append(append([]byte{0x06, 0x05, byte(len(payload))}, payload...), 0x80)
}

// ReadStamp finds the first time stamped by StampSEI in b.
func ReadStamp(b []byte) (time.Time, bool) {
	ts := ReadStamps(b, 1)
	if len(ts) == 0 {
		return time.Time{}, false
	}
	return ts[0], true
}

// ReadStamps finds up to n times stamped by StampSEI in b (n < 0: all), in
// order: the frames of an HLS part or segment.
func ReadStamps(b []byte, n int) []time.Time {
	var out []time.Time
	for n < 0 || len(out) < n {
		j := bytes.Index(b, stampUUID)
		if j < 0 || j+len(stampUUID)+16 > len(b) {
			break
		}
		b = b[j+len(stampUUID):]
		if ns, err := strconv.ParseInt(string(b[:16]), 16, 64); err == nil {
			out = append(out, time.Unix(0, ns))
		}
	}
	return out
}
