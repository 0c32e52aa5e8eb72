package gohlslib

// onair (patch 9): the muxer's state for callers that serve it themselves
// instead of through Handle: a snapshot of each media playlist, the
// multivariant playlist, the finished files, and a notification of change.
// A server that answers many players can then build a playlist once per
// change and answer every player from it, and wait for a change without a
// request held inside the muxer.

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

// ErrMuxerClosed is what the snapshot methods return once Close was called.
var ErrMuxerClosed = errors.New("muxer is closed")

// ErrNoMediaPlaylist is what MediaPlaylist returns for a stream the muxer
// does not have.
var ErrNoMediaPlaylist = errors.New("no such media playlist")

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

func (f *MuxerFile) serve(w http.ResponseWriter, r *http.Request) {
	rd, err := f.open()
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	defer rd.Close()

	w.Header().Set("Cache-Control", f.CacheControl)
	w.Header().Set("Content-Type", f.ContentType)
	if f.Size >= 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(f.Size, 10))
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		io.Copy(w, rd) //nolint:errcheck
	}
}

// notifyChange closes the channel of the snapshots taken since the last
// change. The mutex is held. Nothing is allocated while nobody asks.
func (m *Muxer) notifyChange() {
	if m.changed != nil {
		close(m.changed)
		m.changed = nil
	}
}

// MediaPlaylist returns a snapshot of the media playlist of stream
// streamID ("video1", "audio2", "main") as it stands, built by this call:
// keep it until its Changed is closed rather than ask again per request.
func (m *Muxer) MediaPlaylist(streamID string) (*MuxerMediaPlaylist, error) {
	var s *muxerStream
	for _, st := range m.streams {
		if st.id == streamID {
			s = st
		}
	}
	if s == nil {
		return nil, ErrNoMediaPlaylist
	}

	m.mutex.Lock()
	defer m.mutex.Unlock()
	if m.closed {
		return nil, ErrMuxerClosed
	}
	if m.changed == nil {
		m.changed = make(chan struct{})
	}
	return s.takeSnapshot(m.changed)
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

// ServeFile answers a request for the file name as Handle does: a finished
// init file, segment or part, or an MPEG-TS segment being written
// (MPEGTSPrefetch), sent as it is written until it is finished, each write
// bounded by writeTimeout when it is positive. It reports false, having
// answered nothing, if the muxer has no such file.
func (m *Muxer) ServeFile(w http.ResponseWriter, r *http.Request, name string, writeTimeout time.Duration) bool {
	if f, ok := m.File(name); ok {
		f.serve(w, r)
		return true
	}
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
	if p != nil {
		s.servePrefetch(w, r, p, writeTimeout)
		return true
	}
	// Finished since File was asked?
	if f, ok := m.File(name); ok {
		f.serve(w, r)
		return true
	}
	return false
}
