// Package whep serves WebRTC playback of live channels (WHEP): POST
// /whep/{channelId} with an SDP offer answers with the channel's live
// stream. It is a protocol package over rtc (peer connections, the WHEP
// HTTP side) and ffmpeg (AAC sources' audio converted to Opus).
package whep

import (
	"context"
	"errors"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/onair-video/onair/internal/ffmpeg"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/playback"
	"github.com/onair-video/onair/internal/rtc"
	"github.com/onair-video/onair/internal/stream"
)

const (
	// feedQueue is the hub queue of a channel's WebRTC feed: ~4 s of a
	// 30 fps stream with audio.
	feedQueue = 512
	// rtpMTU leaves room for SRTP and the header extensions the
	// interceptors add, under a 1280-byte IPv6 minimum path MTU.
	rtpMTU = 1200
	// connectTimeout is how long an answered session may take to connect.
	connectTimeout = 15 * time.Second
	// keyframeEvery bounds how often viewers' picture-loss reports reach
	// the encoder.
	keyframeEvery = time.Second
)

// Streams finds a channel's live stream; *live.Registry implements it.
type Streams interface {
	Get(channelID string) (*live.Stream, bool)
}

// Config holds the dependencies of a Server.
type Config struct {
	Engine  *rtc.Engine
	Streams Streams
	Log     *slog.Logger
	// Auth decides who may play a channel; nil lets everyone.
	Auth Authorizer
}

// Authorizer checks playback requests; *playback.Authorizer implements it.
type Authorizer interface {
	Authorize(ctx context.Context, r playback.Request) (playback.Grant, error)
}

// Server serves WebRTC playback: POST /whep/{channelId} with an SDP offer
// answers with the channel's live stream. One feed per live stream reads
// the hub once and packetizes once; every viewer's peer connection is bound
// to the feed's shared tracks, so a viewer costs its encryption and sends
// only.
type Server struct {
	engine  *rtc.Engine
	streams Streams
	log     *slog.Logger
	auth    Authorizer

	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	feeds    map[string]*feed   // by stream id
	sessions map[string]*viewer // by session id
	closed   bool
	wg       sync.WaitGroup
}

// New returns a WHEP server.
func New(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{engine: cfg.Engine, streams: cfg.Streams, log: cfg.Log.With("component", "whep"), auth: cfg.Auth,
		ctx: ctx, cancel: cancel, feeds: make(map[string]*feed), sessions: make(map[string]*viewer)}
}

// Register adds the WHEP routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("OPTIONS /whep/{channelId}", rtc.Preflight)
	mux.HandleFunc("OPTIONS /whep/{channelId}/{session}", rtc.Preflight)
	mux.HandleFunc("POST /whep/{channelId}", s.post)
	mux.HandleFunc("PATCH /whep/{channelId}/{session}", s.serveSession)
	mux.HandleFunc("DELETE /whep/{channelId}/{session}", s.serveSession)
}

// Viewers counts a channel's WebRTC viewers, for GetStream's viewerCount.
func (s *Server) Viewers(channelID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.sessions {
		if v.feed.st.Channel.ID == channelID {
			n++
		}
	}
	return n
}

// Close ends every session and feed and waits for them.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	viewers := make([]*viewer, 0, len(s.sessions))
	for _, v := range s.sessions {
		viewers = append(viewers, v)
	}
	s.mu.Unlock()
	for _, v := range viewers {
		v.close()
	}
	s.cancel()
	s.wg.Wait()
}

