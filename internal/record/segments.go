package record

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/codecparams"
	hlscodecs "github.com/bluenviron/gohlslib/v2/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/stream"
)

// trackState is a recorded rendition; guarded by recording.mu.
type trackState struct {
	name          string
	width, height int
	codecs        string
	segments      []segment
	peakBitrate   int
	discontinuity bool // the next segment follows a reconnect
	thumbs        int
}

type segment struct {
	file string
	dur  time.Duration
	disc bool
}

// segmentWriter cuts one hub's units into MPEG-TS segments at keyframes.
type segmentWriter struct {
	rec    *recording
	t      *trackState
	source bool

	video, audio *stream.Track
	buf          bytes.Buffer
	mw           *mpegts.Writer
	vt, at       *mpegts.Track
	segStart     time.Duration
	lastPTS      time.Duration
	open         bool
	lastThumb    time.Duration // media time of the last thumbnail
	thumbed      bool
}

func (w *segmentWriter) run(ctx context.Context, r *live.Reader, tracks []*stream.Track) {
	for _, t := range tracks {
		switch t.Codec.(type) {
		case *stream.H264:
			if w.video == nil {
				w.video = t
			}
		case *stream.AAC:
			if w.audio == nil {
				w.audio = t
			}
		}
	}
	if w.video == nil {
		return
	}
	w.describe()
	for {
		u, err := r.Read(ctx)
		if err != nil {
			w.finish()
			return
		}
		if r.Skipped() > 0 {
			w.gap()
		}
		w.write(ctx, u)
	}
}

// describe records the rendition's size and codecs for the playlists.
func (w *segmentWriter) describe() {
	c := w.video.Codec.(*stream.H264)
	var sps h264.SPS
	_ = sps.Unmarshal(c.SPS)
	codecs := []string{codecparams.Marshal(&hlscodecs.H264{SPS: c.SPS, PPS: c.PPS})}
	if w.audio != nil {
		codecs = append(codecs, codecparams.Marshal(&hlscodecs.MPEG4Audio{Config: *w.audio.Codec.(*stream.AAC).Config}))
	}
	w.rec.mu.Lock()
	w.t.width, w.t.height, w.t.codecs = sps.Width(), sps.Height(), strings.Join(codecs, ",")
	w.rec.mu.Unlock()
}

func (w *segmentWriter) write(ctx context.Context, u *stream.Unit) {
	switch u.Track {
	case w.video:
		if u.RandomAccess {
			if w.open && u.DTS-w.segStart >= w.rec.r.cfg.SegmentDuration {
				w.cut(u.DTS)
			}
			if !w.open {
				w.begin(u.DTS)
			}
			if w.source {
				w.thumbnail(ctx, u)
			}
		}
		if !w.open {
			return // before the first keyframe
		}
		_ = w.mw.WriteH264(w.vt, ticks(u.PTS), ticks(u.DTS), u.Payload)
		w.lastPTS = max(w.lastPTS, u.DTS+time.Second/30)
	case w.audio:
		if w.open && w.at != nil && u.PTS >= w.segStart {
			_ = w.mw.WriteMPEG4Audio(w.at, ticks(u.PTS), u.Payload)
		}
	}
}

func ticks(d time.Duration) int64 { return int64(d) * 90000 / int64(time.Second) }

func (w *segmentWriter) begin(at time.Duration) {
	w.buf.Reset()
	w.vt = &mpegts.Track{Codec: &tscodecs.H264{}}
	tracks := []*mpegts.Track{w.vt}
	w.at = nil
	if w.audio != nil {
		w.at = &mpegts.Track{Codec: &tscodecs.MPEG4Audio{Config: *w.audio.Codec.(*stream.AAC).Config}}
		tracks = append(tracks, w.at)
	}
	w.mw = &mpegts.Writer{W: &w.buf, Tracks: tracks}
	if err := w.mw.Initialize(); err != nil {
		w.rec.r.log.Error("recording segment", "err", err)
		return
	}
	w.segStart, w.open = at, true
}

// cut closes the open segment at media time end and queues it with the
// rendition's updated playlist.
func (w *segmentWriter) cut(end time.Duration) {
	if !w.open {
		return
	}
	w.open = false
	dur := end - w.segStart
	if dur <= 0 {
		return
	}
	body := append([]byte(nil), w.buf.Bytes()...)
	w.rec.mu.Lock()
	n := len(w.t.segments)
	file := strconv.Itoa(n) + ".ts"
	w.t.segments = append(w.t.segments, segment{file: file, dur: dur, disc: w.t.discontinuity && n > 0})
	w.t.discontinuity = false
	w.t.peakBitrate = max(w.t.peakBitrate, int(float64(len(body)*8)/dur.Seconds()))
	first := n == 0
	js := journalSegment{Track: w.t.name, Width: w.t.width, Height: w.t.height, Codecs: w.t.codecs, Peak: w.t.peakBitrate,
		File: file, Dur: dur, Disc: w.t.segments[n].disc}
	note := w.rec.segmentNote(w.t, n)
	w.rec.mu.Unlock()
	w.rec.putNoted("media/hls/"+w.t.name+"/"+file, body, "video/mp2t", note)
	w.rec.mu.Lock()
	w.rec.journal(journalLine{Segment: &js})
	w.rec.mu.Unlock()
	w.rec.writePlaylist(w.t.name, false)
	if first {
		w.rec.writeMaster()
	}
}

// gap ends the open segment where the media stopped before the units the
// reader skipped (it fell behind; it resumes at a keyframe, which begins
// the next segment), and marks the jump in time as a discontinuity: no
// segment claims media it lacks, and none starts without a keyframe.
func (w *segmentWriter) gap() {
	w.cut(w.lastPTS)
	w.rec.mu.Lock()
	w.t.discontinuity = true
	w.rec.mu.Unlock()
}

// finish closes the last segment at the end of the stream.
func (w *segmentWriter) finish() {
	w.cut(w.lastPTS)
}

// thumbnail records a JPEG of a source keyframe every interval.
func (w *segmentWriter) thumbnail(ctx context.Context, u *stream.Unit) {
	tc := w.rec.cfg.ThumbnailConfiguration
	if tc.RecordingMode != "INTERVAL" || w.rec.r.cfg.Thumbnail == nil || tc.TargetIntervalSeconds == nil {
		return
	}
	// By media time: the backlog a stream starts with must not squeeze
	// several intervals into one.
	if w.thumbed && u.PTS-w.lastThumb < time.Duration(*tc.TargetIntervalSeconds)*time.Second {
		return
	}
	w.lastThumb, w.thumbed = u.PTS, true
	jpeg, err := w.rec.r.cfg.Thumbnail(ctx, u.Payload, thumbnailHeight(tc.Resolution))
	if err != nil {
		w.rec.r.log.Warn("recording thumbnail", "err", err)
		return
	}
	w.rec.mu.Lock()
	n := w.t.thumbs
	w.t.thumbs++
	w.rec.mu.Unlock()
	if slices.Contains(tc.Storage, "SEQUENTIAL") {
		w.rec.put(fmt.Sprintf("media/thumbnails/%s/thumb%d.jpg", w.t.name, n), jpeg, "image/jpeg")
	}
	if slices.Contains(tc.Storage, "LATEST") {
		w.rec.put("media/latest_thumbnail/"+w.t.name+"/thumb.jpg", jpeg, "image/jpeg")
	}
}
