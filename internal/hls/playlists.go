package hls

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

// Why this file: gohlslib builds a media playlist afresh for every request
// (and, for a request with a query, names that query in every URI), so each
// LL-HLS viewer cost a playlist build per part, plus another for the
// blocking wait on the hinted part: 29 % of the server's CPU with 200
// viewers (pprof, docs/benchmarks.md). A playlist changes only when a part
// completes, so one watcher per media playlist follows it with blocking
// reloads, keeps its bytes, and every viewer is answered from them; the
// same change wakes the requests that wait for a part.

// watcherIdle is how long a watcher keeps following a playlist nobody asks
// for: a stream without viewers costs nothing.
const watcherIdle = 30 * time.Second

var playlistType = []string{"application/vnd.apple.mpegurl"}

// plState is a media playlist as it stands.
type plState struct {
	body   plBody
	maxAge []string // gohlslib's Cache-Control, shared by every answer
	hint   hint     // the preload-hinted part: the next to complete
	first  uint64   // media sequence number of its oldest segment
	// changed is closed when a newer state replaces this one, or when the
	// watcher stops.
	changed chan struct{}

	deltaOnce sync.Once
	delta     plBody // the _HLS_skip=YES form, built on first request (nil b: none)
}

// plBody is a playlist built without a query, and where a request's query
// goes into it: gohlslib appends the playlist request's query (less the
// _HLS_ parameters) to every URI, so that a token given with the playlist
// reaches the parts; we do the same from shared bytes.
type plBody struct {
	b  []byte
	at []int // offsets at which a URI ends
}

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
		return msn < st.hint.msn
	}
	return msn < st.hint.msn || (msn == st.hint.msn && uint64(p) < st.hint.part)
}

// plWatcher keeps one stream's plState current while it is asked for.
type plWatcher struct {
	m       *muxer
	sid     string
	cur     atomic.Pointer[plState]
	first   chan struct{} // closed once cur is set, or the watcher stopped
	stopped chan struct{}
	missing bool         // set before stopped closes: gohlslib has no such playlist
	lastUse atomic.Int64 // UnixNano of the last request
}

// watch returns the running watcher of stream sid's playlist, starting it
// if need be.
func (m *muxer) watch(sid string) *plWatcher {
	m.watchMu.Lock()
	defer m.watchMu.Unlock()
	w := m.watchers[sid]
	if w == nil {
		w = &plWatcher{m: m, sid: sid, first: make(chan struct{}), stopped: make(chan struct{})}
		if m.watchers == nil {
			m.watchers = make(map[string]*plWatcher)
		}
		m.watchers[sid] = w
		go w.run()
	}
	w.lastUse.Store(time.Now().UnixNano())
	return w
}

func (w *plWatcher) run() {
	var firstOnce sync.Once
	defer func() {
		w.m.watchMu.Lock()
		if w.m.watchers[w.sid] == w {
			delete(w.m.watchers, w.sid)
		}
		w.m.watchMu.Unlock()
		close(w.stopped)
		firstOnce.Do(func() { close(w.first) })
		if st := w.cur.Load(); st != nil {
			close(st.changed)
		}
	}()
	file := w.sid + "_stream.m3u8"
	q := "" // the first request answers at once
	for {
		cw := newCaptureWriter()
		w.m.hm.Handle(cw, internalRequest(w.m.ctx, file, q))
		if w.m.isGone() || w.m.ctx.Err() != nil {
			return
		}
		if cw.status == 0 {
			w.missing = true // gohlslib answers an unknown file with nothing
			return
		}
		st, err := parseState(w.sid, cw)
		if err != nil {
			// Not expected of gohlslib; do not spin on it.
			w.m.errs.warn(w.m.log, "hls media playlist", err)
			select {
			case <-w.m.gone:
				return
			case <-time.After(100 * time.Millisecond):
			}
			q = ""
			continue
		}
		prev := w.cur.Swap(st)
		if prev == nil {
			firstOnce.Do(func() { close(w.first) })
		} else {
			close(prev.changed)
		}
		if time.Since(time.Unix(0, w.lastUse.Load())) > watcherIdle {
			// A request that got this watcher meanwhile sees it stop
			// and starts a new one (next).
			return
		}
		// gohlslib holds this until the hinted part is complete, and ends
		// the wait cleanly when the muxer closes.
		q = "_HLS_msn=" + strconv.FormatUint(st.hint.msn, 10) + "&_HLS_part=" + strconv.FormatUint(st.hint.part, 10)
	}
}

