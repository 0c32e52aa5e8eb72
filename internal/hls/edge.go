package hls

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/onair-video/onair/internal/playback"
)

// Playing anywhere (docs/cluster.md): a channel live on another node of
// the cluster, its origin, is served here as a caching, coalescing
// reverse proxy of the origin's internal route (origin.go). One muxer per
// stream, at the origin, means one numbering of its segments and parts,
// so a player may hop between nodes. What the server does per viewer it
// does here as for a local stream: playback authorization, the
// multivariant playlist's rewrite (session id, token), the query in media
// playlists' URIs, the audience count, CORS, the send bound.
//
// Upstream, one request is in flight per distinct thing asked (channel,
// rendition, file, _HLS_msn, _HLS_part, _HLS_skip) however many viewers
// wait on it, and they all get its bytes, as they arrive (edgecache.go).
// Kept afterwards: media playlists 1 s (or until a newer one arrives: the
// CDN rule for LL-HLS), the multivariant half a segment, the rest for as
// long as it can be in a playlist, in an LRU bounded by EdgeCacheBytes.
// Nothing is kept across a change of stream: a new stream id drops the
// channel's entries, and the old stream's players get 404 for their media
// playlists, so they reload the multivariant.

// Origin is where a channel is live in the cluster. (Its fields are
// cluster.Origin's, so that one converts to the other.)
type Origin struct {
	// NodeID names the origin node (in logs).
	NodeID string
	// BaseURL is the node's internal HTTP address, where InternalHandler
	// is mounted under InternalPathPrefix: "http://10.0.0.5:8080".
	BaseURL string
	// StreamID is the channel's live stream there.
	StreamID string
}

// Origins finds the origin of a channel with no muxer on this node.
type Origins interface {
	// Origin returns where channelID is live; false if it is live
	// nowhere else. It is asked at every request for such a channel (ctx
	// is the request's), so it should mostly answer from memory.
	Origin(ctx context.Context, channelID string) (Origin, bool)
}

const (
	defaultEdgeCacheBytes = 64 << 20
	// edgeMaxObject bounds one response of an origin (a segment: a few
	// seconds of the highest bitrate); a bigger one is cut off.
	edgeMaxObject = 32 << 20
	// edgePlaylistTTL is how long a media playlist is kept (MediaPackage's
	// CDN guidance for LL-HLS).
	edgePlaylistTTL = time.Second
	// edgeMinFileTTL is the least a segment or part is kept: its time in
	// the playlist window is SegmentCount segments, which gohlslib
	// stretches to the keyframes.
	edgeMinFileTTL = 30 * time.Second
	// edgeChannelIdle is how long a channel nobody asked for keeps its
	// state (audience, stream id).
	edgeChannelIdle = time.Minute
	// edgeReadChunk is the size of the reads from an origin.
	edgeReadChunk   = 32 << 10
	edgeDialTimeout = 2 * time.Second
	// The fetches in flight at once, per channel and per origin: a
	// channel needs a few per rendition (a blocking reload, a hinted
	// part, segments); an origin's connection takes originMaxStreams.
	edgeMaxInflightPerChannel = 128
	edgeMaxInflightPerOrigin  = originMaxStreams * 9 / 10
)

// edge is a Server's proxy of other nodes' streams.
type edge struct {
	srv    *Server
	log    *slog.Logger
	cache  *edgeCache
	tr     *http.Transport
	client *http.Client

	ctx    context.Context // ends with the server: every fetch ends with it
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	channels  map[string]*edgeChannel
	lastSweep time.Time
	closed    bool
	// unreachable: failures to reach an origin, logged at most once per
	// interval per origin.
	unreachable map[string]*rateLimited
	// inflight counts the fetches in flight by origin (BaseURL).
	inflight map[string]int

	// Counters for EdgeStats.
	requests, shared, failures atomic.Uint64
}

// EdgeStats is what a node did as an edge of other nodes' streams since
// it started.
type EdgeStats struct {
	// OriginRequests counts the requests made to origins; Shared, the
	// viewers' requests answered by another's (in flight or cached).
	OriginRequests, Shared uint64
	// OriginFailures counts the origin requests that got no answer or
	// a cut-off one (the viewers got 503 or a broken response).
	OriginFailures uint64
	// CacheBytes is what the cache holds now.
	CacheBytes int64
}

// EdgeStats returns what the node did as an edge.
func (s *Server) EdgeStats() EdgeStats {
	e := s.edge
	return EdgeStats{OriginRequests: e.requests.Load(), Shared: e.shared.Load(),
		OriginFailures: e.failures.Load(), CacheBytes: e.cache.bytes()}
}

