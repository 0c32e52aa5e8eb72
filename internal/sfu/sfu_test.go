package sfu

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	pmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/onair-video/onair/internal/stream/streamtest"
	"github.com/onair-video/onair/test/e2e/harness"
)

// vp8FrameSize reads a VP8 key frame's size from its header.
func vp8FrameSize(f []byte) (w, h int, ok bool) {
	if len(f) < 10 || f[0]&1 != 0 || f[3] != 0x9d || f[4] != 0x01 || f[5] != 0x2a {
		return 0, 0, false
	}
	return int(f[6]) | int(f[7]&0x3f)<<8, int(f[8]) | int(f[9]&0x3f)<<8, true
}

// h264FrameSize reads the size from an access unit's SPS, if it has one
// and an IDR slice.
func h264FrameSize(au []byte) (w, h int, ok bool) {
	var sps []byte
	idr := false
	for _, n := range streamtest.SplitAnnexB(au) {
		if len(n) == 0 {
			continue
		}
		switch n[0] & 0x1f {
		case naluSPS:
			sps = n
		case naluIDR:
			idr = true
		}
	}
	if sps == nil || !idr {
		return 0, 0, false
	}
	var s h264.SPS
	if err := s.Unmarshal(sps); err != nil {
		return 0, 0, false
	}
	return s.Width(), s.Height(), true
}

// contiguous says whether seqs (in arrival order, retransmissions
// included) cover every number from the first to the highest, but for the
// last slack ones, whose retransmission may still be on its way.
func contiguous(seqs []uint16, slack uint16) error {
	if len(seqs) == 0 {
		return errors.New("no packets")
	}
	base := seqs[0]
	seen := map[uint16]bool{}
	top := uint16(0)
	for _, s := range seqs {
		d := s - base
		if d > 0x8000 {
			return fmt.Errorf("sequence number %d before the first, %d", s, base)
		}
		seen[d] = true
		top = max(top, d)
	}
	for d := uint16(0); d+slack <= top; d++ {
		if !seen[d] {
			return fmt.Errorf("sequence number %d never arrived (of %d..%d)", base+d, base, base+top)
		}
	}
	return nil
}

