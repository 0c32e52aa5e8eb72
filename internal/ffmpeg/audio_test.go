package ffmpeg

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/onair-video/onair/internal/stream/streamtest"
)

// aacClip is 2 s of a 440 Hz tone as AAC-LC access units, 44.1 kHz stereo.
func aacClip(t testing.TB) [][]byte {
	t.Helper()
	out := streamtest.FFmpeg(t, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=2",
		"-ac", "2", "-c:a", "aac", "-f", "adts", "pipe:1")
	br := bufio.NewReader(bytes.NewReader(out))
	var aus [][]byte
	for {
		au, err := ReadADTS(br)
		if errors.Is(err, io.EOF) {
			return aus
		}
		if err != nil {
			t.Fatal(err)
		}
		aus = append(aus, au)
	}
}

type collector struct {
	mu     sync.Mutex
	frames []Frame
	aus    []Frame
}

func (c *collector) add(f Frame) {
	c.mu.Lock()
	c.frames = append(c.frames, f)
	c.mu.Unlock()
}

func (c *collector) get() []Frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Frame(nil), c.frames...)
}

// AAC → Opus → AAC: each leg yields the whole clip's duration in frames,
// with media times that start at the input's and advance steadily.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	aus := aacClip(t)
	if len(aus) < 80 {
		t.Fatalf("%d AAC frames in the clip", len(aus))
	}
	ctx := context.Background()
	log := streamtest.Log()
	base := 5 * time.Second

	var opusOut collector
	cfg := &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 44100, ChannelConfig: 2}
	a2o, err := AACToOpus(ctx, cfg, log, opusOut.add)
	if err != nil {
		t.Fatal(err)
	}
	defer a2o.Close()
	for i, au := range aus {
		a2o.Write(Frame{PTS: base + time.Duration(i)*1024*time.Second/44100, Data: au})
	}
	// 2 s of 20 ms packets; the encoder holds back its last few until more
	// input comes, as a live stream always brings.
	streamtest.Eventually(t, 10*time.Second, "Opus packets for 1.8 s", func() bool { return len(opusOut.get()) >= 90 })
	packets := opusOut.get()
	checkSteps(t, "opus", packets, base, 20*time.Millisecond)

	var aacOut collector
	o2a, outCfg, err := OpusToAAC(ctx, 2, log, aacOut.add)
	if err != nil {
		t.Fatal(err)
	}
	defer o2a.Close()
	// AAC-LC, 48 kHz, stereo (ISO 14496-3 1.6.2.1).
	if b, err := outCfg.Marshal(); err != nil || !bytes.Equal(b, []byte{0x11, 0x90}) {
		t.Fatalf("config %+v: % x %v", outCfg, b, err)
	}
	for _, p := range packets {
		o2a.Write(p)
	}
	streamtest.Eventually(t, 10*time.Second, "AAC frames for 1.5 s", func() bool { return len(aacOut.get()) >= 70 })
	checkSteps(t, "aac", aacOut.get(), base, 1024*time.Second/48000)
}

func checkSteps(t *testing.T, name string, fs []Frame, base, step time.Duration) {
	t.Helper()
	if d := fs[0].PTS - base; d < -10*time.Millisecond || d > 0 {
		t.Fatalf("%s: first PTS %v, want %v", name, fs[0].PTS, base)
	}
	for i := 1; i < len(fs); i++ {
		if d := fs[i].PTS - fs[i-1].PTS; d < step-time.Millisecond || d > step+time.Millisecond {
			t.Fatalf("%s: frame %d steps %v, want %v", name, i, d, step)
		}
		if len(fs[i].Data) == 0 {
			t.Fatalf("%s: frame %d empty", name, i)
		}
	}
}
