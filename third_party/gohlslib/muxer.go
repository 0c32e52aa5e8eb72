package gohlslib

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/gohlslib/v2/pkg/storage"
)

const (
	fmp4StartDTS               = 10 * time.Second
	multivariantPlaylistMaxAge = "30"
	segmentMaxAge              = "3600"
	mpegtsAACPTSDriftTolerance = 500 * time.Millisecond
)

func parseMSNPart(msn string, part string) (uint64, uint64, error) {
	var msnint uint64
	if msn != "" {
		var err error
		msnint, err = strconv.ParseUint(msn, 10, 64)
		if err != nil {
			return 0, 0, err
		}
	}

	var partint uint64
	if part != "" {
		var err error
		partint, err = strconv.ParseUint(part, 10, 64)
		if err != nil {
			return 0, 0, err
		}
	}

	return msnint, partint, nil
}

func bandwidth(segments []muxerSegment) (int, int) {
	if len(segments) == 0 {
		return 0, 0
	}

	var maxBandwidth uint64
	var sizes uint64
	var durations time.Duration

	for _, seg := range segments {
		if _, ok := seg.(*muxerGap); !ok {
			bandwidth := 8 * seg.getSize() * uint64(time.Second) / uint64(seg.getDuration())
			if bandwidth > maxBandwidth {
				maxBandwidth = bandwidth
			}
			sizes += seg.getSize()
			durations += seg.getDuration()
		}
	}

	averageBandwidth := 8 * sizes * uint64(time.Second) / uint64(durations)

	return int(maxBandwidth), int(averageBandwidth)
}

func queryVal(q url.Values, key string) string {
	vals, ok := q[key]
	if ok && len(vals) >= 1 {
		return vals[0]
	}
	return ""
}

func areAllAudio(tracks []*muxerTrack) bool {
	for _, track := range tracks {
		if track.Codec.IsVideo() {
			return false
		}
	}
	return true
}

// a prefix is needed to prevent usage of cached segments
// from previous muxing sessions.
func generatePrefix() (string, error) {
	var buf [6]byte
	_, err := rand.Read(buf[:])
	if err != nil {
		return "", err
	}

	return hex.EncodeToString(buf[:]), nil
}

func segmentPath(prefix string, streamID string, segmentID uint64, mp4 bool) string {
	if mp4 {
		return prefix + "_" + streamID + "_seg" + strconv.FormatUint(segmentID, 10) + ".mp4"
	}
	return prefix + "_" + streamID + "_seg" + strconv.FormatUint(segmentID, 10) + ".ts"
}

func partPath(prefix string, streamID string, partID uint64) string {
	return prefix + "_" + streamID + "_part" + strconv.FormatUint(partID, 10) + ".mp4"
}

func codecRequiredClockRate(c codecs.Codec) int {
	switch codec := c.(type) {
	case *codecs.AV1:
		return 90000

	case *codecs.VP9:
		return 90000

	case *codecs.H265:
		return 90000

	case *codecs.H264:
		return 90000

	case *codecs.Opus:
		return 48000

	case *codecs.MPEG4Audio:
		return codec.Config.SampleRate

	case *codecs.FLAC:
		return int(codec.StreamInfo.SampleRate)

	case *codecs.KLV:
		return 90000
	}

	return 0
}

type switchableWriter struct {
	w io.Writer
}

func (w *switchableWriter) Write(p []byte) (int, error) {
	return w.w.Write(p)
}

// MuxerOnEncodeErrorFunc is the prototype of Muxer.OnEncodeError.
type MuxerOnEncodeErrorFunc func(err error)

