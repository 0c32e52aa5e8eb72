package gohlslib

import (
	"bufio"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	mpegts "github.com/bluenviron/gohlslib/v2/internal/tsmux" // onair: ID3 in MPEG-TS
	"github.com/bluenviron/gohlslib/v2/pkg/storage"
)

type muxerSegmentMPEGTS struct {
	segmentMaxSize uint64
	prefix         string
	storageFactory storage.Factory
	streamID       string
	mpegtsWriter   *mpegts.Writer
	id3Track       *mpegts.Track              // onair: timed metadata, with takeID3
	takeID3        func() []muxerID3          // onair
	segmentID3     func(ntp time.Time) []byte // onair: Muxer.MPEGTSSegmentID3
	id3Written     bool                       // onair: this segment has an ID3 PES
	id             uint64
	startNTP       time.Time
	startDTS       time.Duration

	storage     storage.File
	storagePart storage.Part
	bw          *bufio.Writer
	size        uint64
	path        string
	endDTS      time.Duration    // available after finalize()
	prefetch    *segmentPrefetch // onair: Muxer.MPEGTSPrefetch
}

// onair: segmentPrefetch is what a segment being written has to show
// (Muxer.MPEGTSPrefetch), guarded by the muxer's mutex and announced on
// its cond.
type segmentPrefetch struct {
	mutex *sync.Mutex
	cond  *sync.Cond
	// bytes is what is written so far. The storage buffer only grows by
	// appending (bytes.Buffer; the MPEG-TS writer never seeks), so what
	// a slice of it shows never changes, even when the buffer moves.
	bytes []byte
	done  bool
}

// publish makes what the units written so far hold visible to prefetch
// requests, after each unit of the leading track (the others go with the
// next one: every broadcast wakes every prefetch viewer). It runs on the
// writing goroutine, without the mutex.
func (s *muxerSegmentMPEGTS) publish(track *muxerTrack) error {
	if s.prefetch == nil || !track.isLeading {
		return nil
	}
	err := s.bw.Flush()
	if err != nil {
		return err
	}
	b := s.storagePart.(interface{ Bytes() []byte }).Bytes()
	s.prefetch.mutex.Lock()
	s.prefetch.bytes = b
	s.prefetch.mutex.Unlock()
	s.prefetch.cond.Broadcast()
	return nil
}

func (s *muxerSegmentMPEGTS) initialize() error {
	s.path = segmentPath(s.prefix, s.streamID, s.id, false)

	var err error
	s.storage, err = s.storageFactory.NewFile(s.path)
	if err != nil {
		return err
	}

	s.storagePart = s.storage.NewPart()
	s.bw = bufio.NewWriter(s.storagePart.Writer())

	return nil
}

func (s *muxerSegmentMPEGTS) close() {
	s.storage.Remove()
}

func (s *muxerSegmentMPEGTS) getPath() string {
	return s.path
}

func (s *muxerSegmentMPEGTS) getDuration() time.Duration {
	return s.endDTS - s.startDTS
}

func (s *muxerSegmentMPEGTS) getSize() uint64 {
	return s.storage.Size()
}

func (s *muxerSegmentMPEGTS) reader() (io.ReadCloser, error) {
	return s.storage.Reader()
}

func (s *muxerSegmentMPEGTS) finalize(endDTS time.Duration) error {
	err := s.bw.Flush()
	if err != nil {
		return err
	}

	s.bw = nil
	// onair: an array of the segment's size (patch 7). Nothing but
	// prefetch requests, which hold slices of their own, reads the buffer
	// before Finalize.
	if t, ok := s.storagePart.(interface{ Trim() }); ok {
		t.Trim()
	}
	s.storage.Finalize()
	s.endDTS = endDTS

	// onair: the caller holds the muxer's mutex (rotateSegments, close)
	// and broadcasts after.
	if s.prefetch != nil {
		s.prefetch.bytes = s.storagePart.(interface{ Bytes() []byte }).Bytes()
		s.prefetch.done = true
	}

	return nil
}

