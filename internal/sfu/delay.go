package sfu

import (
	"sync/atomic"
	"time"
)

// delaySample: one packet in this many of each down-track is timed from
// its arrival to its write returning. Sampling keeps the histogram's
// shared counters off the per-packet path.
const delaySample = 16

// delayBounds are the upper bounds of the forwarding delay histogram's
// buckets, in seconds (the last bucket, +Inf, is implicit): 0.1 ms to 1 s,
// finest around the 2 ms a forward should take.
var delayBounds = [...]float64{0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075,
	0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1}

// delayBoundsNs is DelayBounds in nanoseconds, for observe.
var delayBoundsNs = func() []int64 {
	out := make([]int64, len(delayBounds))
	for i, b := range delayBounds {
		out[i] = int64(b * float64(time.Second))
	}
	return out
}()

// DelayHistogram is the sampled forwarding delay (packet read from the
// publisher → the subscriber's WriteRTP returned): counts per bucket of
// delayBounds (not cumulative; the last is above every bound) and the sum.
// Updated with atomics; read at scrape time.
type DelayHistogram struct {
	buckets [len(delayBounds) + 1]atomic.Uint64
	sumNs   atomic.Int64
}

// Observe counts one delay.
func (h *DelayHistogram) Observe(d time.Duration) { h.observe(int64(d)) }

func (h *DelayHistogram) observe(ns int64) {
	i := 0
	for i < len(delayBoundsNs) && ns > delayBoundsNs[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sumNs.Add(ns)
}

// Snapshot returns each bucket's upper bound in seconds with its
// cumulative count (Prometheus's le), the total count and the sum in
// seconds.
func (h *DelayHistogram) Snapshot() (buckets map[float64]uint64, count uint64, sum float64) {
	buckets = make(map[float64]uint64, len(delayBounds))
	for i, b := range delayBounds {
		count += h.buckets[i].Load()
		buckets[b] = count
	}
	count += h.buckets[len(delayBounds)].Load()
	return buckets, count, float64(h.sumNs.Load()) / float64(time.Second)
}

// lagMeter estimates how late a layer's reader takes each packet: its
// arrival minus its RTP timestamp, above the least such offset of the
// last 5–10 s. A reader that falls behind (packets wait in pion's buffers
// before it reads them) shows here and not in the forwarding delay, which
// starts at the read. Publisher pacing and network jitter are in it too.
// The reader goroutine's alone.
type lagMeter struct {
	n              uint32
	ext            int64 // the timestamp, unwrapped
	last           uint32
	started        bool
	prevMin, minOf int64
	winEnd         int64
}

const lagWindow = 5 * time.Second

func (g *lagMeter) observe(p *packet, clock uint32, h *DelayHistogram) {
	if clock == 0 {
		return
	}
	if !g.started {
		g.started, g.ext, g.last = true, 0, p.hdr.Timestamp
	} else {
		g.ext += int64(int32(p.hdr.Timestamp - g.last))
		g.last = p.hdr.Timestamp
	}
	off := p.arrival - g.ext*int64(time.Second)/int64(clock)
	if g.winEnd == 0 || p.arrival >= g.winEnd {
		g.prevMin, g.minOf, g.winEnd = g.minOf, off, p.arrival+int64(lagWindow)
		if g.prevMin == 0 {
			g.prevMin = off
		}
	}
	g.minOf = min(g.minOf, off)
	if g.n++; g.n%delaySample == 0 {
		h.observe(off - min(g.minOf, g.prevMin))
	}
}
