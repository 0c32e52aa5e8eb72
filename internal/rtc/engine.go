// Package rtc is onair's WebRTC engine, shared by every protocol that
// speaks WebRTC (the WHIP ingest, WHEP playback, the Stages SFU):
// pion set up with the codecs and interceptors onair negotiates, peer
// connections on shared ICE sockets, the SDP answer, and the HTTP side of
// WHIP and WHEP (offers, trickle ICE, session resources, CORS). It knows
// nothing of channels or streams.
//
// Every peer connection's ICE runs on one UDP port (and ICE-TCP on one TCP
// port), so a server behind a firewall needs two ports opened, not a range.
package rtc

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// Codec parameters onair negotiates. H.264 is sent and received with
// packetization-mode 1; the profile-level-id is the constrained-baseline one
// browsers always offer, with level-asymmetry-allowed so any profile the
// source carries is passed through (decoders take the SPS in band).
const (
	H264Fmtp      = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
	OpusFmtp      = "minptime=10;useinbandfec=1"
	payloadH264   = 102
	payloadH264CB = 106
	payloadOpus   = 111
	payloadVP8    = 96
)

// ICE timeouts: a viewer or publisher whose network vanished is noticed in
// seconds, not the half-minute of pion's defaults.
const (
	iceDisconnected = 4 * time.Second
	iceFailed       = 8 * time.Second
	iceKeepalive    = 2 * time.Second
)

// EngineConfig says where ICE listens and which addresses it announces.
type EngineConfig struct {
	// UDP is the socket every peer connection's ICE shares. Required.
	UDP net.PacketConn
	// TCP, if set, serves ICE-TCP for clients whose UDP is blocked.
	TCP net.Listener
	// PublicIPs, if set, are announced as host candidates instead of the
	// interface addresses (a server behind 1:1 NAT, or --public-host).
	PublicIPs []string
	Log       *slog.Logger
}

// Engine makes peer connections that share the ICE sockets.
type Engine struct {
	api *webrtc.API
	// apiVP8 negotiates VP8 instead of H.264, for a WHIP publisher whose
	// offer has no H.264. Two engines rather than one with both codecs:
	// an answer must never pick VP8 when H.264 is on offer.
	apiVP8 *webrtc.API
	// apiSFU is the Stages SFU's: every codec, simulcast, no NACK
	// responder (sfu.go).
	apiSFU *webrtc.API
	// apiSFUSub is the SFU's for subscribers: REMB, not TWCC (sfu.go).
	apiSFUSub *webrtc.API
	udpMux    ice.UDPMux
	tcpMux    ice.TCPMux
}

// NewEngine sets up codecs, interceptors and the ICE sockets.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	if cfg.UDP == nil {
		return nil, errors.New("rtc: a UDP socket is required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	me, ir, err := mediaEngine(false)
	if err != nil {
		return nil, err
	}
	meVP8, irVP8, err := mediaEngine(true)
	if err != nil {
		return nil, err
	}
	meSFU, irSFU, err := sfuMediaEngine(false)
	if err != nil {
		return nil, err
	}

	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	se := webrtc.SettingEngine{LoggerFactory: lf}
	e := &Engine{udpMux: webrtc.NewICEUDPMux(lf.NewLogger("ice-udp"), cfg.UDP)}
	se.SetICEUDPMux(e.udpMux)
	types := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if cfg.TCP != nil {
		e.tcpMux = webrtc.NewICETCPMux(lf.NewLogger("ice-tcp"), queuedListener{cfg.TCP}, 64)
		se.SetICETCPMux(e.tcpMux)
		types = append(types, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
	}
	se.SetNetworkTypes(types)
	// A server bound to loopback (tests, a reverse-proxied box) must still
	// announce it.
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetICETimeouts(iceDisconnected, iceFailed, iceKeepalive)
	if len(cfg.PublicIPs) > 0 {
		// What the deprecated SetNAT1To1IPs(ips, host) did: host candidates
		// carry the public addresses in place of the local ones.
		err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{External: cfg.PublicIPs,
			AsCandidateType: webrtc.ICECandidateTypeHost, Mode: webrtc.ICEAddressRewriteReplace})
		if err != nil {
			return nil, fmt.Errorf("rtc: public IPs: %w", err)
		}
	}
	e.api = webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	e.apiVP8 = webrtc.NewAPI(webrtc.WithMediaEngine(meVP8), webrtc.WithInterceptorRegistry(irVP8), webrtc.WithSettingEngine(se))
	e.apiSFU = webrtc.NewAPI(webrtc.WithMediaEngine(meSFU), webrtc.WithInterceptorRegistry(irSFU), webrtc.WithSettingEngine(se))
	meSub, irSub, err := sfuMediaEngine(true)
	if err != nil {
		return nil, err
	}
	e.apiSFUSub = webrtc.NewAPI(webrtc.WithMediaEngine(meSub), webrtc.WithInterceptorRegistry(irSub), webrtc.WithSettingEngine(se))
	return e, nil
}

