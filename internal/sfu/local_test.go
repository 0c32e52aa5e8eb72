package sfu

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/onair-video/onair/internal/rtc"
	"github.com/onair-video/onair/test/e2e/harness"
)

// tapClient collects what a tap hands over: frames rebuilt from the
// packets, as a decoder would take them.
type tapClient struct {
	mu     sync.Mutex
	sb     *samplebuilder.SampleBuilder
	frames [][]byte
	seqs   []uint16
	ssrcs  map[uint32]bool
	audio  int
}

func newTapClient(dep rtp.Depacketizer) *tapClient {
	return &tapClient{sb: samplebuilder.New(256, dep, 90000), ssrcs: map[uint32]bool{}}
}

func (c *tapClient) video(h *rtp.Header, payload []byte) {
	p := &rtp.Packet{Header: *h, Payload: append([]byte(nil), payload...)}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seqs = append(c.seqs, h.SequenceNumber)
	c.ssrcs[h.SSRC] = true
	c.sb.Push(p)
	for s := c.sb.Pop(); s != nil; s = c.sb.Pop() {
		c.frames = append(c.frames, s.Data)
	}
}

func (c *tapClient) onAudio(*rtp.Header, []byte) {
	c.mu.Lock()
	c.audio++
	c.mu.Unlock()
}

func (c *tapClient) counts() (frames, audio int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.frames), c.audio
}

// A tap receives a WebRTC publisher's media as a subscriber does, from a
// keyframe on, in one continuous sequence; it is no participant (no
// room event), asks for keyframes, and ends with the publisher.
func TestTap(t *testing.T) {
	t.Parallel()
	room := newTestRoom(t)
	clip := harness.MakeClip(t, "320x180", 30, 2*time.Second)
	pc := publish(t, room, "pub", capH264, []layerClip{{"", clip}})
	eventually(t, 20*time.Second, "the publisher's layer", func() bool { return len(pc.pub.Layers()) == 1 && pc.pub.Layers()[0].Active })

	if _, err := room.Tap("tap", "nobody", TapOptions{Video: func(*rtp.Header, []byte) {}}); !errors.Is(err, ErrPublisherNotFound) {
		t.Fatalf("tap of a missing publisher: %v", err)
	}
	if _, err := room.Tap("tap", "pub", TapOptions{}); !errors.Is(err, ErrNoTrack) {
		t.Fatalf("tap of nothing: %v", err)
	}
	c := newTapClient(&codecs.H264Packet{})
	tap, err := room.Tap("tap", "pub", TapOptions{Video: c.video, Audio: c.onAudio})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the tap's frames", func() bool { f, a := c.counts(); return f >= 45 && a >= 50 })
	c.mu.Lock()
	first, seqs, nssrc := c.frames[0], append([]uint16(nil), c.seqs...), len(c.ssrcs)
	c.mu.Unlock()
	if w, h, ok := h264FrameSize(first); !ok || w != 320 || h != 180 {
		t.Fatalf("the first frame is not a 320x180 keyframe (%d×%d %v)", w, h, ok)
	}
	if err := contiguous(seqs, 0); err != nil {
		t.Fatal(err)
	}
	if nssrc != 1 {
		t.Fatalf("%d SSRCs", nssrc)
	}
	if a, v := tap.Codecs(); a == nil || v == nil || v.MimeType != webrtc.MimeTypeH264 || a.MimeType != webrtc.MimeTypeOpus {
		t.Fatalf("codecs %v %v", a, v)
	}
	// A keyframe request reaches the publisher (the tap's first one came
	// long before its 45 frames).
	for len(pc.plis) > 0 {
		<-pc.plis
	}
	eventually(t, 10*time.Second, "a PLI after RequestKeyframe", func() bool {
		tap.RequestKeyframe()
		return len(pc.plis) > 0
	})
	if n := pc.pub.Subscriptions(); n != 1 {
		t.Fatalf("%d subscriptions", n)
	}
	pc.pub.Close()
	<-tap.Done()
	if !errors.Is(tap.Err(), ErrPublisherGone) {
		t.Fatalf("tap ended with %v", tap.Err())
	}
	if room.has(SubscriptionStarted, "pub", "tap", nil) || room.has(SubscriptionStopped, "pub", "tap", nil) {
		t.Fatal("a tap made subscription events")
	}
}

