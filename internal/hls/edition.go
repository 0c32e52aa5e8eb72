package hls

import (
	"net/http"
	"strings"
	"time"

	"github.com/bluenviron/gohlslib/v2"

	"github.com/onair-video/onair/internal/stream"
)

// A LOW channel is LL-HLS in fMP4. IVS's web player (npm
// amazon-ivs-player) plays it, but reads no timed metadata from it: it has
// no reader for emsg boxes, only for the ID3 stream of MPEG-TS, the
// container IVS itself serves. So a multivariant request from that player
// gets the same variants pointing at an MPEG-TS edition of each stream: a
// second gohlslib muxer fed from the same hub reader, started by the first
// request for its media playlist and stopped when its playlists have gone
// unrequested for Server.editionIdle. A channel nobody watches with IVS's player
// does not pay for it (about the memory of the LL-HLS muxer again).
// That player reads no LL-HLS parts, only whole segments; its low latency
// is Twitch's: the segment being written is listed as #EXT-X-PREFETCH and
// served while it is written (gohlslib patch 8, Muxer.MPEGTSPrefetch).

// defaultEditionIdle is how long an MPEG-TS edition lives after the last
// request for its media playlist: players poll it every segment (about a
// second).
const defaultEditionIdle = 30 * time.Second

// editionPlaylist is gohlslib's name for an MPEG-TS media playlist; its
// LL-HLS muxer names no file so, nor any "*.ts".
const editionPlaylist = "main_stream.m3u8"

func isEditionFile(file string) bool {
	return file == editionPlaylist || strings.HasSuffix(file, ".ts")
}

// fromIVSPlayer tells IVS's web player by the Accept header its core
// sends for playlists ("application/x-mpegURL, application/vnd.apple.mpegurl,
// application/json, text/plain"). hls.js, Safari, ffmpeg and VLC send
// "*/*" or nothing, and get LL-HLS. A player taken for it by mistake gets
// classic HLS in MPEG-TS, which every HLS player plays.
func fromIVSPlayer(r *http.Request) bool {
	a := strings.ToLower(r.Header.Get("Accept"))
	return strings.Contains(a, "application/x-mpegurl") && strings.Contains(a, "application/json")
}

// editionURI points a variant's URI ("video1_stream.m3u8?q",
// "480p30/video1_stream.m3u8?q") at the MPEG-TS edition's media playlist
// beside it, keeping the query.
func editionURI(uri string) string {
	p, q, hasQuery := strings.Cut(uri, "?")
	p = p[:strings.LastIndexByte(p, '/')+1] + editionPlaylist
	if hasQuery {
		p += "?" + q
	}
	return p
}

// canEdition reports whether a muxer of variant, for the tracks in, can
// have an MPEG-TS edition: an LL-HLS one of tracks MPEG-TS carries (H.264
// and AAC; not H.265 or Opus).
func canEdition(variant gohlslib.MuxerVariant, in []*stream.Track) bool {
	if variant != gohlslib.MuxerVariantLowLatency {
		return false
	}
	_, _, v, _ := muxTracks(in, gohlslib.MuxerVariantMPEGTS)
	return v == gohlslib.MuxerVariantMPEGTS
}

// edition returns m's running MPEG-TS edition; with start, it starts one
// if none runs. nil when m cannot have one or has ended.
func (m *muxer) edition(start bool) *muxer {
	if e := m.ts.Load(); e != nil || !start {
		return e
	}
	m.tsMu.Lock()
	defer m.tsMu.Unlock()
	if e := m.ts.Load(); e != nil {
		return e
	}
	if m.isGone() || !m.tsOK {
		return nil
	}
	e, _, err := m.srv.startMuxer(m.channelID, m.rendition, m.log.With("edition", "mpegts"), gohlslib.MuxerVariantMPEGTS, m.src, true)
	if err != nil {
		// Every playlist request would try again: once per interval.
		m.errs.warn(m.log, "MPEG-TS edition for IVS's player", err)
		return nil
	}
	m.ts.Store(e) // serveEdition, the one starting it, has set tsUsed
	e.log.Info("hls muxer started", "variant", variantName(e.variant), "for", "IVS web player")
	return e
}

// feedEdition hands u to the running edition, or stops the edition if its
// playlists have gone unrequested. Only the feed goroutine calls it.
func (m *muxer) feedEdition(u *stream.Unit) {
	e := m.ts.Load()
	if e == nil {
		return
	}
	if m.idle() {
		m.stopEdition(true)
		return
	}
	e.write(u)
}

func (m *muxer) idle() bool {
	return time.Since(time.Unix(0, m.tsUsed.Load())) > m.srv.editionIdle
}

// stopEdition stops the edition, if one runs (with ifIdle, only if it is
// still idle under tsMu, where a playlist request that just came in is
// seen), and waits for it. It is called where nothing feeds it any more,
// or by the feed goroutine.
func (m *muxer) stopEdition(ifIdle bool) {
	m.tsMu.Lock()
	if ifIdle && !m.idle() {
		m.tsMu.Unlock()
		return
	}
	e := m.ts.Swap(nil)
	m.tsMu.Unlock()
	if e == nil {
		return
	}
	e.closeMuxer()
}

// serveEdition serves a file of the MPEG-TS edition. A media playlist
// request starts the edition and keeps it alive; segments come only from
// a running one.
func (m *muxer) serveEdition(w http.ResponseWriter, r *http.Request, file string, bare bool) {
	playlist := file == editionPlaylist
	if playlist {
		// Under tsMu and before the look-up: feedEdition's stop either
		// sees this request or comes before it, and then the look-up
		// starts a new edition.
		m.tsMu.Lock()
		m.tsUsed.Store(time.Now().UnixNano())
		m.tsMu.Unlock()
	}
	e := m.edition(playlist)
	if e == nil {
		notFound(w)
		return
	}
	e.serveFile(w, r, file, bare)
}
