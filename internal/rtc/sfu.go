package rtc

import (
	"fmt"
	"slices"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// H.264 profiles an SFU peer connection accepts besides the two WHIP and
// WHEP negotiate: the IVS Web Broadcast SDK also configures Main and High
// level 3.1. An SFU forwards what the publisher sends, so a subscriber must
// be offered exactly the publisher's profile.
const (
	payloadH264Main = 108
	payloadH264High = 112
)

// maxNacksPerPacket bounds how often the SFU asks a publisher for one lost
// packet (100 ms apart).
const maxNacksPerPacket = 3

// sfuMediaEngine registers every codec a Stage client may publish (H.264
// in four profiles, VP8, Opus), RTX for each video codec, the simulcast
// rid/mid/repaired-rid header extensions,
// and the interceptors an SFU wants on every peer connection:
//
//   - a NACK generator, so a publisher's lost packets are asked for again;
//   - RTCP sender and receiver reports (lip sync, round-trip times);
//   - TWCC feedback to publishers (the transport-cc extension and the
//     reports), so a browser's congestion control ramps up to its target.
//
// There is deliberately no NACK responder: pion's copies every packet it
// sends into a 1024-packet buffer per sender, a megabyte per subscriber of
// HD video. The SFU answers a subscriber's NACKs itself from the one packet
// cache each published layer keeps, on the RTX stream when the subscriber
// negotiated one (RFC 4588).
//
// RTX (video/rtx, one payload type per video codec) lets a publisher
// retransmit on a stream of its own: pion's receiver turns an RTX packet
// back into the original, so the SFU reads it from the track as any
// packet. Browsers send their bandwidth probes as RTX packets too.
//
// A subscriber's engine (subscriber true) negotiates goog-remb and not
// transport-cc: the browser then estimates the bandwidth of what it
// receives itself and reports it in REMB packets, which the SFU reads to
// pick the subscriber's simulcast layer. A send-side estimate (TWCC
// feedback and pion's GCC per subscriber) would cost the SFU a header
// extension and a feedback log entry per packet per subscriber, and a
// pacer goroutine each that every packet goes through: 300 idle GCC
// estimators alone take 8% of a core in their pacers' 5 ms ticks. A publisher's engine is the other way round: a
// browser sender estimates its uplink from TWCC.
func sfuMediaEngine(subscriber bool) (*webrtc.MediaEngine, *interceptor.Registry, error) {
	me := &webrtc.MediaEngine{}
	video, audio := SFUCodecs()
	for _, c := range video {
		if subscriber {
			c.RTCPFeedback = slices.DeleteFunc(slices.Clone(c.RTCPFeedback), func(f webrtc.RTCPFeedback) bool {
				return f.Type == webrtc.TypeRTCPFBTransportCC
			})
		}
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, nil, fmt.Errorf("rtc: register %s: %w", c.MimeType, err)
		}
		rtx := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeRTX,
			ClockRate: 90000, SDPFmtpLine: fmt.Sprintf("apt=%d", c.PayloadType)}, PayloadType: c.PayloadType + 1}
		if err := me.RegisterCodec(rtx, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, nil, fmt.Errorf("rtc: register rtx for %s: %w", c.MimeType, err)
		}
	}
	for _, c := range audio {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, nil, fmt.Errorf("rtc: register %s: %w", c.MimeType, err)
		}
	}
	ir := &interceptor.Registry{}
	// A packet a publisher resends on RTX reaches the track but not the
	// generator's log of the media stream, so the generator would ask for
	// it again every 100 ms while it is in the log: three asks at most.
	generator, err := nack.NewGeneratorInterceptor(nack.GeneratorMaxNacksPerPacket(maxNacksPerPacket))
	if err != nil {
		return nil, nil, fmt.Errorf("rtc: NACK generator: %w", err)
	}
	ir.Add(generator)
	rr, err := report.NewReceiverInterceptor()
	if err != nil {
		return nil, nil, fmt.Errorf("rtc: receiver reports: %w", err)
	}
	sr, err := report.NewSenderInterceptor()
	if err != nil {
		return nil, nil, fmt.Errorf("rtc: sender reports: %w", err)
	}
	ir.Add(rr)
	ir.Add(mediaOnly{sr})
	if err := webrtc.ConfigureSimulcastExtensionHeaders(me); err != nil {
		return nil, nil, fmt.Errorf("rtc: simulcast extensions: %w", err)
	}
	if subscriber {
		// The browser's receive-side estimate wants the send times
		// (abssendtime.go).
		if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.ABSSendTimeURI},
			webrtc.RTPCodecTypeVideo); err != nil {
			return nil, nil, fmt.Errorf("rtc: abs-send-time: %w", err)
		}
		ir.Add(absSendTimeFactory{})
		return me, ir, nil
	}
	if err := webrtc.ConfigureTWCCSender(me, ir); err != nil {
		return nil, nil, fmt.Errorf("rtc: TWCC: %w", err)
	}
	return me, ir, nil
}

// SFUCodecs returns the video and audio codecs an SFU peer connection
// registers, the video ones in onair's order of preference.
func SFUCodecs() (video, audio []webrtc.RTPCodecParameters) {
	h264 := func(pt webrtc.PayloadType, profile string) webrtc.RTPCodecParameters {
		return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264,
			ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + profile,
			RTCPFeedback: videoFeedback()}, PayloadType: pt}
	}
	video = []webrtc.RTPCodecParameters{
		{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000,
			RTCPFeedback: videoFeedback()}, PayloadType: payloadVP8},
		h264(payloadH264, "42e01f"), h264(payloadH264CB, "42001f"), h264(payloadH264Main, "4d001f"), h264(payloadH264High, "64001f"),
	}
	audio = []webrtc.RTPCodecParameters{{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
			SDPFmtpLine: OpusFmtp},
		PayloadType: payloadOpus,
	}}
	return video, audio
}

// NewSFUPeerConnection returns a peer connection for a Stage publisher:
// every codec a Stage client publishes, RTX, simulcast, TWCC feedback (see
// sfuMediaEngine).
func (e *Engine) NewSFUPeerConnection() (*webrtc.PeerConnection, error) {
	return e.apiSFU.NewPeerConnection(webrtc.Configuration{})
}

// NewSFUSubscriberPeerConnection returns a peer connection for a Stage
// subscriber: the same codecs and RTX, REMB in place of TWCC, no NACK
// responder (see sfuMediaEngine).
func (e *Engine) NewSFUSubscriberPeerConnection() (*webrtc.PeerConnection, error) {
	return e.apiSFUSub.NewPeerConnection(webrtc.Configuration{})
}

// mediaOnly wraps an interceptor so that it sees only a local stream's
// media packets: the SFU writes its RTX retransmissions (RFC 4588) through
// the same writer, and pion's sender reports would count them as media,
// taking an old packet's timestamp as the stream's latest (their numbers
// are the RTX stream's), which skews the reports a receiver syncs by.
type mediaOnly struct{ f interceptor.Factory }

func (m mediaOnly) NewInterceptor(id string) (interceptor.Interceptor, error) {
	i, err := m.f.NewInterceptor(id)
	if err != nil {
		return nil, err
	}
	return mediaOnlyInterceptor{i}, nil
}

type mediaOnlyInterceptor struct{ interceptor.Interceptor }

func (m mediaOnlyInterceptor) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	wrapped := m.Interceptor.BindLocalStream(info, w)
	if info.SSRCRetransmission == 0 {
		return wrapped
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if h.SSRC != info.SSRC {
			return w.Write(h, payload, a)
		}
		return wrapped.Write(h, payload, a)
	})
}
