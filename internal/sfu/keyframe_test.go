package sfu

import (
	"bytes"
	"testing"

	"github.com/pion/webrtc/v4"
)

// vp8Key is the first packet of a 640×360 VP8 key frame: descriptor with
// X, I (15-bit picture id), then the frame tag, start code and size.
var vp8Key = []byte{0x90, 0x80, 0x80, 0x01, 0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01, 0xff}

func TestKeyframeStart(t *testing.T) {
	t.Parallel()
	sps := []byte{0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xec, 0x04, 0x40}
	pps := []byte{0x68, 0xce, 0x3c, 0x80}
	stap := append(append(append([]byte{24, 0, byte(len(sps))}, sps...), 0, byte(len(pps))), pps...)
	tests := []struct {
		name    string
		c       codec
		payload []byte
		want    bool
	}{
		{"audio", codecOther, []byte{1}, true},
		{"VP8 key frame", codecVP8, vp8Key, true},
		{"VP8 no extension", codecVP8, append([]byte{0x10}, vp8Key[4:]...), true},
		{"VP8 inter frame", codecVP8, append([]byte{0x10, 0x51}, vp8Key[5:]...), false},
		{"VP8 continuation", codecVP8, append([]byte{0x00}, vp8Key[4:]...), false},
		{"VP8 second partition", codecVP8, append([]byte{0x11}, vp8Key[4:]...), false},
		{"VP8 truncated", codecVP8, vp8Key[:8], false},
		{"VP8 empty", codecVP8, nil, false},
		{"H.264 SPS", codecH264, sps, true},
		{"H.264 STAP-A with SPS", codecH264, stap, true},
		{"H.264 STAP-A PPS only", codecH264, append([]byte{24, 0, byte(len(pps))}, pps...), false},
		{"H.264 STAP-A overrun", codecH264, []byte{24, 0, 40, 0x67}, false},
		{"H.264 IDR without SPS", codecH264, []byte{0x65, 0x88}, false},
		{"H.264 FU-A", codecH264, []byte{0x7c, 0x85, 0x88}, false},
		{"H.264 non-IDR", codecH264, []byte{0x41, 0x9a}, false},
		{"H.264 empty", codecH264, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := keyframeStart(tc.c, tc.payload); got != tc.want {
				t.Fatalf("keyframeStart = %v, want %v", got, tc.want)
			}
		})
	}
	if w, h, ok := vp8Keyframe(vp8Key); !ok || w != 640 || h != 360 {
		t.Fatalf("VP8 size %d×%d %v", w, h, ok)
	}
	if got := h264SPS(stap); !bytes.Equal(got, sps) {
		t.Fatalf("SPS from STAP-A: %x", got)
	}
}

func TestSameCodec(t *testing.T) {
	t.Parallel()
	h := func(f string) webrtc.RTPCodecCapability {
		return webrtc.RTPCodecCapability{MimeType: "video/H264", SDPFmtpLine: f}
	}
	tests := []struct {
		name string
		a, b webrtc.RTPCodecCapability
		want bool
	}{
		{"VP8 either case", webrtc.RTPCodecCapability{MimeType: "video/vp8"}, webrtc.RTPCodecCapability{MimeType: "video/VP8"}, true},
		{"VP8 vs H.264", webrtc.RTPCodecCapability{MimeType: "video/VP8"}, h(""), false},
		{"same profile, other level", h("packetization-mode=1;profile-level-id=42e01f"), h("profile-level-id=42e034;packetization-mode=1"), true},
		{"other profile", h("packetization-mode=1;profile-level-id=42e01f"), h("packetization-mode=1;profile-level-id=64001f"), false},
		{"other packetization", h("packetization-mode=1;profile-level-id=42e01f"), h("profile-level-id=42e01f"), false},
		{"defaults", h(""), h("profile-level-id=42001f;packetization-mode=0"), true},
	}
	for _, tc := range tests {
		if got := sameCodec(tc.a, tc.b); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// The detectors take any payload a publisher sends.
func FuzzKeyframe(f *testing.F) {
	f.Add(vp8Key)
	f.Add([]byte{24, 0, 2, 0x67, 0x42, 0, 1, 0x68})
	f.Add([]byte{0x7c, 0x85})
	f.Fuzz(func(t *testing.T, p []byte) {
		for _, c := range []codec{codecVP8, codecH264, codecOther} {
			keyframeStart(c, p)
		}
		if w, h, ok := vp8Keyframe(p); ok && (w >= 1<<14 || h >= 1<<14) {
			t.Fatalf("VP8 size %d×%d", w, h)
		}
		if sps := h264SPS(p); sps != nil && (len(sps) == 0 || sps[0]&0x1f != naluSPS || len(sps) > len(p)) {
			t.Fatalf("SPS %x from %x", sps, p)
		}
	})
}

// Offers are the client's: any text is refused or parsed, never a panic.
func FuzzOfferedCodecs(f *testing.F) {
	f.Add("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n")
	f.Add("m=video 9 RTP 300 x\r\na=fmtp:300 profile-level-id")
	f.Fuzz(func(t *testing.T, s string) {
		for _, k := range []string{"video", "audio"} {
			cs, err := offeredCodecs(s, k)
			if err != nil && cs != nil {
				t.Fatal("codecs with an error")
			}
			_, _ = pickCodec(cs, cs)
		}
	})
}
