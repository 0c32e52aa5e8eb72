package session

import (
	"testing"
	"time"

	"github.com/onair-video/onair/internal/stream"
)

// BenchmarkMeterObserve is the stats cost per received unit (the tracker's
// reader does this under its lock for every frame of every live stream).
func BenchmarkMeterObserve(b *testing.B) {
	var m meter
	m.start(t0)
	u := &stream.Unit{Track: videoTrack, Payload: [][]byte{make([]byte, 8000)}}
	now := t0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		u.DTS = time.Duration(i) * time.Second / 30
		u.RandomAccess = i%60 == 0
		now = now.Add(time.Second / 30)
		m.observe(u, now)
		if i%30 == 29 {
			m.tick(now, 0)
			m.judge("HEALTHY", now)
		}
	}
}
