package stream

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Lock order: Hub.mu is the only lock; Reader state that the writer touches
// (the queue, err and the resync state) is guarded by it as well, so Write
// never blocks on a reader.

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
	// Resyncs counts the times a Resync reader fell a queue behind, and
	// SkippedUnits the units such readers did not get.
	Resyncs      uint64
	SkippedUnits uint64
	LastUnit     time.Time
}

// ReaderOption sets how the hub treats a reader that falls behind.
type ReaderOption uint8

// Resync keeps a reader that falls a queue behind instead of dropping it:
// the hub discards what the reader has no room for and resumes each video
// track at its next random-access unit, and audio with the first video
// track that resumes (an audio-only stream's at the next unit there is room
// for). Read's Skipped then says how many units were discarded, so that a
// server-side consumer (an HLS muxer, a recorder) goes on with a decodable
// sequence and can mark the gap. A viewer's reader keeps the default: it is
// dropped, and the viewer reconnects.
const Resync ReaderOption = 1

// Hub fans the units of one publisher out to many readers. Write never blocks:
// a reader whose queue is full is dropped (or, with Resync, skips to the next
// keyframe), never buffered without bound.
type Hub struct {
	tracks []*Track
	// video has bit i set for a video track of Index i < 64: the tracks a
	// resyncing reader resumes at a random-access unit.
	video uint64

	mu      sync.Mutex
	readers map[*Reader]struct{}
	closed  bool

	unitsIn  atomic.Uint64
	bytesIn  atomic.Uint64
	dropped  atomic.Uint64
	resyncs  atomic.Uint64
	skipped  atomic.Uint64
	lastUnit atomic.Int64
}

// NewHub returns a hub for a publication made of tracks. Each track's Index is
// set to its position.
func NewHub(tracks []*Track) *Hub {
	h := &Hub{tracks: tracks, readers: make(map[*Reader]struct{})}
	for i, t := range tracks {
		t.Index = i
		if i < 64 && t.Codec != nil && t.Codec.IsVideo() {
			h.video |= 1 << i
		}
	}
	return h
}

// Tracks returns the tracks of the publication. The slice must not be changed.
func (h *Hub) Tracks() []*Track { return h.tracks }

// Write hands u to every reader. u must not be changed afterwards.
func (h *Hub) Write(u *Unit) {
	h.unitsIn.Add(1)
	h.bytesIn.Add(uint64(u.Size()))
	h.lastUnit.Store(u.NTP.UnixNano())

	// The unit's bit in h.video, for Resync readers: 0 for audio.
	var bit uint64
	if u.Track != nil && u.Track.Index >= 0 && u.Track.Index < 64 {
		bit = h.video & (1 << u.Track.Index)
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	for r := range h.readers {
		if r.resync {
			h.offerLocked(r, u, bit)
			continue
		}
		select {
		case r.queue <- delivery{u: u}:
		default:
			// The reader is a full queue behind: drop it rather than buffer
			// without bound or slow the publisher and every other reader.
			h.removeLocked(r, ErrSlowReader)
			h.dropped.Add(1)
		}
	}
}

// offerLocked queues u (whose bit in h.video is bit) for a Resync reader,
// or discards it: while the reader is in a gap, a video track's units until
// its next random-access unit, and audio until a video track resumed, are
// of no use to a decoder.
func (h *Hub) offerLocked(r *Reader, u *Unit, bit uint64) {
	resumes := false
	if r.gap {
		switch {
		case bit != 0 && r.waiting&bit != 0:
			if !u.RandomAccess {
				h.skipLocked(r)
				return
			}
			resumes = true
		case bit != 0:
			// A video track that has resumed flows.
		case h.video == 0:
			resumes = true // audio only: any unit is a place to resume
		case r.waiting == h.video:
			h.skipLocked(r) // no picture yet to go with this audio
			return
		}
	}
	d := delivery{u: u}
	if resumes && r.waiting == h.video {
		// The gap's first resumption tells the reader of it, once: the
		// tracks that resume after it (a second video track) go on
		// without marking another gap, their losses counted by the hub
		// alone.
		d.skipped = r.skipped
	}
	select {
	case r.queue <- d:
		if resumes {
			r.skipped = 0
			r.waiting &^= bit
			r.gap = r.waiting != 0 && h.video != 0
		}
	default:
		// A queue behind: a gap starts (or starts over) here.
		if !r.gap {
			h.resyncs.Add(1)
		}
		r.gap, r.waiting = true, h.video
		h.skipLocked(r)
	}
}

func (h *Hub) skipLocked(r *Reader) {
	r.skipped++
	h.skipped.Add(1)
}

// NewReader attaches a reader with a queue of size units. The reader receives
// every unit written after this call. Without options a reader that falls a
// queue behind is dropped (Read returns ErrSlowReader); see Resync.
func (h *Hub) NewReader(size int, opts ...ReaderOption) *Reader {
	if size <= 0 {
		size = 1
	}
	r := &Reader{hub: h, queue: make(chan delivery, size)}
	for _, o := range opts {
		r.resync = r.resync || o == Resync
	}
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
		Resyncs:       h.resyncs.Load(),
		SkippedUnits:  h.skipped.Load(),
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

// delivery is a queued unit with the number of units a Resync reader
// lost right before it. A value, not a pointer: queueing allocates nothing.
type delivery struct {
	u       *Unit
	skipped int
}

// Reader receives the units of a hub through a bounded queue. Read and
// Skipped belong to one goroutine at a time; Len and Close to any.
type Reader struct {
	hub    *Hub
	queue  chan delivery
	resync bool

	// Guarded by hub.mu.
	err     error  // set before queue is closed
	gap     bool   // a Resync reader is discarding until tracks resume
	waiting uint64 // video tracks (Hub.video bits) still to resume
	skipped int    // units discarded since the last resumption

	// lastSkipped belongs to the reading goroutine.
	lastSkipped int
}

// Read returns the next unit. It returns ErrSlowReader if the reader was
// dropped, ErrClosed when the publication ended, or the context's error.
func (r *Reader) Read(ctx context.Context) (*Unit, error) {
	select {
	case d, ok := <-r.queue:
		if !ok {
			// The close of queue happens after err is set, so this read is
			// ordered after the write.
			r.lastSkipped = 0
			return nil, r.err
		}
		r.lastSkipped = d.skipped
		return d.u, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Skipped is the number of units a Resync reader lost right before the
// unit the last Read returned, which is then where the first track of a gap
// resumes: a video track's random-access unit, or the first unit of an
// audio-only stream. It is 0 for every other unit, so each gap is told
// once (the hub's Stats count the units lost after that too).
func (r *Reader) Skipped() int { return r.lastSkipped }

// Len is the number of units queued for the reader and not yet read: its
// lag behind the publisher.
func (r *Reader) Len() int { return len(r.queue) }

// Close detaches the reader from its hub. It is idempotent.
func (r *Reader) Close() {
	r.hub.mu.Lock()
	defer r.hub.mu.Unlock()
	r.hub.removeLocked(r, ErrClosed)
}
