package sfu

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// A subscriber's queue per track: a second of 720p video. A subscriber
// whose queue is full loses packets (and is downgraded, then dropped);
// nothing is buffered beyond it.
const (
	videoQueue = 256
	audioQueue = 64
)

// Slow-subscriber policy.
const (
	// stallTimeout: a subscriber whose queue stays full this long is
	// dropped (its writes block, or it cannot take even the lowest layer).
	stallTimeout = 2 * time.Second
	// downgradeEvery: the least time between two downgrades of one
	// subscriber, so one burst costs one layer, not all of them.
	downgradeEvery = time.Second
	// upgradeAfter: a downgraded subscriber is let up a layer after this
	// long without loss.
	upgradeAfter = 10 * time.Second
	// lossDowngrade: a receiver report with more loss than this (of 256)
	// downgrades the subscriber: its link cannot carry the layer.
	lossDowngrade = 26
	// maxResend bounds the packets one NACK may have resent.
	maxResend = 64
)

// segment maps a run of a down-track's sequence numbers back to the layer
// and source numbers they came from, to answer NACKs across layer switches.
type segment struct {
	start  uint16 // first outgoing sequence number of the run
	layer  int8
	seqOff uint16
	tsOff  uint32
}

// downTrack is one published track as one subscriber receives it: a pion
// TrackLocal that rewrites SSRC, payload type, sequence numbers and
// timestamps of the shared packets, and picks the simulcast layer.
type downTrack struct {
	m   *media
	sub *Subscription
	q   chan *packet

	// Set by Bind before the track is added to m, so before any packet.
	w    webrtc.TrackLocalWriter
	ssrc uint32
	pt   uint8

	pref   atomic.Int32 // the preferred layer; -1: the highest
	ceil   atomic.Int32 // the highest layer congestion allows
	want   atomic.Int32 // the layer being switched to
	cur    atomic.Int32 // the layer forwarded; -1: none yet
	ceilAt atomic.Int64 // when ceil last changed
	bwCeil atomic.Int32 // the highest layer the subscriber's bandwidth estimate allows
	bw     bwState      // readRTCP's alone (bandwidth.go)

	overflowSince atomic.Int64 // first overflow of the current run; 0: none
	failed        atomic.Bool

	// direct: the subscriber's transport cannot block (UDP: a full socket
	// buffer is every subscriber's, not this one's), so the publisher's
	// readers write to it themselves. Else (ICE-TCP, whose peer may stop
	// reading) packets go through q and the track's own writer goroutine.
	direct atomic.Bool
	// wrapped: a test wrapped the writer (Room.wrapWriter), which stands
	// for a transport that can block.
	wrapped atomic.Bool

	// mu serializes the writers: the readers of the layers (and the
	// queue's goroutine when the transport changes). Held for one packet;
	// uncontended but during a layer switch.
	mu          sync.Mutex
	hdr         rtp.Header
	seqOff      uint16
	tsOff       uint32
	lastSeq     uint16
	lastTS      uint32
	lastArrival int64
	segStart    uint16 // the outgoing number of the first packet of the layer's run
	started     bool
	written     uint32 // packets written, to sample the delay
	// lastMarker: the last packet written ended its frame. pending holds
	// the target layer's keyframe while the current layer's frame
	// finishes, so the subscriber never gets a frame cut short.
	lastMarker bool
	pending    []*packet

	segMu sync.Mutex
	segs  [4]segment // newest first
	nsegs int
	rhdr  rtp.Header
	// The RTX stream (RFC 4588), if negotiated: rtxSSRC 0 if not. Bind
	// sets them; resend, under segMu, numbers and builds its packets.
	rtxSSRC uint32
	rtxPT   uint8
	rtxSeq  uint16
	rtxBuf  []byte
}

var _ webrtc.TrackLocal = (*downTrack)(nil)

func newDownTrack(m *media, sub *Subscription, pref int32) *downTrack {
	n := audioQueue
	if m.kind == webrtc.RTPCodecTypeVideo {
		n = videoQueue
	}
	d := &downTrack{m: m, sub: sub, q: make(chan *packet, n)}
	d.pref.Store(pref)
	d.ceil.Store(maxLayers - 1)
	d.bwCeil.Store(maxLayers - 1)
	d.cur.Store(-1)
	d.want.Store(d.target(monotime()))
	// Start from random numbers, as a sender does (RFC 3550 §5.1).
	d.lastSeq = uint16(randUint32())
	d.lastTS = randUint32()
	return d
}

