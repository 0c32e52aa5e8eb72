package record

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/codecparams"
	hlscodecs "github.com/bluenviron/gohlslib/v2/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/onair-video/onair/internal/stream"
)

// HLS records one unit stream (H.264 and AAC units) as an HLS recording
// of one rendition under a key prefix, through the spool: MPEG-TS
// segments cut at keyframes, the rendition's media playlist, a
// multivariant playlist, thumbnails, and the event files
// events/recording-started.json and recording-ended.json. It is what
// stage recordings share (a participant's individual recording, a
// composition's S3 destination); a channel's recording, with its ladder of
// renditions, is the Recorder's.
//
// The layout under the prefix:
//
//	events/recording-started.json, events/recording-ended.json
//	media/hls/<Multivariant>
//	media/hls/<Rendition>/playlist.m3u8, media/hls/<Rendition>/<n>.ts
//	media/thumbnails/<Rendition>/thumb<n>.jpg        (SEQUENTIAL)
//	media/latest_thumbnail/<Rendition>/thumb.jpg     (LATEST)
//
// Begin, Write, Gap and EndRun are called from one goroutine (the one that
// reads the stream); Close after it is done with them.
type HLS struct {
	cfg     HLSConfig
	log     *slog.Logger
	id      string
	started time.Time

	// The writer goroutine's own state.
	video, audio *stream.Track
	buf          bytes.Buffer
	mw           *mpegts.Writer
	vt, at       *mpegts.Track
	segStart     time.Duration
	lastEnd      time.Duration // media time where the stream's last unit ends
	open         bool
	lastThumb    time.Duration
	thumbed      bool
	runs         int
	sps          []byte // the last keyframe's SPS

	mu            sync.Mutex
	width, height int
	codecs        string
	segments      []segment
	peak          int
	discontinuity bool
	thumbs        int
	lost          int
	failure       string
	jf            *os.File
	closed        bool
}

// HLSConfig says where and how an HLS recording is written.
type HLSConfig struct {
	Spool  *Spool
	Bucket string
	// Prefix is the recording's key prefix, without a trailing slash.
	Prefix string
	// Rendition names the recording's one rendition: the directory of its
	// media playlist and thumbnails ("high" for a participant, "1280x720"
	// for a composition).
	Rendition string
	// Multivariant is the name of the multivariant playlist in media/hls/;
	// default "multivariant.m3u8".
	Multivariant string
	// SegmentDuration is the target length of a segment; a segment ends
	// at the first keyframe after it (audio only: the first frame).
	// Default 6 s.
	SegmentDuration time.Duration
	// Media says which of the stream is recorded.
	Media Media
	// Thumbnails says whether and how keyframes become thumbnails.
	Thumbnails Thumbnails
	// Metadata are the event files' fields that name the recording (e.g.
	// stage_arn, participant_id), beside the writer's own.
	Metadata map[string]string
	// JournalDir keeps a journal of the open recording, from which
	// RecoverHLS finishes it after a crash; "" keeps none.
	JournalDir string
	// OnLoss is called (once, on the writer's goroutine) when the spool
	// first refuses an object of the recording: it is full, or the disk is.
	OnLoss func(reason string)
	Log    *slog.Logger
}

// Media is what of a stream an HLS recording keeps.
type Media int

// What a recording keeps: IVS's participant mediaTypes AUDIO_VIDEO,
// AUDIO_ONLY and NONE (no HLS: thumbnails only).
const (
	AudioVideo Media = iota
	AudioOnly
	NoMedia
)

// Thumbnails configures the thumbnails of an HLS recording.
type Thumbnails struct {
	// Interval is the media time between thumbnails; 0: none.
	Interval time.Duration
	// Sequential keeps every thumbnail (media/thumbnails/…), Latest
	// overwrites media/latest_thumbnail/…/thumb.jpg.
	Sequential, Latest bool
	// MaxHeight scales thumbnails down to at most this height; 0 keeps
	// the picture's.
	MaxHeight int
	// Make makes a JPEG of a keyframe (ffmpeg.KeyframeJPEG).
	Make func(ctx context.Context, au [][]byte, maxHeight int) ([]byte, error)
}

