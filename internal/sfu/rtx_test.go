package sfu

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/onair-video/onair/test/e2e/harness"
)

// dropper is an interceptor that loses the first sending of one video
// packet in every, on the media SSRC only, and remembers which. It sends
// every RTX packet twice, as a browser may (it answers each NACK, and
// probes bandwidth with RTX copies of packets that did arrive).
type dropper struct {
	interceptor.NoOp
	every int

	mu     sync.Mutex
	n      int
	lost   map[uint16]bool
	seqs   []uint16 // lost, in order
	rtxSeq uint16
}

func newDropper(every int) *dropper { return &dropper{every: every, lost: map[uint16]bool{}} }

func (d *dropper) NewInterceptor(string) (interceptor.Interceptor, error) { return d, nil }

func (d *dropper) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	if !strings.HasPrefix(info.MimeType, "video/") || strings.EqualFold(info.MimeType, webrtc.MimeTypeRTX) {
		return w
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if h.SSRC == info.SSRC && h.PayloadType == info.PayloadType {
			d.mu.Lock()
			d.n++
			drop := d.n%d.every == 0 && !d.lost[h.SequenceNumber]
			if drop {
				d.lost[h.SequenceNumber] = true
				d.seqs = append(d.seqs, h.SequenceNumber)
			}
			d.mu.Unlock()
			if drop {
				return len(payload), nil
			}
			return w.Write(h, payload, a)
		}
		// Each copy with an RTX sequence number of its own, as a sender
		// numbers them (SRTP would drop a replay).
		for range 2 {
			d.mu.Lock()
			d.rtxSeq++
			h.SequenceNumber = d.rtxSeq
			d.mu.Unlock()
			if _, err := w.Write(h, payload, a); err != nil {
				return 0, err
			}
		}
		return len(payload), nil
	})
}

func (d *dropper) lostSeqs() []uint16 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]uint16(nil), d.seqs...)
}

// noFeedbackAPI is a subscriber client that sends no NACKs: what it
// receives twice, the SFU forwarded twice.
func noFeedbackAPI(t *testing.T) *webrtc.API {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	// An empty registry: without one pion adds its default interceptors.
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(&interceptor.Registry{}))
}

// A publisher that negotiated RTX resends the packets the SFU lost on its
// RTX stream: each reaches the subscriber once, in place, and fills the
// layer's cache (so subscribers' NACKs find it).
func TestPublishRTX(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		vcap webrtc.RTPCodecCapability
		clip func(t testing.TB, size string, fps int, d time.Duration) *harness.Clip
	}{
		{"VP8", capVP8, harness.MakeVP8Clip},
		{"H.264", capH264, harness.MakeClip},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			room := newTestRoom(t)
			// What the SFU writes: a subscriber's SRTP would hide a
			// packet written twice (replay protection).
			var wmu sync.Mutex
			written := map[uint16]int{}
			room.wrapWriter = func(s *Subscription, w webrtc.TrackLocalWriter) webrtc.TrackLocalWriter {
				return countingWriter{w, func(h *rtp.Header) {
					if s.video != nil && h.SSRC == s.video.ssrc {
						wmu.Lock()
						written[h.SequenceNumber]++
						wmu.Unlock()
					}
				}}
			}
			drop := newDropper(20)
			clip := tc.clip(t, "320x180", 30, 2*time.Second)
			pc := publishWith(t, room, "pub", tc.vcap, []layerClip{{"", clip}}, drop)
			if sdp := pc.pc.RemoteDescription().SDP; !strings.Contains(sdp, "rtx/90000") {
				t.Fatalf("the publish answer has no RTX:\n%s", sdp)
			}
			s := subscribeAPI(t, noFeedbackAPI(t), room, "sub", "pub", SubscribeOptions{}, nil)
			eventually(t, 20*time.Second, "repaired packets", func() bool {
				return room.metrics.PacketsRepaired.Load() >= 10 && s.nFrames() >= 60
			})
			// Each lost packet is in the cache, but the newest, whose
			// repair may be on its way.
			l := pc.pub.video.layers[0].Load()
			lost := drop.lostSeqs()
			eventually(t, 5*time.Second, "lost packets in the cache", func() bool {
				for _, seq := range lost[max(0, len(lost)-10) : len(lost)-1] {
					if l.cache.get(seq) == nil {
						return false
					}
				}
				return true
			})
			_, seqs, _ := s.snapshot()
			wmu.Lock()
			for q, n := range written {
				if n > 1 {
					t.Errorf("sequence number %d written %d times", q, n)
				}
			}
			wmu.Unlock()
			if err := contiguous(seqs, 30); err != nil {
				t.Fatal(err)
			}
			t.Logf("%d packets lost on the way to the SFU, %d repaired over RTX, %d forwarded",
				len(drop.lostSeqs()), room.metrics.PacketsRepaired.Load(), len(seqs))
		})
	}
}

