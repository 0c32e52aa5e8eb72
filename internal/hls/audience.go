package hls

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"iter"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Viewers are counted without cookies (docs/viewers.md): the multivariant
// playlist hands each player a playback session id inside its media
// playlist URLs (?vsid=…); a player is a viewer while it keeps reloading
// its media playlist. A media playlist request without an id (a player that
// skipped the multivariant) is keyed by its address and User-Agent instead.
const (
	sessionParam = "vsid"
	// sessionIDLen is the length of an id: 16 random bytes in base64url.
	sessionIDLen = 22
	// defaultViewerTimeout is how long a player counts after its last
	// media playlist request. Players reload a live playlist every target
	// duration (1-2 s here, a part for LL-HLS), so 10 s covers a few missed
	// reloads and a slow network without counting a player that left for long.
	defaultViewerTimeout = 10 * time.Second
	// maxViewersPerChannel bounds the sessions tracked per stream; beyond it
	// new players are served but not counted (and the cap is logged once).
	maxViewersPerChannel = 100_000
)

// newSessionID returns a fresh playback session id.
func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// validSessionID accepts only ids of our own shape, so a client cannot make
// the tracker keep arbitrary strings.
func validSessionID(s string) bool {
	if len(s) != sessionIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// viewerKey names the player behind a media playlist request.
func viewerKey(r *http.Request) string {
	if id := queryParam(r.URL.RawQuery, sessionParam); validSessionID(id) {
		return id
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	sum := sha256.Sum256([]byte(host + "\x00" + r.UserAgent()))
	// A different length from session ids, so the two never collide.
	return "a" + hex.EncodeToString(sum[:12])
}

// queryParam returns the raw value of the first key parameter of a query,
// without parsing (and allocating for) the rest: session ids need no
// unescaping, and validSessionID rejects anything else.
func queryParam(raw, key string) string {
	for k, v := range rawParams(raw) {
		if k == key {
			return v
		}
	}
	return ""
}

// rawParams yields a query's keys and values as they are written, without
// unescaping or allocating: players send one playlist request per part.
func rawParams(raw string) iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for raw != "" {
			var kv string
			kv, raw, _ = strings.Cut(raw, "&")
			k, v, _ := strings.Cut(kv, "=")
			if !yield(k, v) {
				return
			}
		}
	}
}

// audience is the set of players of one live stream.
type audience struct {
	timeout time.Duration

	mu     sync.Mutex
	seen   map[string]time.Time // by viewer key: last media playlist request
	capped bool                 // the cap was hit (logged once)
}

func newAudience(timeout time.Duration) *audience {
	return &audience{timeout: timeout, seen: make(map[string]time.Time)}
}

// touch records a request of the player key at now. It reports whether the
// cap was hit for the first time.
func (a *audience) touch(key string, now time.Time) (capHit bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.seen[key]; !ok && len(a.seen) >= maxViewersPerChannel {
		a.expireLocked(now)
		if len(a.seen) >= maxViewersPerChannel {
			capHit, a.capped = !a.capped, true
			return capHit
		}
	}
	a.seen[key] = now
	return false
}

// count returns the players seen within the timeout, forgetting the others.
func (a *audience) count(now time.Time) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expireLocked(now)
	return len(a.seen)
}

// keys returns the players seen within the timeout.
func (a *audience) keys() map[string]struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expireLocked(time.Now())
	out := make(map[string]struct{}, len(a.seen))
	for k := range a.seen {
		out[k] = struct{}{}
	}
	return out
}

func (a *audience) expireLocked(now time.Time) {
	for k, t := range a.seen {
		if now.Sub(t) > a.timeout {
			delete(a.seen, k)
		}
	}
}

// viewerWriter counts the bytes of a response into n and bounds the time
// its body may take to send: a viewer that reads too slowly to keep up (or
// has vanished without closing) is cut off when the deadline passes, so
// it pins one part or segment for at most that long and never a goroutine
// for ever. The clock starts at the first byte, after any blocking
// playlist wait.
type viewerWriter struct {
	http.ResponseWriter
	n        *atomic.Uint64
	timeout  time.Duration
	started  bool
	cut      bool
	timedOut *atomic.Uint64
}

func (w *viewerWriter) Write(p []byte) (int, error) {
	if !w.started {
		w.started = true
		// Not every ResponseWriter has a connection (tests' recorders);
		// those have no slow viewers either.
		_ = http.NewResponseController(w.ResponseWriter).SetWriteDeadline(time.Now().Add(w.timeout))
	}
	n, err := w.ResponseWriter.Write(p)
	w.n.Add(uint64(n))
	if !w.cut && errors.Is(err, os.ErrDeadlineExceeded) {
		w.cut = true
		w.timedOut.Add(1)
	}
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (flush,
// deadlines) through the counter.
func (w *viewerWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes flushes on for handlers that assert http.Flusher.
func (w *viewerWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