// Bind is pion's: the subscriber's peer connection negotiated the track.
func (d *downTrack) Bind(c webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	for _, p := range c.CodecParameters() {
		if sameCodec(p.RTPCodecCapability, d.m.params.RTPCodecCapability) {
			d.segMu.Lock()
			d.w, d.ssrc, d.pt = c.WriteStream(), uint32(c.SSRC()), uint8(p.PayloadType)
			// NACKs are answered on the RTX stream when the subscriber
			// negotiated one for the codec (pion then gave it an SSRC).
			if r, ok := rtxOf(c.CodecParameters(), p.PayloadType); ok && c.SSRCRetransmission() != 0 {
				d.rtxSSRC, d.rtxPT = uint32(c.SSRCRetransmission()), uint8(r.PayloadType)
				d.rtxSeq = uint16(randUint32())
			}
			if wrap := d.m.pub.room.wrapWriter; wrap != nil {
				w := wrap(d.sub, d.w)
				d.wrapped.Store(w != d.w)
				d.w = w
			}
			d.segMu.Unlock()
			d.m.add(d)
			return p, nil
		}
	}
	return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
}

// Unbind is pion's: the sender stopped.
func (d *downTrack) Unbind(webrtc.TrackLocalContext) error {
	d.m.remove(d)
	return nil
}

func (d *downTrack) ID() string                { return d.m.kind.String() }
func (d *downTrack) RID() string               { return "" }
func (d *downTrack) StreamID() string          { return d.m.pub.id }
func (d *downTrack) Kind() webrtc.RTPCodecType { return d.m.kind }

// offer writes p, or queues it, if the subscriber wants its layer, never
// waiting on the subscriber. It runs on the publisher's reader goroutines,
// one per layer, and their fan-out workers.
func (d *downTrack) offer(p *packet, t *tally) {
	if !d.sub.connected.Load() {
		return // nothing is written before the connection is up
	}
	// Before the first keyframe every layer is taken: the writer picks
	// the first keyframe and must see the rest of its frame.
	l, cur := int32(p.layer), d.cur.Load()
	if l != cur && l != d.want.Load() && cur >= 0 {
		return
	}
	if d.direct.Load() {
		d.mu.Lock()
		d.handle(p, t)
		d.mu.Unlock()
		return
	}
	select {
	case d.q <- p:
	default:
		d.overflow(p.arrival)
	}
}

// overflow handles a full queue: downgrade, and drop a subscriber that
// stays behind.
func (d *downTrack) overflow(now int64) {
	d.m.pub.room.metrics.PacketsDropped.Add(1)
	since := d.overflowSince.Load()
	if since == 0 {
		d.overflowSince.CompareAndSwap(0, now)
		since = now
	}
	if now-since > int64(stallTimeout) {
		if d.failed.CompareAndSwap(false, true) {
			d.m.pub.room.metrics.SlowSubscribersDropped.Add(1)
			d.sub.fail(ErrSlowSubscriber)
		}
		return
	}
	d.downgrade(now)
}

// downgrade lowers the layer ceiling below the layer forwarded, at most
// once per downgradeEvery.
func (d *downTrack) downgrade(now int64) {
	if d.m.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	at := d.ceilAt.Load()
	if at != 0 && now-at < int64(downgradeEvery) {
		return
	}
	c := d.cur.Load()
	if c <= 0 || !d.ceilAt.CompareAndSwap(at, now) {
		return
	}
	d.ceil.Store(c - 1)
}

// target is the layer to forward: the preferred one within the ceilings
// (congestion, bandwidth estimate), else the nearest lower layer being
// sent, else the nearest higher.
func (d *downTrack) target(now int64) int32 {
	pref := d.pref.Load()
	if pref < 0 {
		pref = maxLayers - 1
	}
	pref = min(pref, d.ceil.Load(), d.bwCeil.Load())
	for i := pref; i >= 0; i-- {
		if l := d.m.layers[i].Load(); l != nil && l.fresh(now) {
			return i
		}
	}
	for i := pref + 1; i < maxLayers; i++ {
		if l := d.m.layers[i].Load(); l != nil && l.fresh(now) {
			return i
		}
	}
	return pref
}