// mediaEngine registers H.264 (or VP8) and Opus, and the interceptors
// (NACK, RTCP reports, TWCC).
func mediaEngine(vp8 bool) (*webrtc.MediaEngine, *interceptor.Registry, error) {
	me := &webrtc.MediaEngine{}
	video := []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: H264Fmtp, RTCPFeedback: videoFeedback()}, PayloadType: payloadH264},
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f", RTCPFeedback: videoFeedback()},
			PayloadType: payloadH264CB},
	}
	if vp8 {
		video = []webrtc.RTPCodecParameters{{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8,
			ClockRate: 90000, RTCPFeedback: videoFeedback()}, PayloadType: payloadVP8}}
	}
	for _, c := range video {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, nil, fmt.Errorf("rtc: register %s: %w", c.MimeType, err)
		}
	}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: OpusFmtp},
		PayloadType: payloadOpus,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, nil, fmt.Errorf("rtc: register Opus: %w", err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, nil, fmt.Errorf("rtc: interceptors: %w", err)
	}
	return me, ir, nil
}

func videoFeedback() []webrtc.RTCPFeedback {
	return []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"},
		{Type: "nack", Parameter: "pli"}, {Type: "transport-cc"}}
}

// NewPeerConnection returns a peer connection on the shared ICE sockets.
// No STUN or TURN servers: the server's own addresses are its candidates.
func (e *Engine) NewPeerConnection() (*webrtc.PeerConnection, error) {
	return e.api.NewPeerConnection(webrtc.Configuration{})
}

// NewPeerConnectionVP8 is NewPeerConnection negotiating VP8 video.
func (e *Engine) NewPeerConnectionVP8() (*webrtc.PeerConnection, error) {
	return e.apiVP8.NewPeerConnection(webrtc.Configuration{})
}

// Close releases the ICE sockets.
func (e *Engine) Close() {
	_ = e.udpMux.Close()
	if e.tcpMux != nil {
		_ = e.tcpMux.Close()
	}
}

// AnswerTimeout bounds ICE gathering for an answer: local sockets only,
// milliseconds in practice.
const AnswerTimeout = 5 * time.Second

// Answer applies offer to pc and returns the complete answer, with every
// candidate gathered (WHIP and WHEP answer once, without trickle from our
// side). An offer that is not valid SDP or offers nothing onair can use is
// refused with an *HTTPError of status 400.
func Answer(pc *webrtc.PeerConnection, offer string, timeout time.Duration) (string, error) {
	return AnswerWith(pc, offer, timeout, nil)
}

// AnswerWith is Answer that calls prepare, if not nil, between applying the
// offer and creating the answer: where the caller adds its tracks to the
// offer's transceivers and narrows their codecs. prepare's error is
// returned as it is.
func AnswerWith(pc *webrtc.PeerConnection, offer string, timeout time.Duration, prepare func() error) (string, error) {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", badOffer(err)
	}
	if prepare != nil {
		if err := prepare(); err != nil {
			return "", err
		}
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", badOffer(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("rtc: set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-time.After(timeout):
		return "", errors.New("rtc: ICE gathering timed out")
	}
	return pc.LocalDescription().SDP, nil
}

// badOffer is the client's error for an offer pion refused. The text is
// what WHIP and WHEP clients have always read (it predates this package's
// name).
func badOffer(err error) error {
	return &HTTPError{Status: http.StatusBadRequest, Msg: "webrtc: unusable SDP offer: " + err.Error()}
}

// OnEnd calls end, in a goroutine of its own, when pc fails or is closed:
// a session's close usually waits on pion, so it must not run on pion's
// callback goroutine.
func OnEnd(pc *webrtc.PeerConnection, end func()) {
	pc.OnConnectionStateChange(func(state webrtc.PeerConnectionState) {
		switch state {
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			go end()
		}
	})
}
