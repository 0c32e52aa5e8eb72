package rtc

import (
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"
)

// The cap lands in the video section only, once, in RFC 4566's order (the
// e2e tests' clients, pion and Chromium, apply it).
func TestCapVideoBitrate(t *testing.T) {
	t.Parallel()
	answer := engineAnswer(t)
	for _, tc := range []struct {
		kbps int64
		want []string
		not  []string
	}{
		{1500, []string{"b=AS:1500\r\nb=TIAS:1500000\r\n"}, nil},
		{0, nil, []string{"b=AS:", "b=TIAS:"}},
	} {
		got, err := CapVideoBitrate(answer, tc.kbps)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if strings.Count(got, w) != 1 {
				t.Errorf("cap %d: %q not once in\n%s", tc.kbps, w, got)
			}
			_, video, ok := strings.Cut(got, "m=video")
			if !ok {
				t.Fatalf("no video section:\n%s", got)
			}
			if end := strings.Index(video[1:], "\r\nm="); end > 0 {
				video = video[:end]
			}
			if !strings.Contains(video, w) {
				t.Errorf("cap %d: not in the video section:\n%s", tc.kbps, got)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(got, n) {
				t.Errorf("cap %d: %q in\n%s", tc.kbps, n, got)
			}
		}
	}
	if _, err := CapVideoBitrate("not sdp", 1000); err == nil {
		t.Error("no error for an answer that is not SDP")
	}
}

// The engine answers a data channel (the IVS Web Broadcast SDK opens
// "stopStream" before its tracks): SCTP is on, and its m-line accepted.
func TestAnswerAcceptsDataChannel(t *testing.T) {
	t.Parallel()
	answer := engineAnswer(t)
	for _, w := range []string{"m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "a=sctp-port:", "m=video 9 ", "a=candidate:"} {
		if !strings.Contains(answer, w) {
			t.Errorf("answer lacks %q:\n%s", w, answer)
		}
	}
}

// sdkOffer is a publisher's offer: a data channel first (as the Web
// Broadcast SDK's), then video and audio to send.
func sdkOffer(t *testing.T) string {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	if _, err := pc.CreateDataChannel("stopStream", nil); err != nil {
		t.Fatal(err)
	}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	return o.SDP
}

// engineAnswer is a new engine's answer to an offer of H.264 video, Opus
// audio and a data channel.
func engineAnswer(t *testing.T) string {
	t.Helper()
	pc, err := newEngine(t).NewPeerConnection()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	answer, err := Answer(pc, sdkOffer(t), AnswerTimeout)
	if err != nil {
		t.Fatal(err)
	}
	return answer
}