// run writes the queued packets until ctx ends.
func (d *downTrack) run(ctx context.Context) {
	mt := d.m.pub.room.metrics
	var t tally
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-d.q:
			d.mu.Lock()
			// Queued before the transport was found not to block: the
			// readers write newer packets directly now.
			if !d.direct.Load() {
				d.handle(p, &t)
			}
			d.mu.Unlock()
			t.flush(mt)
		}
	}
}

// handle forwards p, switching layers at a keyframe of the target (d.mu
// held).
func (d *downTrack) handle(p *packet, acc *tally) {
	now := p.arrival
	if d.overflowSince.Load() != 0 && len(d.q) < cap(d.q)/4 {
		d.overflowSince.Store(0)
	}
	if at := d.ceilAt.Load(); at != 0 && now-at > int64(upgradeAfter) && d.overflowSince.Load() == 0 {
		if c := d.ceil.Load(); c < maxLayers-1 && d.ceilAt.CompareAndSwap(at, now) {
			d.ceil.Store(c + 1)
		}
	}
	t := d.target(now)
	d.want.Store(t)
	l, cur := int32(p.layer), d.cur.Load()
	if len(d.pending) > 0 && int32(d.pending[0].layer) != t {
		d.dropPending() // the target changed again
	}
	switch {
	case l == cur && t == cur:
		d.write(p, acc)
	case l == t && len(d.pending) > 0:
		d.pending = append(d.pending, p)
		if len(d.pending) >= maxPending || !d.m.layers[cur].Load().fresh(now) {
			d.flush(acc)
		}
	case l == t:
		switch {
		case !p.key:
			d.m.requestKeyframe(int(t), now)
		case cur < 0 || d.lastMarker || !d.m.layers[cur].Load().fresh(now):
			d.switchTo(p)
			d.write(p, acc)
		default:
			d.pending = append(d.pending, p)
		}
	case l == cur:
		if len(d.pending) == 0 {
			d.write(p, acc)
			d.m.requestKeyframe(int(t), now)
			return
		}
		if p.hdr.Timestamp != d.hdr.Timestamp-d.tsOff {
			// The frame's tail was lost: switch before a new frame.
			d.flush(acc)
			return
		}
		d.write(p, acc)
		if p.hdr.Marker {
			d.flush(acc)
		}
	case cur < 0 && p.key && !d.m.layers[t].Load().fresh(now):
		// The target is not sent: start on what is.
		d.switchTo(p)
		d.write(p, acc)
	}
}

// maxPending bounds the keyframe held for a switch.
const maxPending = 128

// flush switches to the pending keyframe's layer and writes it.
func (d *downTrack) flush(t *tally) {
	d.switchTo(d.pending[0])
	for _, p := range d.pending {
		d.write(p, t)
	}
	d.dropPending()
}

func (d *downTrack) dropPending() {
	clear(d.pending)
	d.pending = d.pending[:0]
}

// switchTo makes p's layer the one forwarded, continuing the outgoing
// sequence numbers and timestamps where the previous layer left them.
func (d *downTrack) switchTo(p *packet) {
	delta := uint32(1)
	if d.started {
		if dt := p.arrival - d.lastArrival; dt > 0 {
			delta = max(1, uint32(dt*int64(d.m.params.ClockRate)/int64(time.Second)))
		}
		d.m.pub.room.metrics.LayerSwitches.Add(1)
	}
	d.seqOff = d.lastSeq + 1 - p.hdr.SequenceNumber
	d.segStart = d.lastSeq + 1
	d.tsOff = d.lastTS + delta - p.hdr.Timestamp
	d.cur.Store(int32(p.layer))
	d.segMu.Lock()
	copy(d.segs[1:], d.segs[:len(d.segs)-1])
	d.segs[0] = segment{start: d.lastSeq + 1, layer: p.layer, seqOff: d.seqOff, tsOff: d.tsOff}
	d.nsegs = min(d.nsegs+1, len(d.segs))
	d.segMu.Unlock()
}

