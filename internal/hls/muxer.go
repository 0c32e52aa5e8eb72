package hls

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/stream"
)

type trackKind int

const (
	kindNone trackKind = iota
	kindH264
	kindH265
	kindAAC
	kindOpus
)

// muxTrack is what the feed needs to hand a hub unit to gohlslib.
type muxTrack struct {
	t         *gohlslib.Track
	kind      trackKind
	clockRate int // of the pts given to gohlslib
}

// muxer is one gohlslib Muxer serving one live stream, fed by one hub reader.
//
// Lifecycle: Attach starts feed; stop (the detach func) ends it and closes
// the gohlslib muxer. If the feed ends by itself (publication over, reader
// dropped) it closes the muxer at once, so viewers get 404 rather than a
// frozen playlist.
type muxer struct {
	srv       *Server
	channelID string
	// rendition is a transcoded rendition's name ("480p30"); empty for the
	// source.
	rendition string
	// streamID is the live stream's id (an edge notices a new stream by
	// it: origin.go).
	streamID     string
	log          *slog.Logger
	variant      gohlslib.MuxerVariant
	hm           *gohlslib.Muxer
	tracks       []muxTrack // by stream.Track.Index
	reader       *live.Reader
	readyTimeout time.Duration
	// unsubMeta stops the stream's timed metadata coming in; nil if none.
	unsubMeta func()

	ctx      context.Context
	cancel   context.CancelFunc
	feedDone chan struct{}
	// ready is closed once the first segment exists, by the goroutine
	// that writes to the muxer (markReady).
	ready     chan struct{}
	gone      chan struct{} // closed when the gohlslib muxer is closed
	closeOnce sync.Once
	stopOnce  sync.Once

	// playlists holds, by gohlslib stream id ("video1", "main"), what
	// answering a media playlist's viewers takes: a *plCache
	// (playlists.go).
	playlists sync.Map

	errs rateLimited

	// audience counts the players of this stream (docs/viewers.md).
	audience *audience

	// ts is a LOW channel's MPEG-TS edition for IVS's web player, while
	// one plays it (edition.go); src are the hub's tracks it is made from.
	ts     atomic.Pointer[muxer]
	tsMu   sync.Mutex
	tsUsed atomic.Int64 // UnixNano of the last request for its playlist
	src    []*stream.Track
	tsOK   bool // canEdition
}

// chooseVariant maps the channel's settings to a gohlslib variant.
func chooseVariant(ch ivs.Channel) gohlslib.MuxerVariant {
	if ch.LatencyMode != ivs.LatencyNormal {
		// LOW is IVS's default latency mode.
		return gohlslib.MuxerVariantLowLatency
	}
	if ch.ContainerFormat == ivs.ContainerFMP4 {
		return gohlslib.MuxerVariantFMP4
	}
	return gohlslib.MuxerVariantMPEGTS
}

// muxTracks picks the first video and the first audio track of the hub: the
// stream is one rendition. AAC goes before Opus (a WebRTC publisher's Opus
// comes with AAC converted from it, which Safari plays). MPEG-TS carries
// only H.264 and AAC, so a channel asking for TS with H.265 or Opus falls
// back to fMP4 (reported in note).
func muxTracks(in []*stream.Track, variant gohlslib.MuxerVariant) (
	out []muxTrack, list []*gohlslib.Track, v gohlslib.MuxerVariant, notes []string,
) {
	out = make([]muxTrack, len(in))
	var haveVideo, haveAudio bool
	hasAAC := slices.ContainsFunc(in, func(t *stream.Track) bool { _, ok := t.Codec.(*stream.AAC); return ok })
	for i, t := range in {
		if _, ok := t.Codec.(*stream.Opus); ok && hasAAC {
			notes = append(notes, fmt.Sprintf("track %d: Opus skipped for the AAC track", i))
			continue
		}
		var mt muxTrack
		switch c := t.Codec.(type) {
		case *stream.H264:
			mt = muxTrack{&gohlslib.Track{Codec: &codecs.H264{SPS: c.SPS, PPS: c.PPS}, ClockRate: 90000}, kindH264, 90000}
		case *stream.H265:
			mt = muxTrack{&gohlslib.Track{Codec: &codecs.H265{VPS: c.VPS, SPS: c.SPS, PPS: c.PPS}, ClockRate: 90000}, kindH265, 90000}
		case *stream.AAC:
			if c.Config == nil || c.Config.SampleRate <= 0 {
				notes = append(notes, fmt.Sprintf("track %d: AAC without a config, skipped", i))
				continue
			}
			// gohlslib's fMP4 timescale is the sample rate: the pts must
			// use it too, whatever the hub's clock rate.
			rate := c.Config.SampleRate
			mt = muxTrack{&gohlslib.Track{Codec: &codecs.MPEG4Audio{Config: *c.Config}, ClockRate: rate}, kindAAC, rate}
		case *stream.Opus:
			mt = muxTrack{&gohlslib.Track{Codec: &codecs.Opus{ChannelCount: c.ChannelCount}, ClockRate: 48000}, kindOpus, 48000}
		default:
			notes = append(notes, fmt.Sprintf("track %d: codec %T not supported by HLS, skipped", i, c))
			continue
		}
		video := mt.kind == kindH264 || mt.kind == kindH265
		if (video && haveVideo) || (!video && haveAudio) {
			notes = append(notes, fmt.Sprintf("track %d: extra track skipped", i))
			continue
		}
		haveVideo = haveVideo || video
		haveAudio = haveAudio || !video
		out[i] = mt
		list = append(list, mt.t)
		if variant == gohlslib.MuxerVariantMPEGTS && (mt.kind == kindH265 || mt.kind == kindOpus) {
			notes = append(notes, "MPEG-TS cannot carry H.265 or Opus: using fragmented MP4")
			variant = gohlslib.MuxerVariantFMP4
		}
	}
	return out, list, variant, notes
}

