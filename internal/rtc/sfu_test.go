package rtc

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// An SFU peer connection answers VP8 and H.264 publishers alike, with
// simulcast and TWCC feedback; AnswerWith runs prepare between offer and
// answer, and its error ends the exchange.
func TestSFUPeerConnection(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	tests := []struct {
		codec string
		want  []string
	}{
		{webrtc.MimeTypeVP8, []string{"VP8/90000", "opus/48000", "transport-cc", "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"}},
		{webrtc.MimeTypeH264, []string{"H264/90000", "profile-level-id=42e01f", "a=candidate:"}},
	}
	for _, tc := range tests {
		t.Run(tc.codec, func(t *testing.T) {
			t.Parallel()
			pc, err := e.NewSFUPeerConnection()
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			prepared := false
			answer, err := AnswerWith(pc, offer(t, tc.codec), 5*time.Second, func() error {
				prepared = len(pc.GetTransceivers()) == 2
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !prepared {
				t.Fatal("prepare did not see the offer's transceivers")
			}
			for _, w := range tc.want {
				if !strings.Contains(answer, w) {
					t.Errorf("answer lacks %q:\n%s", w, answer)
				}
			}
		})
	}
	pc, err := e.NewSFUPeerConnection()
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	refused := errors.New("no")
	if _, err := AnswerWith(pc, offer(t, webrtc.MimeTypeVP8), 5*time.Second, func() error { return refused }); !errors.Is(err, refused) {
		t.Fatalf("prepare's error: %v", err)
	}
}