// countingWriter calls seen with each packet written.
type countingWriter struct {
	webrtc.TrackLocalWriter
	seen func(*rtp.Header)
}

func (w countingWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.seen(h)
	return w.TrackLocalWriter.WriteRTP(h, payload)
}

// A subscriber that loses packets gets them again, on its RTX stream if it
// negotiated one (RFC 4588), else on the media SSRC, and recovers them all.
func TestSubscribeRTX(t *testing.T) {
	t.Parallel()
	for _, rtx := range []bool{true, false} {
		t.Run(fmt.Sprint("rtx=", rtx), func(t *testing.T) {
			t.Parallel()
			room := newTestRoom(t)
			publish(t, room, "pub", capVP8, []layerClip{{"", harness.MakeVP8Clip(t, "320x180", 30, 2*time.Second)}})
			// The SFU loses packets on their way out (after SRTP on the
			// client a resend on the media SSRC would be a replay).
			var lw *lossyWriter
			room.wrapWriter = func(s *Subscription, w webrtc.TrackLocalWriter) webrtc.TrackLocalWriter {
				if s.video == nil {
					return w
				}
				lw = &lossyWriter{TrackLocalWriter: w, s: s, lost: map[uint16]bool{}}
				return lw
			}
			api := clientAPIWith(t, nil, rtx, webrtc.RTPCodecParameters{RTPCodecCapability: capVP8, PayloadType: 96})
			s := subscribeAPI(t, api, room, "sub", "pub", SubscribeOptions{}, nil)
			lost := func() int {
				lw.mu.Lock()
				defer lw.mu.Unlock()
				return len(lw.lost)
			}
			if sdp := s.pc.RemoteDescription().SDP; strings.Contains(sdp, "rtx/90000") != rtx {
				t.Fatalf("rtx %v, answer:\n%s", rtx, sdp)
			}
			eventually(t, 20*time.Second, "lost packets and frames", func() bool {
				return lost() >= 10 && s.nFrames() >= 60
			})
			_, seqs, _ := s.snapshot()
			if err := contiguous(seqs, 30); err != nil {
				t.Fatal(err)
			}
			s.mu.Lock()
			got := s.rtx
			s.mu.Unlock()
			m := room.metrics
			t.Logf("%d lost, %d resent (%d as RTX), %d received on RTX", lost(),
				m.PacketsRetransmitted.Load(), m.RTXRetransmitted.Load(), got)
			if rtx && (got == 0 || m.RTXRetransmitted.Load() == 0) {
				t.Fatal("no retransmission on the RTX stream")
			}
			if !rtx && (got != 0 || m.RTXRetransmitted.Load() != 0 || m.PacketsRetransmitted.Load() == 0) {
				t.Fatal("retransmissions are not on the media stream")
			}
		})
	}
}

// admit takes a layer's new packets and late ones it lacks, and refuses
// what it has and what is older than its cache.
func TestAdmit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		seqs []uint16 // read before, in order
		seq  uint16
		want bool
	}{
		{"first", nil, 100, true},
		{"next", []uint16{100}, 101, true},
		{"a jump ahead", []uint16{100}, 400, true},
		{"the same again", []uint16{100, 101}, 101, false},
		{"an earlier one it has", []uint16{100, 101, 102}, 101, false},
		{"an earlier one it lacks", []uint16{100, 102}, 101, true},
		{"across the wrap", []uint16{65534, 65535}, 0, true},
		{"one it lacks before the wrap", []uint16{65533, 0}, 65535, true},
		{"older than the cache", []uint16{1000}, 1000 - cacheSize, false},
		{"just in the cache's reach", []uint16{1000}, 1000 - cacheSize + 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := &layer{}
			for _, s := range tc.seqs {
				if !l.admit(s) {
					t.Fatalf("%d refused", s)
				}
				l.cache.put(&packet{hdr: rtp.Header{SequenceNumber: s}})
			}
			if got := l.admit(tc.seq); got != tc.want {
				t.Fatalf("admit(%d) = %v", tc.seq, got)
			}
		})
	}
}