// HLSSummary is what an ended HLS recording holds.
type HLSSummary struct {
	Duration time.Duration
	Segments int
	// Failure says why the recording ended with a failure: objects were
	// lost, or (RecoverHLS) the process stopped while recording; "" if not.
	Failure string
}

// Recording statuses of the event files.
const (
	statusStarted         = "RECORDING_STARTED"
	statusEnded           = "RECORDING_ENDED"
	statusEndedWithFailed = "RECORDING_ENDED_WITH_FAILURE"
)

// NewHLS starts a recording: events/recording-started.json is spooled and
// the journal opened. A journal that cannot be opened is logged, and the
// recording goes on without crash recovery.
func NewHLS(cfg HLSConfig) *HLS {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.SegmentDuration <= 0 {
		cfg.SegmentDuration = 6 * time.Second
	}
	if cfg.Multivariant == "" {
		cfg.Multivariant = "multivariant.m3u8"
	}
	cfg.Prefix = strings.TrimSuffix(cfg.Prefix, "/")
	h := &HLS{cfg: cfg, log: cfg.Log.With("component", "record", "prefix", cfg.Prefix), id: randomID(12),
		started: time.Now().UTC()}
	h.put("events/recording-started.json", h.metadata(statusStarted, nil), "application/json")
	h.openJournal()
	return h
}

// Prefix is the recording's key prefix.
func (h *HLS) Prefix() string { return h.cfg.Prefix }

// Begin starts a run of the stream with tracks: the first, or the next
// one after a reconnect (its first segment is a discontinuity). The first
// H.264 and the first AAC track are recorded.
func (h *HLS) Begin(tracks []*stream.Track) {
	h.video, h.audio = nil, nil
	for _, t := range tracks {
		switch t.Codec.(type) {
		case *stream.H264:
			if h.video == nil && h.cfg.Media != AudioOnly {
				h.video = t
			}
		case *stream.AAC:
			if h.audio == nil && h.cfg.Media != NoMedia {
				h.audio = t
			}
		}
	}
	h.open, h.thumbed, h.lastEnd = false, false, 0
	h.mu.Lock()
	if h.runs > 0 {
		h.discontinuity = true
	}
	if h.video != nil && h.width == 0 {
		c := h.video.Codec.(*stream.H264)
		var sps h264.SPS
		if sps.Unmarshal(c.SPS) == nil {
			h.width, h.height = sps.Width(), sps.Height()
		}
	}
	if h.codecs == "" {
		var cs []string
		if h.video != nil {
			c := h.video.Codec.(*stream.H264)
			cs = append(cs, codecparams.Marshal(&hlscodecs.H264{SPS: c.SPS, PPS: c.PPS}))
		}
		if h.audio != nil {
			cs = append(cs, codecparams.Marshal(&hlscodecs.MPEG4Audio{Config: *h.audio.Codec.(*stream.AAC).Config}))
		}
		h.codecs = strings.Join(cs, ",")
	}
	h.mu.Unlock()
	h.runs++
}

// Record writes one run: the units r reads (a hub reader of tracks,
// best made with stream.Resync) until the stream ends or ctx does, with
// a gap where r skipped units. It returns what ended the run.
func (h *HLS) Record(ctx context.Context, r *stream.Reader, tracks []*stream.Track) error {
	h.Begin(tracks)
	defer h.EndRun()
	for {
		u, err := r.Read(ctx)
		if err != nil {
			return err
		}
		if r.Skipped() > 0 {
			h.Gap()
		}
		h.Write(ctx, u)
	}
}

