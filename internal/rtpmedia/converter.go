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
	// Start is called once, before the first unit, with the tracks the
	// units belong to: H.264 (Derived when made from VP8) and AAC. With
	// video, the stream starts at its first keyframe with parameter sets;
	// audio alone, at the first AAC frame. Media time 0 is that start.
	Start func(tracks []*stream.Track)
	// Unit receives each unit, from the goroutine of the packet (or of
	// ffmpeg's output) that completed it; units of a track come in order.
	Unit func(u *stream.Unit)
	// Keyframe asks the publisher for a keyframe: a packet was lost and
	// the picture is broken until the next one. nil: not asked.
	Keyframe func()
	Log      *slog.Logger
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
	video     *stream.Track
	aac       *stream.Track
	started   bool
	startPTS  time.Duration
	closed    bool
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
	if cfg.Audio {
		conv, asc, err := ffmpeg.OpusToAAC(c.ctx, 2, c.log, c.writeAAC)
		if err != nil {
			c.cancel()
			return nil, fmt.Errorf("rtpmedia: Opus to AAC: %w", err)
		}
		c.aconv = conv
		c.aac = &stream.Track{Codec: &stream.AAC{Config: asc}, ClockRate: 48000, Derived: true}
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
	p := &rtp.Packet{Header: h.Clone(), Payload: append([]byte(nil), payload...)}
	c.frames.Push(p)
	for s := c.frames.Pop(); s != nil; s = c.frames.Pop() {
		if s.PrevDroppedPackets > 0 && c.cfg.Keyframe != nil {
			c.cfg.Keyframe()
		}
		c.mu.Lock()
		pts := c.vclock.PTS(s.PacketTimestamp, now, c.arrival(now))
		c.mu.Unlock()
		if c.cfg.Video == VP8 {
			c.writeVP8(s.Data, pts)
			continue
		}
		var au h264.AnnexB
		if err := au.Unmarshal(s.Data); err != nil {
			continue
		}
		c.writeH264(au, pts, now)
	}
}

// writeVP8 feeds the transcoder, started at the first keyframe.
func (c *Converter) writeVP8(frame []byte, pts time.Duration) {
	c.mu.Lock()
	if c.vconv == nil && !c.closed {
		key, w, h := VP8Keyframe(frame)
		if !key {
			c.mu.Unlock()
			return
		}
		conv, err := ffmpeg.VP8ToH264(c.ctx, w, h, c.log, func(f ffmpeg.Frame) { c.writeH264(f.NALUs, f.PTS, time.Now()) })
		if err != nil {
			c.mu.Unlock()
			c.log.Error("VP8 cannot be transcoded: no video", "err", err)
			c.frames = nil
			return
		}
		c.vconv = conv
	}
	conv := c.vconv
	c.mu.Unlock()
	if conv != nil {
		conv.Write(ffmpeg.Frame{PTS: pts, Data: frame})
	}
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
		c.startLocked(pts)
	}
	if pts < c.startPTS {
		return
	}
	d := pts - c.startPTS
	c.cfg.Unit(&stream.Unit{Track: c.video, PTS: d, DTS: d, NTP: now, Payload: au, RandomAccess: idr})
}

// startLocked starts the stream at media time pts.
func (c *Converter) startLocked(pts time.Duration) {
	var tracks []*stream.Track
	if c.video != nil {
		tracks = append(tracks, c.video)
	}
	if c.aac != nil {
		tracks = append(tracks, c.aac)
	}
	c.started, c.startPTS = true, pts
	c.cfg.Start(tracks)
}

// WriteAudio takes an Opus packet; payload is copied.
func (c *Converter) WriteAudio(h *rtp.Header, payload []byte) {
	if c.aconv == nil || len(payload) == 0 {
		return
	}
	now := time.Now()
	c.mu.Lock()
	pts := c.aclock.PTS(h.Timestamp, now, c.arrival(now))
	c.mu.Unlock()
	c.aconv.Write(ffmpeg.Frame{PTS: pts, Data: append([]byte(nil), payload...)})
}

// writeAAC hands on the converter's AAC frames once the stream started
// (audio alone: it starts with the first).
func (c *Converter) writeAAC(f ffmpeg.Frame) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if !c.started && c.cfg.Video == "" {
		c.startLocked(f.PTS)
	}
	if !c.started || f.PTS < c.startPTS {
		return
	}
	d := f.PTS - c.startPTS
	c.cfg.Unit(&stream.Unit{Track: c.aac, PTS: d, DTS: d, NTP: time.Now(), Payload: [][]byte{f.Data}})
}
