package stream

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Lock order: Hub.mu is the only lock; Reader state that the writer touches
// (the queue and err) is guarded by it as well, so Write never blocks on a
// reader.

// ErrSlowReader is returned by Reader.Read after the reader fell behind by
// more than its queue size and was dropped by the hub.
var ErrSlowReader = errors.New("stream: reader too slow, dropped")

// ErrClosed is returned by Reader.Read once the publication has ended and
// every queued unit was read.
var ErrClosed = errors.New("stream: publication ended")

// Stats are counters of a hub, safe to read at any time.
type Stats struct {
	UnitsIn       uint64
	BytesIn       uint64
	Readers       int
	DroppedReader uint64
	LastUnit      time.Time
}

// Hub fans the units of one publisher out to many readers. Write never blocks:
// a reader whose queue is full is dropped, never buffered without bound.
type Hub struct {
	tracks []*Track

	mu      sync.Mutex
	readers map[*Reader]struct{}
	closed  bool

	unitsIn  atomic.Uint64
	bytesIn  atomic.Uint64
	dropped  atomic.Uint64
	lastUnit atomic.Int64
}

// NewHub returns a hub for a publication made of tracks. Each track's Index is
// set to its position.
func NewHub(tracks []*Track) *Hub {
	for i, t := range tracks {
		t.Index = i
	}
	return &Hub{tracks: tracks, readers: make(map[*Reader]struct{})}
}

// Tracks returns the tracks of the publication. The slice must not be changed.
func (h *Hub) Tracks() []*Track { return h.tracks }

// Write hands u to every reader. u must not be changed afterwards.
func (h *Hub) Write(u *Unit) {
	h.unitsIn.Add(1)
	h.bytesIn.Add(uint64(u.Size()))
	h.lastUnit.Store(u.NTP.UnixNano())

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	for r := range h.readers {
		select {
		case r.queue <- u:
		default:
			// The reader is a full queue behind: drop it rather than buffer
			// without bound or slow the publisher and every other reader.
			h.removeLocked(r, ErrSlowReader)
			h.dropped.Add(1)
		}
	}
}

// NewReader attaches a reader with a queue of size units. The reader receives
// every unit written after this call.
func (h *Hub) NewReader(size int) *Reader {
	if size <= 0 {
		size = 1
	}
	r := &Reader{hub: h, queue: make(chan *Unit, size)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		r.err = ErrClosed
		close(r.queue)
		return r
	}
	h.readers[r] = struct{}{}
	return r
}

// Close ends the publication: every reader gets the units still queued and
// then ErrClosed. Close is idempotent.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	for r := range h.readers {
		h.removeLocked(r, ErrClosed)
	}
}

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	n := len(h.readers)
	h.mu.Unlock()
	s := Stats{
		UnitsIn:       h.unitsIn.Load(),
		BytesIn:       h.bytesIn.Load(),
		Readers:       n,
		DroppedReader: h.dropped.Load(),
	}
	if ns := h.lastUnit.Load(); ns != 0 {
		s.LastUnit = time.Unix(0, ns)
	}
	return s
}

func (h *Hub) removeLocked(r *Reader, err error) {
	if _, ok := h.readers[r]; !ok {
		return
	}
	delete(h.readers, r)
	r.err = err
	close(r.queue)
}

// Reader receives the units of a hub through a bounded queue.
type Reader struct {
	hub   *Hub
	queue chan *Unit
	err   error // set under hub.mu before queue is closed
}

// Read returns the next unit. It returns ErrSlowReader if the reader was
// dropped, ErrClosed when the publication ended, or the context's error.
func (r *Reader) Read(ctx context.Context) (*Unit, error) {
	select {
	case u, ok := <-r.queue:
		if !ok {
			// The close of queue happens after err is set, so this read is
			// ordered after the write.
			return nil, r.err
		}
		return u, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Len is the number of units queued for the reader and not yet read: its
// lag behind the publisher.
func (r *Reader) Len() int { return len(r.queue) }

// Close detaches the reader from its hub. It is idempotent.
func (r *Reader) Close() {
	r.hub.mu.Lock()
	defer r.hub.mu.Unlock()
	r.hub.removeLocked(r, ErrClosed)
}
