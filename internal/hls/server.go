// Package hls serves live channels as LL-HLS or classic HLS. One gohlslib
// muxer per live stream (per rendition) is fed by one hub reader; every
// viewer is served from that muxer's shared segments and parts, so viewers
// cost no buffering of their own.
package hls

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/playback"
	"github.com/onair-video/onair/internal/stream"
)

// Log attribute keys.
const (
	attrComponent = "component"
	attrChannel   = "channel"
	attrStreamID  = "stream_id"
)

// Defaults. PartDuration is chosen for glass-to-glass latency, see Config.
const (
	defaultPartDuration    = 100 * time.Millisecond
	defaultSegmentDuration = time.Second
	defaultSegmentCount    = 7
	defaultQueueSize       = 1024
	// minLowLatencySegments is what gohlslib (and iOS) require for LL-HLS.
	minLowLatencySegments = 7
	// defaultReadyTimeout bounds how long a playlist request waits for a
	// stream's first segment before it is told to retry.
	defaultReadyTimeout = 10 * time.Second
	defaultSendTimeout  = 5 * time.Second
)

// CORS: playback is public and read-only, so any origin may read it.
const (
	corsAllowMethods  = "GET, HEAD, OPTIONS"
	corsAllowHeaders  = "Range, Origin, Accept, Content-Type, Cache-Control, If-None-Match, If-Modified-Since"
	corsExposeHeaders = "Content-Length, Content-Range, Date, Age"
)

// Config holds the settings of a Server. Zero values take the defaults.
type Config struct {
	Log *slog.Logger
	// PartDuration is the LL-HLS part target. Default 100ms: gohlslib makes
	// a part downloadable only once it is complete, so a frame waits on
	// average about half a part (plus one frame, because a part closes when
	// the next frame arrives) before a client blocked on the preload hint
	// gets it. Measured (docs/benchmarks.md): p50 68ms with 100ms parts,
	// 133ms with 200ms. gohlslib stretches it to a multiple of the frame
	// duration that iOS accepts (e.g. ~133ms at 30 fps, 100ms at 60 fps).
	PartDuration time.Duration
	// SegmentDuration is the minimum segment length; gohlslib extends each
	// segment to the next IDR. Default 1s.
	SegmentDuration time.Duration
	// SegmentCount is how many segments playlists keep. Default 7, which is
	// also the minimum for LL-HLS.
	SegmentCount int
	// QueueSize is the hub reader queue of each muxer, in units. Default 1024.
	QueueSize int
	// ViewerTimeout is how long a player counts as a viewer after its last
	// media playlist request. Default 10s.
	ViewerTimeout time.Duration
	// SendTimeout bounds the sending of one response (a part, a segment,
	// a playlist once it is ready): a slower viewer is disconnected.
	// Default 5s: a viewer that takes longer than that to fetch a 1–2 s
	// segment cannot keep up anyway, and meanwhile it pins the segment
	// and a goroutine.
	SendTimeout time.Duration
	// Auth decides who may play a channel; nil lets everyone.
	Auth Authorizer

	// Cluster mode (docs/cluster.md). ClusterSecret authenticates the
	// requests between nodes: InternalHandler refuses every request
	// without a MAC of it (all of them while it is empty), and an edge
	// signs its requests to origins with it.
	ClusterSecret []byte
	// Origins tells where a channel without a muxer here is live; nil:
	// such a channel is not live (a single node). See edge.go.
	Origins Origins
	// EdgeCacheBytes bounds what the edge keeps of origins' playlists
	// and media. Default 64 MiB.
	EdgeCacheBytes int64
}

// Authorizer checks playback requests; *playback.Authorizer implements it.
type Authorizer interface {
	Authorize(ctx context.Context, r playback.Request) (playback.Grant, error)
}

// Server muxes live streams to HLS and serves them over HTTP.
type Server struct {
	cfg          Config
	log          *slog.Logger
	readyTimeout time.Duration
	editionIdle  time.Duration // edition.go

	mu     sync.RWMutex
	muxers map[string]*muxer // by channel id
	// renditions are the transcoded renditions of a channel's stream, by
	// channel id and rendition name.
	renditions map[string]map[string]*muxer
	closed     bool

	// bytesOut counts what was served per channel since the start; entries
	// stay (one per channel ever played) so the counters never go back.
	bytesOut sync.Map // channel id → *atomic.Uint64
	// slowViewers counts responses cut off by SendTimeout.
	slowViewers atomic.Uint64

	// The origin's internal route (origin.go): its counters, and its
	// refusals, logged at most once per interval.
	internalCounters
	refused rateLimited

	edge *edge // edge.go
}

var (
	_ live.Consumer = (*Server)(nil)
	_ http.Handler  = (*Server)(nil)
)

