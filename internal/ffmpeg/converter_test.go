package ffmpeg

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/onair-video/onair/internal/stream/streamtest"
)

// A converter whose ffmpeg is killed starts another one and goes on
// converting.
func TestConverterRestarts(t *testing.T) {
	t.Parallel()
	aus := aacClip(t)
	var out collector
	conv, err := AACToOpus(context.Background(), &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC,
		SampleRate: 44100, ChannelConfig: 2}, streamtest.Log(), out.add)
	if err != nil {
		t.Fatal(err)
	}
	defer conv.Close()
	feed := func(from int) {
		for i := from; i < from+40; i++ {
			conv.Write(Frame{PTS: time.Duration(i) * 1024 * time.Second / 44100, Data: aus[i%len(aus)]})
			time.Sleep(5 * time.Millisecond)
		}
	}
	feed(0)
	streamtest.Eventually(t, 5*time.Second, "first packets", func() bool { return len(out.get()) > 10 })
	pid := conv.PID()
	p, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	streamtest.Eventually(t, 5*time.Second, "a new ffmpeg", func() bool { return conv.PID() != pid && conv.Restarts() == 1 })
	n := len(out.get())
	feed(100)
	streamtest.Eventually(t, 5*time.Second, "packets from the new ffmpeg", func() bool { return len(out.get()) > n+10 })
}
