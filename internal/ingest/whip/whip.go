// Package whip is the WebRTC ingest (WHIP, RFC 9725): a browser or an
// encoder POSTs an SDP offer to /whip with its stream key as a bearer
// token, and the H.264 and Opus it sends go into the channel's hub. The
// Opus is also converted to AAC (a derived track) for HLS players, and a
// publisher that offers VP8 only gets it transcoded to H.264 the same way.
// The same sessions serve IVS's Web Broadcast SDK, which posts its offer
// in its own JSON exchange to …/v1/offer (broadcast.go).
package whip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/pion/sdp/v3"
	pion "github.com/pion/webrtc/v4"

	"github.com/onair-video/onair/internal/conns"
	"github.com/onair-video/onair/internal/ffmpeg"
	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/rtc"
)

// The protocols' names in logs and ConnInfo: WHIP, and the IVS Web
// Broadcast SDK's own exchange (POST /v1/offer), which the SDK itself calls
// "webrtc".
const (
	ProtocolWHIP   = "whip"
	ProtocolWebRTC = "webrtc"
)

// encoder is the session's ingest configuration's encoder name.
const encoder = "WebRTC"

const (
	claimTimeout = 5 * time.Second
	// firstKeyframeTimeout bounds the wait for a picture to start the
	// stream with, after the answer.
	firstKeyframeTimeout = 15 * time.Second
)

// Registry authenticates stream keys; *live.Registry implements it.
type Registry interface {
	Claim(ctx context.Context, streamKey string, conn live.ConnInfo) (*live.Publisher, error)
}

// Config holds the dependencies of a Server.
type Config struct {
	Engine   *rtc.Engine
	Registry Registry
	Log      *slog.Logger
}

// Server serves POST /whip and the session resources it creates.
type Server struct {
	engine *rtc.Engine
	reg    Registry
	log    *slog.Logger

	// sessions are the publishing sessions by id; its context, which
	// every session derives from, is cancelled by Close.
	sessions *conns.Set[string, *session]
}

// New returns a WHIP server.
func New(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Server{engine: cfg.Engine, reg: cfg.Registry, log: cfg.Log.With("component", "whip"),
		sessions: conns.NewSet[string, *session]()}
}

// Register adds the WHIP routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("OPTIONS /whip", rtc.Preflight)
	mux.HandleFunc("OPTIONS /whip/{session}", rtc.Preflight)
	mux.HandleFunc("POST /whip", s.post)
	mux.HandleFunc("PATCH /whip/{session}", s.serveSession)
	mux.HandleFunc("DELETE /whip/{session}", s.serveSession)
}

// Close ends every publishing session and waits for them.
func (s *Server) Close() { s.sessions.Close() }

// refusal maps a Claim error to what a WHIP client sees.
func refusal(err error) error {
	switch {
	case errors.Is(err, live.ErrUnknownKey):
		return &rtc.HTTPError{Status: http.StatusUnauthorized, Msg: "unknown stream key"}
	case errors.Is(err, live.ErrChannelBusy):
		return &rtc.HTTPError{Status: http.StatusConflict, Msg: "the channel already has a publisher"}
	case errors.Is(err, live.ErrThrottled):
		return &rtc.HTTPError{Status: http.StatusTooManyRequests, Msg: "too many unknown stream keys from this address; try again later"}
	case errors.Is(err, live.ErrRefused):
		return &rtc.HTTPError{Status: http.StatusForbidden, Msg: strings.TrimPrefix(err.Error(), "live: ")}
	case errors.Is(err, live.ErrClosed):
		return &rtc.HTTPError{Status: http.StatusServiceUnavailable, Msg: "server shutting down"}
	}
	return err
}