// New returns a Server. It starts nothing; muxers start with Attach.
func New(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.PartDuration <= 0 {
		cfg.PartDuration = defaultPartDuration
	}
	if cfg.SegmentDuration <= 0 {
		cfg.SegmentDuration = defaultSegmentDuration
	}
	if cfg.SegmentCount <= 0 {
		cfg.SegmentCount = defaultSegmentCount
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = defaultQueueSize
	}
	if cfg.ViewerTimeout <= 0 {
		cfg.ViewerTimeout = defaultViewerTimeout
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = defaultSendTimeout
	}
	if cfg.EdgeCacheBytes <= 0 {
		cfg.EdgeCacheBytes = defaultEdgeCacheBytes
	}
	s := &Server{
		cfg:          cfg,
		log:          cfg.Log.With(attrComponent, "hls"),
		readyTimeout: defaultReadyTimeout,
		editionIdle:  defaultEditionIdle,
		muxers:       make(map[string]*muxer),
		renditions:   make(map[string]map[string]*muxer),
	}
	s.edge = newEdge(s)
	return s
}

// Attach implements live.Consumer: it starts a muxer for st, fed by a hub
// reader goroutine. detach stops it, waits for it, and from then on every
// path of the channel answers 404.
func (s *Server) Attach(st *live.Stream) (detach func(), err error) {
	m, err := newMuxer(s, st, st.Hub, "")
	if err != nil {
		return nil, err
	}
	m.carryMetadata(st)
	// The registry lets one publisher per channel in, so a muxer already
	// there is a leftover; the new stream wins.
	return s.register(m, func() *muxer {
		prev := s.muxers[m.channelID]
		s.muxers[m.channelID] = m
		return prev
	}), nil
}

// register puts m in place with put (under s.mu; it returns the muxer m
// replaces) and starts it, unless the server is closed. It returns m's stop.
func (s *Server) register(m *muxer, put func() (prev *muxer)) (stop func()) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		m.stopMetadata()
		m.reader.Close()
		m.hm.Close()
		return func() {}
	}
	prev := put()
	s.mu.Unlock()
	if prev != nil {
		prev.stop()
	}
	m.start()
	return m.stop
}

// AddRendition serves a transcoded rendition of st, read from hub, beside
// the source: its files under {channelId}/{name}/, and a variant in the
// channel's multivariant playlist once it has a segment. remove stops it.
func (s *Server) AddRendition(st *live.Stream, name string, hub *stream.Hub) (remove func()) {
	m, err := newMuxer(s, st, hub, name)
	if err != nil {
		s.log.Error("rendition not playable over HLS", attrChannel, st.Channel.ARN, "rendition", name, "err", err)
		return func() {}
	}
	m.carryMetadata(st)
	return s.register(m, func() *muxer {
		rs := s.renditions[m.channelID]
		if rs == nil {
			rs = make(map[string]*muxer)
			s.renditions[m.channelID] = rs
		}
		prev := rs[name]
		rs[name] = m
		return prev
	})
}

// remove forgets m if it is still the channel's muxer (or rendition).
func (s *Server) remove(m *muxer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.rendition != "" {
		if rs := s.renditions[m.channelID]; rs[m.rendition] == m {
			delete(rs, m.rendition)
			if len(rs) == 0 {
				delete(s.renditions, m.channelID)
			}
		}
		return
	}
	if s.muxers[m.channelID] == m {
		delete(s.muxers, m.channelID)
	}
}

// lookupRendition returns a channel's rendition muxer.
func (s *Server) lookupRendition(channelID, name string) *muxer {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.renditions[channelID][name]
}

// renditionsOf returns a channel's rendition muxers.
func (s *Server) renditionsOf(channelID string) []*muxer {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*muxer, 0, len(s.renditions[channelID]))
	for _, m := range s.renditions[channelID] {
		out = append(out, m)
	}
	return out
}

func (s *Server) lookup(channelID string) *muxer {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.muxers[channelID]
}

// Close stops every muxer and waits for them; later Attach calls do
// nothing. It is idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	ms := make([]*muxer, 0, len(s.muxers))
	for _, m := range s.muxers {
		ms = append(ms, m)
	}
	for _, rs := range s.renditions {
		for _, m := range rs {
			ms = append(ms, m)
		}
	}
	s.mu.Unlock()
	for _, m := range ms {
		m.stop()
	}
	s.edge.close()
}