// Muxer is a HLS muxer.
type Muxer struct {
	//
	// parameters (all optional except Tracks).
	//
	// tracks.
	Tracks []*Track
	// Variant to use.
	// It defaults to MuxerVariantLowLatency
	Variant MuxerVariant
	// Number of HLS segments to keep on the server.
	// Segments allow to seek through the stream.
	// Their number doesn't influence latency.
	// It defaults to 7.
	SegmentCount int
	// Minimum duration of each segment.
	// This is adjusted in order to include at least one IDR frame in each segment.
	// A player usually puts 3 segments in a buffer before reproducing the stream.
	// It defaults to 1sec.
	SegmentMinDuration time.Duration
	// Minimum duration of each part.
	// Parts are used in Low-Latency HLS in place of segments.
	// This is adjusted in order to produce segments with a similar duration.
	// A player usually puts 3 parts in a buffer before reproducing the stream.
	// It defaults to 200ms.
	PartMinDuration time.Duration
	// Maximum size of each segment.
	// This prevents RAM exhaustion.
	// It defaults to 50MB.
	SegmentMaxSize uint64
	// Directory to store segments and (non low-latency) playlists on disk.
	// This can be used to:
	// - offload segments from RAM to disk
	// - produce self-contained folders to pass to a CDN (only in case of non low-latency)
	Directory string
	// onair: MuxAudioWithVideo puts the audio of an fMP4 variant in the
	// video's stream (one init, one media playlist, tracks 1 and 2), as
	// MPEG-TS does, instead of an audio rendition. For one video and one
	// audio track; players that cannot follow an audio group (IVS's web
	// player among them) play it.
	MuxAudioWithVideo bool
	// onair: MPEGTSID3 gives an MPEG-TS variant a timed metadata track
	// (stream_type 0x15, ID3) that WriteID3 writes to.
	MPEGTSID3 bool
	// onair: MPEGTSSegmentID3, with MPEGTSID3, returns the ID3 tag that
	// starts the ID3 stream of every MPEG-TS segment, given the wall-clock
	// time (the ntp passed to Write*) of the segment's first unit of the
	// leading track; it is presented with that unit, before any tag
	// WriteID3 queued. nil (or a nil tag) gives an ID3v2.4 tag with one
	// empty PRIV frame (owner "onair"). It is called with the muxer's
	// mutex held, on the goroutine that writes, and must not call the
	// muxer.
	MPEGTSSegmentID3 func(ntp time.Time) []byte
	// onair: MPEGTSPrefetch lists the MPEG-TS segment being written in
	// the media playlist as #EXT-X-PREFETCH (Twitch's low-latency HLS,
	// which IVS's web player reads) and serves it while it is written:
	// what it holds at once, then every unit as it comes. In-memory
	// storage only (no Directory).
	MPEGTSPrefetch bool

	//
	// callbacks (all optional)
	//
	// called when a non-fatal encode error occurs.
	OnEncodeError MuxerOnEncodeErrorFunc

	//
	// private
	//

	mutex          sync.Mutex
	cond           *sync.Cond
	mtracks        []*muxerTrack
	mtracksByTrack map[*Track]*muxerTrack
	streams        []*muxerStream
	leadingStream  *muxerStream
	prefix         string
	storageFactory storage.Factory
	segmenter      *muxerSegmenter
	server         *muxerServer
	closed         bool

	// onair: the Changed channel of the snapshots taken since the last
	// change, closed and forgotten by notifyChange (patch 9).
	changed chan struct{}

	// onair: timed metadata waiting for the next part (WriteID3).
	id3Mutex sync.Mutex
	id3Queue []muxerID3
	id3Seq   uint32
}