// Each of several subscribers receives the publisher's H.264 or VP8 and
// Opus, starting at a keyframe a decoder takes, with no gap.
func TestForward(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		vcap webrtc.RTPCodecCapability
		clip func(t testing.TB, size string, fps int, d time.Duration) *harness.Clip
		size func([]byte) (int, int, bool)
	}{
		{"H.264", capH264, harness.MakeClip, h264FrameSize},
		{"VP8", capVP8, harness.MakeVP8Clip, vp8FrameSize},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			room := newTestRoom(t)
			var delayMu sync.Mutex
			var delays []time.Duration
			room.metrics.delay = func(ns int64) {
				delayMu.Lock()
				delays = append(delays, time.Duration(ns))
				delayMu.Unlock()
			}
			clip := tc.clip(t, "320x180", 30, 2*time.Second)
			pc := publish(t, room, "pub", tc.vcap, []layerClip{{"", clip}})
			var subs []*subClient
			var joins []time.Time
			for i := range 3 {
				joins = append(joins, time.Now())
				subs = append(subs, subscribe(t, room, fmt.Sprint("sub", i), "pub", SubscribeOptions{}))
			}
			for i, s := range subs {
				eventually(t, 20*time.Second, fmt.Sprintf("subscriber %d's frames", i), func() bool {
					s.mu.Lock()
					defer s.mu.Unlock()
					return len(s.frames) >= 45 && s.audio >= 50
				})
				frames, seqs, _ := s.snapshot()
				t.Logf("subscriber %d: join → first frame %v", i, frames[0].at.Sub(joins[i]).Round(time.Millisecond))
				if d := frames[0].at.Sub(joins[i]); d > 5*time.Second {
					t.Errorf("subscriber %d: first frame %v after joining", i, d)
				}
				if w, h, ok := tc.size(frames[0].data); !ok || w != 320 || h != 180 {
					var types []byte
					for _, n := range streamtest.SplitAnnexB(frames[0].data) {
						if len(n) > 0 {
							types = append(types, n[0]&0x1f)
						}
					}
					t.Fatalf("subscriber %d: the first frame is not a 320x180 keyframe (%d×%d, %v; %d bytes, NAL types %v, next %d bytes)",
						i, w, h, ok, len(frames[0].data), types, len(frames[1].data))
				}
				keys := 0
				for _, f := range frames {
					if _, _, ok := tc.size(f.data); ok {
						keys++
					}
				}
				if keys < 2 {
					t.Fatalf("subscriber %d: %d keyframes in %d frames", i, keys, len(frames))
				}
				if err := contiguous(seqs, 30); err != nil {
					t.Fatalf("subscriber %d: %v", i, err)
				}
				s.mu.Lock()
				vcodec, nssrc := s.vcodec, len(s.ssrcs)
				s.mu.Unlock()
				if !strings.EqualFold(vcodec, tc.vcap.MimeType) {
					t.Fatalf("subscriber %d got %s", i, vcodec)
				}
				if nssrc != 1 {
					t.Fatalf("subscriber %d: %d SSRCs", i, nssrc)
				}
			}
			if !room.has(PublisherStarted, "pub", "", nil) || !room.has(SubscriptionStarted, "pub", "sub2", nil) {
				t.Fatal("events missing")
			}
			delayMu.Lock()
			ds := slices.Clone(delays)
			delayMu.Unlock()
			slices.Sort(ds)
			p50, p99 := ds[len(ds)/2], ds[len(ds)*99/100]
			t.Logf("forwarding delay over %d packets: p50 %v p99 %v", len(ds), p50, p99)
			if p99 > 100*time.Millisecond {
				t.Errorf("forwarding delay p99 %v", p99)
			}
			if n := pc.pub.Subscriptions(); n != 3 {
				t.Fatalf("%d subscriptions", n)
			}
			if l := pc.pub.Layers(); len(l) != 1 || l[0].Width != 320 || l[0].Height != 180 || l[0].Bitrate == 0 {
				t.Fatalf("layers %+v", l)
			}
			// A subscriber's Close ends it alone.
			subs[0].sub.Close()
			before := subs[1].nFrames()
			eventually(t, 10*time.Second, "frames after another subscriber left", func() bool { return subs[1].nFrames() > before+10 })
			if !room.has(SubscriptionStopped, "pub", "sub0", nil) {
				t.Fatal("no subscription-stopped event")
			}
			// The publisher's Close ends its subscriptions.
			pc.pub.Close()
			for _, s := range subs[1:] {
				<-s.sub.Done()
				if !errors.Is(s.sub.Err(), ErrPublisherGone) {
					t.Fatalf("subscription ended with %v", s.sub.Err())
				}
			}
			if !room.has(PublisherStopped, "pub", "", nil) || room.Publisher("pub") != nil {
				t.Fatal("the publisher is still there")
			}
		})
	}
}

// Subscribe and Publish refuse what they cannot serve with the errors the
// control plane maps to IVS's codes.
func TestErrors(t *testing.T) {
	t.Parallel()
	room := newTestRoom(t)
	clip := harness.MakeClip(t, "160x90", 30, time.Second)
	publish(t, room, "pub", capH264, []layerClip{{"", clip}})

	vp8Only, err := clientAPI(t, webrtc.RTPCodecParameters{RTPCodecCapability: capVP8, PayloadType: 96}).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = vp8Only.Close() })
	if _, err := vp8Only.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	vp8Offer := offerOf(t, vp8Only)

	ok, err := clientAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ok.Close() })
	if _, err := ok.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	okOffer := offerOf(t, ok)

	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"unknown publisher", func() error {
			_, _, err := room.Subscribe(context.Background(), "s", "nobody", okOffer, SubscribeOptions{})
			return err
		}, ErrPublisherNotFound},
		{"codec the publisher does not send", func() error {
			_, _, err := room.Subscribe(context.Background(), "s", "pub", vp8Offer, SubscribeOptions{})
			return err
		}, ErrNoMatchingCodec},
		{"not SDP", func() error {
			_, _, err := room.Subscribe(context.Background(), "s", "pub", "hello", SubscribeOptions{})
			return err
		}, ErrBadOffer},
		{"publish twice", func() error {
			_, _, err := room.Publish(context.Background(), "pub", okOffer)
			return err
		}, ErrPublisherExists},
		{"publish garbage", func() error {
			_, _, err := room.Publish(context.Background(), "other", "v=0\r\n")
			return err
		}, ErrBadOffer},
	}
	for _, tc := range tests {
		if err := tc.call(); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	if n := room.Publisher("pub").Subscriptions(); n != 0 {
		t.Fatalf("failed subscriptions left %d behind", n)
	}
}