// Write takes the next unit of the run.
func (h *HLS) Write(ctx context.Context, u *stream.Unit) {
	switch {
	case u.Track == h.video && h.video != nil:
		if u.RandomAccess {
			resized := h.resized(u.Payload)
			if h.open && (resized || u.DTS-h.segStart >= h.cfg.SegmentDuration) {
				h.cut(u.DTS)
			}
			if resized {
				// A new picture size (a WebRTC publisher's encoder adapts)
				// begins a segment after a discontinuity, and the playlists
				// and event files name the latest size.
				h.mu.Lock()
				h.discontinuity = len(h.segments) > 0
				h.mu.Unlock()
			}
			if !h.open {
				h.begin(u.DTS)
			}
			h.thumbnail(ctx, u)
		}
		if !h.open {
			return // before the first keyframe
		}
		if h.mw != nil {
			_ = h.mw.WriteH264(h.vt, ticks(u.PTS), ticks(u.DTS), u.Payload)
		}
		h.lastEnd = max(h.lastEnd, u.DTS+time.Second/30)
	case u.Track == h.audio && h.audio != nil:
		if h.video == nil { // audio only: segments at any frame
			if h.open && u.PTS-h.segStart >= h.cfg.SegmentDuration {
				h.cut(u.PTS)
			}
			if !h.open {
				h.begin(u.PTS)
			}
		}
		if h.open && h.at != nil && u.PTS >= h.segStart {
			_ = h.mw.WriteMPEG4Audio(h.at, ticks(u.PTS), u.Payload)
			// An AAC frame is 1024 samples.
			h.lastEnd = max(h.lastEnd, u.PTS+time.Duration(1024*int64(time.Second)/int64(max(h.audio.ClockRate, 1))))
		}
	}
}