func (s *Server) post(w http.ResponseWriter, r *http.Request) {
	rtc.CORS(w)
	id := r.PathValue("channelId")
	var g playback.Grant
	if s.auth != nil {
		var err error
		// Before the offer is read: a refused viewer costs no parsing.
		if g, err = s.auth.Authorize(r.Context(), playback.FromRequest(r, id, true)); err != nil {
			playback.Fail(w, err)
			return
		}
		playback.SetCORS(w.Header(), g)
	}
	offer, err := rtc.ReadOffer(w, r)
	if err != nil {
		rtc.Fail(w, err)
		return
	}
	st, ok := s.streams.Get(id)
	if !ok {
		rtc.Fail(w, &rtc.HTTPError{Status: http.StatusNotFound, Msg: "channel " + id + " is not live"})
		return
	}
	v, answer, err := s.join(st, offer, g)
	if err != nil {
		if !errors.As(err, new(*rtc.HTTPError)) {
			s.log.Warn("whep session", "channel", st.Channel.ARN, "err", err)
		}
		rtc.Fail(w, err)
		return
	}
	rtc.WriteAnswer(w, "/whep/"+id+"/"+v.id, v.id, answer)
}

func (s *Server) session(w http.ResponseWriter, r *http.Request) (*viewer, bool) {
	rtc.CORS(w)
	s.mu.Lock()
	v, ok := s.sessions[r.PathValue("session")]
	s.mu.Unlock()
	if !ok || v.feed.st.Channel.ID != r.PathValue("channelId") {
		rtc.Fail(w, &rtc.HTTPError{Status: http.StatusNotFound, Msg: "no such session"})
		return nil, false
	}
	return v, true
}

func (s *Server) serveSession(w http.ResponseWriter, r *http.Request) {
	if v, ok := s.session(w, r); ok {
		rtc.ServeSession(w, r, v)
	}
}

// join makes a viewer of st's feed (starting the feed for the first one)
// and answers its offer.
func (s *Server) join(st *live.Stream, offer string, g playback.Grant) (*viewer, string, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, "", &rtc.HTTPError{Status: http.StatusServiceUnavailable, Msg: "server shutting down"}
	}
	f, ok := s.feeds[st.StreamID]
	if !ok {
		var err error
		if f, err = s.newFeed(st); err != nil {
			s.mu.Unlock()
			return nil, "", err
		}
		s.feeds[st.StreamID] = f
	}
	v := &viewer{id: rtc.NewSessionID(), feed: f, w: s, viewerID: g.ViewerID, version: g.Version}
	s.sessions[v.id] = v // held before the answer, so the feed is not torn down meanwhile
	s.mu.Unlock()

	answer, err := v.connect(offer)
	if err != nil {
		v.close()
		return nil, "", err
	}
	// A client that takes the answer and never connects must not hold a
	// session (and the feed) for good.
	time.AfterFunc(connectTimeout, func() {
		if v.pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
			v.close()
		}
	})
	s.log.Info("viewer joined", "channel", st.Channel.ARN, "session", v.id)
	return v, answer, nil
}

// Revoke ends the sessions of a viewer of a channel (a private channel's
// aws:viewer-id) whose session version is at most version.
func (s *Server) Revoke(channelID, viewerID string, version int64) {
	s.mu.Lock()
	var ended []*viewer
	for _, v := range s.sessions {
		if v.viewerID == viewerID && v.version <= version && v.feed.st.Channel.ID == channelID {
			ended = append(ended, v)
		}
	}
	s.mu.Unlock()
	for _, v := range ended {
		s.log.Info("viewer session revoked", "channel", v.feed.st.Channel.ARN, "session", v.id)
		v.close()
	}
}

// leave removes v; the last viewer of a feed stops it.
func (s *Server) leave(v *viewer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[v.id]; !ok {
		return
	}
	delete(s.sessions, v.id)
	for _, o := range s.sessions {
		if o.feed == v.feed {
			return
		}
	}
	if s.feeds[v.feed.st.StreamID] == v.feed {
		delete(s.feeds, v.feed.st.StreamID)
	}
	v.feed.stop()
}

// viewer is one WHEP session.
type viewer struct {
	id   string
	feed *feed
	w    *Server
	pc   *webrtc.PeerConnection
	once sync.Once
	// viewerID and version are a private channel's token's aws:viewer-id
	// and aws:viewer-session-version, for revocation.
	viewerID string
	version  int64
}

