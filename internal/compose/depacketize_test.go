package compose

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// A 320x240 baseline SPS and its PPS (from an x264 clip).
var (
	testSPS = []byte{0x67, 0x42, 0xc0, 0x0d, 0xda, 0x05, 0x07, 0xec, 0x04, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00, 0x00, 0x0f, 0x23, 0xc5, 0x0a, 0xa8}
	testPPS = []byte{0x68, 0xce, 0x0f, 0xc8}
)

func annexB(nalus ...[]byte) []byte {
	var b []byte
	for _, n := range nalus {
		b = append(append(b, 0, 0, 0, 1), n...)
	}
	return b
}

func slice(typ byte, n int) []byte {
	s := bytes.Repeat([]byte{0xab}, n)
	s[0] = 0x60 | typ
	return s
}

// packetizer makes a participant's RTP: sequence numbers run on, one
// timestamp per frame, the marker on a frame's last packet.
type packetizer struct {
	p   rtp.Payloader
	seq uint16
	ts  uint32
}

type pkt struct {
	h       rtp.Header
	payload []byte
}

func (p *packetizer) frame(data []byte) []pkt {
	var out []pkt
	payloads := p.p.Payload(200, data)
	for i, pl := range payloads {
		out = append(out, pkt{rtp.Header{SequenceNumber: p.seq, Timestamp: p.ts, Marker: i == len(payloads)-1}, pl})
		p.seq++
	}
	p.ts += 3000
	return out
}

func TestAssemblerH264(t *testing.T) {
	t.Parallel()
	pz := &packetizer{p: &codecs.H264Payloader{}, seq: 65530}
	a := newAssembler(CodecH264)
	feed := func(ps []pkt) (frames []*videoFrame, lost int) {
		for _, p := range ps {
			f, l := a.push(&p.h, p.payload)
			if f != nil {
				frames = append(frames, f)
			}
			if l {
				lost++
			}
		}
		return frames, lost
	}
	// A P-frame before any keyframe is dropped (the decoder cannot start).
	if fs, _ := feed(pz.frame(annexB(slice(1, 500)))); len(fs) != 0 {
		t.Fatalf("a P-frame came out before a keyframe")
	}
	// A keyframe in FU-A packets across the sequence wrap: whole, its size read.
	idr := annexB(testSPS, testPPS, slice(5, 900))
	fs, lost := feed(pz.frame(idr))
	if len(fs) != 1 || lost != 0 || !fs[0].keyframe || fs[0].w != 320 || fs[0].h != 240 {
		t.Fatalf("keyframe: %d frames, %d lost, %+v", len(fs), lost, fs)
	}
	if !bytes.Contains(fs[0].data, slice(5, 900)) || !bytes.Contains(fs[0].data, testSPS) {
		t.Fatalf("keyframe data incomplete")
	}
	// P-frames follow.
	if ps, _ := feed(pz.frame(annexB(slice(1, 300)))); len(ps) != 1 || ps[0].keyframe {
		t.Fatalf("P-frame: %+v", ps)
	}
	// A lost packet: that frame and the P-frames after it are dropped
	// until a keyframe; the loss is reported.
	ps := pz.frame(annexB(slice(1, 700)))
	fs, lost = feed(append(ps[:1:1], ps[2:]...))
	if len(fs) != 0 || lost != 1 {
		t.Fatalf("frame with a hole: %d frames, %d lost", len(fs), lost)
	}
	if after, _ := feed(pz.frame(annexB(slice(1, 300)))); len(after) != 0 {
		t.Fatalf("a P-frame after a loss came out")
	}
	// An IDR without its parameter sets gets the last ones before it.
	fs, _ = feed(pz.frame(annexB(slice(5, 400))))
	if len(fs) != 1 || !fs[0].keyframe || !bytes.HasPrefix(fs[0].data, annexB(testSPS, testPPS)) || fs[0].w != 320 {
		t.Fatalf("IDR without SPS/PPS: %+v", fs)
	}
	// A frame whose marker packet is lost is dropped when the next begins.
	ps = pz.frame(annexB(slice(1, 700)))
	ps = ps[:len(ps)-1]
	pz.seq-- // the marker packet never existed: no sequence gap
	next := pz.frame(annexB(slice(1, 100)))
	fs, lost = feed(append(ps, next...))
	if len(fs) != 0 || lost != 1 {
		t.Fatalf("frame without its marker: %d frames, %d lost", len(fs), lost)
	}
}

// vp8Key is a VP8 keyframe header of w x h and some payload.
func vp8Key(w, h, n int) []byte {
	b := make([]byte, 10+n)
	b[0], b[1], b[2] = 0x10, 0x02, 0x00 // frame tag: keyframe (bit 0 clear), shown
	copy(b[3:], []byte{0x9d, 0x01, 0x2a})
	binary.LittleEndian.PutUint16(b[6:], uint16(w))
	binary.LittleEndian.PutUint16(b[8:], uint16(h))
	return b
}

func TestAssemblerVP8(t *testing.T) {
	t.Parallel()
	pz := &packetizer{p: &codecs.VP8Payloader{}}
	a := newAssembler(CodecVP8)
	var got []*videoFrame
	for _, frame := range [][]byte{{0x11, 1, 2, 3}, vp8Key(640, 360, 600), {0x11, 4, 5, 6}} {
		for _, p := range pz.frame(frame) {
			if f, _ := a.push(&p.h, p.payload); f != nil {
				got = append(got, f)
			}
		}
	}
	if len(got) != 2 || !got[0].keyframe || got[0].w != 640 || got[0].h != 360 || got[1].keyframe ||
		!bytes.Equal(got[1].data, []byte{0x11, 4, 5, 6}) || len(got[0].data) != 610 {
		t.Fatalf("VP8 frames: %+v", got)
	}
}

// FuzzAssembler feeds a participant's packets as they might come from a
// hostile publisher: no panic, and a frame only after a keyframe.
func FuzzAssembler(f *testing.F) {
	pz := &packetizer{p: &codecs.H264Payloader{}}
	for _, p := range pz.frame(annexB(testSPS, testPPS, slice(5, 300))) {
		f.Add(true, p.h.SequenceNumber, p.h.Timestamp, p.h.Marker, p.payload)
	}
	f.Add(false, uint16(1), uint32(0), true, vp8Key(2, 2, 4))
	f.Add(false, uint16(1), uint32(0), true, []byte{0x90, 0x80, 0x00})
	f.Fuzz(func(t *testing.T, h264 bool, seq uint16, ts uint32, marker bool, payload []byte) {
		c := CodecVP8
		if h264 {
			c = CodecH264
		}
		a := newAssembler(c)
		for i := range 3 {
			h := rtp.Header{SequenceNumber: seq + uint16(i), Timestamp: ts, Marker: marker || i == 2}
			if fr, _ := a.push(&h, payload); fr != nil && !fr.keyframe && i == 0 {
				t.Fatalf("a first frame that is no keyframe came out")
			}
		}
	})
}
