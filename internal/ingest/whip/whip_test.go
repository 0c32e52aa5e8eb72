package whip

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/onair-video/onair/internal/rtc"
)

const chromeLikeOffer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\na=sendonly\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96 102\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:102 H264/90000\r\na=sendonly\r\n"

func TestOfferedMedia(t *testing.T) {
	// Not parallel: it swaps ffmpegOK.
	defer func(f func() bool) { ffmpegOK = f }(ffmpegOK)
	ffmpegOK = func() bool { return true }
	vp8 := "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n"
	if m, err := offeredMedia(vp8); err != nil || !m.vp8 {
		t.Fatalf("VP8 with ffmpeg: %+v %v", m, err)
	}
	if m, err := offeredMedia(chromeLikeOffer); err != nil || m.vp8 {
		t.Fatalf("H.264 and VP8 on offer: %+v %v, want H.264", m, err)
	}
	ffmpegOK = func() bool { return false }
	tests := []struct {
		name      string
		offer     string
		status    int // 0: accepted
		wantAudio bool
	}{
		{"H.264 and Opus", chromeLikeOffer, 0, true},
		{"video only", "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\na=rtpmap:102 H264/90000\r\n", 0, false},
		{"VP8 only, no ffmpeg", vp8, http.StatusUnsupportedMediaType, false},
		{"VP9 only", "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 98\r\na=rtpmap:98 VP9/90000\r\n", http.StatusUnsupportedMediaType, false},
		{"not SDP", "hello", http.StatusBadRequest, false},
		{"empty (ReadOffer refuses it first)", "", http.StatusUnsupportedMediaType, false},
	}
	for _, tc := range tests {
		m, err := offeredMedia(tc.offer)
		var he *rtc.HTTPError
		switch {
		case tc.status == 0 && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.status != 0 && (!errors.As(err, &he) || he.Status != tc.status):
			t.Errorf("%s: %v, want status %d", tc.name, err, tc.status)
		case tc.status == 0 && m.audio != tc.wantAudio:
			t.Errorf("%s: audio %v", tc.name, m.audio)
		}
	}
}

func TestBearer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header, want string
		ok           bool
	}{
		{"Bearer sk_abc", "sk_abc", true},
		{"bearer  sk_abc ", "sk_abc", true},
		{"Basic sk_abc", "", false},
		{"Bearer", "", false},
		{"Bearer sk\x01", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		r := httptest.NewRequest(http.MethodPost, "/whip", nil)
		r.Header.Set("Authorization", tc.header)
		got, ok := bearer(r)
		if got != tc.want || ok != tc.ok {
			t.Errorf("bearer(%q) = %q %v", tc.header, got, ok)
		}
	}
}

// FuzzOfferedMedia: any body is refused with a status or accepted with
// H.264 in it, never a panic.
func FuzzOfferedMedia(f *testing.F) {
	f.Add(chromeLikeOffer)
	f.Add("v=0\r\n")
	f.Add("m=video 9 x 102\r\na=rtpmap:102 H264/90000\r\n")
	f.Fuzz(func(t *testing.T, offer string) {
		if _, err := offeredMedia(offer); err != nil {
			var he *rtc.HTTPError
			if !errors.As(err, &he) || he.Status < 400 {
				t.Fatalf("error without a status: %v", err)
			}
		}
	})
}
