package stagefeed

import (
	"errors"
	"math"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/bits"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// rtpMTU is the largest RTP payload the packetizer makes: a 1200-byte
// packet with its header and SRTP's tag fits any path's MTU.
const rtpMTU = 1160

// errShortSlice is a slice header cut short.
var errShortSlice = errors.New("stagefeed: slice header cut short")

// H.264 slice types (ITU-T H.264 Table 7-6; 5 to 9 say every slice of the
// picture has that type).
const (
	sliceP  = 0
	sliceB  = 1
	sliceI  = 2
	sliceSP = 3
	sliceSI = 4
)

// sliceType reads the slice_type of a coded slice NAL unit (its header's
// second field, after first_mb_in_slice), modulo 5. It reads what an
// encoder sent: a unit too short or malformed is an error.
func sliceType(nalu []byte) (int, error) {
	if len(nalu) < 2 {
		return 0, errShortSlice
	}
	// Emulation prevention bytes may sit in the header's first bytes;
	// 16 bytes hold both fields of any picture up to 8K.
	head := nalu[1:min(len(nalu), 17)]
	head = h264.EmulationPreventionRemove(head)
	pos := 0
	if _, err := bits.ReadGolombUnsigned(head, &pos); err != nil {
		return 0, errShortSlice
	}
	t, err := bits.ReadGolombUnsigned(head, &pos)
	if err != nil {
		return 0, errShortSlice
	}
	if t > 9 {
		return 0, errors.New("stagefeed: slice_type out of range")
	}
	return int(t % 5), nil
}

// hasBFrame tells whether an access unit (its NAL units) holds a B slice.
// A unit that cannot be read is not judged here (the decoder will).
func hasBFrame(au [][]byte) bool {
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		switch h264.NALUType(n[0] & 0x1F) {
		case h264.NALUTypeNonIDR, h264.NALUTypeDataPartitionA:
			if t, err := sliceType(n); err == nil && t == sliceB {
				return true
			}
		}
	}
	return false
}

// videoPacketizer turns H.264 access units into RTP packets
// (packetization-mode 1: single NAL units, STAP-A for the parameter sets
// the fixer put before each IDR, FU-A for the large ones).
type videoPacketizer struct {
	payloader codecs.H264Payloader
	ssrc      uint32
	pt        uint8
	seq       uint16
	base      uint32
}

func (p *videoPacketizer) packets(pts time.Duration, au [][]byte) []*rtp.Packet {
	b, err := h264.AnnexB(au).Marshal()
	if err != nil {
		return nil
	}
	payloads := p.payloader.Payload(rtpMTU, b)
	ts := p.base + rtpTicks(pts, 90000)
	out := make([]*rtp.Packet, len(payloads))
	for i, pl := range payloads {
		out[i] = &rtp.Packet{Header: rtp.Header{Version: 2, Marker: i == len(payloads)-1, PayloadType: p.pt,
			SequenceNumber: p.seq, Timestamp: ts, SSRC: p.ssrc}, Payload: pl}
		p.seq++
	}
	return out
}

// audioPacketizer puts one Opus packet in one RTP packet.
type audioPacketizer struct {
	ssrc uint32
	pt   uint8
	seq  uint16
	base uint32
}

func (p *audioPacketizer) packet(pts time.Duration, data []byte) *rtp.Packet {
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: p.pt, SequenceNumber: p.seq,
		Timestamp: p.base + rtpTicks(pts, 48000), SSRC: p.ssrc}, Payload: data}
	p.seq++
	return pkt
}

// rtpTicks converts a media time to RTP clock ticks, rounded.
func rtpTicks(d time.Duration, rate int64) uint32 {
	return uint32((int64(d)*rate + int64(time.Second)/2) / int64(time.Second) & math.MaxUint32)
}