func newMuxer(s *Server, st *live.Stream, hub *stream.Hub, rendition string) (*muxer, error) {
	ch := st.Channel
	log := s.log.With(attrChannel, ch.ARN, attrStreamID, st.StreamID)
	if rendition != "" {
		log = log.With("rendition", rendition)
	}
	m, notes, err := s.startMuxer(ch.ID, rendition, log, chooseVariant(ch), hub.Tracks(), false)
	for _, n := range notes {
		log.Info("hls track", "note", n)
	}
	if err != nil {
		return nil, err
	}
	m.streamID = st.StreamID
	m.src = hub.Tracks()
	m.tsOK = canEdition(m.variant, m.src)
	m.feedDone = make(chan struct{})
	m.audience = newAudience(s.cfg.ViewerTimeout)
	// The reader is attached before Attach returns, which is before the
	// publisher gets its hub: no unit is missed.
	m.reader = st.NewReader("hls", hub, s.cfg.QueueSize)
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m, nil
}

// startMuxer starts a gohlslib muxer of the given tracks in variant (or
// in fMP4 if MPEG-TS cannot carry them, see muxTracks), and returns it in
// a muxer that has no reader yet. prefetch serves MPEG-TS segments while
// they are written, listed as EXT-X-PREFETCH (edition.go).
func (s *Server) startMuxer(channelID, rendition string, log *slog.Logger, variant gohlslib.MuxerVariant, in []*stream.Track,
	prefetch bool,
) (*muxer, []string, error) {
	tracks, list, variant, notes := muxTracks(in, variant)
	if len(list) == 0 {
		return nil, notes, errors.New("hls: no track HLS can carry")
	}
	m := &muxer{
		srv:          s,
		channelID:    channelID,
		rendition:    rendition,
		log:          log,
		variant:      variant,
		tracks:       tracks,
		readyTimeout: s.readyTimeout,
		ready:        make(chan struct{}),
		gone:         make(chan struct{}),
	}
	segCount := s.cfg.SegmentCount
	if variant == gohlslib.MuxerVariantLowLatency {
		segCount = max(segCount, minLowLatencySegments)
	}
	m.hm = &gohlslib.Muxer{
		Tracks:             list,
		Variant:            variant,
		SegmentCount:       segCount,
		SegmentMinDuration: s.cfg.SegmentDuration,
		PartMinDuration:    s.cfg.PartDuration,
		// One media playlist with audio and video, as IVS's: its web
		// player does not follow an audio rendition (it asked for
		// 'video/mp4;' without codecs and stopped).
		MuxAudioWithVideo: true,
		// A timed metadata track in MPEG-TS, for PutMetadata.
		MPEGTSID3: true,
		// Each MPEG-TS segment's ID3 stream starts with when onair
		// received its first frame, which IVS's web player makes its
		// getLiveLatency() of (id3SegmentMetadata).
		MPEGTSSegmentID3: id3SegmentMetadata,
		MPEGTSPrefetch:   prefetch && variant == gohlslib.MuxerVariantMPEGTS,
		OnEncodeError: func(err error) {
			m.errs.warn(m.log, "hls encode", err)
		},
	}
	if err := m.hm.Start(); err != nil {
		return nil, notes, fmt.Errorf("hls: start muxer: %w", err)
	}
	return m, notes, nil
}

func (m *muxer) start() {
	go m.feed()
	m.log.Info("hls muxer started", "variant", variantName(m.variant))
}

// stop ends the muxer and waits for its goroutines. It is idempotent.
func (m *muxer) stop() {
	m.stopOnce.Do(func() {
		m.stopMetadata()
		m.cancel()
		m.reader.Close()
		<-m.feedDone
		m.closeMuxer()
	})
}

// closeMuxer removes the muxer from the server and closes gohlslib, which
// releases every request blocked in it. Idempotent.
func (m *muxer) closeMuxer() {
	m.closeOnce.Do(func() {
		m.srv.remove(m)
		close(m.gone)
		m.hm.Close()
		m.dropPlaylists()
		m.log.Info("hls muxer closed")
		// Nothing feeds m any more (closeMuxer runs at the feed's end),
		// nor starts an edition of it (m is gone).
		m.stopEdition(false)
	})
}

