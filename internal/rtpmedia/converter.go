package rtpmedia

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"

	"github.com/onair-video/onair/internal/ffmpeg"
	"github.com/onair-video/onair/internal/stream"
)

// Video codecs a Converter takes.
const (
	H264 = "H264"
	VP8  = "VP8"
)

// Config describes a Converter's input and where its units go.
type Config struct {
	// Video is the codec of the video RTP (H264 or VP8); "" takes none.
	Video string
	// Audio takes Opus audio (48 kHz, stereo), made AAC.
	Audio bool
	// Originals puts the publisher's own VP8 and Opus, which the H.264 and
	// AAC are made from, in the stream too: a channel's hub keeps them
	// (stats, the ingest configuration).
	Originals bool
	// OptionalAAC goes on without AAC when Opus cannot be made AAC (no
	// ffmpeg): New logs why instead of failing.
	OptionalAAC bool
	// Start is called once, before the first unit, with the tracks the
	// units belong to, in this order of those there are: VP8 and Opus
	// (Originals), H.264 (Derived when made from VP8) after VP8, AAC
	// (Derived) after Opus. With video, the stream starts at its first
	// keyframe with parameter sets; audio alone, at the first AAC frame.
	// Media time 0 is that start. An error refuses the stream: nothing
	// more is taken, and Failed hears of it.
	Start func(tracks []*stream.Track) error
	// Unit receives each unit, from the goroutine of the packet (or of
	// ffmpeg's output) that completed it; units of a track come in order.
	Unit func(u *stream.Unit)
	// Keyframe asks the publisher for a keyframe: a packet was lost and
	// the picture is broken until the next one. nil: not asked.
	Keyframe func()
	// Failed, if set, is called once (on a goroutine of its own) when the
	// stream cannot go on: Start refused it, or VP8 cannot be transcoded.
	Failed func(error)
	Log    *slog.Logger
}

// Converter turns RTP packets into units. WriteVideo and WriteAudio may
// be called from different goroutines, each from one.
type Converter struct {
	ctx    context.Context
	cancel context.CancelFunc
	cfg    Config
	log    *slog.Logger

	frames *Frames // video's own goroutine
	vclock *Clock  // video's
	aclock *Clock  // audio's
	aconv  *ffmpeg.Converter

	mu        sync.Mutex
	wallStart time.Time
	fixer     *stream.H264Fixer
	vconv     *ffmpeg.Converter // VP8 → H.264, from the first keyframe
	vp8       *stream.Track     // Originals: the publisher's VP8
	video     *stream.Track
	opus      *stream.Track // Originals: the publisher's Opus
	aac       *stream.Track
	started   bool
	startPTS  time.Duration
	closed    bool // Close, or the stream failed
}

// ErrCodec is a video codec the converter does not take.
var ErrCodec = errors.New("rtpmedia: unsupported codec")

// New starts a converter; its ffmpeg processes live until Close or ctx
// ends. Audio needs ffmpeg (Opus → AAC), and so does VP8.
func New(ctx context.Context, cfg Config) (*Converter, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Video != "" && cfg.Video != H264 && cfg.Video != VP8 {
		return nil, fmt.Errorf("%w: video %q", ErrCodec, cfg.Video)
	}
	if cfg.Video == "" && !cfg.Audio {
		return nil, fmt.Errorf("%w: neither audio nor video", ErrCodec)
	}
	c := &Converter{cfg: cfg, log: cfg.Log, vclock: &Clock{Rate: 90000}, aclock: &Clock{Rate: 48000},
		fixer: stream.NewH264Fixer(nil, nil)}
	c.ctx, c.cancel = context.WithCancel(ctx)
	if cfg.Video != "" {
		c.frames = NewFrames(cfg.Video == VP8)
	}
	if cfg.Audio && cfg.Originals {
		c.opus = &stream.Track{Codec: &stream.Opus{ChannelCount: 2}, ClockRate: 48000}
	}
	if cfg.Audio {
		conv, asc, err := ffmpeg.OpusToAAC(c.ctx, 2, c.log, c.writeAAC)
		switch {
		case err == nil:
			c.aconv = conv
			c.aac = &stream.Track{Codec: &stream.AAC{Config: asc}, ClockRate: 48000, Derived: true}
		case cfg.OptionalAAC && cfg.Video != "":
			// HLS players want AAC (Safari plays no Opus).
			c.log.Warn("HLS without audio", "reason", err.Error())
		default:
			c.cancel()
			return nil, fmt.Errorf("rtpmedia: Opus to AAC: %w", err)
		}
	}
	return c, nil
}

// Close stops the converter's ffmpeg processes; no unit comes after it
// returns.
func (c *Converter) Close() {
	c.mu.Lock()
	c.closed = true
	vconv := c.vconv
	c.mu.Unlock()
	c.cancel()
	if vconv != nil {
		vconv.Close()
	}
	if c.aconv != nil {
		c.aconv.Close()
	}
}

// fail ends the stream with err (c.mu held).
func (c *Converter) failLocked(err error) {
	if c.closed {
		return
	}
	c.closed = true
	c.log.Warn("stream ended", "err", err)
	if c.cfg.Failed != nil {
		go c.cfg.Failed(err)
	}
}