// A local publisher's packets reach WebRTC subscribers and taps as a
// peer's do; a subscriber's keyframe request reaches its Keyframe; Close
// ends its subscribers and later writes.
func TestPublishLocal(t *testing.T) {
	t.Parallel()
	room := newTestRoom(t)
	video, audio := rtc.SFUCodecs()
	var h264 webrtc.RTPCodecParameters
	for _, c := range video {
		if c.MimeType == webrtc.MimeTypeH264 && fmtpValue(c.SDPFmtpLine, "profile-level-id") == "42e01f" {
			h264 = c
		}
	}
	if _, err := room.PublishLocal("x", LocalOptions{}); !errors.Is(err, ErrNoTrack) {
		t.Fatalf("no tracks: %v", err)
	}
	var keyframes atomic.Int32
	p, err := room.PublishLocal("local", LocalOptions{Video: &h264, Audio: &audio[0], Keyframe: func() { keyframes.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := room.PublishLocal("local", LocalOptions{Video: &h264}); !errors.Is(err, ErrPublisherExists) {
		t.Fatalf("second publisher of one id: %v", err)
	}
	if !room.has(PublisherStarted, "local", "", nil) {
		t.Fatal("no publisher-started event")
	}
	clip := harness.MakeClip(t, "320x180", 30, 2*time.Second)
	vp := rtp.NewPacketizer(1200, 0, 0x1234, &codecs.H264Payloader{}, rtp.NewRandomSequencer(), 90000)
	ap := rtp.NewPacketizer(1200, 0, 0x5678, &codecs.OpusPayloader{}, rtp.NewRandomSequencer(), 48000)
	var written atomic.Int32
	closed := make(chan error, 2)
	ticking(t, time.Second/30, func(n int) {
		for _, pkt := range vp.Packetize(clip.AUs[n%len(clip.AUs)], 3000) {
			if err := p.WriteRTP(webrtc.RTPCodecTypeVideo, &pkt.Header, pkt.Payload); err != nil {
				select {
				case closed <- err:
				default:
				}
				return
			}
		}
		written.Add(1)
	})
	ticking(t, 20*time.Millisecond, func(n int) {
		for _, pkt := range ap.Packetize(clip.Opus[n%len(clip.Opus)], 960) {
			_ = p.WriteRTP(webrtc.RTPCodecTypeAudio, &pkt.Header, pkt.Payload)
		}
	})
	sub := subscribe(t, room, "sub", "local", SubscribeOptions{})
	c := newTapClient(&codecs.H264Packet{})
	tap, err := room.Tap("tap", "local", TapOptions{Video: c.video, Audio: c.onAudio})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the subscriber's and the tap's frames", func() bool {
		f, a := c.counts()
		sub.mu.Lock()
		sf, sa := len(sub.frames), sub.audio
		sub.mu.Unlock()
		return f >= 45 && a >= 50 && sf >= 45 && sa >= 50
	})
	frames, seqs, _ := sub.snapshot()
	if w, h, ok := h264FrameSize(frames[0].data); !ok || w != 320 || h != 180 {
		t.Fatalf("the subscriber's first frame is not a 320x180 keyframe (%d×%d %v)", w, h, ok)
	}
	if err := contiguous(seqs, 30); err != nil {
		t.Fatal(err)
	}
	// A keyframe request goes to Keyframe (the first frames may have come
	// without one: the clip starts with a keyframe).
	eventually(t, 10*time.Second, "a keyframe request at the local publisher", func() bool {
		tap.RequestKeyframe()
		return keyframes.Load() > 0
	})
	if l := p.Layers(); len(l) != 1 || l[0].Width != 320 || l[0].Height != 180 || !l[0].Active {
		t.Fatalf("layers %+v", l)
	}
	p.Close()
	<-sub.sub.Done()
	<-tap.Done()
	if !errors.Is(sub.sub.Err(), ErrPublisherGone) || !errors.Is(tap.Err(), ErrPublisherGone) {
		t.Fatalf("ended with %v, %v", sub.sub.Err(), tap.Err())
	}
	select {
	case err := <-closed:
		if !errors.Is(err, ErrPublisherGone) {
			t.Fatalf("write after close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("writes after Close did not fail")
	}
	if !room.has(PublisherStopped, "local", "", nil) || room.Publisher("local") != nil {
		t.Fatal("the local publisher is still there")
	}
}