// Start initializes the muxer.
func (m *Muxer) Start() error {
	if m.Variant == 0 {
		m.Variant = MuxerVariantLowLatency
	}
	if m.SegmentCount == 0 {
		m.SegmentCount = 7
	}
	if m.SegmentMinDuration == 0 {
		m.SegmentMinDuration = 1 * time.Second
	}
	if m.PartMinDuration == 0 {
		m.PartMinDuration = 200 * time.Millisecond
	}
	if m.SegmentMaxSize == 0 {
		m.SegmentMaxSize = 50 * 1024 * 1024
	}
	if m.OnEncodeError == nil {
		m.OnEncodeError = func(e error) {
			log.Printf("%v", e)
		}
	}

	if len(m.Tracks) == 0 {
		return fmt.Errorf("at least one track must be provided")
	}

	// supporting non-standard clock rates requires some computations that we're not doing right now.
	// it's not worth the effort, for now.
	for i, track := range m.Tracks {
		requiredClockRate := codecRequiredClockRate(track.Codec)
		if track.ClockRate != requiredClockRate {
			return fmt.Errorf("track %d requires clock rate %d, but is %d", i, requiredClockRate, track.ClockRate)
		}
	}

	// onair
	if m.MPEGTSPrefetch && (m.Variant != MuxerVariantMPEGTS || m.Directory != "") {
		return fmt.Errorf("MPEGTSPrefetch needs the MPEG-TS variant in memory")
	}

	hasVideo := false
	hasAudio := false

	if m.Variant == MuxerVariantMPEGTS {
		for _, track := range m.Tracks {
			if track.Codec.IsVideo() {
				if hasVideo {
					return fmt.Errorf("the MPEG-TS variant of HLS supports a single video track only")
				}
				if _, ok := track.Codec.(*codecs.H264); !ok {
					return fmt.Errorf(
						"the MPEG-TS variant of HLS supports H264 video only")
				}
				hasVideo = true
			} else if _, isKLV := track.Codec.(*codecs.KLV); !isKLV {
				if hasAudio {
					return fmt.Errorf("the MPEG-TS variant of HLS supports a single audio track only")
				}
				if _, ok := track.Codec.(*codecs.MPEG4Audio); !ok {
					return fmt.Errorf(
						"the MPEG-TS variant of HLS supports MPEG-4 Audio only")
				}
				hasAudio = true
			}
		}

		// Validate that KLV tracks are accompanied by at least one video or audio track
		if !hasVideo && !hasAudio {
			for _, track := range m.Tracks {
				if _, ok := track.Codec.(*codecs.KLV); ok {
					return fmt.Errorf("KLV tracks require at least one video or audio track to drive segment creation")
				}
			}
		}
	} else {
		for _, track := range m.Tracks {
			if track.Codec.IsVideo() {
				if hasVideo {
					return fmt.Errorf("only one video track is currently supported")
				}
				hasVideo = true
			} else if _, ok := track.Codec.(*codecs.KLV); ok {
				return fmt.Errorf("KLV tracks are only supported with the MPEG-TS muxer variant")
			} else {
				hasAudio = true //nolint:ineffassign,wastedassign
			}
		}
	}

	hasDefaultAudio := false

	for _, track := range m.Tracks {
		if !track.Codec.IsVideo() && track.IsDefault {
			if hasDefaultAudio {
				return fmt.Errorf("multiple default audio tracks are not supported")
			}
			hasDefaultAudio = true
		}
	}

	switch m.Variant {
	case MuxerVariantLowLatency:
		if m.SegmentCount < 7 {
			return fmt.Errorf("Low-Latency HLS requires at least 7 segments")
		}

	default:
		if m.SegmentCount < 3 {
			return fmt.Errorf("the minimum number of HLS segments is 3")
		}
	}

	m.cond = sync.NewCond(&m.mutex)
	m.mtracksByTrack = make(map[*Track]*muxerTrack)

	m.segmenter = &muxerSegmenter{
		variant:            m.Variant,
		segmentMinDuration: m.SegmentMinDuration,
		partMinDuration:    m.PartMinDuration,
		parent:             m,
	}
	m.segmenter.initialize()

	m.server = &muxerServer{}
	m.server.initialize()

	m.server.registerPath("index.m3u8", m.handleMultivariantPlaylist)

	// Find the leading track index
	// Video tracks are preferred; if no video, use the first non-KLV track
	leadingTrackIndex := -1
	for i, track := range m.Tracks {
		if track.Codec.IsVideo() {
			leadingTrackIndex = i
			break
		}
		_, isKLV := track.Codec.(*codecs.KLV)
		if leadingTrackIndex == -1 && !isKLV {
			leadingTrackIndex = i
		}
	}

	for i, track := range m.Tracks {
		mtrack := &muxerTrack{
			Track:     track,
			variant:   m.Variant,
			isLeading: i == leadingTrackIndex,
		}
		mtrack.initialize()
		m.mtracks = append(m.mtracks, mtrack)
		m.mtracksByTrack[track] = mtrack
	}

	var err error
	m.prefix, err = generatePrefix()
	if err != nil {
		return err
	}

	if m.Directory != "" {
		m.storageFactory = storage.NewFactoryDisk(m.Directory)
	} else {
		m.storageFactory = storage.NewFactoryRAM()
	}

	// add initial gaps, required by iOS LL-HLS
	nextSegmentID := uint64(0)
	if m.Variant == MuxerVariantLowLatency {
		nextSegmentID = 7
	}

	switch {
	case m.Variant == MuxerVariantMPEGTS || m.muxedAudioVideo():
		// Every track in one stream: MPEG-TS, and (onair) fMP4 with
		// MuxAudioWithVideo.
		id := "main"
		if m.Variant != MuxerVariantMPEGTS {
			id = "video1"
		}
		stream := &muxerStream{
			takeID3:        m.id3Taker(),       // onair: timed metadata
			segmentID3:     m.MPEGTSSegmentID3, // onair: patch 10
			prefetch:       m.MPEGTSPrefetch,
			isLeading:      true,
			variant:        m.Variant,
			segmentMaxSize: m.SegmentMaxSize,
			segmentCount:   m.SegmentCount,
			onEncodeError:  m.OnEncodeError,
			mutex:          &m.mutex,
			cond:           m.cond,
			prefix:         m.prefix,
			storageFactory: m.storageFactory,
			directory:      m.Directory,
			server:         m.server,
			tracks:         m.mtracks,
			id:             id,
			nextSegmentID:  nextSegmentID,
		}
		err = stream.initialize()
		if err != nil {
			return err
		}
		m.streams = append(m.streams, stream)

	default:
		defaultAudioChosen := false

		for i, track := range m.mtracks {
			var id string
			if track.Codec.IsVideo() {
				id = "video" + strconv.FormatInt(int64(i+1), 10)
			} else {
				id = "audio" + strconv.FormatInt(int64(i+1), 10)
			}

			isRendition := !track.isLeading || (!track.Codec.IsVideo() && len(m.Tracks) > 1)
			isDefault := false
			name := ""

			if isRendition {
				if !hasDefaultAudio {
					if !defaultAudioChosen {
						defaultAudioChosen = true
						isDefault = true
					}
				} else {
					isDefault = track.IsDefault
				}

				if track.Name != "" {
					name = track.Name
				} else {
					name = id
				}
			}

			stream := &muxerStream{
				variant:        m.Variant,
				segmentMaxSize: m.SegmentMaxSize,
				segmentCount:   m.SegmentCount,
				onEncodeError:  m.OnEncodeError,
				mutex:          &m.mutex,
				cond:           m.cond,
				prefix:         m.prefix,
				storageFactory: m.storageFactory,
				directory:      m.Directory,
				server:         m.server,
				tracks:         []*muxerTrack{track},
				id:             id,
				isLeading:      track.isLeading,
				isRendition:    isRendition,
				name:           name,
				language:       track.Language,
				isDefault:      isDefault,
				nextSegmentID:  nextSegmentID,
			}
			if track.isLeading {
				stream.takeID3 = m.id3Taker() // onair: timed metadata
			}
			err = stream.initialize()
			if err != nil {
				return err
			}
			m.streams = append(m.streams, stream)
		}
	}

	m.leadingStream = func() *muxerStream {
		for _, stream := range m.streams {
			if stream.isLeading {
				return stream
			}
		}
		return nil
	}()

	return nil
}

