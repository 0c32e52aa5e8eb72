package gohlslib

// onair (patch 9): the muxer's state for callers that serve it themselves
// instead of through Handle: a snapshot of each media playlist, the
// multivariant playlist, the finished files, and a notification of change.
// A server that answers many players can then build a playlist once per
// change and answer every player from it, and wait for a change without a
// request held inside the muxer.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

// ErrMuxerClosed is what the snapshot methods return once Close was called.
var ErrMuxerClosed = errors.New("muxer is closed")

// closedChan is what Changed returns once the muxer is closed.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// MuxerMediaPlaylist is a media playlist as it stands. It is shared: do
// not modify it.
type MuxerMediaPlaylist struct {
	// Playlist is what Handle answers a request for it without a query;
	// nil until the stream has a segment (Handle holds requests until
	// then).
	Playlist []byte
	// Delta is its delta update (a request with _HLS_skip=YES or v2);
	// low-latency only.
	Delta []byte
	// CacheControl is the Cache-Control Handle answers it with.
	CacheControl string
	// MediaSequence is the media sequence number of its first segment.
	MediaSequence uint64
	// NextPart is the part its preload hint names, the next to complete;
	// low-latency only.
	NextPart MuxerPartID
	// Changed is closed once the playlist has changed (a part or a segment
	// completed) or the muxer is closed.
	Changed <-chan struct{}
}

// MuxerPartID names a low-latency part.
type MuxerPartID struct {
	// ID is the number in the part's file name.
	ID uint64
	// MSN is the media sequence number of its segment; Index is its index
	// in that segment.
	MSN, Index uint64
}

// MuxerFile is a finished file of the muxer: an init file, a segment or a
// part. It is shared: do not modify it.
type MuxerFile struct {
	// ContentType and CacheControl are the headers Handle answers it with.
	ContentType  string
	CacheControl string
	// Size is its length in bytes, -1 if unknown.
	Size int64

	open func() (io.ReadCloser, error)
}

// Reader returns a reader of the file's bytes, to be closed.
func (f *MuxerFile) Reader() (io.ReadCloser, error) {
	return f.open()
}

func (f *MuxerFile) serve(w http.ResponseWriter, _ *http.Request) {
	r, err := f.open()
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	defer r.Close()

	w.Header().Set("Cache-Control", f.CacheControl)
	w.Header().Set("Content-Type", f.ContentType)
	if f.Size >= 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(f.Size, 10))
	}
	w.WriteHeader(http.StatusOK)
	io.Copy(w, r) //nolint:errcheck
}

// Changed returns a channel that is closed at the next change of the
// muxer's playlists (a part or a segment completed) or when it is closed.
func (m *Muxer) Changed() <-chan struct{} {
	m.mutex.Lock()
	defer m.mutex.Unlock()
	return m.changedLocked()
}

func (m *Muxer) changedLocked() chan struct{} {
	if m.closed {
		return closedChan
	}
	if m.changed == nil {
		m.changed = make(chan struct{})
	}
	return m.changed
}

// notifyChange outdates the snapshots and wakes who waits on Changed. The
// mutex is held. Nothing is allocated while nobody asks.
func (m *Muxer) notifyChange() {
	for _, s := range m.streams {
		s.snapshot.Store(nil)
	}
	if m.changed != nil {
		close(m.changed)
		m.changed = nil
	}
}

// MediaPlaylist returns the media playlist of stream streamID ("video1",
// "audio2", "main") as it stands. It is built once per change, by the
// first call after it; later calls return it without locking the muxer.
func (m *Muxer) MediaPlaylist(streamID string) (*MuxerMediaPlaylist, error) {
	var s *muxerStream
	for _, st := range m.streams {
		if st.id == streamID {
			s = st
		}
	}
	if s == nil {
		return nil, errors.New("no media playlist " + strconv.Quote(streamID))
	}
	if p := s.snapshot.Load(); p != nil {
		return p, nil
	}

	m.mutex.Lock()
	defer m.mutex.Unlock()
	if m.closed {
		return nil, ErrMuxerClosed
	}
	if p := s.snapshot.Load(); p != nil {
		return p, nil
	}
	p, err := s.takeSnapshot(m.changedLocked())
	if err != nil {
		return nil, err
	}
	s.snapshot.Store(p)
	return p, nil
}

func (s *muxerStream) takeSnapshot(changed chan struct{}) (*MuxerMediaPlaylist, error) {
	p := &MuxerMediaPlaylist{
		CacheControl:  s.mediaPlaylistMaxAge(),
		MediaSequence: uint64(s.segmentDeleteCount),
		Changed:       changed,
	}
	if !s.hasContent() {
		return p, nil
	}
	var err error
	p.Playlist, err = s.generateMediaPlaylist(false, "")
	if err != nil {
		return nil, err
	}
	if s.variant == MuxerVariantLowLatency {
		p.Delta, err = s.generateMediaPlaylist(true, "")
		if err != nil {
			return nil, err
		}
		p.NextPart = MuxerPartID{
			ID:    s.nextPartID,
			MSN:   s.nextSegmentID,
			Index: uint64(len(s.nextSegment.(*muxerSegmentFMP4).parts)),
		}
	}
	return p, nil
}

// MultivariantPlaylist returns the multivariant playlist that Handle
// answers a request without a query with, nil until the first segment
// exists.
func (m *Muxer) MultivariantPlaylist() (*playlist.Multivariant, error) {
	m.mutex.Lock()
	defer m.mutex.Unlock()
	if m.closed {
		return nil, ErrMuxerClosed
	}
	if !m.streams[0].hasContent() {
		return nil, nil
	}
	return m.multivariantPlaylist("")
}

// File returns the finished init file, segment or part named name.
func (m *Muxer) File(name string) (*MuxerFile, bool) {
	return m.server.getFile(name)
}

// FollowSegment gives write the MPEG-TS segment name while it is written
// (MPEGTSPrefetch): what it holds at once, then what every unit of the
// leading track adds, until it is finished or the muxer closes (nil), ctx
// ends or write fails (their error). Each chunk is a slice of the
// segment's one buffer: write must not keep or modify it. It reports
// false if name is not a segment being written; File has it once it is
// finished.
func (m *Muxer) FollowSegment(ctx context.Context, name string, write func(chunk []byte) error) (bool, error) {
	m.mutex.Lock()
	var s *muxerStream
	var p *segmentPrefetch
	if !m.closed {
		for _, st := range m.streams {
			if seg, ok := st.nextSegment.(*muxerSegmentMPEGTS); ok && seg.prefetch != nil && seg.path == name {
				s, p = st, seg.prefetch
			}
		}
	}
	m.mutex.Unlock()
	if p == nil {
		return false, nil
	}
	return true, s.followPrefetch(ctx, p, write)
}
