package hls

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gohlslib/v2"
)

// Why this file: gohlslib builds a media playlist afresh for every request
// (and, for a request with a query, names that query in every URI), so each
// LL-HLS viewer cost a playlist build per part, plus another for the
// blocking wait on the hinted part: 29 % of the server's CPU with 200
// viewers (pprof, docs/benchmarks.md). A playlist changes only when a part
// or a segment completes, so the muxer keeps a snapshot of it from one
// change to the next (gohlslib patch 9, Muxer.MediaPlaylist), and every
// viewer is answered from its bytes.
//
// The goroutine that writes to the muxer (the feed) is also the one that
// takes the new snapshot after a change (refresh), while viewers ask for
// the playlist, and then wakes the requests waiting for a newer playlist
// or a part. Woken, they find the new state made and only load it: were
// they to take the snapshot themselves, hundreds of them would queue on
// gohlslib's mutex at every part, ahead of the writer that completes the
// next one.

var playlistType = []string{"application/vnd.apple.mpegurl"}

// plState is a media playlist as it stands: gohlslib's snapshot (its
// NextPart is the preload-hinted part, the next to complete), with what
// answering from it needs, made once per snapshot.
type plState struct {
	snap   *gohlslib.MuxerMediaPlaylist
	body   plBody
	maxAge []string // gohlslib's Cache-Control, shared by every answer
	// changed is closed when a newer state replaces this one, or when the
	// muxer closes: by whoever takes it out of its plCache.
	changed chan struct{}

	delta plBody // the _HLS_skip=YES form (LL-HLS)
}

// plCache holds the state of one media playlist.
type plCache struct {
	sid string
	mu  sync.Mutex // for replacing cur
	cur atomic.Pointer[plState]
	// asked: a request came since refresh last looked. Without one, a
	// change drops the state instead of making the next: a stream
	// nobody watches builds no playlist.
	asked atomic.Bool
}

func (m *muxer) playlistCache(sid string) *plCache {
	if c, ok := m.playlists.Load(sid); ok {
		return c.(*plCache)
	}
	c, _ := m.playlists.LoadOrStore(sid, &plCache{sid: sid})
	return c.(*plCache)
}

// state returns media playlist sid as it stands (or as it stood a moment
// ago: refresh follows the muxer's changes); an error if the muxer has no
// such playlist or is closed.
func (m *muxer) state(sid string) (*plState, error) {
	pc := m.playlistCache(sid)
	if !pc.asked.Load() {
		pc.asked.Store(true)
	}
	if st := pc.cur.Load(); st != nil {
		return st, nil
	}
	// The first request in a while.
	pc.mu.Lock()
	defer pc.mu.Unlock()
	st, err := m.takeLocked(pc)
	if errors.Is(err, gohlslib.ErrNoMediaPlaylist) {
		// A name from a request, of no stream of this muxer: keep no
		// entry for it, or requests could grow the table without bound.
		m.playlists.CompareAndDelete(sid, pc)
	}
	return st, err
}

// takeLocked replaces pc's state with the muxer's current one, and wakes
// who waited on the state it replaces. pc.mu is held.
func (m *muxer) takeLocked(pc *plCache) (*plState, error) {
	for {
		snap, err := m.hm.MediaPlaylist(pc.sid)
		if err != nil {
			m.dropLocked(pc)
			return nil, err
		}
		old := pc.cur.Load()
		st := &plState{
			snap:    snap,
			body:    newPLBody(snap.Playlist),
			delta:   newPLBody(snap.Delta),
			changed: make(chan struct{}),
		}
		if snap.CacheControl != "" {
			st.maxAge = []string{snap.CacheControl}
		}
		pc.cur.Store(st)
		if old != nil {
			close(old.changed)
		}
		if !closed(snap.Changed) {
			return st, nil
		}
		// Changed again meanwhile (a request's take racing the feed).
	}
}

// dropLocked forgets pc's state and wakes who waited on it. pc.mu is held.
func (m *muxer) dropLocked(pc *plCache) {
	if old := pc.cur.Swap(nil); old != nil {
		close(old.changed)
	}
}

// refresh follows the muxer's changes: after a part or segment completed,
// it takes the new state of every playlist asked for since the last
// change, and forgets the others. Only the feed goroutine calls it, after
// every unit it writes; without a change it costs a look at each playlist.
func (m *muxer) refresh() {
	m.playlists.Range(func(_, v any) bool {
		pc := v.(*plCache)
		st := pc.cur.Load()
		if st == nil || !closed(st.snap.Changed) {
			return true
		}
		pc.mu.Lock()
		if pc.cur.Load() == st {
			if pc.asked.Swap(false) {
				_, _ = m.takeLocked(pc) // an error dropped it: the muxer is closed
			} else {
				m.dropLocked(pc)
			}
		}
		pc.mu.Unlock()
		return true
	})
}