// ServeHTTP serves the multivariant playlist at
// /api/video/v1/{region}.{account}.channel.{channelId}.m3u8 and the media
// playlists, init files, segments and parts at
// /api/video/v1/{channelId}/{file}.
var (
	corsAnyOrigin = []string{"*"}
	corsExpose    = []string{corsExposeHeaders}
)

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Shared, never modified values: Set would allocate them per request,
	// and players make one request per part.
	h["Access-Control-Allow-Origin"] = corsAnyOrigin
	h["Access-Control-Expose-Headers"] = corsExpose
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		h.Set("Access-Control-Allow-Methods", corsAllowMethods)
		h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		h.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		h.Set("Allow", corsAllowMethods)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}

	p, ok := parsePath(r.URL.Path)
	if !ok {
		notFound(w)
		return
	}
	m := s.lookup(p.channelID)
	var o Origin
	if m == nil {
		// Live on another node of the cluster, maybe: then this node is
		// an edge of it (edge.go).
		var live bool
		if o, live = s.remoteOrigin(r.Context(), p.channelID); !live {
			notFound(w)
			return
		}
	}
	var g playback.Grant
	if s.cfg.Auth != nil {
		var err error
		if g, err = s.cfg.Auth.Authorize(r.Context(), playback.FromRequest(r, p.channelID, p.file == "")); err != nil {
			playback.Fail(w, err)
			return
		}
		playback.SetCORS(h, g)
		if g.MaxHeight > 0 && p.rendition != "" && renditionHeight(p.rendition) > g.MaxHeight {
			playback.Fail(w, &playback.Denied{Status: http.StatusForbidden, Reason: "the playback token's aws:maximum-resolution excludes this rendition"})
			return
		}
	}
	w = &viewerWriter{ResponseWriter: w, n: s.bytesCounter(p.channelID), timeout: s.cfg.SendTimeout, timedOut: &s.slowViewers}
	if m == nil {
		s.edge.serve(w, r, p, o, g)
		return
	}
	if p.file == "" {
		s.serveMultivariant(w, r, m, g)
		return
	}
	if strings.HasSuffix(p.file, ".m3u8") {
		// The source's audience counts the players of every rendition.
		if m.audience.touch(viewerKey(r), time.Now()) {
			m.log.Warn("viewer cap reached: new players are served but not counted", "cap", maxViewersPerChannel)
		}
	}
	if p.rendition != "" {
		if m = s.lookupRendition(p.channelID, p.rendition); m == nil {
			notFound(w)
			return
		}
	}
	m.serveFile(w, r, p.file, false)
}

// Viewers returns the concurrent viewers of a channel's live stream: the
// players that requested a media playlist within the viewer timeout.
func (s *Server) Viewers(channelID string) int {
	m := s.lookup(channelID)
	if m == nil {
		// The players this node serves as an edge of another's stream.
		return s.edge.viewers(channelID)
	}
	return m.audience.count(time.Now())
}

// SlowViewersDropped returns how many responses were cut off because the
// viewer read them too slowly (Config.SendTimeout).
func (s *Server) SlowViewersDropped() uint64 { return s.slowViewers.Load() }

// BytesOut returns the bytes served for a channel since the server started.
func (s *Server) BytesOut(channelID string) uint64 {
	if v, ok := s.bytesOut.Load(channelID); ok {
		return v.(*atomic.Uint64).Load()
	}
	return 0
}

func (s *Server) bytesCounter(channelID string) *atomic.Uint64 {
	if v, ok := s.bytesOut.Load(channelID); ok {
		return v.(*atomic.Uint64)
	}
	v, _ := s.bytesOut.LoadOrStore(channelID, new(atomic.Uint64))
	return v.(*atomic.Uint64)
}

// answerNotReady reports false after answering a request that cannot be
// served yet (or any more).
func answerNotReady(w http.ResponseWriter, rd readiness) bool {
	switch rd {
	case isReady:
		return true
	case isTimeout:
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Cache-Control", "no-cache")
		http.Error(w, "stream is starting", http.StatusServiceUnavailable)
	case isGone:
		notFound(w)
	case isCanceled:
		// The client left; nobody reads an answer.
	}
	return false
}

// serveMultivariant answers the channel's multivariant playlist: the
// source's variant first, then every transcoded rendition that has a
// segment, highest first, each with what gohlslib measured of it.
//
// A private channel's viewer gets its session credential (g.Session) in
// every URI, and only the variants its token's maximum resolution allows.
func (s *Server) serveMultivariant(w http.ResponseWriter, r *http.Request, src *muxer, g playback.Grant) {
	pl, ok := s.channelMultivariant(w, r, src, fromIVSPlayer(r))
	if !ok {
		return
	}
	pl.Variants = capHeight(pl.Variants, g.MaxHeight)
	writeMultivariant(w, r, pl, src.channelID, g, src.log)
}

