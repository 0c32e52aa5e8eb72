package sfu

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	pmedia "github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/onair-video/onair/internal/rtc"
	"github.com/onair-video/onair/test/e2e/harness"
)

// eventually polls cond until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testRoom is a room on a loopback engine, recording its events.
type testRoom struct {
	*Room
	mu     sync.Mutex
	events []Event
}

func newTestRoom(t *testing.T) *testRoom {
	t.Helper()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e, err := rtc.NewEngine(rtc.EngineConfig{UDP: udp})
	if err != nil {
		t.Fatal(err)
	}
	tr := &testRoom{}
	tr.Room = NewRoom(Config{Engine: e, OnEvent: func(ev Event) {
		tr.mu.Lock()
		tr.events = append(tr.events, ev)
		tr.mu.Unlock()
	}})
	t.Cleanup(func() { tr.Close(); e.Close(); _ = udp.Close() })
	return tr
}

// has says whether an event like e happened (Err compared with errors.Is
// semantics by identity of the sentinel).
func (tr *testRoom) has(typ EventType, pub, sub string, err error) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, e := range tr.events {
		if e.Type == typ && e.PublisherID == pub && e.SubscriberID == sub && (err == nil || errors.Is(e.Err, err)) {
			return true
		}
	}
	return false
}

// clientAPI is a pion client with the given video codecs (all of pion's
// defaults if none) and Opus.
func clientAPI(t *testing.T, video ...webrtc.RTPCodecParameters) *webrtc.API {
	t.Helper()
	return clientAPIWith(t, nil, false, video...)
}

// clientAPIWith is clientAPI with first, if not nil, as the innermost
// interceptor (nearest the network), and, if rtx, RTX for each video codec
// given (pion's defaults have it).
func clientAPIWith(t *testing.T, first interceptor.Factory, rtx bool, video ...webrtc.RTPCodecParameters) *webrtc.API {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if len(video) == 0 {
		if err := me.RegisterDefaultCodecs(); err != nil {
			t.Fatal(err)
		}
	} else {
		for _, c := range video {
			if err := me.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
				t.Fatal(err)
			}
			if !rtx {
				continue
			}
			if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: fmt.Sprintf("apt=%d", c.PayloadType)},
				PayloadType: c.PayloadType + 1}, webrtc.RTPCodecTypeVideo); err != nil {
				t.Fatal(err)
			}
		}
		if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111}, webrtc.RTPCodecTypeAudio); err != nil {
			t.Fatal(err)
		}
	}
	ir := &interceptor.Registry{}
	if first != nil {
		ir.Add(first)
	}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		t.Fatal(err)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir))
}

var (
	capH264 = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
		RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}}}
	capVP8 = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000,
		RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}}}
	capOpus = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
)

// offerOf makes pc's offer with every candidate in it (no trickle).
func offerOf(t *testing.T, pc *webrtc.PeerConnection) string {
	t.Helper()
	o, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	g := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	<-g
	return pc.LocalDescription().SDP
}

func applyAnswer(t *testing.T, pc *webrtc.PeerConnection, answer string) {
	t.Helper()
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
}

// pubClient publishes looping clips: one per simulcast layer (rids
// low, mid, hi in that order), or one without rid.
type pubClient struct {
	pc     *webrtc.PeerConnection
	pub    *Publisher
	sender *webrtc.RTPSender
	plis   chan time.Time
	// frames maps a video frame's hash to its layer and keyframe flag.
	frames map[[32]byte]frameInfo
}

type frameInfo struct {
	layer int
	key   bool
}

// layerClip is one encoding to publish.
type layerClip struct {
	rid  string
	clip *harness.Clip
}

func publish(t *testing.T, room *testRoom, id string, vcap webrtc.RTPCodecCapability, layers []layerClip) *pubClient {
	t.Helper()
	return publishWith(t, room, id, vcap, layers, nil)
}