// dropPlaylists wakes every request waiting on a playlist: the muxer is
// closed.
func (m *muxer) dropPlaylists() {
	m.playlists.Range(func(_, v any) bool {
		pc := v.(*plCache)
		pc.mu.Lock()
		m.dropLocked(pc)
		pc.mu.Unlock()
		return true
	})
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// plBody is a playlist built without a query, and where a request's query
// goes into it: gohlslib appends the playlist request's query (less the
// _HLS_ parameters) to every URI, so that a token given with the playlist
// reaches the parts; we do the same from shared bytes.
type plBody struct {
	b  []byte
	at []int // offsets at which a URI ends
}

// prefetchTag starts the line of an MPEG-TS edition's segment in progress
// (edition.go), whose URI runs to the end of the line.
var prefetchTag = []byte("#EXT-X-PREFETCH:")

func newPLBody(b []byte) plBody {
	p := plBody{b: b}
	for i := 0; i < len(b); {
		end := bytes.IndexByte(b[i:], '\n')
		if end < 0 {
			end = len(b)
		} else {
			end += i
		}
		line := b[i:end]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		switch {
		case len(line) == 0:
		case line[0] != '#':
			p.at = append(p.at, i+len(line))
		case bytes.HasPrefix(line, prefetchTag):
			p.at = append(p.at, i+len(line))
		default:
			for j := 0; ; {
				k := bytes.Index(line[j:], []byte(`URI="`))
				if k < 0 {
					break
				}
				j += k + len(`URI="`)
				q := bytes.IndexByte(line[j:], '"')
				if q < 0 {
					break
				}
				j += q
				p.at = append(p.at, i+j)
			}
		}
		i = end + 1
	}
	return p
}

// with returns the playlist with "?"+query after every URI.
func (p plBody) with(query string) []byte {
	if query == "" {
		return p.b
	}
	out := make([]byte, 0, len(p.b)+len(p.at)*(1+len(query)))
	prev := 0
	for _, at := range p.at {
		out = append(append(append(out, p.b[prev:at]...), '?'), query...)
		prev = at
	}
	return append(out, p.b[prev:]...)
}

// directives are what a media playlist request's query asks of it.
type directives struct {
	msn, part, skip string // _HLS_msn, _HLS_part, _HLS_skip, as given
	// others: the query has parameters besides these and the player's
	// session id, which its URIs must carry (passQuery).
	others bool
}

// parseDirectives reads a media playlist query without allocating in the
// common case (directives and vsid only): every player sends one per part.
func parseDirectives(raw string) directives {
	var d directives
	for k, v := range rawParams(raw) {
		switch k {
		case "_HLS_msn":
			d.msn = v
		case "_HLS_part":
			d.part = v
		case "_HLS_skip":
			d.skip = v
		case sessionParam, "":
		default:
			d.others = true
		}
	}
	return d
}

// passQuery is the part of a playlist request's query that its URIs
// carry: everything but the _HLS_ directives and the player's session id
// (which only playlist requests need), re-encoded (so no quote or line
// break can reach the playlist).
func passQuery(raw string) string {
	if raw == "" {
		return ""
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return ""
	}
	for k := range q {
		if strings.HasPrefix(k, "_HLS_") || k == sessionParam {
			delete(q, k)
		}
	}
	return q.Encode()
}

// complete reports whether part p of segment msn is in the playlist; p < 0
// asks for the whole segment.
func (st *plState) complete(msn uint64, p int64) bool {
	if p < 0 {
		return msn < st.snap.NextPart.MSN
	}
	next := st.snap.NextPart
	return msn < next.MSN || (msn == next.MSN && uint64(p) < next.Index)
}

// serveMediaPlaylist answers a media playlist request from the muxer's
// snapshot of it. An LL-HLS one holds a blocking reload (_HLS_msn,
// _HLS_part) until the part it names is complete, and answers a delta
// update (_HLS_skip); the others, as gohlslib did, ignore the directives.
// bare: the URIs carry none of the request's query (an edge adds its
// viewers' own: edge.go).
func (m *muxer) serveMediaPlaylist(w http.ResponseWriter, r *http.Request, sid string, bare bool) {
	if m.variant != gohlslib.MuxerVariantLowLatency {
		st, rd := m.await(r.Context(), sid, func(*plState) verdict { return yes })
		if !answerNotReady(w, rd) {
			return
		}
		// gohlslib named the whole query in an MPEG-TS playlist's URIs,
		// and the query less the _HLS_ directives in an fMP4 one's.
		q := r.URL.RawQuery
		if m.variant == gohlslib.MuxerVariantFMP4 {
			q = withoutDirectives(q)
		}
		if bare {
			q = ""
		}
		writePlaylist(w, st, st.body.with(q))
		return
	}
	d := parseDirectives(r.URL.RawQuery)
	msnS, partS := d.msn, d.part
	var msn uint64
	p := int64(-1)
	if msnS != "" {
		var err error
		if msn, err = strconv.ParseUint(msnS, 10, 64); err != nil {
			http.Error(w, "bad _HLS_msn", http.StatusBadRequest)
			return
		}
		if partS != "" {
			if p, err = strconv.ParseInt(partS, 10, 32); err != nil || p < 0 {
				http.Error(w, "bad _HLS_part", http.StatusBadRequest)
				return
			}
		}
	} else if partS != "" {
		http.Error(w, "_HLS_part without _HLS_msn", http.StatusBadRequest)
		return
	}
	// RFC 8216bis 6.2.5.2: a part too far ahead is a bad request, as is
	// one that has left the playlist.
	st, rd := m.await(r.Context(), sid, func(st *plState) verdict {
		switch {
		case msnS == "" || st.complete(msn, p):
			return yes
		case msn > st.snap.NextPart.MSN+1 || msn < st.snap.MediaSequence:
			return no
		}
		return wait
	})
	if rd == isReady && st == nil {
		http.Error(w, "_HLS_msn out of range", http.StatusBadRequest)
		return
	}
	// A blocking reload is held at most readyTimeout; then the player is
	// told to ask again (503, Retry-After).
	if !answerNotReady(w, rd) {
		return
	}
	pb := st.body
	if d.skip == "YES" || d.skip == "v2" {
		pb = st.delta
	}
	var pass string
	if d.others && !bare {
		pass = passQuery(r.URL.RawQuery)
	}
	writePlaylist(w, st, pb.with(pass))
}

func writePlaylist(w http.ResponseWriter, st *plState, body []byte) {
	h := w.Header()
	h["Content-Type"] = playlistType // shared: one request per part per player
	if st.maxAge != nil {
		h["Cache-Control"] = st.maxAge
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// withoutDirectives is what gohlslib kept of a query in an fMP4 media
// playlist's URIs: the query less its _HLS_ parameters, re-encoded (left as
// it is if it does not parse).
func withoutDirectives(raw string) string {
	if raw == "" {
		return ""
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return raw
	}
	for k := range q {
		if strings.HasPrefix(k, "_HLS_") {
			delete(q, k)
		}
	}
	return q.Encode()
}

// awaitPart waits until part id of stream sid is complete, and reports
// whether to serve it (false: it will not exist, or the stream ended).
func (m *muxer) awaitPart(ctx context.Context, sid string, id uint64) bool {
	st, rd := m.await(ctx, sid, func(st *plState) verdict {
		switch {
		case id < st.snap.NextPart.ID:
			return yes
		case id > st.snap.NextPart.ID:
			return no // beyond the hint: not a part that exists yet
		}
		return wait
	})
	return rd == isReady && st != nil
}

// verdict is what a request makes of a playlist state.
type verdict int

const (
	wait verdict = iota // for a newer state
	yes                 // serve
	no                  // refuse
)

// await returns the first state of stream sid's playlist that pred says
// yes to (isReady), nil if it says no (isReady too), or why there is none:
// the stream ended (or has no such playlist), the client left, or
// readyTimeout passed. The common case, a state that is already there,
// costs no timer and no allocation.
func (m *muxer) await(ctx context.Context, sid string, pred func(*plState) verdict) (*plState, readiness) {
	st, err := m.state(sid)
	if err != nil {
		return nil, isGone
	}
	if st.snap.Playlist != nil {
		switch pred(st) {
		case yes:
			return st, isReady
		case no:
			return nil, isReady
		}
	}
	// A timer, not a context: every preload-hint request comes here.
	timer := time.NewTimer(m.readyTimeout)
	defer timer.Stop()
	for {
		select {
		case <-st.changed:
		case <-m.gone:
			return nil, isGone
		case <-ctx.Done():
			return nil, isCanceled
		case <-timer.C:
			return nil, isTimeout
		}
		if st, err = m.state(sid); err != nil {
			return nil, isGone
		}
		if st.snap.Playlist == nil {
			continue // no segment yet
		}
		switch pred(st) {
		case yes:
			return st, isReady
		case no:
			return nil, isReady
		}
	}
}
