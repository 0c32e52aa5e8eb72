package hls

import (
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gohlslib/v2"
)

// The origin's side of playing anywhere (docs/cluster.md): the node that
// runs a stream's muxer serves its files to the other nodes, the edges
// (edge.go), on an internal route. What it serves there is what the
// muxer has, as gohlslib names it, with no query in any URI: an edge
// rewrites each viewer's copy itself (its playback session id, its
// token, its query), counts its own audience and authorizes its own
// viewers, so none of that happens here. The route takes only requests
// carrying a MAC of the cluster's secret (clusterauth.go).

// InternalPathPrefix is where the app mounts InternalHandler. Paths under
// it (what the MAC covers is the rest of the path, so the handler may be
// mounted behind http.StripPrefix too):
//
//	{channelId}.m3u8                the multivariant playlist, URIs relative to {channelId}/
//	{channelId}.ts.m3u8             the same for IVS's web player: the MPEG-TS editions (edition.go)
//	{channelId}/{file}              the source's media playlists, init files, segments, parts
//	{channelId}/{rendition}/{file}  a transcoded rendition's
//
// Media playlists honour _HLS_msn, _HLS_part and _HLS_skip (blocking
// reloads and delta updates, as on the public route); any other parameter
// is ignored.
const InternalPathPrefix = "/internal/hls/"

// Response headers of the internal route.
const (
	// streamIDHeader names the live stream whose muxer answered: an edge
	// notices a new stream of the channel by it.
	streamIDHeader = "X-Onair-Stream-Id"
	// variantHeader names the gohlslib variant of the muxer that answered
	// (variantName), which decides how an edge puts a viewer's query into
	// a media playlist's URIs (viewerQuery).
	variantHeader = "X-Onair-Hls-Variant"
	// multivariantTS ends the internal name of the MPEG-TS editions'
	// multivariant playlist.
	multivariantTS = ".ts.m3u8"
)

// ConfigureOriginServer makes srv, the HTTP server InternalHandler is
// mounted on, take the edges' connections: HTTP/2 over cleartext TCP
// (h2c, with prior knowledge) besides HTTP/1, so that every edge reaches
// it over one connection however many blocking reloads it holds, with
// room for that many streams on it. It keeps the protocols srv already
// has (Go's default when none were set: HTTP/1, and HTTP/2 over TLS).
// Call it before srv serves.
func ConfigureOriginServer(srv *http.Server) {
	var p http.Protocols
	if srv.Protocols != nil {
		p = *srv.Protocols
	} else {
		p.SetHTTP1(true)
		p.SetHTTP2(true)
	}
	p.SetUnencryptedHTTP2(true)
	srv.Protocols = &p
	if srv.HTTP2 == nil {
		srv.HTTP2 = &http.HTTP2Config{}
	}
	// Go's default is 250 concurrent streams per connection; an edge
	// holds one blocking reload and one hinted part per playlist it is
	// asked for, and opens a second connection only past this.
	srv.HTTP2.MaxConcurrentStreams = max(srv.HTTP2.MaxConcurrentStreams, originMaxStreams)
}

const originMaxStreams = 1000

// InternalHandler serves the channels this node is the origin of to the
// other nodes of the cluster. Requests without a valid, unexpired MAC of
// Config.ClusterSecret (all of them when it is empty) get 403 and nothing
// else.
func (s *Server) InternalHandler() http.Handler { return http.HandlerFunc(s.serveInternal) }

// internalPath is the part of a path the MAC covers: what follows
// InternalPathPrefix, or the whole path without its leading slash if the
// prefix was stripped.
func internalPath(p string) string {
	if rest, ok := strings.CutPrefix(p, InternalPathPrefix); ok {
		return rest
	}
	return strings.TrimPrefix(p, "/")
}

// parseInternalPath maps an internal path to a channel and file, and
// whether the multivariant asked for is the MPEG-TS editions'.
func parseInternalPath(rel string) (p playbackPath, ts, ok bool) {
	if strings.Contains(rel, "/") {
		p, ok = parsePath(rel)
		return p, false, ok && p.file != ""
	}
	id, ts := strings.CutSuffix(rel, multivariantTS)
	if !ts {
		if id, ok = strings.CutSuffix(rel, ".m3u8"); !ok {
			return playbackPath{}, false, false
		}
	}
	if !isChannelID(id) {
		return playbackPath{}, false, false
	}
	return playbackPath{channelID: id}, ts, true
}

func (s *Server) serveInternal(w http.ResponseWriter, r *http.Request) {
	rel := internalPath(r.URL.Path)
	if err := verifyCluster(s.cfg.ClusterSecret, r.Header.Get(clusterAuthHeader), r.Method, rel, r.URL.RawQuery, time.Now()); err != nil {
		// Says which check failed, never the header or the secret.
		s.refused.warn(s.log, "internal hls request refused", err)
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p, ts, ok := parseInternalPath(rel)
	if !ok {
		notFound(w)
		return
	}
	m := s.lookup(p.channelID)
	if m == nil {
		notFound(w)
		return
	}
	h := w.Header()
	h.Set(streamIDHeader, m.streamID)
	w = &viewerWriter{ResponseWriter: w, n: &s.internalOut, timeout: s.cfg.SendTimeout, timedOut: &s.slowEdges}
	if p.file == "" {
		pl, ok := s.channelMultivariant(w, r, m, ts)
		if !ok {
			return
		}
		body, err := pl.Marshal()
		if err != nil {
			m.log.Error("multivariant playlist", "err", err)
			http.Error(w, "playlist unavailable", http.StatusInternalServerError)
			return
		}
		h.Set("Content-Type", "application/vnd.apple.mpegurl")
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(body)
		}
		return
	}
	if p.rendition != "" {
		if m = s.lookupRendition(p.channelID, p.rendition); m == nil {
			notFound(w)
			return
		}
	}
	v := m.variant
	if v == gohlslib.MuxerVariantLowLatency && isEditionFile(p.file) {
		v = gohlslib.MuxerVariantMPEGTS
	}
	h.Set(variantHeader, variantName(v))
	m.serveFile(w, r, p.file, true)
}

// internalCounters are the origin's counts of what it served to edges.
type internalCounters struct {
	internalOut atomic.Uint64 // bytes
	slowEdges   atomic.Uint64 // responses cut off by SendTimeout
}
