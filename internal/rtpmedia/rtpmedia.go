// Package rtpmedia turns a WebRTC publisher's RTP into stream units: video
// frames reassembled from packets (H.264, or VP8 transcoded to H.264 by
// ffmpeg), Opus transcoded to AAC, all on one media clock that starts at
// the first H.264 keyframe. WHIP ingest (a channel's publisher) and the
// Stages recorders (a tap of a participant) share it. It knows nothing of
// channels or stages.
package rtpmedia

import (
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"
)

const (
	// reorderPackets is how far the frame builder waits for a late packet.
	reorderPackets = 512
	reorderDelay   = 200 * time.Millisecond
)

// Clock turns a track's RTP timestamps into media time on a wall clock
// shared by the publisher's tracks: the track's first packet is placed at
// its arrival (after the wall clock's start), later ones by their
// timestamp distance (unwrapped), so the tracks line up as sent.
type Clock struct {
	// Rate is the RTP clock rate: 90000 video, 48000 Opus.
	Rate int64

	set    bool
	last   uint32
	ext    int64
	offset time.Duration
}

// PTS is the media time of timestamp ts of a packet that arrived at
// arrival, on the clock that started at wallStart.
func (c *Clock) PTS(ts uint32, arrival, wallStart time.Time) time.Duration {
	if !c.set {
		c.set, c.last, c.offset = true, ts, arrival.Sub(wallStart)
	}
	c.ext += int64(int32(ts - c.last))
	c.last = ts
	return c.offset + time.Duration(c.ext*int64(time.Second)/c.Rate)
}

// VP8Keyframe reports whether a VP8 frame is a keyframe, and its picture
// size (RFC 6386 §9.1: a 3-byte tag whose lowest bit is 0 for keyframes,
// the start code 9d 01 2a, then 14-bit width and height).
func VP8Keyframe(f []byte) (key bool, w, h int) {
	if len(f) < 10 || f[0]&1 != 0 || f[3] != 0x9d || f[4] != 0x01 || f[5] != 0x2a {
		return false, 0, 0
	}
	return true, int(f[6]) | int(f[7]&0x3f)<<8, int(f[8]) | int(f[9]&0x3f)<<8
}

// Frames reassembles a video track's frames from its packets, reordering
// up to reorderPackets (waiting at most reorderDelay for a late one).
type Frames struct {
	sb *samplebuilder.SampleBuilder
}

// NewFrames returns a frame builder for VP8 (vp8 set) or H.264 packets.
func NewFrames(vp8 bool) *Frames {
	var d rtp.Depacketizer = &codecs.H264Packet{}
	if vp8 {
		d = &codecs.VP8Packet{}
	}
	return &Frames{sb: samplebuilder.New(reorderPackets, d, 90000, samplebuilder.WithMaxTimeDelay(reorderDelay))}
}

// Push adds a packet, which the builder keeps: it must not be changed
// afterwards.
func (f *Frames) Push(p *rtp.Packet) { f.sb.Push(p) }

// Pop returns the next complete frame, nil if none is. A frame whose
// PrevDroppedPackets is set follows a loss: the picture is broken until
// the next keyframe.
func (f *Frames) Pop() *media.Sample { return f.sb.Pop() }
