package sfu

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// packet is one RTP packet of a publisher, shared by every subscriber's
// down-track: they read it and never write it. Each down-track writes its
// own header (SSRC, payload type, sequence number, timestamp) from hdr.
type packet struct {
	hdr     rtp.Header // the publisher's, extensions stripped
	payload []byte
	arrival int64 // monotonic nanoseconds since the room's epoch
	layer   int8
	key     bool // the first packet of a keyframe
}

// cacheSize packets of each layer are kept to answer NACKs: a second of
// 720p video, a few round trips. A power of two.
const cacheSize = 512

// cache is a layer's recent packets by sequence number, written by the
// layer's reader and read by the subscribers' RTCP goroutines.
type cache [cacheSize]atomic.Pointer[packet]

func (c *cache) put(p *packet) { c[p.hdr.SequenceNumber%cacheSize].Store(p) }

// get returns the packet with seq, or nil if it was overwritten.
func (c *cache) get(seq uint16) *packet {
	if p := c[seq%cacheSize].Load(); p != nil && p.hdr.SequenceNumber == seq {
		return p
	}
	return nil
}

// Layers of a track: a track without simulcast has one, layer 0.
const maxLayers = 3

// layerIndex maps a simulcast rid to its layer, lowest quality first: the
// IVS SDK's hi/mid/low and the f/h/q some other clients send.
func layerIndex(rid string) (int, bool) {
	switch rid {
	case "", "low", "q":
		return 0, true
	case "mid", "h":
		return 1, true
	case "hi", "f":
		return 2, true
	}
	return 0, false
}

// layer is one incoming RTP stream: the track, or one simulcast encoding.
type layer struct {
	idx   int
	rid   string
	ssrc  uint32
	cache cache

	// The reader's alone (admit): the highest sequence number read.
	top  uint16
	seen bool

	last    atomic.Int64 // arrival of the latest packet; 0: none yet
	lastPLI atomic.Int64 // when a keyframe was last asked for

	// Written by the reader, read by Layers.
	mu        sync.Mutex
	width     int
	height    int
	bitrate   int // bit/s over the last second
	fps       int
	winStart  int64
	winBytes  int
	winFrames int
}

// fresh says whether the layer had a packet within freshFor of now.
func (l *layer) fresh(now int64) bool {
	if l == nil {
		return false
	}
	last := l.last.Load()
	return last != 0 && now-last < int64(freshFor)
}

// freshFor is how long a layer counts as sent after its last packet: a
// browser pauses its top layer when its uplink cannot carry it.
const freshFor = time.Second

// account updates the layer's description with p (reader goroutine).
func (l *layer) account(p *packet, c codec) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.winStart == 0 {
		l.winStart = p.arrival
	}
	l.winBytes += len(p.payload) + p.hdr.MarshalSize()
	if p.hdr.Marker {
		l.winFrames++
	}
	if d := p.arrival - l.winStart; d >= int64(time.Second) {
		l.bitrate = int(int64(l.winBytes) * 8 * int64(time.Second) / d)
		l.fps = int((int64(l.winFrames)*int64(time.Second) + d/2) / d)
		l.winStart, l.winBytes, l.winFrames = p.arrival, 0, 0
	}
	if !p.key {
		return
	}
	switch c {
	case codecVP8:
		if w, h, ok := vp8Keyframe(p.payload); ok {
			l.width, l.height = w, h
		}
	case codecH264:
		if b := h264SPS(p.payload); b != nil {
			var sps h264.SPS
			if sps.Unmarshal(b) == nil {
				l.width, l.height = sps.Width(), sps.Height()
			}
		}
	}
}

// media is one published track (audio or video) with its layers, and the
// down-tracks of the subscribers fed from it.
type media struct {
	kind   webrtc.RTPCodecType
	params webrtc.RTPCodecParameters
	codec  codec
	pub    *Publisher

	layers [maxLayers]atomic.Pointer[layer]
	// downs is replaced, never changed in place, so the readers fan out
	// without a lock.
	downs  atomic.Pointer[[]*downTrack]
	downMu sync.Mutex
}

func newMedia(pub *Publisher, kind webrtc.RTPCodecType, params webrtc.RTPCodecParameters) *media {
	m := &media{kind: kind, params: params, codec: codecOf(params.RTPCodecCapability), pub: pub}
	m.downs.Store(&[]*downTrack{})
	return m
}

func (m *media) add(d *downTrack) {
	m.downMu.Lock()
	defer m.downMu.Unlock()
	old := *m.downs.Load()
	next := make([]*downTrack, len(old), len(old)+1)
	copy(next, old)
	next = append(next, d)
	m.downs.Store(&next)
}

func (m *media) remove(d *downTrack) {
	m.downMu.Lock()
	defer m.downMu.Unlock()
	old := *m.downs.Load()
	next := make([]*downTrack, 0, len(old))
	for _, x := range old {
		if x != d {
			next = append(next, x)
		}
	}
	m.downs.Store(&next)
}

// requestKeyframe asks the publisher for a keyframe on layer i, at most
// once per pliInterval per layer (a browser encoder answers every PLI with
// an expensive keyframe; subscribers joining together need one).
func (m *media) requestKeyframe(i int, now int64) {
	if i < 0 || i >= maxLayers {
		return
	}
	l := m.layers[i].Load()
	if l == nil {
		return
	}
	last := l.lastPLI.Load()
	if last != 0 && now-last < int64(pliInterval) {
		return
	}
	if !l.lastPLI.CompareAndSwap(last, now) {
		return
	}
	m.pub.room.metrics.KeyframeRequests.Add(1)
	m.pub.sendPLI(l.ssrc)
}

// pliInterval is the least time between two keyframe requests to one layer.
const pliInterval = 500 * time.Millisecond

// Layer describes one simulcast layer of a published video track, in the
// terms of the WHEP layer extension.
type Layer struct {
	EncodingID      string `json:"encodingId"`
	Width           int    `json:"width,omitempty"`
	Height          int    `json:"height,omitempty"`
	Bitrate         int    `json:"bitrate,omitempty"`
	FramesPerSecond int    `json:"framesPerSecond,omitempty"`
	// Active: packets arrived within the last second.
	Active bool `json:"-"`
	// Selected: the layer a subscription is forwarding (Subscription.Layers).
	Selected bool `json:"selected"`
}

// describe lists the layers, highest quality first (as IVS lists them).
func (m *media) describe(now int64, selected int) []Layer {
	var out []Layer
	for i := maxLayers - 1; i >= 0; i-- {
		l := m.layers[i].Load()
		if l == nil {
			continue
		}
		l.mu.Lock()
		x := Layer{EncodingID: l.rid, Width: l.width, Height: l.height, Bitrate: l.bitrate, FramesPerSecond: l.fps,
			Active: l.fresh(now), Selected: i == selected}
		l.mu.Unlock()
		out = append(out, x)
	}
	return out
}