func (s *muxerSegmentMPEGTS) writeH264(
	track *muxerTrack,
	pts int64,
	dts int64,
	au [][]byte,
) error {
	size := uint64(0)
	for _, nalu := range au {
		size += uint64(len(nalu))
	}
	if (s.size + size) > s.segmentMaxSize {
		return fmt.Errorf("reached maximum segment size")
	}
	s.size += size

	err := s.mpegtsWriter.WriteH264(
		track.mpegtsTrack,
		pts,
		dts,
		au,
	)
	if err != nil {
		return err
	}

	err = s.writeID3(track, pts)
	if err != nil {
		return err
	}
	return s.publish(track) // onair
}

func (s *muxerSegmentMPEGTS) writeMPEG4Audio(
	track *muxerTrack,
	pts int64,
	aus [][]byte,
) error {
	size := uint64(0)
	for _, au := range aus {
		size += uint64(len(au))
	}

	if (s.size + size) > s.segmentMaxSize {
		return fmt.Errorf("reached maximum segment size")
	}
	s.size += size

	tolerance := durationToTimestamp(mpegtsAACPTSDriftTolerance, track.ClockRate)

	// recompute timestamp from scratch.
	// iOS+MPEG-TS+AAC requires a precise timestamp that might get lost during timestamp conversion.
	// also reset in case of drifts.
	if !track.mpegtsAACPTSInitialized ||
		track.mpegtsAACPTS > (pts+tolerance) ||
		track.mpegtsAACPTS < (pts-tolerance) {
		track.mpegtsAACPTS = pts
		track.mpegtsAACPTSInitialized = true
	}

	err := s.mpegtsWriter.WriteMPEG4Audio(
		track.mpegtsTrack,
		multiplyAndDivide(track.mpegtsAACPTS, 90000, int64(track.ClockRate)),
		aus,
	)
	if err != nil {
		return err
	}

	track.mpegtsAACPTS += mpeg4audio.SamplesPerAccessUnit * int64(len(aus))

	err = s.writeID3(track, pts)
	if err != nil {
		return err
	}
	return s.publish(track) // onair
}

func (s *muxerSegmentMPEGTS) writeKLV(
	track *muxerTrack,
	pts int64,
	data []byte,
) error {
	size := uint64(len(data))
	if (s.size + size) > s.segmentMaxSize {
		return fmt.Errorf("reached maximum segment size")
	}
	s.size += size

	return s.mpegtsWriter.WriteKLV(
		track.mpegtsTrack,
		pts,
		data,
	)
}

// onair: writeID3 writes the queued ID3 tags after a unit of the leading
// track (after the PAT and PMT a segment's first unit brings), presented
// with it.
func (s *muxerSegmentMPEGTS) writeID3(track *muxerTrack, pts int64) error {
	if s.takeID3 == nil || !track.isLeading {
		return nil
	}
	tags := s.takeID3()
	if !s.id3Written {
		// The segment's own tag first (patch 10): a player that reads
		// it (IVS's, for its latency) finds it at the segment's start.
		tag := id3SegmentTag
		if s.segmentID3 != nil {
			if t := s.segmentID3(s.startNTP); t != nil {
				tag = t
			}
		}
		tags = append([]muxerID3{{tag: tag}}, tags...)
	}
	s.id3Written = true
	for _, e := range tags {
		err := s.mpegtsWriter.WriteID3(s.id3Track, multiplyAndDivide(pts, 90000, int64(track.ClockRate)), e.tag)
		if err != nil {
			return err
		}
	}
	return nil
}

// onair: id3SegmentTag starts every segment's ID3 stream unless
// Muxer.MPEGTSSegmentID3 gives another (patch 10): an ID3v2.4 tag
// with one PRIV frame (owner "onair", no data), which players raise no
// text cue for. IVS's web player (1.56.1) seems to wait for data on every
// stream of the PMT: with an ID3 stream and no tag in it, it stayed
// "Buffering"; with this tag in each segment, it plays.
var id3SegmentTag = func() []byte {
	frame := append([]byte("PRIV\x00\x00\x00\x06\x00\x00"), "onair\x00"...)
	return append([]byte{'I', 'D', '3', 4, 0, 0, 0, 0, 0, byte(len(frame))}, frame...)
}()