func (v *viewer) connect(offer string) (string, error) {
	pc, err := v.w.engine.NewPeerConnection()
	if err != nil {
		return "", err
	}
	v.pc = pc
	rtc.OnEnd(pc, v.close)
	for _, t := range []*webrtc.TrackLocalStaticRTP{v.feed.video, v.feed.audio} {
		if t == nil {
			continue
		}
		sender, err := pc.AddTrack(t)
		if err != nil {
			return "", err
		}
		go v.readRTCP(sender)
	}
	return rtc.Answer(pc, offer, rtc.AnswerTimeout)
}

// readRTCP drains a sender's RTCP (the interceptors need it read) and
// passes picture-loss reports on to the encoder, at most once a second
// per feed.
func (v *viewer) readRTCP(sender *webrtc.RTPSender) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				v.feed.requestKeyframe()
			}
		}
	}
}

// PeerConnection implements rtc.Session.
func (v *viewer) PeerConnection() *webrtc.PeerConnection { return v.pc }

// End implements rtc.Session.
func (v *viewer) End() { v.close() }

func (v *viewer) close() {
	v.once.Do(func() {
		if v.pc != nil {
			_ = v.pc.Close()
		}
		v.w.leave(v)
		v.w.log.Info("viewer left", "channel", v.feed.st.Channel.ARN, "session", v.id)
	})
}

// feed packetizes one live stream for all its WebRTC viewers.
type feed struct {
	w     *Server
	st    *live.Stream
	video *webrtc.TrackLocalStaticRTP
	audio *webrtc.TrackLocalStaticRTP

	vtrack, atrack *stream.Track
	cancel         context.CancelFunc
	done           chan struct{}

	kfMu   sync.Mutex
	lastKF time.Time
}

// newFeed starts reading st for WebRTC; called with w.mu held.
func (s *Server) newFeed(st *live.Stream) (*feed, error) {
	f := &feed{w: s, st: st, done: make(chan struct{})}
	for _, t := range st.Hub.Tracks() {
		switch t.Codec.(type) {
		case *stream.H264:
			if f.vtrack == nil {
				f.vtrack = t
			}
		case *stream.Opus:
			f.atrack = t // the publisher's own Opus beats converted audio
		case *stream.AAC:
			if f.atrack == nil {
				f.atrack = t
			}
		}
	}
	if f.vtrack == nil {
		return nil, &rtc.HTTPError{Status: http.StatusUnsupportedMediaType, Msg: "the stream's video is not H.264, which WebRTC playback needs"}
	}
	var err error
	f.video, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: rtc.H264Fmtp}, "video", "onair-"+st.Channel.ID)
	if err != nil {
		return nil, err
	}
	if f.atrack != nil {
		f.audio, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000,
			Channels: 2, SDPFmtpLine: rtc.OpusFmtp}, "audio", "onair-"+st.Channel.ID)
		if err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(s.ctx)
	f.cancel = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(f.done)
		f.run(ctx)
	}()
	return f, nil
}

func (f *feed) stop() { f.cancel() }

func (f *feed) requestKeyframe() {
	f.kfMu.Lock()
	defer f.kfMu.Unlock()
	if time.Since(f.lastKF) < keyframeEvery {
		return
	}
	f.lastKF = time.Now()
	f.st.RequestKeyframe()
}