func (s *Server) post(w http.ResponseWriter, r *http.Request) {
	rtc.CORS(w)
	remote := r.RemoteAddr
	log := s.log.With("protocol", ProtocolWHIP, "remote", remote)
	key, ok := bearer(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="onair"`)
		rtc.Fail(w, &rtc.HTTPError{Status: http.StatusUnauthorized, Msg: "Authorization: Bearer {streamKey} is required"})
		return
	}
	offer, err := rtc.ReadOffer(w, r)
	if err != nil {
		rtc.Fail(w, err)
		return
	}
	media, err := offeredMedia(offer)
	if err != nil {
		rtc.Fail(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), claimTimeout)
	pub, err := s.reg.Claim(ctx, key, live.ConnInfo{Protocol: ProtocolWHIP, Remote: remote, Secure: true})
	cancel()
	if err != nil {
		s.sessions.End(log, err)
		rtc.Fail(w, refusal(err))
		return
	}
	// WHIP declares no resolution: the cap is the channel type's limit at
	// 1080p, its highest.
	x, answer, err := s.open(pub, offer, opening{media: media, meta: live.Metadata{Encoder: encoder},
		kbps: ivs.InputBitrateLimit(pub.Channel().Type, 1920, 1080) / 1000},
		log.With("channel", pub.Channel().ARN))
	if err != nil {
		rtc.Fail(w, err) // open reported it
		return
	}
	rtc.WriteAnswer(w, "/whip/"+x.id, x.id, answer)
}

func (s *Server) lookup(w http.ResponseWriter, r *http.Request) (*session, bool) {
	rtc.CORS(w)
	x, ok := s.sessions.Get(r.PathValue("session"))
	if !ok {
		rtc.Fail(w, &rtc.HTTPError{Status: http.StatusNotFound, Msg: "no such session"})
		return nil, false
	}
	return x, true
}

func (s *Server) serveSession(w http.ResponseWriter, r *http.Request) {
	if x, ok := s.lookup(w, r); ok {
		rtc.ServeSession(w, r, x)
	}
}

// bearer returns the stream key of an Authorization: Bearer header.
func bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	if !validKey(token) {
		return "", false
	}
	return token, true
}

// media is what an offer sends.
type media struct {
	audio bool
	vp8   bool // VP8 video and no H.264: transcoded for HLS and WHEP
}

// offeredMedia checks an offer before any channel is claimed: it must be
// SDP that sends H.264 video; Opus audio is optional.
func offeredMedia(offer string) (media, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(offer); err != nil {
		return media{}, &rtc.HTTPError{Status: http.StatusBadRequest, Msg: "the body is not an SDP offer: " + err.Error()}
	}
	var m media
	var h264, vp8 bool
	for _, md := range d.MediaDescriptions {
		codecs := strings.ToUpper(strings.Join(rtpmaps(md), " "))
		switch md.MediaName.Media {
		case "video":
			h264 = h264 || strings.Contains(codecs, "H264/90000")
			vp8 = vp8 || strings.Contains(codecs, "VP8/90000")
		case "audio":
			m.audio = m.audio || strings.Contains(codecs, "OPUS/48000")
		}
	}
	switch {
	case h264:
		return m, nil
	case vp8 && ffmpegOK():
		m.vp8 = true
		return m, nil
	case vp8:
		return media{}, &rtc.HTTPError{Status: http.StatusUnsupportedMediaType,
			Msg: "the offer sends VP8 only, which needs ffmpeg on the server to transcode; send H.264"}
	}
	return media{}, &rtc.HTTPError{Status: http.StatusUnsupportedMediaType,
		Msg: "the offer sends no H.264 or VP8 video; onair's WHIP ingest takes H.264 or VP8 (and Opus audio)"}
}

// ffmpegOK says whether VP8 can be transcoded here (a variable for tests).
var ffmpegOK = func() bool {
	_, err := ffmpeg.Path()
	return err == nil
}

func rtpmaps(md *sdp.MediaDescription) []string {
	var out []string
	for _, a := range md.Attributes {
		if a.Key == "rtpmap" {
			if _, codec, ok := strings.Cut(a.Value, " "); ok {
				out = append(out, codec)
			}
		}
	}
	return out
}

// errShuttingDown is what a publisher who comes during shutdown reads.
var errShuttingDown = &rtc.HTTPError{Status: http.StatusServiceUnavailable, Msg: "server shutting down"}

// opening is how a session is set up beyond its offer: what its ingest
// configuration takes from the client's declarations, the bit rate its
// answer caps the video at, and whether the client's "stopStream" data
// channel ends it (the Web Broadcast SDK's stopBroadcast).
type opening struct {
	media      media
	meta       live.Metadata
	kbps       int64
	stopStream bool
}

// open answers the offer on a new peer connection for pub. Whatever it
// fails with, it has closed pub and reported how the session ended.
func (s *Server) open(pub *live.Publisher, offer string, o opening, log *slog.Logger) (*session, string, error) {
	newPC := s.engine.NewPeerConnection
	if o.media.vp8 {
		newPC = s.engine.NewPeerConnectionVP8
	}
	pc, err := newPC()
	if err != nil {
		pub.Close()
		err = fmt.Errorf("whip: %w", err)
		s.sessions.End(log, err)
		return nil, "", err
	}
	x := &session{id: rtc.NewSessionID(), srv: s, pub: pub, pc: pc, log: log, audio: o.media.audio, meta: o.meta,
		done: make(chan struct{})}
	if err := x.newConverter(o.media.vp8); err != nil {
		_ = pc.Close()
		pub.Close()
		s.sessions.End(log, err)
		return nil, "", err
	}
	if !s.sessions.Add(x.id, x) {
		x.conv.Close()
		_ = pc.Close()
		pub.Close()
		s.sessions.End(log, live.ErrShutdown)
		return nil, "", errShuttingDown
	}
	pc.OnTrack(x.onTrack)
	rtc.OnEnd(pc, func() { x.end(conns.ErrPeerGone) })
	// A peer whose ICE went quiet may be back on a new connection (the
	// SDK's reconnect, a WHIP client's retry) before this one fails: live
	// lets that claim take the channel over.
	pc.OnICEConnectionStateChange(func(st pion.ICEConnectionState) {
		pub.SetGone(st == pion.ICEConnectionStateDisconnected || st == pion.ICEConnectionStateFailed)
	})
	if o.stopStream {
		pc.OnDataChannel(func(dc *pion.DataChannel) {
			if dc.Label() != stopStreamLabel {
				return
			}
			// Any message on it means the broadcaster stopped; end runs
			// off pion's goroutine, as it waits on pion.
			dc.OnMessage(func(pion.DataChannelMessage) { go x.end(conns.ErrClientEnded) })
		})
	}
	answer, err := rtc.Answer(pc, offer, rtc.AnswerTimeout)
	if err == nil {
		answer, err = rtc.CapVideoBitrate(answer, o.kbps)
	}
	if err != nil {
		cause := err
		if errors.As(err, new(*rtc.HTTPError)) {
			cause = conns.Refuse(err) // an offer pion cannot use
		}
		x.end(cause)
		return nil, "", err
	}
	if !s.sessions.Go(x.run) {
		x.end(live.ErrShutdown)
		return nil, "", errShuttingDown
	}
	return x, answer, nil
}
