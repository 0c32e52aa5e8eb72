package sfu

import (
	"testing"
	"time"
)

// The read lag of packets on time is 0 and of late ones their lateness,
// across a timestamp wrap; one packet in delaySample is counted.
func TestLagMeter(t *testing.T) {
	for _, tc := range []struct {
		name  string
		late  time.Duration // of the second half of the packets
		le    float64       // the bucket the late sample falls in
		below float64       // the bucket below it
	}{
		{"on time", 0, 0.0001, 0},
		{"50 ms late", 50 * time.Millisecond, 0.05, 0.03},
		{"1 ms late", time.Millisecond, 0.001, 0.00075},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var g lagMeter
			var h DelayHistogram
			ts := uint32(1<<32 - 3000*5) // wraps at the sixth packet
			at := int64(time.Hour)
			for i := range 2 * delaySample {
				p := &packet{arrival: at}
				if i >= delaySample {
					p.arrival += int64(tc.late)
				}
				p.hdr.Timestamp = ts
				g.observe(p, 90000, &h)
				ts += 3000
				at += int64(time.Second / 30)
			}
			b, n, _ := h.Snapshot()
			if n != 2 || b[0.0001] < 1 || b[tc.le] != 2 || (tc.below > 0 && b[tc.below] != 1) {
				t.Fatalf("%d samples, buckets %v", n, b)
			}
		})
	}
}