// Close closes a Muxer.
func (m *Muxer) Close() {
	m.mutex.Lock()

	m.closed = true

	for _, stream := range m.streams {
		stream.close()
	}

	m.notifyChange() // onair

	m.mutex.Unlock()

	m.cond.Broadcast()
}

// WriteAV1 writes an AV1 temporal unit.
func (m *Muxer) WriteAV1(
	track *Track,
	ntp time.Time,
	pts int64,
	tu [][]byte,
) error {
	return m.segmenter.writeAV1(m.mtracksByTrack[track], ntp, pts, tu)
}

// WriteVP9 writes a VP9 frame.
func (m *Muxer) WriteVP9(
	track *Track,
	ntp time.Time,
	pts int64,
	frame []byte,
) error {
	return m.segmenter.writeVP9(m.mtracksByTrack[track], ntp, pts, frame)
}

// WriteH265 writes an H265 access unit.
func (m *Muxer) WriteH265(
	track *Track,
	ntp time.Time,
	pts int64,
	au [][]byte,
) error {
	return m.segmenter.writeH265(m.mtracksByTrack[track], ntp, pts, au)
}

// WriteH264 writes an H264 access unit.
func (m *Muxer) WriteH264(
	track *Track,
	ntp time.Time,
	pts int64,
	au [][]byte,
) error {
	return m.segmenter.writeH264(m.mtracksByTrack[track], ntp, pts, au)
}

// WriteOpus writes Opus packets.
func (m *Muxer) WriteOpus(
	track *Track,
	ntp time.Time,
	pts int64,
	packets [][]byte,
) error {
	return m.segmenter.writeOpus(m.mtracksByTrack[track], ntp, pts, packets)
}

