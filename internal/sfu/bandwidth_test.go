package sfu

import (
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// The bandwidth cap follows a subscriber's estimates: down once low for
// bwDownAfter (at once if far too low), up after bwUpgradeAfter, never above the preference, and one layer at a
// time past what the estimate can show (a probe), less often after a
// failed one.
func TestBandwidthCeiling(t *testing.T) {
	t.Parallel()
	type step struct {
		at   time.Duration
		bps  float64
		want int32 // the cap after
	}
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	// Layers at 150 kbit/s, 500 kbit/s and 1.5 Mbit/s.
	tests := []struct {
		name   string
		layers int
		pref   int32
		ceil   int32
		steps  []step
		target int32 // the layer to forward at the end
	}{
		{name: "far too low: down at once", layers: 3, pref: -1, ceil: 2,
			steps: []step{{0, 2e6, 2}, {sec(1), 300e3, 0}}, target: 0},
		{name: "down to the layer the estimate keeps once it fell and stays low", layers: 3, pref: -1, ceil: 2,
			steps: []step{{0, 1.2e6, 2}, {sec(0.5), 1e6, 2}, {sec(1.9), 1e6, 2}, {sec(2), 1e6, 1}}, target: 1},
		{name: "a blip does not move it", layers: 3, pref: -1, ceil: 2,
			steps: []step{{0, 1.2e6, 2}, {sec(1), 1e6, 2}, {sec(2), 1.2e6, 2}, {sec(3), 1e6, 2}, {sec(4), 1e6, 2}}, target: 2},
		{name: "an estimate catching up does not move it", layers: 3, pref: -1, ceil: 2,
			steps: []step{{0, 300e3, 2}, {sec(1), 330e3, 2}, {sec(2), 360e3, 2}, {sec(3), 390e3, 2}, {sec(9), 700e3, 2}}, target: 2},
		{name: "up after the hysteresis", layers: 3, pref: -1, ceil: 0,
			steps: []step{{0, 5e6, 0}, {sec(1), 5e6, 0}, {sec(3.9), 5e6, 0}, {sec(4), 5e6, 2}}, target: 2},
		{name: "a dip restarts the wait", layers: 3, pref: -1, ceil: 0,
			steps: []step{{0, 5e6, 0}, {sec(2), 160e3, 0}, {sec(3), 5e6, 0}, {sec(6.9), 5e6, 0}, {sec(7), 5e6, 2}}, target: 2},
		{name: "up to what the estimate has room for", layers: 3, pref: -1, ceil: 0,
			steps: []step{{0, 1e6, 0}, {sec(4), 1e6, 1}}, target: 1},
		{name: "never above the preference", layers: 3, pref: 1, ceil: 0,
			steps: []step{{0, 5e6, 0}, {sec(4), 5e6, 2}}, target: 1},
		{name: "probe, fail, back off", layers: 3, pref: -1, ceil: 1,
			steps: []step{
				{0, 700e3, 1}, {sec(4), 700e3, 2}, // saturated: probe hi
				{sec(5), 600e3, 1}, // refused: back to mid, twice the wait
				{sec(6), 700e3, 1}, {sec(13.9), 700e3, 1}, {sec(14), 700e3, 2},
				{sec(15), 600e3, 1}, // refused again: four times
				{sec(16), 700e3, 1}, {sec(31.9), 700e3, 1}, {sec(32), 700e3, 2},
			}, target: 2},
		{name: "a probe that holds resets the wait", layers: 3, pref: -1, ceil: 0,
			steps: []step{
				{0, 200e3, 0}, {sec(4), 200e3, 1}, // probe mid
				{sec(5), 100e3, 0},                                             // refused: twice the wait
				{sec(6), 200e3, 0}, {sec(13.9), 200e3, 0}, {sec(14), 200e3, 1}, // probe mid again
				{sec(15), 600e3, 1}, {sec(24), 600e3, 1}, // it held, the estimate not saturated
				{sec(25), 800e3, 1}, {sec(28.9), 800e3, 1}, {sec(29), 800e3, 2}, // probe hi after the base wait
			}, target: 2},
		{name: "one layer", layers: 1, pref: -1, ceil: 2,
			steps: []step{{0, 10e3, 2}}, target: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, _, downs := fanout(t, 1, false)
			rates := []int{150e3, 500e3, 1500e3}
			for i := range tc.layers {
				l := &layer{idx: i, bitrate: rates[i]}
				l.lastPLI.Store(math.MaxInt64 / 2) // no PLI: there is no peer connection
				m.layers[i].Store(l)
			}
			d := downs[0]
			d.pref.Store(tc.pref)
			d.bwCeil.Store(tc.ceil)
			base := int64(time.Hour)
			var now int64
			for _, s := range tc.steps {
				now = base + int64(s.at)
				for i := range tc.layers {
					m.layers[i].Load().last.Store(now)
				}
				d.onEstimate(s.bps, now)
				if got := d.bwCeil.Load(); got != s.want {
					t.Fatalf("at %v, %.0f bit/s: cap %d, want %d", s.at, s.bps, got, s.want)
				}
			}
			if got := d.target(now); got != tc.target {
				t.Fatalf("target %d, want %d", got, tc.target)
			}
		})
	}
}