// run reads the hub until the stream ends or the last viewer leaves.
func (f *feed) run(ctx context.Context) {
	log := f.w.log.With("channel", f.st.Channel.ARN, "stream_id", f.st.StreamID)
	// The feed is shared by every viewer of the channel: when it falls
	// behind it skips to the next keyframe (a viewer of its own that is
	// slow is one pion binding, dropped by its state), not end them all.
	r := f.st.NewReader("whep", f.st.Hub, feedQueue)
	defer r.Close()

	vp := &videoPacketizer{seq: uint16(mrand.Uint32()), base: mrand.Uint32()}
	ap := &audioPacketizer{seq: uint16(mrand.Uint32()), base: mrand.Uint32()}
	// Audio: Opus as it is; AAC through one converter per feed, shared by
	// every viewer. Without ffmpeg, viewers get the picture only.
	var writeAudio func(u *stream.Unit)
	if f.atrack != nil {
		switch c := f.atrack.Codec.(type) {
		case *stream.Opus:
			writeAudio = func(u *stream.Unit) { _ = f.audio.WriteRTP(ap.packet(u.PTS, u.Payload[0])) }
		case *stream.AAC:
			conv, err := ffmpeg.AACToOpus(ctx, c.Config, log, func(fr ffmpeg.Frame) {
				_ = f.audio.WriteRTP(ap.packet(fr.PTS, fr.Data))
			})
			if err != nil {
				log.Warn("webrtc audio off", "reason", err.Error())
				break
			}
			defer conv.Close()
			writeAudio = func(u *stream.Unit) { conv.Write(ffmpeg.Frame{PTS: u.PTS, Data: u.Payload[0]}) }
		}
	}
	f.requestKeyframe() // the first viewer starts at once when the ingest can
	started := false
	for {
		u, err := r.Read(ctx)
		if err != nil {
			if errors.Is(err, stream.ErrClosed) {
				f.endViewers() // the stream ended
			}
			return
		}
		switch u.Track {
		case f.vtrack:
			if !started && !u.RandomAccess {
				continue
			}
			started = true
			for _, p := range vp.packets(u) {
				_ = f.video.WriteRTP(p) // per-binding errors are the viewer's, handled by its state
			}
		case f.atrack:
			if started && writeAudio != nil {
				writeAudio(u)
			}
		}
	}
}

// endViewers closes the peer connections of this feed's viewers.
func (f *feed) endViewers() {
	f.w.mu.Lock()
	var vs []*viewer
	for _, v := range f.w.sessions {
		if v.feed == f {
			vs = append(vs, v)
		}
	}
	f.w.mu.Unlock()
	for _, v := range vs {
		go v.close() // close takes w.mu via leave, and stops this feed
	}
}

// videoPacketizer turns H.264 access units into RTP packets with the
// unit's presentation time.
type videoPacketizer struct {
	payloader codecs.H264Payloader
	seq       uint16
	base      uint32
}

func (p *videoPacketizer) packets(u *stream.Unit) []*rtp.Packet {
	b, err := h264.AnnexB(u.Payload).Marshal()
	if err != nil {
		return nil
	}
	payloads := p.payloader.Payload(rtpMTU, b)
	ts := p.base + rtpTicks(u.PTS, 90000)
	out := make([]*rtp.Packet, len(payloads))
	for i, pl := range payloads {
		out[i] = &rtp.Packet{Header: rtp.Header{Version: 2, Marker: i == len(payloads)-1, SequenceNumber: p.seq,
			Timestamp: ts}, Payload: pl}
		p.seq++
	}
	return out
}

// audioPacketizer puts one Opus packet in one RTP packet.
type audioPacketizer struct {
	seq  uint16
	base uint32
}

func (p *audioPacketizer) packet(pts time.Duration, data []byte) *rtp.Packet {
	ts := p.base + rtpTicks(pts, 48000)
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, SequenceNumber: p.seq, Timestamp: ts}, Payload: data}
	p.seq++
	return pkt
}

// rtpTicks converts a media time to RTP clock ticks, rounded: a time that
// came from ticks (WHIP's 90 kHz, stored in nanoseconds, truncated) must
// go back to the same tick, or frames 3000 ticks apart come out 2999.
func rtpTicks(d time.Duration, rate int64) uint32 {
	return uint32((int64(d)*rate + int64(time.Second)/2) / int64(time.Second) & math.MaxUint32)
}
