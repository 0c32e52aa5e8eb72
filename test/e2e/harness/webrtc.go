package harness

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/onair-video/onair/internal/stream/streamtest"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
)

// Frame is a video frame a WebRTC receiver reassembled: its RTP timestamp,
// when its last packet arrived and its size.
type Frame struct {
	Timestamp uint32
	Arrived   time.Time
	Bytes     int
	// Sent is the send time a PublishWHIP publisher stamped in the frame
	// (zero for other sources): Arrived - Sent is the frame's latency.
	Sent time.Time
}

// WHEPViewer is a pion peer connection playing a channel over WHEP, the way
// a browser would: recvonly H.264 and Opus, one offer, one answer.
type WHEPViewer struct {
	PC       *webrtc.PeerConnection
	Location string
	// Link is the answer's Link header.
	Link string

	mu           sync.Mutex
	frames       []Frame
	audioPackets int
	cur          *Frame
	depack       codecs.H264Packet
	videoCodec   string
	audioCodec   string
}

// NewWebRTCAPI returns a pion API with the codecs browsers offer.
func NewWebRTCAPI() (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	return newAPI(me)
}

// newVP8API returns a pion API that offers VP8 and Opus only, as a browser
// without H.264 would.
func newVP8API() (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	return newAPI(me)
}

func newAPI(me *webrtc.MediaEngine) (*webrtc.API, error) {
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// PostSDP sends an offer to a WHIP or WHEP endpoint and returns the status,
// headers and body of the answer.
func PostSDP(ctx context.Context, url, bearer, sdp string) (int, http.Header, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader([]byte(sdp)))
	if err != nil {
		return 0, nil, "", err
	}
	req.Header.Set("Content-Type", "application/sdp")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), nil
}

// Offer makes pc's offer with every candidate gathered.
func Offer(pc *webrtc.PeerConnection) (string, error) {
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return "", err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return "", err
	}
	<-gathered
	return pc.LocalDescription().SDP, nil
}

// WatchWHEP connects to url (…/whep/{channelId}) and starts counting frames.
func WatchWHEP(ctx context.Context, url string) (*WHEPViewer, error) {
	return WatchWHEPWith(ctx, url, WatchOptions{})
}

// WatchWHEPOverTCP is WatchWHEP for a client whose UDP is blocked: ICE over
// TCP only (active TCP candidates to the server's ICE-TCP port).
func WatchWHEPOverTCP(ctx context.Context, url string) (*WHEPViewer, error) {
	return WatchWHEPWith(ctx, url, WatchOptions{TCPOnly: true})
}

// WatchOptions change how WatchWHEPWith connects.
type WatchOptions struct {
	// UDP, if set, is the viewer's only ICE socket: closing it makes the
	// viewer vanish without a word, as a phone that lost its network.
	UDP net.PacketConn
	// TCPOnly makes ICE use TCP only.
	TCPOnly bool
	// Answer, if set, rewrites the server's answer before it is applied
	// (e.g. to route ICE-TCP through a proxy).
	Answer func(sdp string) string
	// Bearer, if set, is the request's Authorization (a stage subscribe
	// sends its participant token).
	Bearer string
}

// WatchWHEPWith is WatchWHEP with options.
func WatchWHEPWith(ctx context.Context, url string, o WatchOptions) (*WHEPViewer, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	switch {
	case o.TCPOnly:
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	case o.UDP != nil:
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
		se.SetICEUDPMux(webrtc.NewICEUDPMux(nil, o.UDP))
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	return watchWHEP(ctx, url, api, o.Answer, o.Bearer)
}

func watchWHEP(ctx context.Context, url string, api *webrtc.API, rewrite func(string) string, bearer string) (*WHEPViewer, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	v := &WHEPViewer{PC: pc}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			_ = pc.Close()
			return nil, err
		}
	}
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		v.mu.Lock()
		if t.Kind() == webrtc.RTPCodecTypeVideo {
			v.videoCodec = t.Codec().MimeType
		} else {
			v.audioCodec = t.Codec().MimeType
		}
		v.mu.Unlock()
		for {
			p, _, err := t.ReadRTP()
			if err != nil {
				return
			}
			v.observe(t.Kind(), p, time.Now())
		}
	})
	offer, err := Offer(pc)
	if err != nil {
		_ = pc.Close()
		return nil, err
	}
	status, h, body, err := PostSDP(ctx, url, bearer, offer)
	if err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("WHEP POST: %w", err)
	}
	if status != http.StatusCreated {
		_ = pc.Close()
		return nil, fmt.Errorf("WHEP POST: %d %s", status, body)
	}
	v.Location = h.Get("Location")
	v.Link = h.Get("Link")
	if rewrite != nil {
		body = rewrite(body)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: body}); err != nil {
		_ = pc.Close()
		return nil, err
	}
	return v, nil
}

func (v *WHEPViewer) observe(kind webrtc.RTPCodecType, p *rtp.Packet, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if kind == webrtc.RTPCodecTypeAudio {
		v.audioPackets++
		return
	}
	if v.cur == nil || v.cur.Timestamp != p.Timestamp {
		v.cur = &Frame{Timestamp: p.Timestamp}
	}
	v.cur.Bytes += len(p.Payload)
	if nal, err := v.depack.Unmarshal(p.Payload); err == nil && len(nal) > 0 && v.cur.Sent.IsZero() {
		if t, ok := streamtest.ReadStamp(nal); ok {
			v.cur.Sent = t
		}
	}
	if p.Marker {
		v.cur.Arrived = now
		v.frames = append(v.frames, *v.cur)
		v.cur = nil
	}
}

// Frames returns the video frames received so far.
func (v *WHEPViewer) Frames() []Frame {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]Frame(nil), v.frames...)
}

// AudioPackets returns the number of audio packets received.
func (v *WHEPViewer) AudioPackets() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.audioPackets
}

// Codecs returns the negotiated video and audio MIME types.
func (v *WHEPViewer) Codecs() (string, string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.videoCodec, v.audioCodec
}

// Close ends the peer connection.
func (v *WHEPViewer) Close() { _ = v.PC.Close() }