// WriteMPEG4Audio writes MPEG-4 Audio access units.
func (m *Muxer) WriteMPEG4Audio(
	track *Track,
	ntp time.Time,
	pts int64,
	aus [][]byte,
) error {
	return m.segmenter.writeMPEG4Audio(m.mtracksByTrack[track], ntp, pts, aus)
}

// WriteFLAC writes a FLAC audio frame.
func (m *Muxer) WriteFLAC(
	track *Track,
	ntp time.Time,
	pts int64,
	frame []byte,
) error {
	return m.segmenter.writeFLAC(m.mtracksByTrack[track], ntp, pts, frame)
}

// onair: WriteID3 queues an ID3 tag (timed metadata). It goes out in an
// emsg box (version 1, scheme https://aomedia.org/emsg/ID3) at the start
// of the next part of the stream that carries the leading track, timed at
// that part's start, which hls.js and Safari raise as metadata cues; in
// MPEG-TS (with MPEGTSID3), as a PES of the ID3 track presented with the
// next unit of the leading track, which IVS's web player raises too. Not
// for fMP4 HLS; it may be called from any goroutine.
func (m *Muxer) WriteID3(tag []byte) error {
	if m.id3Taker() == nil {
		return fmt.Errorf("WriteID3 is only supported with the low-latency variant and with MPEG-TS with MPEGTSID3")
	}
	m.id3Mutex.Lock()
	defer m.id3Mutex.Unlock()
	if len(m.id3Queue) >= maxQueuedID3 {
		return fmt.Errorf("too many ID3 tags waiting for a part")
	}
	m.id3Seq++
	m.id3Queue = append(m.id3Queue, muxerID3{id: m.id3Seq, tag: append([]byte(nil), tag...)})
	return nil
}

// onair: id3Taker is what the stream carrying the leading track takes its
// ID3 tags with: LL-HLS parts (emsg) and MPEG-TS with MPEGTSID3 carry
// them; nil for fMP4 HLS.
func (m *Muxer) id3Taker() func() []muxerID3 {
	if m.Variant == MuxerVariantLowLatency || (m.Variant == MuxerVariantMPEGTS && m.MPEGTSID3) {
		return m.takeID3
	}
	return nil
}

// onair: muxedAudioVideo reports whether the fMP4 variant's two tracks,
// a leading video and an audio one, share a stream (MuxAudioWithVideo).
func (m *Muxer) muxedAudioVideo() bool {
	if !m.MuxAudioWithVideo || len(m.mtracks) != 2 {
		return false
	}
	v, a := m.mtracks[0], m.mtracks[1]
	if !v.Codec.IsVideo() {
		v, a = a, v
	}
	return v.isLeading && v.Codec.IsVideo() && !a.Codec.IsVideo()
}

// onair: muxerID3 is a queued ID3 tag with its emsg id; players tell
// events apart by scheme, value and id.
type muxerID3 struct {
	id  uint32
	tag []byte
}

// maxQueuedID3 bounds the tags waiting for a part (a stalled stream).
const maxQueuedID3 = 64

func (m *Muxer) takeID3() []muxerID3 {
	m.id3Mutex.Lock()
	defer m.id3Mutex.Unlock()
	q := m.id3Queue
	m.id3Queue = nil
	return q
}

// WriteKLV writes KLV data.
func (m *Muxer) WriteKLV(
	track *Track,
	ntp time.Time,
	pts int64,
	data []byte,
) error {
	// KLV writing is currently only supported for the MPEG-TS muxer variant.
	if m.Variant != MuxerVariantMPEGTS {
		return fmt.Errorf("WriteKLV is only supported with the MPEG-TS muxer variant")
	}

	// Ensure that the provided track carries KLV data.
	if _, ok := track.Codec.(*codecs.KLV); !ok {
		return fmt.Errorf("WriteKLV called with a non-KLV track")
	}
	return m.segmenter.writeKLV(m.mtracksByTrack[track], ntp, pts, data)
}

// Handle handles a HTTP request.
// This can be safely called in parallel with Write*() and Close() methods.
func (m *Muxer) Handle(w http.ResponseWriter, r *http.Request) {
	m.server.handle(w, r)
}

func (m *Muxer) createFirstSegment(nextDTS time.Duration, nextNTP time.Time) error {
	for _, stream := range m.streams {
		err := stream.createFirstSegment(nextDTS, nextNTP)
		if err != nil {
			return err
		}
	}

	return nil
}