func parseState(sid string, cw *captureWriter) (*plState, error) {
	if cw.status != http.StatusOK {
		return nil, errors.New("status " + strconv.Itoa(cw.status))
	}
	body := cw.body.Bytes()
	var pl playlist.Media
	if err := pl.Unmarshal(body); err != nil {
		return nil, err
	}
	if pl.PreloadHint == nil {
		return nil, errors.New("no preload hint")
	}
	file, _, _ := strings.Cut(path.Base(pl.PreloadHint.URI), "?")
	psid, id, ok := partName(file)
	if !ok || psid != sid {
		return nil, errors.New("preload hint " + pl.PreloadHint.URI + " is not a part of " + sid)
	}
	return &plState{
		body:    newPLBody(body),
		maxAge:  cw.header.Values("Cache-Control"),
		hint:    hint{id: id, msn: uint64(pl.MediaSequence + len(pl.Segments)), part: uint64(len(pl.Parts))},
		first:   uint64(pl.MediaSequence),
		changed: make(chan struct{}),
	}, nil
}

// next waits for the watcher's state newer than st (nil: any), and
// returns the watcher to use from then on: a stopped one is replaced.
func (w *plWatcher) next(ctx context.Context, timeout <-chan time.Time, st *plState) (*plWatcher, *plState, readiness) {
	for {
		wake := w.first
		if st != nil {
			wake = st.changed
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return w, nil, isCanceled
		case <-timeout:
			return w, nil, isTimeout
		}
		if w.m.isGone() {
			return w, nil, isGone
		}
		select {
		case <-w.stopped:
			if w.missing {
				return w, nil, isGone
			}
			// Idle, it stopped just as this request came: start again.
			w, st = w.m.watch(w.sid), nil
			continue
		default:
		}
		if cur := w.cur.Load(); cur != nil && cur != st {
			return w, cur, isReady
		}
	}
}

// serveMediaPlaylist answers an LL-HLS media playlist request from the
// watcher, holding a blocking reload (_HLS_msn, _HLS_part) until the part
// it names is complete.
func (m *muxer) serveMediaPlaylist(w http.ResponseWriter, r *http.Request, sid string) {
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
		case msn > st.hint.msn+1 || msn < st.first:
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
		pb = m.deltaOf(st, sid, d.skip)
	}
	var pass string
	if d.others {
		pass = passQuery(r.URL.RawQuery)
	}
	body := pb.with(pass)
	h := w.Header()
	h["Content-Type"] = playlistType // shared: one request per part per player
	if st.maxAge != nil {
		h["Cache-Control"] = st.maxAge
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// deltaOf returns the delta update of st (or the full playlist if gohlslib
// would not make one), built once per state.
func (m *muxer) deltaOf(st *plState, sid, skip string) plBody {
	st.deltaOnce.Do(func() {
		cw := newCaptureWriter()
		// The playlist may have moved on since st: a newer answer is as
		// good, and the only one gohlslib can give.
		m.hm.Handle(cw, internalRequest(m.ctx, sid+"_stream.m3u8", "_HLS_skip="+skip))
		if cw.status == http.StatusOK {
			st.delta = newPLBody(cw.body.Bytes())
		}
	})
	if st.delta.b != nil {
		return st.delta
	}
	return st.body
}

// awaitPart waits until part id of stream sid is complete, and reports
// whether to serve it (false: it will not exist, or the stream ended).
//
// Why: gohlslib v2.4.1 answers a request for the preload-hinted part by
// waiting inside its own handler, and when the muxer closes during that
// wait the handler returns with the muxer's mutex still locked. Every other
// request waiting in that muxer then hangs forever. LL-HLS clients always
// have such a request out, so it would happen at the end of every stream.
// We therefore never send gohlslib a request for a part that is not
// finished: the watcher's state says when it is.
func (m *muxer) awaitPart(ctx context.Context, sid string, id uint64) bool {
	st, rd := m.await(ctx, sid, func(st *plState) verdict {
		switch {
		case id < st.hint.id:
			return yes
		case id > st.hint.id:
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
// the stream ended, the client left, or readyTimeout passed. The common
// case, a state that is already there, costs no timer and no allocation.
func (m *muxer) await(ctx context.Context, sid string, pred func(*plState) verdict) (*plState, readiness) {
	wt := m.watch(sid)
	if st := wt.cur.Load(); st != nil && !m.isGone() {
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
	var st *plState
	for {
		var rd readiness
		if wt, st, rd = wt.next(ctx, timer.C, st); rd != isReady {
			return nil, rd
		}
		switch pred(st) {
		case yes:
			return st, isReady
		case no:
			return nil, isReady
		}
	}
}