// channelMultivariant returns the channel's multivariant playlist as
// gohlslib's URIs name its files, relative to the channel's directory:
// the source's variant first, then every transcoded rendition that has a
// segment, highest first; with ts, pointing at the MPEG-TS editions if
// the source has one (edition.go). It reports false having answered the
// request when there is none (yet, or any more).
func (s *Server) channelMultivariant(w http.ResponseWriter, r *http.Request, src *muxer, ts bool) (*playlist.Multivariant, bool) {
	if !answerNotReady(w, src.waitReady(r.Context())) {
		return nil, false
	}
	pl, err := src.multivariant()
	if err != nil {
		if src.isGone() {
			notFound(w)
			return nil, false
		}
		src.log.Error("multivariant playlist", "err", err)
		http.Error(w, "playlist unavailable", http.StatusInternalServerError)
		return nil, false
	}
	ts = ts && src.tsOK
	var extra []*playlist.MultivariantVariant
	for _, rm := range s.renditionsOf(src.channelID) {
		if !rm.readyNow() || (ts && !rm.tsOK) {
			continue
		}
		rpl, err := rm.multivariant()
		if err != nil || len(rpl.Variants) == 0 {
			continue
		}
		v := rpl.Variants[0]
		v.URI = rm.rendition + "/" + v.URI
		extra = append(extra, v)
	}
	slices.SortStableFunc(extra, func(a, b *playlist.MultivariantVariant) int { return b.Bandwidth - a.Bandwidth })
	pl.Variants = append(pl.Variants, extra...)
	if ts {
		// Audio is muxed with the video there.
		pl.Renditions = nil
		for _, v := range pl.Variants {
			v.URI, v.Audio = editionURI(v.URI), ""
		}
	}
	return pl, true
}

// writeMultivariant answers a viewer with the multivariant playlist pl of
// channelID, its URIs made the viewer's.
//
// Each player gets its own playback session id in its media playlist
// URLs; one that comes back with its id keeps it. A private channel's
// viewer gets its session credential (g.Session) in every URI.
func writeMultivariant(w http.ResponseWriter, r *http.Request, pl *playlist.Multivariant, channelID string, g playback.Grant, log *slog.Logger) (sid string) {
	sid = r.URL.Query().Get(sessionParam)
	if !validSessionID(sid) {
		sid = newSessionID()
	}
	body, err := rewriteMultivariant(pl, r.URL.RawQuery, channelID, sid, g.Session, time.Now())
	if err != nil {
		log.Error("rewrite multivariant playlist", "err", err)
		http.Error(w, "playlist unavailable", http.StatusInternalServerError)
		return sid
	}
	h := w.Header()
	h.Set("Content-Type", "application/vnd.apple.mpegurl")
	// Not cached: it is cheap, and a cached copy would outlive the stream
	// or a change of its tracks and renditions.
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return sid
}

// multivariant returns gohlslib's multivariant playlist of this muxer.
func (m *muxer) multivariant() (*playlist.Multivariant, error) {
	pl, err := m.hm.MultivariantPlaylist()
	if err != nil {
		return nil, fmt.Errorf("hls: multivariant playlist: %w", err)
	}
	if pl == nil {
		return nil, errors.New("hls: multivariant playlist: no segment yet")
	}
	return pl, nil
}

// serveFile answers a request for one of the muxer's files: from its
// playlist snapshots (playlists.go) and its finished files, or, for an
// MPEG-TS edition's segment in progress, as it is written. bare: a media
// playlist's URIs carry no query (an edge's request, origin.go).
func (m *muxer) serveFile(w http.ResponseWriter, r *http.Request, file string, bare bool) {
	if m.variant == gohlslib.MuxerVariantLowLatency && isEditionFile(file) {
		m.serveEdition(w, r, file, bare)
		return
	}
	if sid, ok := strings.CutSuffix(file, "_stream.m3u8"); ok {
		// Playlists may be asked for as soon as the multivariant names
		// them; wait (bounded) for the first segment.
		if answerNotReady(w, m.waitReady(r.Context())) {
			m.serveMediaPlaylist(w, r, sid, bare)
		}
		return
	}
	if !m.readyNow() {
		// Nothing but playlists can name a file before that.
		notFound(w)
		return
	}
	if m.variant == gohlslib.MuxerVariantLowLatency {
		if sid, id, ok := partName(file); ok && !m.awaitPart(r.Context(), sid, id) {
			notFound(w)
			return
		}
	}
	// A finished file, or an MPEG-TS edition's segment in progress (listed
	// as #EXT-X-PREFETCH, edition.go) while it is written: it takes as
	// long as the segment lasts, so each write, not the whole response,
	// gets SendTimeout.
	if !m.hm.ServeFile(w, r, file, m.srv.cfg.SendTimeout) {
		notFound(w)
	}
}

func notFound(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-cache")
	http.Error(w, "not found", http.StatusNotFound)
}
