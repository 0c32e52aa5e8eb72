package sfu

import (
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// withRTX returns the codec preferences of a transceiver that negotiates
// c: c, and the offer's RTX for c if it has one (RFC 4588). A transceiver's
// preferences without the RTX leave it out of the answer.
func withRTX(c webrtc.RTPCodecParameters, offered []webrtc.RTPCodecParameters) []webrtc.RTPCodecParameters {
	if r, ok := rtxOf(offered, c.PayloadType); ok {
		return []webrtc.RTPCodecParameters{c, r}
	}
	return []webrtc.RTPCodecParameters{c}
}

// rtxOf finds the RTX codec whose apt is pt among codecs.
func rtxOf(codecs []webrtc.RTPCodecParameters, pt webrtc.PayloadType) (webrtc.RTPCodecParameters, bool) {
	for _, c := range codecs {
		if !strings.EqualFold(c.MimeType, webrtc.MimeTypeRTX) {
			continue
		}
		if apt, err := strconv.Atoi(fmtpValue(c.SDPFmtpLine, "apt")); err == nil && apt == int(pt) {
			return c, true
		}
	}
	return webrtc.RTPCodecParameters{}, false
}

// repaired says whether pion read the packet from the RTX stream (it
// rewrites it into the original and marks it in the attributes).
func repaired(a interceptor.Attributes) bool {
	return a != nil && a.Get(webrtc.AttributeRtxSsrc) != nil
}

// admit says whether a packet with seq is new to layer l: a publisher's
// retransmission of a packet that did arrive (a browser probes bandwidth
// with RTX copies of recent packets, and a NACK may cross the packet), or
// one older than the cache, must not reach subscribers a second time or
// out of all order. Reader goroutine only.
func (l *layer) admit(seq uint16) bool {
	if !l.seen {
		l.seen, l.top = true, seq
		return true
	}
	if d := int16(seq - l.top); d > 0 {
		l.top = seq
		return true
	} else if int(d) <= -cacheSize {
		return false
	}
	return l.cache.get(seq) == nil
}

// rtxPayload writes an RTX payload into buf: the original sequence number,
// then the original payload (RFC 4588 §4).
func rtxPayload(buf []byte, seq uint16, payload []byte) []byte {
	buf = binary.BigEndian.AppendUint16(buf[:0], seq)
	return append(buf, payload...)
}