// A subscriber whose browser reports 300 kbit/s (REMB) is moved down to the
// lowest layer at once, and back to the highest when it reports 5 Mbit/s,
// after the hysteresis; each switch at a keyframe.
func TestBandwidthLayer(t *testing.T) {
	t.Parallel()
	room := newTestRoom(t)
	pc := publish(t, room, "pub", capVP8, simulcastClips(t))
	rate := map[string]int{}
	eventually(t, 20*time.Second, "three layers' bit rates", func() bool {
		for _, l := range pc.pub.Layers() {
			if l.Active && l.Bitrate > 0 {
				rate[l.EncodingID] = l.Bitrate
			}
		}
		return len(rate) == 3
	})
	t.Logf("layer bit rates %v", rate)
	s := subscribe(t, room, "sub", "pub", SubscribeOptions{})
	if sdp := s.pc.RemoteDescription().SDP; !strings.Contains(sdp, "goog-remb") || strings.Contains(sdp, "transport-cc") {
		t.Fatalf("the subscribe answer should negotiate REMB and not TWCC:\n%s", sdp)
	}
	layerOf := func(f recvFrame) frameInfo {
		info, ok := pc.frames[sha256Sum(f.data)]
		if !ok {
			t.Fatalf("a frame the publisher never sent (%d bytes)", len(f.data))
		}
		return info
	}
	lastLayer := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.frames) == 0 {
			return -1
		}
		return layerOf(s.frames[len(s.frames)-1]).layer
	}
	eventually(t, 20*time.Second, "the highest layer", func() bool { return lastLayer() == 2 && s.nFrames() > 20 })

	// The subscriber's REMB, every 200 ms as a browser sends them when
	// its estimate moves; the first ones at 5 Mbit/s, since a browser's
	// estimate falls from what it was (one that climbs from low is
	// catching up, not congestion).
	var bps atomic.Int64
	ticking(t, 200*time.Millisecond, func(n int) {
		b := bps.Load()
		if n < 3 {
			b = 5e6
		}
		if b > 0 {
			_ = s.pc.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{
				Bitrate: float32(b), SSRCs: []uint32{s.sub.video.ssrc}}})
		}
	})
	low := min(300e3, int64(float64(rate["mid"])*0.45))
	bps.Store(low)
	eventually(t, 20*time.Second, "the switch to low", func() bool { return lastLayer() == 0 })
	n := s.nFrames()
	eventually(t, 20*time.Second, "frames on low", func() bool { return s.nFrames() > n+20 })
	if lastLayer() != 0 {
		t.Fatal("the subscriber left the lowest layer while its estimate stayed low")
	}
	high := time.Now()
	bps.Store(5e6)
	eventually(t, 30*time.Second, "the switch back to hi", func() bool { return lastLayer() == 2 })
	if d := time.Since(high); d < bwUpgradeAfter {
		t.Fatalf("back to hi %v after the estimate rose: no hysteresis", d)
	}
	t.Logf("back to hi %v after the estimate rose", time.Since(high).Round(time.Millisecond))

	frames, seqs, _ := s.snapshot()
	for i, f := range frames {
		if info := layerOf(f); i > 0 && info.layer != layerOf(frames[i-1]).layer && !info.key {
			t.Fatalf("frame %d starts layer %d without a keyframe", i, info.layer)
		}
	}
	if err := contiguous(seqs, 30); err != nil {
		t.Fatal(err)
	}
	if got := room.metrics.BandwidthSwitches.Load(); got < 2 {
		t.Fatalf("%d bandwidth switches counted", got)
	}
}

// A subscriber that asks for the lowest layer first gets it, keeps it when
// it returns to the automatic choice (the SDK does right after subscribing)
// while no estimate says more, moves up when its estimate allows, and gets
// a layer it picks by hand.
func TestLowestFirstThenAdapts(t *testing.T) {
	t.Parallel()
	room := newTestRoom(t)
	pc := publish(t, room, "pub", capVP8, simulcastClips(t))
	eventually(t, 20*time.Second, "three layers' bit rates", func() bool {
		n := 0
		for _, l := range pc.pub.Layers() {
			if l.Active && l.Bitrate > 0 {
				n++
			}
		}
		return n == 3
	})
	s := subscribe(t, room, "sub", "pub", SubscribeOptions{InitialLayer: LayerLowest})
	lastLayer := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.frames) == 0 {
			return -1
		}
		return pc.frames[sha256Sum(s.frames[len(s.frames)-1].data)].layer
	}
	eventually(t, 20*time.Second, "frames from the lowest layer", func() bool { return s.nFrames() > 10 })
	if l := lastLayer(); l != 0 {
		t.Fatalf("the first frames are from layer %d", l)
	}
	if err := s.sub.SelectLayer(""); err != nil {
		t.Fatal(err)
	}
	n := s.nFrames()
	eventually(t, 20*time.Second, "more frames", func() bool { return s.nFrames() > n+30 })
	if l := lastLayer(); l != 0 {
		t.Fatalf("the automatic choice without an estimate moved the subscriber to layer %d", l)
	}
	rose := time.Now()
	ticking(t, 200*time.Millisecond, func(int) {
		_ = s.pc.WriteRTCP([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: 5e6, SSRCs: []uint32{s.sub.video.ssrc}}})
	})
	eventually(t, 30*time.Second, "the highest layer, as the estimate allows", func() bool { return lastLayer() == 2 })
	t.Logf("up to hi %v after the estimate allowed it", time.Since(rose).Round(time.Millisecond))
	if err := s.sub.SelectLayer("mid"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the layer picked by hand", func() bool { return lastLayer() == 1 })

	frames, seqs, _ := s.snapshot()
	for i, f := range frames {
		if info := pc.frames[sha256Sum(f.data)]; i > 0 && info.layer != pc.frames[sha256Sum(frames[i-1].data)].layer && !info.key {
			t.Fatalf("frame %d starts layer %d without a keyframe", i, info.layer)
		}
	}
	if err := contiguous(seqs, 30); err != nil {
		t.Fatal(err)
	}
}
