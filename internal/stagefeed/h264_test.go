package stagefeed

import (
	"bytes"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp/codecs"
)

// Parameter sets of x264 (320x180) in each profile.
var (
	spsBaseline = []byte{0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0x9f, 0x9f, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03,
		0x03, 0xc0, 0xf1, 0x42, 0xa4, 0x80}
	spsMain = []byte{0x67, 0x4d, 0x40, 0x0d, 0xec, 0xa0, 0xa0, 0xcf, 0xcf, 0x80, 0x88, 0x00, 0x00, 0x03, 0x00, 0x08, 0x00, 0x00, 0x03, 0x01,
		0xe0, 0x78, 0xa1, 0x4c, 0xb0}
	spsHigh = []byte{0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0x9f, 0x9f, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03,
		0x03, 0xc0, 0xf1, 0x42, 0x99, 0x60}
	spsHigh10 = []byte{0x67, 0x6e, 0x00, 0x0d, 0xa6, 0xcd, 0x94, 0x14, 0x19, 0xf9, 0xf0, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00,
		0x03, 0x00, 0x3c, 0x0f, 0x14, 0x29, 0x96}
	pps = []byte{0x68, 0xeb, 0xe3, 0xcb, 0x20}
)

func TestSliceType(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		nalu []byte
		want int
		ok   bool
	}{
		// first_mb_in_slice 0 ("1"), then slice_type as ue(v).
		{"P (0)", []byte{0x41, 0xe0}, sliceP, true},               // 1 1
		{"B (1)", []byte{0x01, 0xa8}, sliceB, true},               // 1 010
		{"I (2)", []byte{0x65, 0xb8}, sliceI, true},               // 1 011
		{"P, all slices (5)", []byte{0x41, 0x9a}, sliceP, true},   // 1 00110
		{"B, all slices (6)", []byte{0x01, 0x9e}, sliceB, true},   // 1 00111
		{"I, all slices (7)", []byte{0x65, 0x88}, sliceI, true},   // 1 0001000
		{"first_mb 3, B", []byte{0x01, 0x22, 0x80}, sliceB, true}, // 00100 010
		{"header only", []byte{0x41}, 0, false},                   //
		{"zeros", []byte{0x41, 0x00, 0x00}, 0, false},             // no golomb code ends
		{"slice_type 10", []byte{0x41, 0x8b, 0x00}, 0, false},     // 1 0001011: 10
		{"emulation prevention", []byte{0x41, 0x00, 0x00, 0x03, 0x01, 0x80}, 0, false},
	} {
		got, err := sliceType(tc.nalu)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("%s: %d, %v; want %d (ok %v)", tc.name, got, err, tc.want, tc.ok)
		}
	}
}

// readClip splits an Annex-B file into its access units (an AUD or a
// parameter set after a picture starts the next one; x264 writes one
// slice per picture at these sizes).
func readClip(t *testing.T, name string) [][][]byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var nalus h264.AnnexB
	if err := nalus.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	var aus [][][]byte
	var cur [][]byte
	for _, n := range nalus {
		cur = append(cur, n)
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeIDR, h264.NALUTypeNonIDR:
			aus = append(aus, cur)
			cur = nil
		}
	}
	return aus
}

// x264's B-frames are found in the slices, and none in a clip made
// without them.
func TestHasBFrame(t *testing.T) {
	t.Parallel()
	count := func(aus [][][]byte) int {
		n := 0
		for _, au := range aus {
			if hasBFrame(au) {
				n++
			}
		}
		return n
	}
	with, without := readClip(t, "bframes.h264"), readClip(t, "nobframes.h264")
	if len(with) != 12 || len(without) != 12 {
		t.Fatalf("clips of %d and %d pictures", len(with), len(without))
	}
	if n := count(with); n < 4 {
		t.Errorf("%d B-frames found in x264's -bf 2 clip", n)
	}
	if n := count(without); n != 0 {
		t.Errorf("%d B-frames found in x264's -bf 0 clip", n)
	}
}