// arrival marks now on the shared wall clock (c.mu held).
func (c *Converter) arrival(now time.Time) time.Time {
	if c.wallStart.IsZero() {
		c.wallStart = now
	}
	return c.wallStart
}

// WriteVideo takes a video packet; h and payload are copied.
func (c *Converter) WriteVideo(h *rtp.Header, payload []byte) {
	if c.frames == nil || len(payload) == 0 {
		return
	}
	now := time.Now()
	// The frame builder keeps packets: they must be the converter's own.
	c.frames.Push(&rtp.Packet{Header: h.Clone(), Payload: append([]byte(nil), payload...)})
	for s := c.frames.Pop(); s != nil; s = c.frames.Pop() {
		if s.PrevDroppedPackets > 0 && c.cfg.Keyframe != nil {
			c.cfg.Keyframe()
		}
		c.mu.Lock()
		pts := c.vclock.PTS(s.PacketTimestamp, now, c.arrival(now))
		c.mu.Unlock()
		if c.cfg.Video == VP8 {
			c.writeVP8(s.Data, pts, now)
			continue
		}
		var au h264.AnnexB
		if err := au.Unmarshal(s.Data); err != nil {
			continue
		}
		c.writeH264(au, pts, now)
	}
}

// writeVP8 feeds the transcoder, started at the first keyframe, and (with
// Originals, once the stream started) hands the frame on.
func (c *Converter) writeVP8(frame []byte, pts time.Duration, now time.Time) {
	key, w, h := VP8Keyframe(frame)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if c.vconv == nil {
		if !key {
			c.mu.Unlock()
			return
		}
		conv, err := ffmpeg.VP8ToH264(c.ctx, w, h, c.log, func(f ffmpeg.Frame) { c.writeH264(f.NALUs, f.PTS, time.Now()) })
		if err != nil {
			c.failLocked(fmt.Errorf("rtpmedia: VP8 could not be transcoded: %w", err))
			c.mu.Unlock()
			return
		}
		c.vconv = conv
		if c.cfg.Originals {
			c.vp8 = &stream.Track{Codec: &stream.VP8{Width: w, Height: h}, ClockRate: 90000}
		}
	}
	conv := c.vconv
	if c.vp8 != nil && c.started && pts >= c.startPTS {
		d := pts - c.startPTS
		c.cfg.Unit(&stream.Unit{Track: c.vp8, PTS: d, DTS: d, NTP: now, Payload: [][]byte{frame}, RandomAccess: key})
	}
	c.mu.Unlock()
	conv.Write(ffmpeg.Frame{PTS: pts, Data: frame})
}

// writeH264 hands on an access unit at media time pts; the stream starts
// at the first keyframe with parameter sets.
func (c *Converter) writeH264(nalus [][]byte, pts time.Duration, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	au, ok := c.fixer.Fix(nalus)
	if !ok {
		return
	}
	idr := h264.IsRandomAccess(au)
	if c.video == nil {
		sps, pps := c.fixer.Params()
		if !idr || sps == nil || pps == nil {
			return
		}
		c.video = &stream.Track{Codec: &stream.H264{SPS: sps, PPS: pps}, ClockRate: 90000, Derived: c.cfg.Video == VP8}
		if !c.startLocked(pts) {
			return
		}
	}
	if pts < c.startPTS {
		return
	}
	d := pts - c.startPTS
	c.cfg.Unit(&stream.Unit{Track: c.video, PTS: d, DTS: d, NTP: now, Payload: au, RandomAccess: idr})
}

// startLocked starts the stream at media time pts; false if Start
// refused it.
func (c *Converter) startLocked(pts time.Duration) bool {
	var tracks []*stream.Track
	for _, t := range []*stream.Track{c.vp8, c.video, c.opus, c.aac} {
		if t != nil {
			tracks = append(tracks, t)
		}
	}
	if err := c.cfg.Start(tracks); err != nil {
		c.failLocked(err)
		return false
	}
	c.started, c.startPTS = true, pts
	return true
}

// WriteAudio takes an Opus packet; payload is copied.
func (c *Converter) WriteAudio(h *rtp.Header, payload []byte) {
	if (c.aconv == nil && c.opus == nil) || len(payload) == 0 {
		return
	}
	now := time.Now()
	p := append([]byte(nil), payload...)
	c.mu.Lock()
	pts := c.aclock.PTS(h.Timestamp, now, c.arrival(now))
	if c.opus != nil && c.started && !c.closed && pts >= c.startPTS {
		d := pts - c.startPTS
		c.cfg.Unit(&stream.Unit{Track: c.opus, PTS: d, DTS: d, NTP: now, Payload: [][]byte{p}})
	}
	c.mu.Unlock()
	if c.aconv != nil {
		c.aconv.Write(ffmpeg.Frame{PTS: pts, Data: p})
	}
}

// writeAAC hands on the converter's AAC frames once the stream started
// (audio alone: it starts with the first).
func (c *Converter) writeAAC(f ffmpeg.Frame) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if !c.started && c.cfg.Video == "" && !c.startLocked(f.PTS) {
		return
	}
	if !c.started || f.PTS < c.startPTS {
		return
	}
	d := f.PTS - c.startPTS
	c.cfg.Unit(&stream.Unit{Track: c.aac, PTS: d, DTS: d, NTP: time.Now(), Payload: [][]byte{f.Data}})
}