// A subscriber's PLIs reach the publisher, at most one per 500 ms.
func TestKeyframeRequestRateLimited(t *testing.T) {
	t.Parallel()
	room := newTestRoom(t)
	clip := harness.MakeVP8Clip(t, "160x90", 30, 2*time.Second)
	pc := publish(t, room, "pub", capVP8, []layerClip{{"", clip}})
	s := subscribe(t, room, "sub", "pub", SubscribeOptions{})
	eventually(t, 20*time.Second, "frames", func() bool { return s.nFrames() >= 10 })
	var ssrc uint32
	s.mu.Lock()
	for k := range s.ssrcs {
		ssrc = k
	}
	s.mu.Unlock()
	// The join's requests are drained; one may fall in the window below.
	for len(pc.plis) > 0 {
		<-pc.plis
	}
	start := time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	sent := 0
	for time.Since(start) < 2*time.Second {
		<-tick.C
		if err := s.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
			t.Fatal(err)
		}
		sent++
	}
	elapsed := time.Since(start)
	// The last PLI may still be on its way.
	var got []time.Time
	deadline := time.After(time.Second)
collect:
	for {
		select {
		case at := <-pc.plis:
			got = append(got, at)
		case <-deadline:
			break collect
		}
	}
	limit := int((elapsed+time.Second)/pliInterval) + 2
	if len(got) == 0 || len(got) > limit {
		t.Fatalf("%d PLIs sent, %d reached the publisher, want 1..%d", sent, len(got), limit)
	}
	for i := 1; i < len(got); i++ {
		// pion reads RTCP in batches: allow for scheduling.
		if d := got[i].Sub(got[i-1]); d < pliInterval/2 {
			t.Fatalf("two PLIs %v apart", d)
		}
	}
	t.Logf("%d PLIs sent in %v, %d forwarded", sent, elapsed.Round(time.Millisecond), len(got))
}

// simulcastClips encodes the three layers of a VP8 simulcast publisher.
func simulcastClips(t *testing.T) []layerClip {
	t.Helper()
	return []layerClip{
		{"low", harness.MakeVP8Clip(t, "160x90", 30, 2*time.Second)},
		{"mid", harness.MakeVP8Clip(t, "320x180", 30, 2*time.Second)},
		{"hi", harness.MakeVP8Clip(t, "640x360", 30, 2*time.Second)},
	}
}

