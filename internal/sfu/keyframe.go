package sfu

// Keyframe detection from RTP payloads, the one thing of the codecs an SFU
// needs: a subscriber may start, or switch layers, only where a decoder can.
// Payloads come from publishers, so every parser here is bounds-checked and
// fuzzed.

// codec is what the forwarder needs to know of a track's codec.
type codec uint8

const (
	codecOther codec = iota // audio: every packet is a start
	codecVP8
	codecH264
)

// keyframeStart says whether payload is the first packet of a keyframe that
// a decoder can start from.
func keyframeStart(c codec, payload []byte) bool {
	switch c {
	case codecVP8:
		_, _, ok := vp8Keyframe(payload)
		return ok
	case codecH264:
		return h264KeyframeStart(payload)
	default:
		return true
	}
}

// vp8Keyframe parses the VP8 payload descriptor (RFC 7741 §4.2) and, if the
// packet starts partition 0 of a key frame (P bit clear), returns the
// frame's width and height from its header (RFC 6386 §9.1).
func vp8Keyframe(p []byte) (width, height int, ok bool) {
	if len(p) < 1 {
		return 0, 0, false
	}
	// S (start of partition) set and PartID 0: the frame's first packet.
	if p[0]&0x10 == 0 || p[0]&0x0f != 0 {
		return 0, 0, false
	}
	i := 1
	if p[0]&0x80 != 0 { // X: extension byte I L T K
		if len(p) < 2 {
			return 0, 0, false
		}
		x := p[1]
		i = 2
		if x&0x80 != 0 { // I: picture ID, 7 or 15 bits
			if len(p) <= i {
				return 0, 0, false
			}
			if p[i]&0x80 != 0 {
				i++
			}
			i++
		}
		if x&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if x&0x30 != 0 { // T or K: TID/Y/KEYIDX
			i++
		}
	}
	// Frame tag (3 bytes), start code, 14-bit width and height.
	if len(p) < i+10 {
		return 0, 0, false
	}
	h := p[i:]
	if h[0]&0x01 != 0 || h[3] != 0x9d || h[4] != 0x01 || h[5] != 0x2a {
		return 0, 0, false
	}
	width = int(h[6]) | int(h[7]&0x3f)<<8
	height = int(h[8]) | int(h[9]&0x3f)<<8
	return width, height, true
}

// H.264 NAL unit types (RFC 6184 §5.2 adds 24).
const (
	naluIDR   = 5
	naluSPS   = 7
	naluSTAPA = 24
)

// h264KeyframeStart says whether the packet opens a keyframe a decoder can
// start from: it carries an SPS, alone or in a STAP-A. WebRTC encoders send
// SPS and PPS just before every IDR (Chrome in one STAP-A), and a subscriber
// that starts, or switches layers, at the IDR itself would lack them: a
// new layer has a new resolution.
func h264KeyframeStart(p []byte) bool { return h264SPS(p) != nil }

// h264SPS returns the SPS in a packet (single NALU or in a STAP-A); nil
// if it has none.
func h264SPS(p []byte) []byte {
	if len(p) < 1 {
		return nil
	}
	switch p[0] & 0x1f {
	case naluSPS:
		return p
	case naluSTAPA:
		for i := 1; i+2 < len(p); {
			n := int(p[i])<<8 | int(p[i+1])
			i += 2
			if n == 0 || i+n > len(p) {
				return nil
			}
			if p[i]&0x1f == naluSPS {
				return p[i : i+n]
			}
			i += n
		}
	}
	return nil
}