func newEdge(s *Server) *edge {
	e := &edge{
		srv:         s,
		log:         s.log.With("role", "edge"),
		cache:       newEdgeCache(s.cfg.EdgeCacheBytes),
		channels:    make(map[string]*edgeChannel),
		unreachable: make(map[string]*rateLimited),
		inflight:    make(map[string]int),
	}
	e.tr = newOriginTransport()
	e.client = &http.Client{Transport: e.tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	return e
}

// newOriginTransport is an edge's client of origins: HTTP/2 over
// cleartext TCP only (h2c, prior knowledge; the origin's server allows it:
// ConfigureOriginServer), so one connection per origin carries every
// request, blocking reloads included.
func newOriginTransport() *http.Transport {
	t := &http.Transport{
		DialContext:            (&net.Dialer{Timeout: edgeDialTimeout, KeepAlive: 15 * time.Second}).DialContext,
		MaxResponseHeaderBytes: 64 << 10,
		IdleConnTimeout:        90 * time.Second,
		// One connection per origin: without the limit, requests that
		// race before the first connection is up each dial their own.
		MaxConnsPerHost: 1,
		Protocols:       new(http.Protocols),
		HTTP2: &http.HTTP2Config{
			// A frozen or partitioned origin is noticed within 15 s,
			// not the kernel's minutes.
			SendPingTimeout: 10 * time.Second,
			PingTimeout:     5 * time.Second,
		},
	}
	t.Protocols.SetUnencryptedHTTP2(true)
	return t
}

// close ends every fetch and waits for them.
func (e *edge) close() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.cancel()
	e.wg.Wait()
	e.tr.CloseIdleConnections()
}

func (e *edge) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}

// edgeChannel is what an edge knows of a channel live elsewhere.
type edgeChannel struct {
	id string

	mu       sync.Mutex
	streamID string
	origin   Origin
	// retired are the channel's previous stream ids (the latest few): an
	// origin look-up that still names one (a cache a second behind) does
	// not bring it back.
	retired []string
	// audience counts this node's players of the stream (docs/viewers.md).
	audience *audience
	// old are the session ids of the previous stream's players: their
	// media playlist requests get 404, so that they reload the
	// multivariant playlist, until they do, or until oldUntil (a player
	// that named no session id cannot say it did).
	old      map[string]struct{}
	oldUntil time.Time

	used atomic.Int64 // UnixNano of the last request

	inflight int // its fetches in flight, under edge.mu
}

const maxRetired = 8

// remoteOrigin returns where channelID is live if not here.
func (s *Server) remoteOrigin(ctx context.Context, channelID string) (Origin, bool) {
	if s.cfg.Origins == nil || s.edge.isClosed() {
		return Origin{}, false
	}
	o, ok := s.cfg.Origins.Origin(ctx, channelID)
	if !ok || o.BaseURL == "" || o.StreamID == "" {
		s.edge.forget(channelID)
		return Origin{}, false
	}
	return o, true
}

// channel returns the state of channelID, live at o: that of the stream
// o names unless it is a retired one.
func (e *edge) channel(channelID string, o Origin, now time.Time) *edgeChannel {
	e.mu.Lock()
	e.sweepLocked(now)
	ec := e.channels[channelID]
	if ec == nil {
		ec = &edgeChannel{id: channelID, streamID: o.StreamID, origin: o, audience: newAudience(e.srv.cfg.ViewerTimeout)}
		e.channels[channelID] = ec
	}
	e.mu.Unlock()
	ec.used.Store(now.UnixNano())
	e.switchTo(ec, o)
	return ec
}

// switchTo makes o's stream the channel's current one, unless it is
// already or was before.
func (e *edge) switchTo(ec *edgeChannel, o Origin) {
	ec.mu.Lock()
	defer ec.mu.Unlock()
	switch {
	case o.StreamID == ec.streamID:
		ec.origin = o
		return
	case ec.wasLocked(o.StreamID):
		return
	}
	e.log.Info("hls edge: new stream", attrChannel, ec.id, attrStreamID, o.StreamID, "origin_node", o.NodeID)
	ec.retired = append(ec.retired, ec.streamID)
	if len(ec.retired) > maxRetired {
		ec.retired = ec.retired[1:]
	}
	ec.streamID, ec.origin = o.StreamID, o
	ec.old, ec.oldUntil = ec.audience.keys(), time.Now().Add(e.srv.cfg.ViewerTimeout)
	ec.audience = newAudience(e.srv.cfg.ViewerTimeout)
	e.cache.dropChannel(ec.id)
}