// publishWith is publish from a client with RTX and first as its innermost
// interceptor, if first is not nil.
func publishWith(t *testing.T, room *testRoom, id string, vcap webrtc.RTPCodecCapability, layers []layerClip, first interceptor.Factory) *pubClient {
	t.Helper()
	pt := webrtc.PayloadType(102)
	if vcap.MimeType == webrtc.MimeTypeVP8 {
		pt = 96
	}
	pc, err := clientAPIWith(t, first, first != nil, webrtc.RTPCodecParameters{RTPCodecCapability: vcap, PayloadType: pt}).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	c := &pubClient{pc: pc, plis: make(chan time.Time, 1000), frames: map[[32]byte]frameInfo{}}
	var vtracks []*webrtc.TrackLocalStaticRTP
	for i, l := range layers {
		var opts []func(*webrtc.TrackLocalStaticRTP)
		if l.rid != "" {
			opts = append(opts, webrtc.WithRTPStreamID(l.rid))
		}
		tr, err := webrtc.NewTrackLocalStaticRTP(vcap, "video", id, opts...)
		if err != nil {
			t.Fatal(err)
		}
		vtracks = append(vtracks, tr)
		if i == 0 {
			if c.sender, err = pc.AddTrack(tr); err != nil {
				t.Fatal(err)
			}
		} else if err := c.sender.AddEncoding(tr); err != nil {
			t.Fatal(err)
		}
		idx, _ := layerIndex(l.rid)
		for j, f := range l.clip.VP8 {
			c.frames[sha256.Sum256(f)] = frameInfo{layer: idx, key: j%l.clip.FPS == 0}
		}
	}
	atrack, err := webrtc.NewTrackLocalStaticSample(capOpus, "audio", id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTrack(atrack); err != nil {
		t.Fatal(err)
	}
	answer, p, err := room.Publish(context.Background(), id, offerOf(t, pc))
	if err != nil {
		t.Fatal(err)
	}
	c.pub = p
	applyAnswer(t, pc, answer)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); _ = pc.Close(); wg.Wait() })
	rids := make([]string, len(layers))
	for i, l := range layers {
		rids[i] = l.rid
	}
	wg.Go(func() { // PLIs, on every layer
		for {
			var pkts []rtcp.Packet
			var err error
			if len(layers) > 1 {
				pkts, _, err = c.sender.ReadSimulcastRTCP(rids[0])
			} else {
				pkts, _, err = c.sender.ReadRTCP()
			}
			if err != nil {
				return
			}
			for _, p := range pkts {
				if _, ok := p.(*rtcp.PictureLossIndication); ok {
					select {
					case c.plis <- time.Now():
					default:
					}
				}
			}
		}
	})
	for i := 1; i < len(layers); i++ {
		wg.Go(func() {
			for {
				if _, _, err := c.sender.ReadSimulcastRTCP(rids[i]); err != nil {
					return
				}
			}
		})
	}
	// A simulcast sender marks each packet with its mid and rid (pion
	// leaves that to the track's writer).
	var midID, ridID uint8
	for _, e := range c.sender.GetParameters().HeaderExtensions {
		switch e.URI {
		case sdp.SDESMidURI:
			midID = uint8(e.ID)
		case sdp.SDESRTPStreamIDURI:
			ridID = uint8(e.ID)
		}
	}
	mid := ""
	for _, tr := range pc.GetTransceivers() {
		if tr.Sender() == c.sender {
			mid = tr.Mid()
		}
	}
	// Real time: a frame per 1/fps, an Opus packet per 20 ms.
	for i, l := range layers {
		wg.Go(func() {
			frames := l.clip.VP8
			var payloader rtp.Payloader = &codecs.VP8Payloader{EnablePictureID: true}
			if frames == nil {
				frames, payloader = l.clip.AUs, &codecs.H264Payloader{}
			}
			packetizer := rtp.NewPacketizer(1200, 0, 0, payloader, rtp.NewRandomSequencer(), 90000)
			d := time.Second / time.Duration(l.clip.FPS)
			tick := time.NewTicker(d)
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				for _, p := range packetizer.Packetize(frames[n%len(frames)], uint32(90000/l.clip.FPS)) {
					if l.rid != "" {
						_ = p.SetExtension(midID, []byte(mid))
						_ = p.SetExtension(ridID, []byte(l.rid))
					}
					if err := vtracks[i].WriteRTP(p); err != nil {
						return
					}
				}
			}
		})
	}
	wg.Go(func() {
		opus := layers[0].clip.Opus
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if err := atrack.WriteSample(pmedia.Sample{Data: opus[n%len(opus)], Duration: 20 * time.Millisecond}); err != nil {
				return
			}
		}
	})
	return c
}

