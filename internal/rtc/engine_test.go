package rtc

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

func newEngine(t *testing.T) *Engine {
	t.Helper()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(EngineConfig{UDP: udp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(); udp.Close() })
	return e
}

// offer is what a publisher sending video of codec (and Opus) offers.
func offer(t *testing.T, codec string) string {
	t.Helper()
	me := &webrtc.MediaEngine{}
	fmtp := ""
	if codec == webrtc.MimeTypeH264 {
		fmtp = H264Fmtp
	}
	for _, c := range []struct {
		p    webrtc.RTPCodecParameters
		kind webrtc.RTPCodecType
	}{
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: codec, ClockRate: 90000,
			SDPFmtpLine: fmtp}, PayloadType: 102}, webrtc.RTPCodecTypeVideo},
		{webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000,
			Channels: 2}, PayloadType: 111}, webrtc.RTPCodecTypeAudio},
	} {
		if err := me.RegisterCodec(c.p, c.kind); err != nil {
			t.Fatal(err)
		}
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return o.SDP
}

// Answer negotiates the engine's codecs, gathers its candidates on the
// shared socket, and refuses an unusable offer as the client's error.
func TestAnswer(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	tests := []struct {
		name  string
		vp8   bool // on a VP8 peer connection
		offer string
		want  []string // in the answer; nil: refused with 400
	}{
		{"H.264 and Opus", false, offer(t, webrtc.MimeTypeH264), []string{"H264/90000", "opus/48000", "a=candidate:", "127.0.0.1"}},
		{"VP8 and Opus", true, offer(t, webrtc.MimeTypeVP8), []string{"VP8/90000", "opus/48000", "a=candidate:"}},
		{"not SDP", false, "hello", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			newPC := e.NewPeerConnection
			if tc.vp8 {
				newPC = e.NewPeerConnectionVP8
			}
			pc, err := newPC()
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			answer, err := Answer(pc, tc.offer, 5*time.Second)
			if tc.want == nil {
				var he *HTTPError
				if !errors.As(err, &he) || he.Status != http.StatusBadRequest || !strings.HasPrefix(he.Msg, "webrtc: unusable SDP offer: ") {
					t.Fatalf("answer %q, err %v: want a 400", answer, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(answer, w) {
					t.Errorf("answer lacks %q:\n%s", w, answer)
				}
			}
		})
	}
}

// PublicIPs replace the addresses of the host candidates, UDP and TCP
// alike: a server behind 1:1 NAT announces only the public one.
func TestPublicIPs(t *testing.T) {
	t.Parallel()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(EngineConfig{UDP: udp, TCP: tcp, PublicIPs: []string{"203.0.113.7"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(); udp.Close(); tcp.Close() })
	pc, err := e.NewPeerConnection()
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	answer, err := Answer(pc, offer(t, webrtc.MimeTypeH264), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// a=candidate:foundation component transport priority address port typ
	// type [tcptype passive] ..., once per media section.
	var got []string
	for line := range strings.SplitSeq(answer, "\r\n") {
		f := strings.Fields(line)
		if len(f) < 8 || !strings.HasPrefix(f[0], "a=candidate:") {
			continue
		}
		c := strings.Join([]string{strings.ToLower(f[2]), f[4], f[5], f[6], f[7]}, " ")
		if len(f) >= 10 && f[8] == "tcptype" {
			c += " tcptype " + f[9]
		}
		got = append(got, c)
	}
	slices.Sort(got)
	got = slices.Compact(got)
	want := []string{
		fmt.Sprintf("tcp 203.0.113.7 %d typ host tcptype passive", tcp.Addr().(*net.TCPAddr).Port),
		fmt.Sprintf("udp 203.0.113.7 %d typ host", udp.LocalAddr().(*net.UDPAddr).Port),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("candidates %q, want %q", got, want)
	}
}

// OnEnd hears of a peer connection's close.
func TestOnEnd(t *testing.T) {
	t.Parallel()
	pc, err := newEngine(t).NewPeerConnection()
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan struct{})
	OnEnd(pc, func() { close(ended) })
	if _, err := Answer(pc, offer(t, webrtc.MimeTypeH264), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	_ = pc.Close()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("no end after Close")
	}
}
