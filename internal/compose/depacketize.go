package compose

import (
	"slices"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// VideoCodec is a participant's video codec.
type VideoCodec int

// The video codecs a stage publisher sends.
const (
	CodecH264 VideoCodec = iota + 1
	CodecVP8
)

// videoFrame is one whole frame out of RTP: an H.264 access unit in
// Annex-B, or a VP8 frame.
type videoFrame struct {
	ts       uint32 // RTP timestamp, 90 kHz
	data     []byte
	keyframe bool
	// w and h are the picture size a keyframe announces (0: not read).
	w, h int
}

// assembler turns a participant's video RTP packets (in order, as the SFU
// forwards them) into frames. A frame is complete at its marker bit; one
// that lost a packet (a gap in the sequence numbers) is dropped, and the
// frames after it until the next keyframe, which the caller asks for.
type assembler struct {
	codec   VideoCodec
	h264    codecs.H264Packet
	vp8     codecs.VP8Packet
	cur     []byte
	curTS   uint32
	started bool // cur holds the start of a frame
	broken  bool // cur lost a packet
	lastSeq uint16
	haveSeq bool
	// needKey: the decoder needs a keyframe (the start, or a loss).
	needKey bool
	// sps and pps are the last seen, put before a keyframe that lacks them.
	sps, pps []byte
}

func newAssembler(c VideoCodec) *assembler { return &assembler{codec: c, needKey: true} }

// push takes one packet and returns a frame when the packet completes one
// that can be decoded; lost reports a frame dropped for a loss (ask the
// publisher for a keyframe).
func (a *assembler) push(h *rtp.Header, payload []byte) (f *videoFrame, lost bool) {
	if a.haveSeq && h.SequenceNumber != a.lastSeq+1 {
		a.broken = true
		if a.codec == CodecH264 {
			a.h264 = codecs.H264Packet{} // drop a half FU-A
		}
	}
	a.lastSeq, a.haveSeq = h.SequenceNumber, true
	if a.started && h.Timestamp != a.curTS {
		// The previous frame lost its marker packet.
		a.cur, a.started, a.broken = a.cur[:0], false, true
	}
	if !a.started {
		a.curTS, a.started = h.Timestamp, true
	}
	switch a.codec {
	case CodecH264:
		b, err := a.h264.Unmarshal(payload)
		if err != nil {
			a.broken = true
		}
		a.cur = append(a.cur, b...)
	case CodecVP8:
		b, err := a.vp8.Unmarshal(payload)
		if err != nil {
			a.broken = true
		} else {
			if a.vp8.S == 1 && a.vp8.PID == 0 && len(a.cur) > 0 {
				// A new frame's first partition without the old one's marker.
				a.cur, a.broken = a.cur[:0], false
			}
			a.cur = append(a.cur, b...)
		}
	}
	if !h.Marker {
		return nil, false
	}
	data, broken := a.cur, a.broken
	a.cur, a.started, a.broken = nil, false, false
	if broken || len(data) == 0 {
		a.needKey = true
		return nil, true
	}
	fr := &videoFrame{ts: h.Timestamp, data: data}
	a.inspect(fr)
	if a.needKey && !fr.keyframe {
		return nil, false
	}
	a.needKey = false
	return fr, false
}

// inspect sets f's keyframe flag and size, and, for H.264, puts the last
// parameter sets before an IDR that comes without them.
func (a *assembler) inspect(f *videoFrame) {
	switch a.codec {
	case CodecVP8:
		// RFC 6386 9.1: bit 0 of the frame tag is 0 on a keyframe, whose
		// start code 9d 01 2a is followed by 14-bit width and height.
		d := f.data
		if len(d) >= 10 && d[0]&1 == 0 && d[3] == 0x9d && d[4] == 0x01 && d[5] == 0x2a {
			f.keyframe = true
			f.w = int(d[6]) | int(d[7]&0x3f)<<8
			f.h = int(d[8]) | int(d[9]&0x3f)<<8
		}
	case CodecH264:
		var au h264.AnnexB
		if err := au.Unmarshal(f.data); err != nil {
			return
		}
		hasSPS, hasPPS := false, false
		for _, n := range au {
			if len(n) == 0 {
				continue
			}
			switch h264.NALUType(n[0] & 0x1f) {
			case h264.NALUTypeSPS:
				a.sps, hasSPS = append([]byte(nil), n...), true
				var s h264.SPS
				if s.Unmarshal(n) == nil {
					f.w, f.h = s.Width(), s.Height()
				}
			case h264.NALUTypePPS:
				a.pps, hasPPS = append([]byte(nil), n...), true
			case h264.NALUTypeIDR:
				f.keyframe = true
			}
		}
		if f.keyframe && (!hasSPS || !hasPPS) && a.sps != nil && a.pps != nil {
			f.data = slices.Concat([]byte{0, 0, 0, 1}, a.sps, []byte{0, 0, 0, 1}, a.pps, f.data)
			if f.w == 0 {
				var s h264.SPS
				if s.Unmarshal(a.sps) == nil {
					f.w, f.h = s.Width(), s.Height()
				}
			}
		}
		if f.keyframe && a.sps == nil {
			f.keyframe = false // undecodable without its parameter sets
		}
	}
}
