package rtc

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
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

// recorder is an interceptor that records the SSRCs of what it is given
// to write.
type recorder struct {
	interceptor.NoOp
	ssrcs []uint32
}

func (r *recorder) NewInterceptor(string) (interceptor.Interceptor, error) { return r, nil }

func (r *recorder) BindLocalStream(_ *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	return interceptor.RTPWriterFunc(func(h *rtp.Header, p []byte, a interceptor.Attributes) (int, error) {
		r.ssrcs = append(r.ssrcs, h.SSRC)
		return w.Write(h, p, a)
	})
}

// The sender reports see a stream's media packets, not its RTX ones; the
// writer below gets both.
func TestMediaOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		rtxSSRC uint32
		want    []uint32
	}{
		{"rtx", 2, []uint32{1}},
		{"no rtx", 0, []uint32{1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			i, err := mediaOnly{rec}.NewInterceptor("")
			if err != nil {
				t.Fatal(err)
			}
			var out []uint32
			w := i.BindLocalStream(&interceptor.StreamInfo{SSRC: 1, SSRCRetransmission: tc.rtxSSRC},
				interceptor.RTPWriterFunc(func(h *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) {
					out = append(out, h.SSRC)
					return len(p), nil
				}))
			for _, ssrc := range []uint32{1, 2} {
				if _, err := w.Write(&rtp.Header{SSRC: ssrc}, []byte{0}, nil); err != nil {
					t.Fatal(err)
				}
			}
			if !slices.Equal(rec.ssrcs, tc.want) || !slices.Equal(out, []uint32{1, 2}) {
				t.Fatalf("the interceptor saw %v (want %v), the writer %v", rec.ssrcs, tc.want, out)
			}
		})
	}
}

// Each packet of a stream that negotiated abs-send-time leaves with the
// send time in it, without an allocation; the caller's header is left as
// it was.
func TestAbsSendTime(t *testing.T) { // not parallel: AllocsPerRun
	for _, tc := range []struct {
		name string
		exts []interceptor.RTPHeaderExtension
		want bool
	}{
		{"negotiated", []interceptor.RTPHeaderExtension{{URI: "urn:ietf:params:rtp-hdrext:sdes:mid", ID: 1}, {URI: sdp.ABSSendTimeURI, ID: 3}}, true},
		{"not negotiated", []interceptor.RTPHeaderExtension{{URI: "urn:ietf:params:rtp-hdrext:sdes:mid", ID: 1}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []byte
			record := true
			w := (&absSendTime{}).BindLocalStream(&interceptor.StreamInfo{SSRC: 1, RTPHeaderExtensions: tc.exts},
				interceptor.RTPWriterFunc(func(h *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) {
					if record {
						got = slices.Clone(h.GetExtension(3))
					}
					return len(p), nil
				}))
			h := &rtp.Header{SSRC: 1, SequenceNumber: 7}
			before := absSendTime24(time.Now())
			if _, err := w.Write(h, []byte{1}, nil); err != nil {
				t.Fatal(err)
			}
			if h.Extension || h.Extensions != nil {
				t.Fatalf("the caller's header changed: %+v", h)
			}
			if !tc.want {
				if got != nil {
					t.Fatalf("stamped %x", got)
				}
				return
			}
			var ast rtp.AbsSendTimeExtension
			if err := ast.Unmarshal(got); err != nil {
				t.Fatalf("extension %x: %v", got, err)
			}
			if d := (uint32(ast.Timestamp) - before) & 0xFFFFFF; d > 1<<18 { // a second
				t.Fatalf("send time %x, %x before", ast.Timestamp, before)
			}
			record = false
			payload := []byte{1}
			if allocs := testing.AllocsPerRun(100, func() { _, _ = w.Write(h, payload, nil) }); allocs > 0 {
				t.Fatalf("%v allocations per packet", allocs)
			}
		})
	}
}
