package stream

import (
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
)

// splitNALUs cuts fuzz input into NAL units at each 0x00 0x00 0x01, the
// way any publisher's bytes may arrive (empty units included).
func splitNALUs(b []byte) [][]byte {
	var out [][]byte
	start := 0
	for i := 0; i+2 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			out = append(out, b[start:i])
			start = i + 3
			i += 2
		}
	}
	return append(out, b[start:])
}

// The fixers see every publisher's access units: whatever the NAL units,
// they neither panic nor publish an AUD, an empty unit or a unit without a
// picture.
func FuzzFixers(f *testing.F) {
	f.Add([]byte{0x09, 0xf0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x68, 0xce, 0, 0, 1, 0x65, 0x88})
	f.Add([]byte{0x41, 0x9a, 0, 0, 1, 0, 0, 1, 0x06, 0x05})
	f.Add([]byte{0x40, 0x01, 0, 0, 1, 0x42, 0x01, 0, 0, 1, 0x44, 0x01, 0, 0, 1, 0x26, 0x01, 0xaf})
	f.Add([]byte{0x46, 0x01, 0x10, 0, 0, 1, 0x02, 0x01, 0xd0})
	f.Fuzz(func(t *testing.T, b []byte) {
		au := splitNALUs(b)
		f4 := NewH264Fixer(nil, nil)
		for range 2 { // the second pass has parameter sets from the first
			if out, ok := f4.Fix(au); ok {
				vcl := false
				for _, n := range out {
					if len(n) == 0 || h264.NALUType(n[0]&0x1f) == h264.NALUTypeAccessUnitDelimiter {
						t.Fatalf("H.264 out %x", out)
					}
					switch h264.NALUType(n[0] & 0x1f) {
					case h264.NALUTypeIDR, h264.NALUTypeNonIDR, h264.NALUTypeDataPartitionA, h264.NALUTypeDataPartitionB, h264.NALUTypeDataPartitionC:
						vcl = true
					}
				}
				if !vcl {
					t.Fatalf("H.264 unit without a picture published: %x", out)
				}
			}
		}
		f5 := NewH265Fixer(nil, nil, nil)
		for range 2 {
			if out, ok := f5.Fix(au); ok {
				for _, n := range out {
					if len(n) == 0 || h265.NALUType((n[0]>>1)&0x3f) == h265.NALUType_AUD_NUT {
						t.Fatalf("H.265 out %x", out)
					}
				}
			}
		}
	})
}
