package sfu

import (
	"time"

	"github.com/pion/webrtc/v4"
)

// A subscriber's bandwidth estimate (REMB, from its browser) caps its
// simulcast layer: bwCeil, beside the congestion ceiling and the
// subscriber's preference.
const (
	// bwUpgradeAfter: the estimate must allow a higher layer this long
	// before the subscriber gets it, so a rising estimate's first packets
	// do not flap the layer.
	bwUpgradeAfter = 4 * time.Second
	// A layer is left when the estimate is under bwKeep of its bit rate
	// and has fallen (by bwFall at once): a browser's estimate drops to
	// 85% of what it receives at each sign of congestion. An estimate
	// under the rate that has not fallen is catching up: it starts at
	// what the subscriber received first and climbs a few percent a
	// second, slower than a publisher's encoder ramps up its layers. The
	// layer is left once the estimate has stayed under it bwDownAfter, at
	// once under bwDrop of it. A layer is taken only when the estimate
	// exceeds its rate by bwHeadroom: the measured rate is a one-second
	// average, and a keyframe is a burst above it.
	bwKeep      = 0.75
	bwFall      = 0.9
	bwDrop      = 0.5
	bwDownAfter = 1500 * time.Millisecond
	bwHeadroom  = 1.25
	// A receiver's estimate grows to about 1.5 times what it receives and
	// no further, so it never shows room for a layer far above the one
	// sent. An estimate that stays bwSaturated times the layer's rate (no
	// congestion seen) is taken as room for the next layer up: a probe.
	// A probe the estimate then refuses within bwProbeWindow doubles the
	// wait before the next one, up to bwMaxBackoff times bwUpgradeAfter.
	bwSaturated   = 1.3
	bwProbeWindow = 10 * time.Second
	bwMaxBackoff  = 16
)

// bwState is the video down-track's estimate state, the RTCP reader's
// alone.
type bwState struct {
	last      float64 // the previous estimate
	fell      bool    // the estimate fell since downSince
	downSince int64   // since when the estimate is under the cap's layer; 0: it is not
	upSince   int64   // since when the estimate allows a higher layer; 0: it does not
	probeAt   int64   // when the last probe raised the cap; 0: none pending
	backoff   int64   // multiplies bwUpgradeAfter for a probe; 0 means 1
}

// onEstimate takes a receiver's estimate of its bandwidth (bit/s) and moves
// the layer cap: down to the highest layer the estimate keeps once it has
// fallen and stayed low bwDownAfter (at once if far too low), up after
// bwUpgradeAfter to the highest it has room for.
func (d *downTrack) onEstimate(bps float64, now int64) {
	if d.m.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	st := &d.bw
	fell := st.last > 0 && bps < st.last*bwFall
	st.last = bps
	top := int32(-1)
	var rates [maxLayers]float64 // 0: unknown or not sent
	for i := range maxLayers {
		if l := d.m.layers[i].Load(); l != nil {
			top = int32(i)
			l.mu.Lock()
			rates[i] = float64(l.bitrate)
			l.mu.Unlock()
		}
	}
	if top <= 0 {
		return // one layer: nothing to choose
	}
	c := min(d.bwCeil.Load(), top)
	keep := c
	for keep > 0 && rates[keep] > 0 && bps < rates[keep]*bwKeep {
		keep--
	}
	if keep < c {
		st.upSince = 0
		if st.downSince == 0 {
			st.downSince, st.fell = now, false
		}
		st.fell = st.fell || fell
		if !st.fell || now-st.downSince < int64(bwDownAfter) && bps >= rates[c]*bwDrop {
			return
		}
		if st.probeAt != 0 && now-st.probeAt < int64(bwProbeWindow) {
			st.backoff = min(max(st.backoff, 1)*2, bwMaxBackoff)
		}
		st.downSince, st.probeAt = 0, 0
		d.setBWCeil(keep, now)
		return
	}
	st.downSince = 0
	if st.probeAt != 0 && now-st.probeAt >= int64(bwProbeWindow) {
		st.probeAt, st.backoff = 0, 0 // the probe held
	}
	up := c
	for i := top; i > c; i-- {
		if rates[i] > 0 && bps >= rates[i]*bwHeadroom {
			up = i
			break
		}
	}
	probe := up == c && c < top && rates[c] > 0 && bps >= rates[c]*bwSaturated
	if up == c && !probe {
		st.upSince = 0
		return
	}
	if st.upSince == 0 {
		st.upSince = now
	}
	wait := int64(bwUpgradeAfter)
	if up == c {
		wait *= max(st.backoff, 1)
	}
	if now-st.upSince < wait {
		return
	}
	st.upSince = 0
	if up == c {
		up, st.probeAt = c+1, now
	}
	d.setBWCeil(up, now)
}

// setBWCeil moves the cap, counting a move that changes the layer the
// subscriber is to receive.
func (d *downTrack) setBWCeil(c int32, now int64) {
	before := d.target(now)
	d.bwCeil.Store(c)
	if t := d.target(now); t != before {
		d.m.pub.room.metrics.BandwidthSwitches.Add(1)
		d.want.Store(t)
		d.m.requestKeyframe(int(t), now)
	}
}
