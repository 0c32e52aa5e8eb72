package ffmpeg

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/onair-video/onair/internal/stream/streamtest"
)

// BenchmarkAACToOpusDelay feeds 3 s of AAC at real time into the converter
// and reports how long after a frame went in the Opus packet that starts
// at its media time came out: the audio delay WHEP adds for RTMP sources.
func BenchmarkAACToOpusDelay(b *testing.B) {
	aus := aacClip(b)
	const frame = 1024 * time.Second / 44100
	for range b.N {
		var mu sync.Mutex
		in := map[int]time.Time{} // input frame index → write time
		var delays []time.Duration
		conv, err := AACToOpus(context.Background(), &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC,
			SampleRate: 44100, ChannelConfig: 2}, streamtest.Log(), func(f Frame) {
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			// The input frame holding this packet's start.
			if w, ok := in[int(max(f.PTS, 0)/frame)]; ok {
				delays = append(delays, now.Sub(w))
			}
		})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for i := range 130 { // 3 s
			time.Sleep(time.Until(start.Add(time.Duration(i) * frame)))
			mu.Lock()
			in[i] = time.Now()
			mu.Unlock()
			conv.Write(Frame{PTS: time.Duration(i) * frame, Data: aus[i%len(aus)]})
		}
		time.Sleep(200 * time.Millisecond)
		conv.Close()
		mu.Lock()
		slices.Sort(delays)
		if len(delays) > 10 {
			b.ReportMetric(float64(delays[len(delays)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(delays[len(delays)*95/100].Microseconds())/1000, "p95-ms")
		}
		mu.Unlock()
	}
}