// subClient receives one publisher's audio and video.
type subClient struct {
	pc  *webrtc.PeerConnection
	sub *Subscription

	mu       sync.Mutex
	frames   []recvFrame
	seqs     []uint16
	tss      []uint32
	ssrcs    map[uint32]bool
	audio    int
	rtx      int // video packets that came on the RTX stream
	vcodec   string
	firstPkt time.Time
}

type recvFrame struct {
	data []byte
	at   time.Time
}

func subscribe(t *testing.T, room *testRoom, subID, pubID string, opts SubscribeOptions) *subClient {
	t.Helper()
	return subscribeWith(t, room, subID, pubID, opts, nil)
}

// subscribeWith is subscribe whose audio is sendrecv with audio sent from
// silence, if not nil, as the IVS SDK's subscriber may.
func subscribeWith(t *testing.T, room *testRoom, subID, pubID string, opts SubscribeOptions, silence *webrtc.TrackLocalStaticSample) *subClient {
	t.Helper()
	return subscribeAPI(t, clientAPI(t), room, subID, pubID, opts, silence)
}

// subscribeAPI is subscribeWith from a client on api.
func subscribeAPI(t *testing.T, api *webrtc.API, room *testRoom, subID, pubID string, opts SubscribeOptions, silence *webrtc.TrackLocalStaticSample) *subClient {
	t.Helper()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	if silence != nil {
		if _, err := pc.AddTransceiverFromTrack(silence, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv}); err != nil {
			t.Fatal(err)
		}
	} else if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	c := &subClient{pc: pc, ssrcs: map[uint32]bool{}}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = pc.Close(); wg.Wait() })
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		wg.Go(func() { c.read(tr) })
	})
	answer, s, err := room.Subscribe(context.Background(), subID, pubID, offerOf(t, pc), opts)
	if err != nil {
		t.Fatal(err)
	}
	c.sub = s
	applyAnswer(t, pc, answer)
	return c
}

func (c *subClient) read(tr *webrtc.TrackRemote) {
	if tr.Kind() == webrtc.RTPCodecTypeAudio {
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			c.mu.Lock()
			c.audio++
			c.mu.Unlock()
		}
	}
	var dep rtp.Depacketizer = &codecs.VP8Packet{}
	if tr.Codec().MimeType == webrtc.MimeTypeH264 {
		dep = &codecs.H264Packet{}
	}
	c.mu.Lock()
	c.vcodec = tr.Codec().MimeType
	c.mu.Unlock()
	sb := samplebuilder.New(256, dep, 90000)
	for {
		p, attrs, err := tr.ReadRTP()
		if err != nil {
			return
		}
		c.mu.Lock()
		if attrs != nil && attrs.Get(webrtc.AttributeRtxSsrc) != nil {
			c.rtx++
		}
		if c.firstPkt.IsZero() {
			c.firstPkt = time.Now()
		}
		c.seqs = append(c.seqs, p.SequenceNumber)
		c.tss = append(c.tss, p.Timestamp)
		c.ssrcs[p.SSRC] = true
		c.mu.Unlock()
		sb.Push(p)
		for s := sb.Pop(); s != nil; s = sb.Pop() {
			c.mu.Lock()
			c.frames = append(c.frames, recvFrame{data: s.Data, at: time.Now()})
			c.mu.Unlock()
		}
	}
}

func (c *subClient) nFrames() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.frames)
}

func (c *subClient) snapshot() (frames []recvFrame, seqs []uint16, tss []uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]recvFrame(nil), c.frames...), append([]uint16(nil), c.seqs...), append([]uint32(nil), c.tss...)
}

// ticking calls f(n), n = 0, 1, …, every period from a goroutine that
// ends with the test.
func ticking(t testing.TB, period time.Duration, f func(n int)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			f(n)
		}
	}()
}