// resized tells whether a keyframe's SPS gives the picture a size other
// than the rendition's so far, and takes it (with the codec string) if so.
func (h *HLS) resized(au [][]byte) bool {
	for _, n := range au {
		if len(n) == 0 || h264.NALUType(n[0]&0x1f) != h264.NALUTypeSPS || bytes.Equal(n, h.sps) {
			continue
		}
		h.sps = n
		var sps h264.SPS
		if sps.Unmarshal(n) != nil {
			return false
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if sps.Width() == h.width && sps.Height() == h.height {
			return false
		}
		first := h.width == 0
		h.width, h.height = sps.Width(), sps.Height()
		cs := []string{codecparams.Marshal(&hlscodecs.H264{SPS: n})}
		if h.audio != nil {
			cs = append(cs, codecparams.Marshal(&hlscodecs.MPEG4Audio{Config: *h.audio.Codec.(*stream.AAC).Config}))
		}
		h.codecs = strings.Join(cs, ",")
		return !first
	}
	return false
}

// Gap marks units the reader skipped (it fell behind): the open segment
// ends where the media stopped, and the next, at a keyframe, follows a
// discontinuity.
func (h *HLS) Gap() {
	h.cut(h.lastEnd)
	h.mu.Lock()
	h.discontinuity = true
	h.mu.Unlock()
}

// EndRun closes the run's last segment (the publisher stopped).
func (h *HLS) EndRun() { h.cut(h.lastEnd) }

// begin opens a segment at media time at; NoMedia opens none (only
// thumbnails are kept).
func (h *HLS) begin(at time.Duration) {
	h.segStart, h.open, h.mw = at, true, nil
	if h.cfg.Media == NoMedia {
		return
	}
	h.buf.Reset()
	var tracks []*mpegts.Track
	h.vt, h.at = nil, nil
	if h.video != nil {
		h.vt = &mpegts.Track{Codec: &tscodecs.H264{}}
		tracks = append(tracks, h.vt)
	}
	if h.audio != nil {
		h.at = &mpegts.Track{Codec: &tscodecs.MPEG4Audio{Config: *h.audio.Codec.(*stream.AAC).Config}}
		tracks = append(tracks, h.at)
	}
	h.mw = &mpegts.Writer{W: &h.buf, Tracks: tracks}
	if err := h.mw.Initialize(); err != nil {
		h.log.Error("recording segment", "err", err)
		h.mw = nil
	}
}

// cut closes the open segment at media time end and spools it with the
// updated media playlist (and, with the first, the multivariant one).
func (h *HLS) cut(end time.Duration) {
	if !h.open {
		return
	}
	h.open = false
	dur := end - h.segStart
	if dur <= 0 || h.mw == nil {
		return
	}
	body := append([]byte(nil), h.buf.Bytes()...)
	h.mu.Lock()
	n := len(h.segments)
	file := strconv.Itoa(n) + ".ts"
	seg := segment{file: file, dur: dur, disc: h.discontinuity && n > 0}
	h.segments = append(h.segments, seg)
	h.discontinuity = false
	h.peak = max(h.peak, int(float64(len(body)*8)/dur.Seconds()))
	js := journalSegment{Track: h.cfg.Rendition, Width: h.width, Height: h.height, Codecs: h.codecs, Peak: h.peak,
		File: file, Dur: dur, Disc: seg.disc}
	h.mu.Unlock()
	h.put("media/hls/"+h.cfg.Rendition+"/"+file, body, "video/mp2t")
	h.journal(hlsJournalLine{Segment: &js})
	h.writePlaylist(false)
	if n == 0 {
		h.writeMultivariant()
	}
}

// thumbnail keeps a JPEG of a keyframe every interval of media time.
func (h *HLS) thumbnail(ctx context.Context, u *stream.Unit) {
	tc := h.cfg.Thumbnails
	if tc.Interval <= 0 || tc.Make == nil || (!tc.Sequential && !tc.Latest) {
		return
	}
	// By media time: the backlog a stream starts with must not squeeze
	// several intervals into one. A new run starts afresh.
	if h.thumbed && u.PTS-h.lastThumb < tc.Interval {
		return
	}
	h.lastThumb, h.thumbed = u.PTS, true
	jpeg, err := tc.Make(ctx, u.Payload, tc.MaxHeight)
	if err != nil {
		h.log.Warn("recording thumbnail", "err", err)
		return
	}
	h.mu.Lock()
	n := h.thumbs
	h.thumbs++
	h.mu.Unlock()
	if tc.Sequential {
		h.put(fmt.Sprintf("media/thumbnails/%s/thumb%d.jpg", h.cfg.Rendition, n), jpeg, "image/jpeg")
	}
	if tc.Latest {
		h.put("media/latest_thumbnail/"+h.cfg.Rendition+"/thumb.jpg", jpeg, "image/jpeg")
	}
}

// Close ends the recording: the final media playlist (EXT-X-ENDLIST),
// the multivariant playlist and events/recording-ended.json (with
// RECORDING_ENDED_WITH_FAILURE when failure is given or objects were
// lost). The journal is removed. Idempotent.
func (h *HLS) Close(failure string) HLSSummary {
	h.mu.Lock()
	if h.closed {
		s := h.summaryLocked()
		h.mu.Unlock()
		return s
	}
	h.closed = true
	if failure != "" && h.failure == "" {
		h.failure = failure
	}
	h.mu.Unlock()
	h.writePlaylist(true)
	h.writeMultivariant()
	h.mu.Lock()
	s := h.summaryLocked()
	h.mu.Unlock()
	status := statusEnded
	if s.Failure != "" {
		status = statusEndedWithFailed
	}
	ms := s.Duration.Milliseconds()
	h.put("events/recording-ended.json", h.metadata(status, &ms), "application/json")
	h.closeJournal()
	h.log.Info("recording ended", "duration_ms", ms, "failure", s.Failure)
	return h.Summary()
}

// Summary says what the recording holds so far.
func (h *HLS) Summary() HLSSummary {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.summaryLocked()
}

func (h *HLS) summaryLocked() HLSSummary {
	var d time.Duration
	for _, s := range h.segments {
		d += s.dur
	}
	return HLSSummary{Duration: d, Segments: len(h.segments), Failure: h.failure}
}

// put spools an object under the prefix. An object the spool refuses is
// lost: logged, and the first loss is the recording's failure.
func (h *HLS) put(key string, body []byte, contentType string) {
	err := h.cfg.Spool.Put(h.cfg.Bucket, h.cfg.Prefix+"/"+key, body, contentType)
	if err == nil {
		return
	}
	h.log.Error("recording object lost", "key", key, "err", err)
	reason := lossReason(err)
	h.mu.Lock()
	h.lost++
	first := h.lost == 1
	if first && h.failure == "" {
		h.failure = reason
	}
	h.mu.Unlock()
	if first && h.cfg.OnLoss != nil {
		h.cfg.OnLoss(reason)
	}
}

// writePlaylist spools the rendition's media playlist: an EVENT playlist
// while recording, closed with EXT-X-ENDLIST at the end.
func (h *HLS) writePlaylist(final bool) {
	h.mu.Lock()
	b := mediaPlaylist(h.segments, final)
	h.mu.Unlock()
	if b != nil {
		h.put("media/hls/"+h.cfg.Rendition+"/playlist.m3u8", b, "application/vnd.apple.mpegurl")
	}
}

// writeMultivariant spools media/hls/<Multivariant> once there is a
// segment.
func (h *HLS) writeMultivariant() {
	h.mu.Lock()
	if len(h.segments) == 0 {
		h.mu.Unlock()
		return
	}
	var b bytes.Buffer
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d", max(h.peak, 1))
	if h.width > 0 {
		fmt.Fprintf(&b, ",RESOLUTION=%dx%d", h.width, h.height)
	}
	fmt.Fprintf(&b, ",CODECS=\"%s\"\n%s/playlist.m3u8\n", h.codecs, h.cfg.Rendition)
	h.mu.Unlock()
	h.put("media/hls/"+h.cfg.Multivariant, b.Bytes(), "application/vnd.apple.mpegurl")
}

// mediaPlaylist is an EVENT media playlist of segs (nil if none), with
// EXT-X-ENDLIST when final.
func mediaPlaylist(segs []segment, final bool) []byte {
	if len(segs) == 0 {
		return nil
	}
	var b bytes.Buffer
	target := 0
	for _, s := range segs {
		target = max(target, int(math.Ceil(s.dur.Seconds())))
	}
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:EVENT\n", target)
	for _, s := range segs {
		if s.disc {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		fmt.Fprintf(&b, "#EXTINF:%.3f,\n%s\n", s.dur.Seconds(), s.file)
	}
	if final {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	return b.Bytes()
}

// metadata is the JSON of an event file: the configured fields, then the
// writer's, in the shape of a channel recording's.
func (h *HLS) metadata(status string, durationMs *int64) []byte {
	doc := map[string]any{}
	for k, v := range h.cfg.Metadata {
		doc[k] = v
	}
	doc["version"] = "v1"
	doc["recording_started_at"] = h.started.Format(time.RFC3339)
	doc["recording_status"] = status
	h.mu.Lock()
	doc["recording_status_message"] = h.failure
	rendition := map[string]any{"path": h.cfg.Rendition, "playlist": "playlist.m3u8"}
	if h.width > 0 {
		rendition["resolution_width"], rendition["resolution_height"] = h.width, h.height
	}
	renditions := []any{}
	if len(h.segments) > 0 || status == statusStarted {
		renditions = append(renditions, rendition)
	}
	h.mu.Unlock()
	if status != statusStarted {
		doc["recording_ended_at"] = time.Now().UTC().Format(time.RFC3339)
	}
	hls := map[string]any{"path": "media/hls", "playlist": h.cfg.Multivariant, "renditions": renditions}
	if durationMs != nil {
		hls["duration_ms"] = *durationMs
	}
	media := map[string]any{}
	if h.cfg.Media != NoMedia {
		media["hls"] = hls
	}
	if tc := h.cfg.Thumbnails; tc.Interval > 0 && tc.Make != nil {
		if tc.Sequential {
			media["thumbnails"] = map[string]string{"path": "media/thumbnails"}
		}
		if tc.Latest {
			media["latest_thumbnail"] = map[string]string{"path": "media/latest_thumbnail"}
		}
	}
	doc["media"] = media
	b, _ := json.MarshalIndent(doc, "", "  ")
	return b
}

// The journal of an HLS recording: its start, then a line per segment
// spooled (after the segment, so it never names one the spool lacks).

type hlsJournalLine struct {
	Start   *hlsJournalStart `json:"start,omitempty"`
	Segment *journalSegment  `json:"segment,omitempty"`
}

type hlsJournalStart struct {
	ID           string            `json:"id"`
	Bucket       string            `json:"bucket"`
	Prefix       string            `json:"prefix"`
	Rendition    string            `json:"rendition"`
	Multivariant string            `json:"multivariant"`
	Media        Media             `json:"media"`
	Sequential   bool              `json:"sequential,omitempty"`
	Latest       bool              `json:"latest,omitempty"`
	Metadata     map[string]string `json:"metadata"`
	Started      time.Time         `json:"started"`
}

func (h *HLS) openJournal() {
	if h.cfg.JournalDir == "" {
		return
	}
	if err := os.MkdirAll(h.cfg.JournalDir, 0o700); err != nil {
		h.log.Error("recording journal: crash recovery disabled for this recording", "err", err)
		return
	}
	f, err := os.OpenFile(filepath.Join(h.cfg.JournalDir, h.id+".jsonl"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		h.log.Error("recording journal: crash recovery disabled for this recording", "err", err)
		return
	}
	h.jf = f
	tc := h.cfg.Thumbnails
	h.journal(hlsJournalLine{Start: &hlsJournalStart{ID: h.id, Bucket: h.cfg.Bucket, Prefix: h.cfg.Prefix,
		Rendition: h.cfg.Rendition, Multivariant: h.cfg.Multivariant, Media: h.cfg.Media, Metadata: h.cfg.Metadata,
		Sequential: tc.Interval > 0 && tc.Make != nil && tc.Sequential, Latest: tc.Interval > 0 && tc.Make != nil && tc.Latest,
		Started: h.started}})
}

// journal appends a line and syncs it; a journal that fails is given up.
func (h *HLS) journal(l hlsJournalLine) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.jf == nil {
		return
	}
	b, err := json.Marshal(l)
	if err == nil {
		_, err = h.jf.Write(append(b, '\n'))
	}
	if err == nil {
		err = h.jf.Sync()
	}
	if err != nil {
		h.log.Error("recording journal: crash recovery disabled for this recording", "err", err)
		_ = h.jf.Close()
		h.jf = nil
	}
}

func (h *HLS) closeJournal() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.jf == nil {
		return
	}
	_ = h.jf.Close()
	h.jf = nil
	if err := os.Remove(filepath.Join(h.cfg.JournalDir, h.id+".jsonl")); err != nil {
		h.log.Warn("recording journal", "err", err)
	}
}

// RecoveredHLS is an HLS recording that RecoverHLS finished.
type RecoveredHLS struct {
	Bucket, Prefix string
	Metadata       map[string]string
	Summary        HLSSummary
}

// RecoverHLS finishes the HLS recordings whose journals an earlier run
// left in dir (it crashed or was killed while recording): each gets its
// final playlists and recording-ended.json with
// RECORDING_ENDED_WITH_FAILURE, and its journal is removed. Call it before
// anything records into dir. An unreadable journal is renamed *.bad and
// skipped.
func RecoverHLS(dir string, spool *Spool, log *slog.Logger) ([]RecoveredHLS, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil {
		return nil, fmt.Errorf("record: journal: %w", err)
	}
	var out []RecoveredHLS
	for _, p := range paths {
		h, err := readHLSJournal(p, spool, log)
		if err != nil {
			log.Error("recording journal unreadable; the recording stays unfinished", "file", p, "err", err)
			_ = os.Rename(p, p+".bad")
			continue
		}
		s := h.Close(interruptedReason)
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return out, fmt.Errorf("record: journal: %w", err)
		}
		out = append(out, RecoveredHLS{Bucket: h.cfg.Bucket, Prefix: h.cfg.Prefix, Metadata: h.cfg.Metadata, Summary: s})
	}
	return out, nil
}

// readHLSJournal rebuilds a recording from its journal; a torn last line
// is ignored.
func readHLSJournal(path string, spool *Spool, log *slog.Logger) (*HLS, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var h *HLS
	for line := range bytes.SplitSeq(raw, []byte("\n")) {
		var l hlsJournalLine
		if len(line) == 0 || json.Unmarshal(line, &l) != nil {
			break
		}
		switch {
		case l.Start != nil:
			s := l.Start
			cfg := HLSConfig{Spool: spool, Bucket: s.Bucket, Prefix: s.Prefix, Rendition: s.Rendition, Multivariant: s.Multivariant,
				Media: s.Media, Metadata: s.Metadata, Log: log}
			if s.Sequential || s.Latest {
				// The event file names the thumbnails that were kept.
				cfg.Thumbnails = Thumbnails{Interval: time.Second, Sequential: s.Sequential, Latest: s.Latest,
					Make: func(context.Context, [][]byte, int) ([]byte, error) { return nil, errors.New("recovered") }}
			}
			h = &HLS{cfg: cfg, log: log.With("component", "record", "prefix", s.Prefix), id: s.ID, started: s.Started}
		case h == nil:
			return nil, errors.New("no start line")
		case l.Segment != nil:
			s := l.Segment
			h.width, h.height, h.codecs, h.peak = s.Width, s.Height, s.Codecs, s.Peak
			h.segments = append(h.segments, segment{file: s.File, dur: s.Dur, disc: s.Disc})
		}
	}
	if h == nil || h.cfg.Bucket == "" || h.cfg.Rendition == "" {
		return nil, errors.New("no start line")
	}
	return h, nil
}