func (ec *edgeChannel) wasLocked(streamID string) bool {
	for _, id := range ec.retired {
		if id == streamID {
			return true
		}
	}
	return false
}

// current returns the channel's stream and origin.
func (ec *edgeChannel) current() (string, Origin) {
	ec.mu.Lock()
	defer ec.mu.Unlock()
	return ec.streamID, ec.origin
}

// forget drops what the edge knows of a channel that is live nowhere.
func (e *edge) forget(channelID string) {
	e.mu.Lock()
	_, ok := e.channels[channelID]
	delete(e.channels, channelID)
	e.mu.Unlock()
	if ok {
		e.cache.dropChannel(channelID)
	}
}

// sweepLocked forgets, at most once per edgeChannelIdle, the channels
// nobody asked for within it. e.mu is held.
func (e *edge) sweepLocked(now time.Time) {
	if now.Sub(e.lastSweep) < edgeChannelIdle {
		return
	}
	e.lastSweep = now
	idle := max(edgeChannelIdle, e.srv.cfg.ViewerTimeout)
	for id, ec := range e.channels {
		if now.Sub(time.Unix(0, ec.used.Load())) > idle {
			delete(e.channels, id)
			e.cache.dropChannel(id) // lock order: e.mu, then the cache's
		}
	}
}

// viewers counts this node's players of channelID's remote stream.
func (e *edge) viewers(channelID string) int {
	e.mu.Lock()
	ec := e.channels[channelID]
	e.mu.Unlock()
	if ec == nil {
		return 0
	}
	ec.mu.Lock()
	a := ec.audience
	ec.mu.Unlock()
	return a.count(time.Now())
}

// RemoteViewers returns, by channel, the players this node serves of
// streams live on other nodes (those with at least one): its share of
// their counts, which the origins sum (docs/viewers.md).
func (s *Server) RemoteViewers() map[string]int {
	e := s.edge
	e.mu.Lock()
	ecs := make([]*edgeChannel, 0, len(e.channels))
	for _, ec := range e.channels {
		ecs = append(ecs, ec)
	}
	e.mu.Unlock()
	out := make(map[string]int)
	now := time.Now()
	for _, ec := range ecs {
		ec.mu.Lock()
		a := ec.audience
		ec.mu.Unlock()
		if n := a.count(now); n > 0 {
			out[ec.id] = n
		}
	}
	return out
}

// serve answers a viewer's request (authorized: g) for a file of a
// channel live at o.
func (e *edge) serve(w http.ResponseWriter, r *http.Request, p playbackPath, o Origin, g playback.Grant) {
	now := time.Now()
	ec := e.channel(p.channelID, o, now)
	switch {
	case p.file == "":
		e.serveMultivariant(w, r, ec, g)
	case strings.HasSuffix(p.file, ".m3u8"):
		e.serveMediaPlaylist(w, r, ec, p, now)
	default:
		e.serveFile(w, r, ec, p)
	}
}

func (e *edge) serveMultivariant(w http.ResponseWriter, r *http.Request, ec *edgeChannel, g playback.Grant) {
	rel := ec.id + ".m3u8"
	if fromIVSPlayer(r) {
		rel = ec.id + multivariantTS
	}
	f, ok := e.await(w, r, ec, rel, "", kindMultivariant)
	if !ok {
		return
	}
	var pl playlist.Multivariant
	if err := pl.Unmarshal(f.body()); err != nil {
		e.log.Error("hls edge: origin's multivariant playlist", attrChannel, ec.id, "err", err)
		http.Error(w, "playlist unavailable", http.StatusBadGateway)
		return
	}
	pl.Variants = capHeight(pl.Variants, g.MaxHeight)
	sid := writeMultivariant(w, r, &pl, ec.id, g, e.log)
	ec.mu.Lock()
	delete(ec.old, sid) // a player of the old stream that came back
	ec.mu.Unlock()
}