func (m *Muxer) rotateParts(nextDTS time.Duration) error {
	m.mutex.Lock()
	err := m.rotatePartsInner(nextDTS)
	m.notifyChange() // onair
	m.mutex.Unlock()

	if err != nil {
		return err
	}

	m.cond.Broadcast()

	return nil
}

func (m *Muxer) rotatePartsInner(nextDTS time.Duration) error {
	err := m.leadingStream.rotateParts(nextDTS, true)
	if err != nil {
		return err
	}

	for _, stream := range m.streams {
		if !stream.isLeading {
			err = stream.rotateParts(nextDTS, true)
			if err != nil {
				return err
			}
			stream.partTargetDuration = m.leadingStream.partTargetDuration
		}
	}

	return nil
}

func (m *Muxer) rotateSegments(
	nextDTS time.Duration,
	nextNTP time.Time,
) error {
	m.mutex.Lock()
	err := m.rotateSegmentsInner(nextDTS, nextNTP)
	m.notifyChange() // onair
	m.mutex.Unlock()

	if err != nil {
		return err
	}

	m.cond.Broadcast()

	return nil
}

func (m *Muxer) rotateSegmentsInner(
	nextDTS time.Duration,
	nextNTP time.Time,
) error {
	err := m.leadingStream.rotateSegments(nextDTS, nextNTP)
	if err != nil {
		return err
	}

	for _, stream := range m.streams {
		if !stream.isLeading {
			err = stream.rotateSegments(nextDTS, nextNTP)
			if err != nil {
				return err
			}
			stream.targetDuration = m.leadingStream.targetDuration
			stream.partTargetDuration = m.leadingStream.partTargetDuration
		}
	}

	if m.Directory != "" && m.Variant != MuxerVariantLowLatency {
		err = m.savePlaylists()
		if err != nil {
			return err
		}
	}

	return nil
}

func (m *Muxer) savePlaylists() error {
	for _, stream := range m.streams {
		byts, err := stream.generateMediaPlaylist(false, "")
		if err != nil {
			return err
		}

		err = os.WriteFile(filepath.Join(m.Directory, mediaPlaylistPath(stream.id)), byts, 0o644)
		if err != nil {
			return err
		}
	}

	byts, err := m.generateMultivariantPlaylist("")
	if err != nil {
		return err
	}

	return os.WriteFile(filepath.Join(m.Directory, "index.m3u8"), byts, 0o644)
}

func (m *Muxer) handleMultivariantPlaylist(w http.ResponseWriter, r *http.Request) {
	buf := func() []byte {
		m.mutex.Lock()
		defer m.mutex.Unlock()

		for {
			if m.closed {
				w.WriteHeader(http.StatusNotFound)
				return nil
			}

			if m.streams[0].hasContent() {
				break
			}

			m.cond.Wait()
		}

		buf, err := m.generateMultivariantPlaylist(r.URL.RawQuery)
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return nil
		}

		return buf
	}()

	if buf == nil {
		return
	}

	// allow caching but use a small period in order to
	// allow a stream to change tracks or bitrate
	w.Header().Set("Cache-Control", "public, max-age="+multivariantPlaylistMaxAge)
	w.Header().Set("Content-Type", `application/vnd.apple.mpegurl`)
	w.WriteHeader(http.StatusOK)
	w.Write(buf)
}

func (m *Muxer) generateMultivariantPlaylist(rawQuery string) ([]byte, error) {
	pl, err := m.multivariantPlaylist(rawQuery)
	if err != nil {
		return nil, err
	}

	return pl.Marshal()
}

// onair: the playlist before Marshal, for MultivariantPlaylist too.
func (m *Muxer) multivariantPlaylist(rawQuery string) (*playlist.Multivariant, error) {
	// TODO: consider segments in all streams
	maxBandwidth, averageBandwidth := bandwidth(m.streams[0].segments)

	pl := &playlist.Multivariant{
		Version: func() int {
			if m.Variant == MuxerVariantMPEGTS {
				return 3
			}
			return 10
		}(),
		IndependentSegments: true,
		Variants: []*playlist.MultivariantVariant{{
			Bandwidth:        maxBandwidth,
			AverageBandwidth: &averageBandwidth,
		}},
	}

	for _, stream := range m.streams {
		err := stream.populateMultivariantPlaylist(pl, rawQuery)
		if err != nil {
			return nil, err
		}
	}

	return pl, nil
}