// A subscriber of a simulcast publisher starts on its preferred layer and
// switches hi → low → hi, each switch at a keyframe, the sequence numbers
// continuous and the timestamps rising.
func TestSimulcastSwitch(t *testing.T) {
	t.Parallel()
	room := newTestRoom(t)
	// The subscriber's link loses one video packet in 25: its NACKs must
	// be answered across the switches (the resent packets are the ones
	// sent under those numbers, or frames would not match the clips).
	room.wrapWriter = func(s *Subscription, w webrtc.TrackLocalWriter) webrtc.TrackLocalWriter {
		if s.subscriberID != "sub" {
			return w
		}
		return &lossyWriter{TrackLocalWriter: w, s: s, lost: map[uint16]bool{}}
	}
	pc := publish(t, room, "pub", capVP8, simulcastClips(t))
	eventually(t, 20*time.Second, "three layers", func() bool {
		n := 0
		for _, l := range pc.pub.Layers() {
			if l.Active && l.Width > 0 {
				n++
			}
		}
		return n == 3
	})
	if l := pc.pub.Layers(); l[0].EncodingID != "hi" || l[0].Width != 640 || l[2].EncodingID != "low" || l[2].Width != 160 {
		t.Fatalf("layers %+v", l)
	}
	low := subscribe(t, room, "lowsub", "pub", SubscribeOptions{InitialLayer: LayerLowest})
	s := subscribe(t, room, "sub", "pub", SubscribeOptions{})

	layerOf := func(f recvFrame) frameInfo {
		info, ok := pc.frames[sha256Sum(f.data)]
		if !ok {
			s.mu.Lock()
			idx := slices.IndexFunc(s.frames, func(x recvFrame) bool { return &x.data[0] == &f.data[0] })
			s.mu.Unlock()
			t.Fatalf("a frame the publisher never sent (%d bytes, %x, frame %d)", len(f.data), f.data[:min(16, len(f.data))], idx)
		}
		return info
	}
	lastLayer := func(c *subClient) int {
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(c.frames) == 0 {
			return -1
		}
		return layerOf(c.frames[len(c.frames)-1]).layer
	}
	eventually(t, 20*time.Second, "the highest layer", func() bool { return lastLayer(s) == 2 && s.nFrames() > 20 })
	eventually(t, 20*time.Second, "the lowest layer for the other", func() bool { return lastLayer(low) == 0 && low.nFrames() > 20 })
	if err := s.sub.SelectLayer("low"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the switch to low", func() bool { return lastLayer(s) == 0 })
	if l := s.sub.Layers(); !l[2].Selected || l[0].Selected {
		t.Fatalf("selected: %+v", l)
	}
	n := s.nFrames()
	eventually(t, 20*time.Second, "frames on low", func() bool { return s.nFrames() > n+20 })
	if err := s.sub.SelectLayer("hi"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the switch back to hi", func() bool { return lastLayer(s) == 2 })
	n = s.nFrames()
	eventually(t, 20*time.Second, "frames on hi", func() bool { return s.nFrames() > n+20 })
	if err := s.sub.SelectLayer("nope"); !errors.Is(err, ErrLayerNotFound) {
		t.Fatalf("unknown layer: %v", err)
	}

	frames, seqs, tss := s.snapshot()
	switches := 0
	for i, f := range frames {
		info := layerOf(f)
		if i == 0 || info.layer != layerOf(frames[i-1]).layer {
			if !info.key {
				t.Fatalf("frame %d starts layer %d without a keyframe", i, info.layer)
			}
			if i > 0 {
				switches++
			}
		}
	}
	if switches < 2 {
		t.Fatalf("%d switches", switches)
	}
	if err := contiguous(seqs, 30); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(tss); i++ {
		if d := tss[i] - tss[i-1]; d > 0x80000000 && seqs[i]-seqs[i-1] < 0x8000 {
			t.Fatalf("timestamp went back at packet %d: %d → %d", i, tss[i-1], tss[i])
		}
	}
	if got := room.metrics.PacketsRetransmitted.Load(); got == 0 {
		t.Fatal("no packet resent")
	}
	if got := room.metrics.LayerSwitches.Load(); got < 2 {
		t.Fatalf("%d layer switches counted", got)
	}
	lowFrames, _, _ := low.snapshot()
	for _, f := range lowFrames {
		if layerOf(f).layer != 0 {
			t.Fatal("the lowest-layer subscriber got another layer")
		}
	}
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

// A subscriber whose writes block is moved down a layer, then dropped;
// another subscriber of the same publisher keeps receiving on time.
func TestSlowSubscriber(t *testing.T) {
	t.Parallel()
	room := newTestRoom(t)
	room.wrapWriter = func(s *Subscription, w webrtc.TrackLocalWriter) webrtc.TrackLocalWriter {
		if s.subscriberID != "slow" {
			return w
		}
		return blockingWriter{s}
	}
	pc := publish(t, room, "pub", capVP8, simulcastClips(t))
	eventually(t, 20*time.Second, "three layers", func() bool {
		n := 0
		for _, l := range pc.pub.Layers() {
			if l.Active {
				n++
			}
		}
		return n == 3
	})
	good := subscribe(t, room, "good", "pub", SubscribeOptions{})
	eventually(t, 20*time.Second, "frames", func() bool { return good.nFrames() > 10 })
	slow := subscribe(t, room, "slow", "pub", SubscribeOptions{})
	start := good.nFrames()
	select {
	case <-slow.sub.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the slow subscriber was not dropped")
	}
	if !errors.Is(slow.sub.Err(), ErrSlowSubscriber) || !room.has(SubscriptionStopped, "pub", "slow", ErrSlowSubscriber) {
		t.Fatalf("the slow subscriber ended with %v", slow.sub.Err())
	}
	if c := slow.sub.video.ceil.Load(); c >= maxLayers-1 {
		t.Fatalf("the slow subscriber was not downgraded first (ceiling %d)", c)
	}
	if room.metrics.SlowSubscribersDropped.Load() != 1 || room.metrics.PacketsDropped.Load() == 0 {
		t.Fatal("metrics missed the drop")
	}
	// The good subscriber's frames kept coming at the publisher's pace
	// while the slow one was stuck: gaps between frames judged by quantile.
	frames, _, _ := good.snapshot()
	frames = frames[start:]
	if len(frames) < 30 {
		t.Fatalf("the good subscriber got %d frames while the other was stuck", len(frames))
	}
	var gaps []time.Duration
	for i := 1; i < len(frames); i++ {
		gaps = append(gaps, frames[i].at.Sub(frames[i-1].at))
	}
	slices.Sort(gaps)
	p50, p95 := gaps[len(gaps)/2], gaps[len(gaps)*95/100]
	t.Logf("good subscriber: %d frames, gap p50 %v p95 %v", len(frames), p50, p95)
	if p50 > 100*time.Millisecond || p95 > 300*time.Millisecond {
		t.Fatalf("the good subscriber was delayed: gap p50 %v p95 %v", p50, p95)
	}
	if good.sub.Err() != nil {
		t.Fatalf("the good subscriber ended: %v", good.sub.Err())
	}
}

// blockingWriter is a subscriber whose transport takes nothing: every
// write blocks until the subscription ends.
type blockingWriter struct{ s *Subscription }

func (b blockingWriter) WriteRTP(*rtp.Header, []byte) (int, error) {
	<-b.s.ctx.Done()
	return 0, context.Canceled
}

func (b blockingWriter) Write([]byte) (int, error) {
	<-b.s.ctx.Done()
	return 0, context.Canceled
}

// A subscriber that sends audio (the IVS SDK's silent track on a sendrecv
// audio section) receives as any other; what it sends is read and dropped.
func TestSubscriberSendsAudio(t *testing.T) {
	t.Parallel()
	room := newTestRoom(t)
	clip := harness.MakeClip(t, "160x90", 30, time.Second)
	publish(t, room, "pub", capH264, []layerClip{{"", clip}})
	silence, err := webrtc.NewTrackLocalStaticSample(capOpus, "audio", "silence")
	if err != nil {
		t.Fatal(err)
	}
	s := subscribeWith(t, room, "sub", "pub", SubscribeOptions{}, silence)
	ticking(t, 20*time.Millisecond, func(n int) {
		_ = silence.WriteSample(pmedia.Sample{Data: clip.Opus[n%len(clip.Opus)], Duration: 20 * time.Millisecond})
	})
	eventually(t, 20*time.Second, "frames and audio", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.frames) > 20 && s.audio > 30
	})
}

// lossyWriter loses the first sending of one video packet in 25.
type lossyWriter struct {
	webrtc.TrackLocalWriter
	s    *Subscription
	mu   sync.Mutex
	n    int
	lost map[uint16]bool
}

func (w *lossyWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	if w.s.video != nil && h.SSRC == w.s.video.ssrc {
		w.mu.Lock()
		w.n++
		drop := w.n%25 == 0 && !w.lost[h.SequenceNumber]
		if drop {
			w.lost[h.SequenceNumber] = true
		}
		w.mu.Unlock()
		if drop {
			return len(payload), nil
		}
	}
	return w.TrackLocalWriter.WriteRTP(h, payload)
}
