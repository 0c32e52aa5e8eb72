package whep

import (
	"testing"
	"time"

	"github.com/onair-video/onair/internal/stream"
	"github.com/onair-video/onair/internal/stream/streamtest"
)

// BenchmarkVideoPacketize is what a WHEP feed does once per frame for all
// of a channel's viewers: Annex-B framing and RTP packetization of one
// access unit (the clip's, 320x240 at ~20 kbit per frame).
func BenchmarkVideoPacketize(b *testing.B) {
	v := streamtest.H264(b)
	tr := &stream.Track{Codec: &stream.H264{SPS: v.SPS, PPS: v.PPS}, ClockRate: 90000}
	units := make([]*stream.Unit, len(v.AUs))
	bytes := 0
	for i, au := range v.AUs {
		units[i] = &stream.Unit{Track: tr, PTS: time.Duration(i) * time.Second / 30, Payload: au}
		bytes += units[i].Size()
	}
	p := &videoPacketizer{}
	b.SetBytes(int64(bytes / len(units)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if len(p.packets(units[i%len(units)])) == 0 {
			b.Fatal("no packets")
		}
	}
}