func (m *muxer) feed() {
	defer close(m.feedDone)
	defer m.closeMuxer()
	for {
		// A muxer that fell behind resumes at a keyframe (live.Reader),
		// which starts a segment: the frame before the gap lasts until it.
		u, err := m.reader.Read(m.ctx)
		switch {
		case err == nil:
			m.write(u)
			m.feedEdition(u)
			continue
		case errors.Is(err, stream.ErrClosed), errors.Is(err, context.Canceled):
		default:
			m.log.Error("hls read", "err", err)
		}
		return
	}
}

func (m *muxer) write(u *stream.Unit) {
	if u.Track == nil || u.Track.Index < 0 || u.Track.Index >= len(m.tracks) || !wellFormed(u.Payload) {
		return
	}
	mt := m.tracks[u.Track.Index]
	var err error
	switch mt.kind {
	case kindNone:
		return
	case kindH264:
		err = m.hm.WriteH264(mt.t, u.NTP, ticks(u.PTS, mt.clockRate), u.Payload)
	case kindH265:
		err = m.hm.WriteH265(mt.t, u.NTP, ticks(u.PTS, mt.clockRate), u.Payload)
	case kindAAC:
		err = m.hm.WriteMPEG4Audio(mt.t, u.NTP, ticks(u.PTS, mt.clockRate), u.Payload)
	case kindOpus:
		err = m.hm.WriteOpus(mt.t, u.NTP, ticks(u.PTS, mt.clockRate), u.Payload)
	}
	if err != nil {
		m.errs.warn(m.log, "hls write", err)
	}
	m.markReady()
	m.refresh()
}

// markReady closes m.ready once gohlslib has a segment to offer: the
// moment the stream becomes playable. Viewers wait on m.ready, bounded by
// their context and readyTimeout. Only the goroutine that writes to m
// calls it.
func (m *muxer) markReady() {
	if m.readyNow() {
		return
	}
	if pl, err := m.hm.MultivariantPlaylist(); err == nil && pl != nil {
		close(m.ready)
	}
}

// wellFormed guards gohlslib, which indexes the first byte of every NALU.
func wellFormed(p [][]byte) bool {
	if len(p) == 0 {
		return false
	}
	for _, b := range p {
		if len(b) == 0 {
			return false
		}
	}
	return true
}

// ticks converts d to a clock of rate Hz without overflowing int64.
func ticks(d time.Duration, rate int) int64 {
	secs, rem := int64(d/time.Second), int64(d%time.Second)
	return secs*int64(rate) + rem*int64(rate)/int64(time.Second)
}

type readiness int

const (
	isReady readiness = iota
	isGone
	isTimeout
	isCanceled
)

func (m *muxer) waitReady(ctx context.Context) readiness {
	select {
	case <-m.ready:
		return isReady
	case <-m.gone:
		return isGone
	default:
	}
	t := time.NewTimer(m.readyTimeout)
	defer t.Stop()
	select {
	case <-m.ready:
		return isReady
	case <-m.gone:
		return isGone
	case <-ctx.Done():
		return isCanceled
	case <-t.C:
		return isTimeout
	}
}

func (m *muxer) readyNow() bool { return closed(m.ready) }

func (m *muxer) isGone() bool { return closed(m.gone) }

func variantName(v gohlslib.MuxerVariant) string {
	switch v {
	case gohlslib.MuxerVariantMPEGTS:
		return "mpegts"
	case gohlslib.MuxerVariantFMP4:
		return "fmp4"
	default:
		return "lowLatency"
	}
}

// rateLimited logs a recurring warning at most once per interval, with the
// number of occurrences it held back.
type rateLimited struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

const warnInterval = 10 * time.Second

func (r *rateLimited) warn(log *slog.Logger, msg string, err error) {
	r.mu.Lock()
	now := time.Now()
	if !r.last.IsZero() && now.Sub(r.last) < warnInterval {
		r.suppressed++
		r.mu.Unlock()
		return
	}
	n := r.suppressed
	r.last, r.suppressed = now, 0
	r.mu.Unlock()
	log.Warn(msg, "err", err, "suppressed", n)
}

// carryMetadata puts the stream's timed metadata (PutMetadata) into this
// muxer's output as ID3: in emsg boxes in LL-HLS parts, in a metadata
// stream in MPEG-TS segments (as IVS's, which its web player reads). fMP4
// HLS (a NORMAL channel with containerFormat FRAGMENTED_MP4) does not
// carry it.
func (m *muxer) carryMetadata(st *live.Stream) {
	if m.variant != gohlslib.MuxerVariantLowLatency && m.variant != gohlslib.MuxerVariantMPEGTS {
		return
	}
	m.unsubMeta = st.OnMetadata(func(data []byte) {
		tag := id3Text(data)
		if err := m.hm.WriteID3(tag); err != nil {
			m.errs.warn(m.log, "timed metadata", err)
		}
		if e := m.ts.Load(); e != nil {
			if err := e.hm.WriteID3(tag); err != nil {
				e.errs.warn(e.log, "timed metadata", err)
			}
		}
	})
}

func (m *muxer) stopMetadata() {
	if m.unsubMeta != nil {
		m.unsubMeta()
	}
}