// Access units become RTP packets of one timestamp, within the MTU, the
// marker on the last, sequence numbers running on; depacketized, they
// give back the NAL units (SPS and PPS before the IDR).
func TestVideoPacketizer(t *testing.T) {
	t.Parallel()
	aus := readClip(t, "nobframes.h264")
	big := append([]byte{0x65, 0x88}, bytes.Repeat([]byte{0xab}, 5000)...)
	aus = append(aus, [][]byte{spsMain, pps, big})
	p := &videoPacketizer{ssrc: 7, pt: 102, seq: 65530, base: 4294967000}
	seq := p.seq
	for i, au := range aus {
		pts := time.Duration(i) * time.Second / 30
		pkts := p.packets(pts, au)
		if len(pkts) == 0 {
			t.Fatalf("unit %d: no packets", i)
		}
		var got [][]byte
		var d codecs.H264Packet
		for j, pkt := range pkts {
			if pkt.SequenceNumber != seq || pkt.Timestamp != 4294967000+uint32(3000*i) || pkt.SSRC != 7 || pkt.PayloadType != 102 ||
				pkt.Marker != (j == len(pkts)-1) || len(pkt.Payload) > rtpMTU {
				t.Fatalf("unit %d packet %d: %+v (%d bytes)", i, j, pkt.Header, len(pkt.Payload))
			}
			seq++
			b, err := d.Unmarshal(pkt.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > 0 {
				var ns h264.AnnexB
				if err := ns.Unmarshal(b); err != nil {
					t.Fatal(err)
				}
				got = append(got, ns...)
			}
		}
		if !slices.EqualFunc(got, au, bytes.Equal) {
			t.Fatalf("unit %d: %d NAL units back, want %d", i, len(got), len(au))
		}
	}
}

// The H.264 profiles browsers decode get the SFU's codec of that profile;
// others, and broken parameter sets, none.
func TestH264Codec(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		sps  []byte
		want string
	}{
		{"baseline", spsBaseline, "42e01f"},
		{"main", spsMain, "4d001f"},
		{"high", spsHigh, "64001f"},
		{"high 10", spsHigh10, ""},
		{"cut short", spsMain[:6], ""},
		{"none", nil, ""},
	} {
		c, ok := h264Codec(tc.sps)
		if ok != (tc.want != "") || (ok && !hasProfile(c.SDPFmtpLine, tc.want)) {
			t.Errorf("%s: %v %v, want %q", tc.name, c, ok, tc.want)
		}
	}
}

// Slice headers from encoders are parsed without trust.
func FuzzSliceType(f *testing.F) {
	for _, b := range [][]byte{{0x41, 0xe0}, {0x01, 0xa8}, {0x41, 0x00, 0x00, 0x03, 0x01, 0x80}, {0x41}} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, nalu []byte) {
		got, err := sliceType(nalu)
		if err == nil && (got < 0 || got > 4) {
			t.Fatalf("slice type %d", got)
		}
		_ = hasBFrame([][]byte{nalu, nil})
	})
}

// Encoders' access units, whatever they hold, become packets within the
// MTU without a panic.
func FuzzVideoPacketizer(f *testing.F) {
	f.Add([]byte{0x67, 0x42}, []byte{0x68}, []byte{0x65, 0x88, 0x01})
	f.Add([]byte{}, []byte{0x18, 0x00}, bytes.Repeat([]byte{0x41}, 3000))
	f.Add([]byte{0x7c, 0x85}, []byte{0x00, 0x00, 0x01}, []byte{0x1c})
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		p := &videoPacketizer{}
		for _, pkt := range p.packets(time.Second, [][]byte{a, b, c}) {
			if len(pkt.Payload) > rtpMTU {
				t.Fatalf("a payload of %d bytes", len(pkt.Payload))
			}
		}
	})
}
