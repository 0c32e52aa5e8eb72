package hls

import (
	"container/list"
	"context"
	"net/http"
	"sync"
	"time"
)

// fetch is one request of an edge to an origin, and its response, shared
// by every viewer that asks for the same thing while it is in flight
// (coalescing) and, once complete, while it is cached. Its body is kept
// as it arrives: a viewer follows it at its own offset, so a part the
// origin sends as it completes reaches every viewer as it arrives, from
// one upstream read, and no viewer has a copy of its own (a slow one
// costs nothing but its own connection, which SendTimeout bounds).
type fetch struct {
	key       string
	channelID string
	streamID  string // the stream the edge asked for
	kind      fetchKind
	cancel    context.CancelFunc

	// hdr is closed once status, header and size are set; they do not
	// change afterwards.
	hdr    chan struct{}
	status int
	header http.Header // what is relayed to viewers
	size   int64       // the body's length, -1 if unknown
	// origin is the stream id the origin answered with.
	origin string

	mu     sync.Mutex
	buf    []byte        // the body so far; bytes written are never changed
	more   chan struct{} // closed when bytes arrive or the fetch ends
	failed bool          // the body ended before it was complete
	// done is closed once the body is complete (or failed).
	done chan struct{}

	// Under edgeCache.mu:
	waiters int           // viewers of a fetch in flight
	expires time.Time     // of a cached fetch
	elem    *list.Element // in edgeCache.lru when cached

	plOnce sync.Once
	pl     plBody // a media playlist's body, parsed once
}

type fetchKind int

const (
	kindMultivariant fetchKind = iota
	kindPlaylist               // a media playlist
	kindFile                   // an init file, segment or part
)

func newFetch(key, channelID, streamID string, kind fetchKind) *fetch {
	return &fetch{
		key: key, channelID: channelID, streamID: streamID, kind: kind,
		hdr: make(chan struct{}), more: make(chan struct{}), done: make(chan struct{}),
	}
}

// respond sets the response's status and header: once.
func (f *fetch) respond(status int, h http.Header, size int64, origin string) {
	f.status, f.header, f.size, f.origin = status, h, size, origin
	close(f.hdr)
}

// write appends p to the body and wakes the viewers following it.
func (f *fetch) write(p []byte) {
	f.mu.Lock()
	f.buf = append(f.buf, p...)
	close(f.more)
	f.more = make(chan struct{})
	f.mu.Unlock()
}

// end completes the body (failed: cut short).
func (f *fetch) end(failed bool) {
	f.mu.Lock()
	f.failed = failed
	close(f.more)
	f.more = nil
	f.mu.Unlock()
	close(f.done)
}

// next returns the body's bytes from off that have arrived, and, if none
// have, what to wait on for more (nil: the body is over).
func (f *fetch) next(off int) (chunk []byte, more <-chan struct{}, failed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buf[off:len(f.buf):len(f.buf)], f.more, f.failed
}

// body is the whole body of a fetch that is done.
func (f *fetch) body() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buf
}

// playlist is a media playlist fetch's body, parsed for the queries of
// its viewers (playlists.go). The fetch is done.
func (f *fetch) playlist() plBody {
	f.plOnce.Do(func() { f.pl = newPLBody(f.body()) })
	return f.pl
}

// edgeCache holds the fetches in flight and the complete ones kept for
// their time to live, these in an LRU bounded in bytes.
type edgeCache struct {
	max int64

	mu   sync.Mutex
	m    map[string]*fetch
	lru  list.List // of *fetch, the most recently used first
	used int64
}

// fetchOverhead is what a cached fetch costs besides its body: the entry,
// its key and headers, roughly.
const fetchOverhead = 512

func newEdgeCache(maxBytes int64) *edgeCache {
	return &edgeCache{max: maxBytes, m: make(map[string]*fetch)}
}

// join returns the fetch of key: a cached one still fresh, or one in
// flight, which the caller then waits on (leave when done); or, if there
// is neither, a new one from mk, which the caller must start.
func (c *edgeCache) join(key string, now time.Time, mk func() *fetch) (f *fetch, started bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f = c.m[key]; f != nil {
		if f.elem == nil {
			f.waiters++
			return f, false
		}
		if now.Before(f.expires) {
			c.lru.MoveToFront(f.elem)
			return f, false
		}
		c.removeLocked(f)
	}
	f = mk()
	f.waiters = 1
	c.m[key] = f
	return f, true
}

// leave is a viewer's end of waiting on f: the last viewer to leave a
// fetch in flight cancels it, so nobody fetches what nobody waits for.
func (c *edgeCache) leave(f *fetch) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.elem != nil {
		return
	}
	f.waiters--
	if f.waiters > 0 || closed(f.done) {
		return
	}
	if c.m[f.key] == f {
		delete(c.m, f.key)
	}
	f.cancel()
}

// complete keeps f, done, for ttl, if it is a whole 200 response that
// fits; else forgets it.
func (c *edgeCache) complete(f *fetch, ttl time.Duration, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[f.key] != f {
		return // dropped meanwhile
	}
	size := int64(len(f.buf)) + fetchOverhead
	if ttl <= 0 || f.failed || f.status != http.StatusOK || size > c.max/8 {
		delete(c.m, f.key)
		return
	}
	f.expires = now.Add(ttl)
	f.elem = c.lru.PushFront(f)
	c.used += size
	for c.used > c.max {
		c.removeLocked(c.lru.Back().Value.(*fetch))
	}
}

// drop forgets key's fetch, if any.
func (c *edgeCache) drop(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.m[key]; f != nil {
		c.removeLocked(f)
	}
}

// dropChannel forgets every fetch of a channel: its stream changed or
// ended. Fetches in flight finish for their viewers, unseen by others.
func (c *edgeCache) dropChannel(channelID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.m {
		if f.channelID == channelID {
			c.removeLocked(f)
		}
	}
}

func (c *edgeCache) removeLocked(f *fetch) {
	if c.m[f.key] == f {
		delete(c.m, f.key)
	}
	if f.elem != nil {
		c.lru.Remove(f.elem)
		c.used -= int64(len(f.buf)) + fetchOverhead
		// Viewers that hold f still read it; nobody new finds it.
		f.elem = nil
		f.expires = time.Time{}
	}
}

// bytes returns what the cache holds, in bytes (with overheads).
func (c *edgeCache) bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}