func (e *edge) serveMediaPlaylist(w http.ResponseWriter, r *http.Request, ec *edgeChannel, p playbackPath, now time.Time) {
	d := parseDirectives(r.URL.RawQuery)
	// Only numbers go upstream (and into cache keys). The origin's
	// server would ignore the directives of a NORMAL channel's playlist;
	// the edge does not know it is one before it asks, and players send
	// none there.
	if d.part != "" && d.msn == "" {
		http.Error(w, "_HLS_part without _HLS_msn", http.StatusBadRequest)
		return
	}
	if d.msn != "" {
		n, err := strconv.ParseUint(d.msn, 10, 64)
		if err != nil {
			http.Error(w, "bad _HLS_msn", http.StatusBadRequest)
			return
		}
		d.msn = strconv.FormatUint(n, 10) // one key for 7 and 007
	}
	if d.part != "" {
		n, err := strconv.ParseUint(d.part, 10, 31)
		if err != nil {
			http.Error(w, "bad _HLS_part", http.StatusBadRequest)
			return
		}
		d.part = strconv.FormatUint(n, 10)
	}
	key := viewerKey(r)
	ec.mu.Lock()
	if ec.old != nil && now.After(ec.oldUntil) {
		ec.old = nil
	}
	_, stale := ec.old[key]
	a := ec.audience
	ec.mu.Unlock()
	if stale {
		notFound(w)
		return
	}
	// The stream's audience counts the players of every rendition.
	if a.touch(key, now) {
		e.log.Warn("viewer cap reached: new players are served but not counted", attrChannel, ec.id, "cap", maxViewersPerChannel)
	}
	q := upstreamDirectives(d)
	f, ok := e.await(w, r, ec, fileRel(p), q, kindPlaylist)
	if !ok {
		return
	}
	body := f.playlist().with(viewerQuery(f.header.Get(variantHeader), r.URL.RawQuery))
	h := w.Header()
	copyRelayed(h, f.header)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// fileRel is the internal path of a file.
func fileRel(p playbackPath) string {
	if p.rendition != "" {
		return p.channelID + "/" + p.rendition + "/" + p.file
	}
	return p.channelID + "/" + p.file
}

// upstreamDirectives is the query an edge asks a media playlist with:
// the directives alone, in one order, so that all viewers asking the same
// share one request.
func upstreamDirectives(d directives) string {
	var b strings.Builder
	add := func(k, v string) {
		if v == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(v)
	}
	if d.msn != "" {
		add("_HLS_msn", d.msn)
		add("_HLS_part", d.part)
	}
	if d.skip == "YES" || d.skip == "v2" {
		add("_HLS_skip", d.skip)
	}
	return b.String()
}

// viewerQuery is what a viewer's media playlist request puts in the
// playlist's URIs, as the origin's server would have (playlists.go), by
// the variant of the muxer that made it.
func viewerQuery(variant, raw string) string {
	switch variant {
	case variantName(gohlslib.MuxerVariantLowLatency):
		if parseDirectives(raw).others {
			return passQuery(raw)
		}
		return ""
	case variantName(gohlslib.MuxerVariantFMP4):
		return withoutDirectives(raw)
	default:
		return raw
	}
}

// serveFile relays an init file, segment or part as its bytes arrive from
// the origin: a part asked for before it is complete (the preload hint)
// reaches the viewer one LAN round trip after the origin has it.
func (e *edge) serveFile(w http.ResponseWriter, r *http.Request, ec *edgeChannel, p playbackPath) {
	f, release, ok := e.join(w, r, ec, fileRel(p), "", kindFile)
	if !ok {
		return
	}
	defer release()
	select {
	case <-f.hdr:
	case <-r.Context().Done():
		return
	}
	if f.status != http.StatusOK || f.origin != f.streamID {
		select {
		case <-f.done:
		case <-r.Context().Done():
			return
		}
		e.relayError(w, r, f)
		return
	}
	h := w.Header()
	copyRelayed(h, f.header)
	if f.size >= 0 {
		h.Set("Content-Length", strconv.FormatInt(f.size, 10))
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	rc := http.NewResponseController(w)
	for off := 0; ; {
		chunk, more, failed := f.next(off)
		if len(chunk) > 0 {
			if more != nil {
				// Still arriving (an MPEG-TS segment in progress lasts
				// its duration): the send bound is per write.
				_ = rc.SetWriteDeadline(time.Now().Add(e.srv.cfg.SendTimeout))
			}
			if _, err := w.Write(chunk); err != nil {
				return
			}
			off += len(chunk)
			if more != nil {
				_ = rc.Flush()
			}
			continue
		}
		if more == nil {
			if failed {
				// The origin's response was cut short: so is this one,
				// as a broken one, not a short complete one.
				panic(http.ErrAbortHandler)
			}
			return
		}
		select {
		case <-more:
		case <-r.Context().Done():
			return
		}
	}
}

// await is join for a playlist: it waits for the whole response and
// answers the viewer itself unless it is a 200 of the current stream.
func (e *edge) await(w http.ResponseWriter, r *http.Request, ec *edgeChannel, rel, query string, kind fetchKind) (*fetch, bool) {
	f, release, ok := e.join(w, r, ec, rel, query, kind)
	if !ok {
		return nil, false
	}
	defer release()
	select {
	case <-f.done:
	case <-r.Context().Done():
		return nil, false
	}
	// A multivariant playlist of a newer stream is as good (the viewer
	// gets the new stream's ids); media of another stream is not.
	if f.status != http.StatusOK || f.failed || (kind != kindMultivariant && f.origin != f.streamID) {
		e.relayError(w, r, f)
		return nil, false
	}
	return f, true
}

// join finds or starts the fetch of rel?query for the channel's current
// stream. The caller calls release when it no longer reads the fetch.
// false: the request was answered (the server is closing).
func (e *edge) join(w http.ResponseWriter, r *http.Request, ec *edgeChannel, rel, query string, kind fetchKind) (f *fetch, release func(), ok bool) {
	streamID, o := ec.current()
	key := ec.id + "\x00" + streamID + "\x00" + rel + "?" + query
	f, started := e.cache.join(key, time.Now(), func() *fetch { return newFetch(key, ec.id, streamID, kind) })
	if !started {
		e.shared.Add(1)
		return f, func() { e.cache.leave(f) }, true
	}
	e.mu.Lock()
	refuse := 0
	switch {
	case e.closed:
		refuse = http.StatusNotFound
	case ec.inflight >= edgeMaxInflightPerChannel || e.inflight[o.BaseURL] >= edgeMaxInflightPerOrigin:
		// Requests that each ask a different thing (a player asking for
		// parts far ahead) would otherwise take every stream of the one
		// connection to the origin, and stall its other channels.
		refuse = http.StatusServiceUnavailable
	default:
		ec.inflight++
		e.inflight[o.BaseURL]++
		e.wg.Add(1)
	}
	e.mu.Unlock()
	if refuse != 0 {
		f.cancel = func() {}
		f.respond(refuse, http.Header{"Retry-After": {"1"}}, 0, streamID)
		f.end(false)
		e.cache.complete(f, 0, time.Now())
	} else {
		ctx, cancel := context.WithTimeout(e.ctx, e.fetchTimeout())
		f.cancel = cancel
		go e.run(ctx, f, ec, o, rel, query)
	}
	return f, func() { e.cache.leave(f) }, true
}

// fetchTimeout bounds a request to an origin: a blocking reload is held
// there at most readyTimeout, then sent within SendTimeout.
func (e *edge) fetchTimeout() time.Duration {
	return 2*e.srv.readyTimeout + e.srv.cfg.SendTimeout
}

// ttl is how long a complete fetch of kind is kept.
func (e *edge) ttl(kind fetchKind) time.Duration {
	cfg := e.srv.cfg
	switch kind {
	case kindMultivariant:
		return cfg.SegmentDuration / 2
	case kindPlaylist:
		return edgePlaylistTTL
	default:
		return max(edgeMinFileTTL, 2*time.Duration(cfg.SegmentCount+1)*cfg.SegmentDuration)
	}
}

// relayed are the response headers an edge passes on from an origin.
var relayed = []string{"Content-Type", "Cache-Control", "Retry-After"}

func copyRelayed(dst, src http.Header) {
	for _, k := range relayed {
		if v := src[k]; v != nil {
			dst[k] = v
		}
	}
}

// relayError answers a viewer with what is not a 200 of the stream it
// asked for (f is done): the origin's answer, or 404 if it came from
// another stream.
func (e *edge) relayError(w http.ResponseWriter, r *http.Request, f *fetch) {
	if f.status == http.StatusOK {
		// Another stream's, or cut short.
		if f.failed {
			unavailable(w)
			return
		}
		notFound(w)
		return
	}
	h := w.Header()
	copyRelayed(h, f.header)
	h.Set("Cache-Control", "no-cache")
	body := f.body()
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(f.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func unavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	w.Header().Set("Cache-Control", "no-cache")
	http.Error(w, "origin unavailable", http.StatusServiceUnavailable)
}

// run makes fetch f's request to origin o, and keeps its response.
func (e *edge) run(ctx context.Context, f *fetch, ec *edgeChannel, o Origin, rel, query string) {
	defer e.wg.Done()
	defer f.cancel()
	defer func() {
		e.mu.Lock()
		ec.inflight--
		if e.inflight[o.BaseURL]--; e.inflight[o.BaseURL] <= 0 {
			delete(e.inflight, o.BaseURL)
		}
		e.mu.Unlock()
	}()
	e.requests.Add(1)
	failed := e.request(ctx, f, ec, o, rel, query)
	f.end(failed)
	ttl := e.ttl(f.kind)
	if f.kind == kindPlaylist && query == "" {
		// A playlist asked for without delivery directives must be the
		// newest: a player that polls it (rather than blocking) would
		// otherwise see the live edge up to a TTL late. Half a part still
		// makes one origin request serve every poll that comes meanwhile.
		ttl = min(ttl, e.srv.cfg.PartDuration/2)
	}
	if f.origin != f.streamID {
		ttl = 0
	}
	e.cache.complete(f, ttl, time.Now())
	if f.kind == kindPlaylist && query != "" && f.status == http.StatusOK {
		// A newer playlist than the one asked for without directives.
		e.cache.drop(ec.id + "\x00" + f.streamID + "\x00" + rel + "?")
	}
}

// request does the work of run. It reports whether the body was cut short.
func (e *edge) request(ctx context.Context, f *fetch, ec *edgeChannel, o Origin, rel, query string) (failed bool) {
	u := strings.TrimSuffix(o.BaseURL, "/") + InternalPathPrefix + rel
	if query != "" {
		u += "?" + query
	}
	answered := false
	defer func() {
		if !answered {
			h := http.Header{"Retry-After": {"1"}, "Content-Type": {"text/plain; charset=utf-8"}}
			f.respond(http.StatusServiceUnavailable, h, -1, f.streamID)
			f.write([]byte("origin unavailable\n"))
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		e.warnUnreachable(o, fmt.Errorf("hls edge: origin request: %w", err))
		return false
	}
	req.Header.Set(clusterAuthHeader, signCluster(e.srv.cfg.ClusterSecret, http.MethodGet, rel, query, time.Now()))
	res, err := e.client.Do(req)
	if err != nil {
		if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			e.warnUnreachable(o, err)
		}
		return false
	}
	defer res.Body.Close()
	origin := res.Header.Get(streamIDHeader)
	if res.StatusCode == http.StatusForbidden {
		e.warnUnreachable(o, errors.New("hls edge: the origin refused the cluster authentication (do the nodes share the cluster secret?)"))
		return false
	}
	if origin != "" && origin != f.streamID {
		// The origin has a newer stream of the channel (or, taken over,
		// another node answers at the address).
		e.switchTo(ec, Origin{NodeID: o.NodeID, BaseURL: o.BaseURL, StreamID: origin})
	}
	if origin == "" {
		// Not from an origin's internal route (a 404 of a stream that
		// ended has one too): then it is about the stream asked for.
		origin = f.streamID
	}
	h := make(http.Header, len(relayed)+1)
	copyRelayed(h, res.Header)
	if v := res.Header.Get(variantHeader); v != "" {
		h.Set(variantHeader, v)
	}
	size := res.ContentLength
	if size > edgeMaxObject {
		size = -1
	}
	f.respond(res.StatusCode, h, size, origin)
	answered = true
	if size > 0 {
		f.mu.Lock()
		f.buf = make([]byte, 0, size)
		f.mu.Unlock()
	}
	buf := make([]byte, edgeReadChunk)
	total := 0
	for {
		n, err := res.Body.Read(buf)
		if n > 0 {
			total += n
			if total > edgeMaxObject {
				e.failures.Add(1)
				e.log.Warn("hls edge: origin response too large, cut off", attrChannel, ec.id, "file", rel, "max", edgeMaxObject)
				return true
			}
			f.write(buf[:n])
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			return false
		default:
			if ctx.Err() == nil {
				e.warnUnreachable(o, err)
			}
			return true
		}
	}
}

// warnUnreachable logs a failure to reach an origin, at most once per
// interval per origin (a dead origin fails every viewer's request).
func (e *edge) warnUnreachable(o Origin, err error) {
	e.failures.Add(1)
	e.mu.Lock()
	rl := e.unreachable[o.BaseURL]
	if rl == nil {
		if len(e.unreachable) > 1024 {
			clear(e.unreachable)
		}
		rl = new(rateLimited)
		e.unreachable[o.BaseURL] = rl
	}
	e.mu.Unlock()
	rl.warn(e.log.With("origin_node", o.NodeID, "origin", o.BaseURL), "hls edge: origin unavailable", err)
}