// write sends p with the subscriber's numbers, counted in t.
func (d *downTrack) write(p *packet, t *tally) {
	seq := p.hdr.SequenceNumber + d.seqOff
	if int16(seq-d.segStart) < 0 {
		return // a late (retransmitted) packet from before the switch to p's layer
	}
	if !d.started || int16(seq-d.lastSeq) > 0 {
		d.lastSeq, d.lastTS, d.lastArrival = seq, p.hdr.Timestamp+d.tsOff, p.arrival
	}
	d.started = true
	d.lastMarker = p.hdr.Marker
	d.hdr = p.hdr
	d.hdr.SSRC, d.hdr.PayloadType, d.hdr.SequenceNumber = d.ssrc, d.pt, seq
	d.hdr.Timestamp += d.tsOff
	if _, err := d.w.WriteRTP(&d.hdr, p.payload); err != nil {
		return // the peer connection is closing; its end closes the subscription
	}
	t.packets++
	t.bytes += uint64(len(p.payload) + d.hdr.MarshalSize())
	mt := d.m.pub.room.metrics
	if d.written++; d.written%delaySample == 0 {
		mt.ForwardDelay.observe(monotime() - p.arrival)
	}
	if mt.delay != nil {
		mt.delay(monotime() - p.arrival)
	}
}

// resend answers a subscriber's NACK from the layers' packet caches.
func (d *downTrack) resend(n *rtcp.TransportLayerNack) {
	d.segMu.Lock()
	defer d.segMu.Unlock()
	budget := maxResend
	for _, pair := range n.Nacks {
		pair.Range(func(seq uint16) bool {
			budget--
			d.resendOne(seq)
			return budget > 0
		})
		if budget <= 0 {
			return
		}
	}
}

func (d *downTrack) resendOne(out uint16) {
	for _, s := range d.segs[:d.nsegs] {
		if int16(out-s.start) < 0 {
			continue
		}
		l := d.m.layers[s.layer].Load()
		if l == nil {
			return
		}
		p := l.cache.get(out - s.seqOff)
		if p == nil {
			return
		}
		d.rhdr = p.hdr
		d.rhdr.SSRC, d.rhdr.PayloadType, d.rhdr.SequenceNumber = d.ssrc, d.pt, out
		d.rhdr.Timestamp += s.tsOff
		payload := p.payload
		if d.rtxSSRC != 0 {
			// The original number leads the payload; the RTX stream has
			// numbers of its own (RFC 4588 §4).
			d.rtxBuf = rtxPayload(d.rtxBuf, out, p.payload)
			payload = d.rtxBuf
			d.rhdr.SSRC, d.rhdr.PayloadType, d.rhdr.SequenceNumber = d.rtxSSRC, d.rtxPT, d.rtxSeq
			d.rtxSeq++
		}
		if _, err := d.w.WriteRTP(&d.rhdr, payload); err == nil {
			mt := d.m.pub.room.metrics
			mt.PacketsRetransmitted.Add(1)
			if d.rtxSSRC != 0 {
				mt.RTXRetransmitted.Add(1)
			}
		}
		return
	}
}

// readRTCP handles the subscriber's feedback on this track until the
// sender stops: keyframe requests go to the publisher (rate-limited), NACKs
// are answered from the cache, heavy loss downgrades, bandwidth estimates
// (REMB) cap the layer.
func (d *downTrack) readRTCP(s *webrtc.RTPSender) {
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		now := monotime()
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				d.m.requestKeyframe(int(d.cur.Load()), now)
			case *rtcp.TransportLayerNack:
				d.resend(p)
			case *rtcp.ReceiverEstimatedMaximumBitrate:
				d.onEstimate(float64(p.Bitrate), now)
			case *rtcp.ReceiverReport:
				for _, r := range p.Reports {
					if r.SSRC == d.ssrc && r.FractionLost > lossDowngrade {
						d.downgrade(now)
					}
				}
			}
		}
	}
}

// selected is the layer forwarded, -1 before the first.
func (d *downTrack) selected() int { return int(d.cur.Load()) }
