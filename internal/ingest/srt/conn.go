package srt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
	gosrt "github.com/datarhei/gosrt"

	"github.com/onair-video/onair/internal/conns"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/stream"
)

// Refusals of a caller's request or stream (conns.Refuse marks them where
// they are returned).
var (
	errNoVideo     = errors.New("srt: no H.264 or H.265 video track in the MPEG-TS (audio-only streams are refused)")
	errNoKeyframe  = errors.New("srt: no keyframe with parameter sets within the handshake timeout")
	errBadSecret   = errors.New("srt: wrong passphrase")
	errHandshaking = errors.New("srt: handshake timed out")
)

const (
	videoClockRate = 90000
	opusClockRate  = 48000
)

// rejection maps why a caller is refused to the SRT rejection code it sees
// (ffmpeg prints it; the REJX codes are SRT's access-control extension).
func rejection(err error) gosrt.RejectionReason {
	switch {
	case errors.Is(err, errNotPublish):
		return gosrt.REJX_BAD_MODE
	case errors.Is(err, errNoStreamID), errors.Is(err, errBadStreamID), errors.Is(err, errBadKeyFormat):
		return gosrt.REJX_BAD_REQUEST
	case errors.Is(err, live.ErrUnknownKey):
		return gosrt.REJX_UNAUTHORIZED
	case errors.Is(err, live.ErrChannelBusy):
		return gosrt.REJX_CONFLICT
	case errors.Is(err, live.ErrRefused), errors.Is(err, live.ErrThrottled):
		return gosrt.REJX_OVERLOAD
	case errors.Is(err, live.ErrInsecure):
		return gosrt.REJX_FORBIDDEN
	case errors.Is(err, live.ErrClosed):
		return gosrt.REJ_CLOSE
	case errors.Is(err, errBadSecret):
		return gosrt.REJ_BADSECRET
	default:
		return gosrt.REJX_ISE
	}
}

// handle answers one connection request and, once accepted, reads the
// caller's stream until it ends.
func (s *Server) handle(req gosrt.ConnRequest) {
	remote := req.RemoteAddr().String()
	log := s.log.With("remote", remote)
	pub, err := s.admit(req, remote)
	if err != nil {
		code := rejection(err)
		req.Reject(code)
		s.conns.End(log.With("code", int(code)), err)
		return
	}
	defer pub.Close()
	log = log.With("channel", pub.Target())

	conn, err := req.Accept()
	if err != nil {
		s.conns.End(log, fmt.Errorf("srt: accept: %w", err))
		return
	}
	defer func() { _ = conn.Close() }()
	if !s.conns.Add(conn, conn) {
		return
	}
	defer s.conns.Remove(conn)

	c := &publisher{srv: s, conn: conn, pub: pub, log: log}
	err = c.run(s.conns.Context())
	select {
	case <-pub.Done():
		err = conns.CutOff(pub.Cause())
	default:
	}
	s.conns.End(log, err)
}

// admit checks the request's stream key and passphrase and claims the
// channel. The returned publisher must be closed.
func (s *Server) admit(req gosrt.ConnRequest, remote string) (*live.Publisher, error) {
	key, err := parseStreamID(req.StreamId())
	if err != nil {
		return nil, conns.Refuse(err)
	}
	ctx, cancel := context.WithTimeout(s.conns.Context(), claimTimeout)
	defer cancel()
	pub, err := s.reg.Claim(ctx, key, live.ConnInfo{Protocol: "srt", Remote: remote, Secure: req.IsEncrypted()})
	if err != nil {
		return nil, fmt.Errorf("srt: claim: %w", err)
	}
	if req.IsEncrypted() {
		pass := pub.Channel().SRT.Passphrase
		if pass == "" || req.SetPassphrase(pass) != nil {
			pub.Close()
			return nil, conns.Refuse(errBadSecret)
		}
	}
	return pub, nil
}

// publisher is one accepted publisher connection.
type publisher struct {
	srv  *Server
	conn gosrt.Conn
	pub  *live.Publisher
	log  *slog.Logger

	hub       *stream.Hub
	video     *stream.Track
	audio     *stream.Track
	h264      *stream.H264Fixer
	h265      *stream.H265Fixer
	times     mpegts.TimeDecoder
	startDTS  int64
	sampleDur int64 // 90 kHz ticks per AAC frame
}

func (c *publisher) run(ctx context.Context) error {
	// gosrt's deadlines are no-ops: close the connection instead when the
	// handshake phase overruns, or when the publisher is cut off.
	started := make(chan struct{})
	var once sync.Once
	markStarted := func() { once.Do(func() { close(started) }) }
	timedOut := make(chan struct{})
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTimer(handshakeTimeout)
		defer t.Stop()
		select {
		case <-started:
		case <-t.C:
			close(timedOut)
			_ = c.conn.Close()
			return
		case <-quit:
			return
		}
		select {
		case <-c.pub.Done():
			_ = c.conn.Close()
		case <-quit:
		}
	}()
	defer func() {
		close(quit)
		<-done
	}()

	err := c.read(ctx, markStarted)
	select {
	case <-timedOut:
		if c.hub == nil {
			if c.video == nil {
				return conns.Refuse(errHandshaking)
			}
			return conns.Refuse(errNoKeyframe)
		}
	default:
	}
	return err
}

func (c *publisher) read(ctx context.Context, started func()) error {
	r := &mpegts.Reader{R: c.conn}
	if err := r.Initialize(); err != nil {
		return fmt.Errorf("srt: read MPEG-TS tables: %w", err)
	}
	decodeErrors := 0
	r.OnDecodeError(func(err error) {
		// Lossy links make these routine; log the first few only.
		if decodeErrors++; decodeErrors <= 3 {
			c.log.Debug("MPEG-TS decode error", "err", err)
		}
	})
	for _, t := range r.Tracks() {
		switch codec := t.Codec.(type) {
		case *tscodecs.H264:
			if c.video == nil {
				c.video = &stream.Track{Codec: &stream.H264{}, ClockRate: videoClockRate}
				c.h264 = stream.NewH264Fixer(nil, nil)
				r.OnDataH264(t, func(pts, dts int64, au [][]byte) error { return c.onH264(ctx, pts, dts, au, started) })
			}
		case *tscodecs.H265:
			if c.video == nil {
				c.video = &stream.Track{Codec: &stream.H265{}, ClockRate: videoClockRate}
				c.h265 = stream.NewH265Fixer(nil, nil, nil)
				r.OnDataH265(t, func(pts, dts int64, au [][]byte) error { return c.onH265(ctx, pts, dts, au, started) })
			}
		case *tscodecs.MPEG4Audio:
			if c.audio == nil && codec.SampleRate > 0 {
				cfg := codec.Config
				c.audio = &stream.Track{Codec: &stream.AAC{Config: &cfg}, ClockRate: cfg.SampleRate}
				c.sampleDur = int64(videoClockRate) * 1024 / int64(cfg.SampleRate)
				r.OnDataMPEG4Audio(t, c.onAudio)
			}
		case *tscodecs.Opus:
			if c.audio == nil {
				ch := 2
				if codec.Desc != nil && codec.Desc.ChannelCount() > 0 {
					ch = codec.Desc.ChannelCount()
				}
				c.audio = &stream.Track{Codec: &stream.Opus{ChannelCount: ch}, ClockRate: opusClockRate}
				r.OnDataOpus(t, c.onOpus)
			}
		}
	}
	if c.video == nil {
		return conns.Refuse(errNoVideo)
	}
	for {
		if err := r.Read(); err != nil {
			return fmt.Errorf("srt: read: %w", err)
		}
	}
}

// begin starts the publication at the first keyframe whose parameter sets
// are known; MPEG-TS carries them in band, so the hub's track is only
// complete then.
func (c *publisher) begin(ctx context.Context, dts int64, started func()) error {
	tracks := []*stream.Track{c.video}
	if c.audio != nil {
		tracks = append(tracks, c.audio)
	}
	sctx, cancel := context.WithTimeout(ctx, claimTimeout)
	defer cancel()
	hub, err := c.pub.Start(sctx, tracks, live.Metadata{})
	if err != nil {
		return fmt.Errorf("srt: start stream: %w", err)
	}
	c.hub = hub
	c.startDTS = dts
	started()
	c.log.Info("publishing", "tracks", len(tracks))
	return nil
}

func (c *publisher) ticks(t int64) time.Duration {
	return time.Duration(t-c.startDTS) * time.Second / videoClockRate
}

func (c *publisher) onH264(ctx context.Context, pts, dts int64, au [][]byte, started func()) error {
	au, ok := c.h264.Fix(au)
	if !ok {
		return nil
	}
	pts, dts = c.times.Decode(pts), c.times.Decode(dts)
	idr := h264.IsRandomAccess(au)
	if c.hub == nil {
		sps, pps := c.h264.Params()
		if !idr || sps == nil || pps == nil {
			return nil
		}
		c.video.Codec = &stream.H264{SPS: sps, PPS: pps}
		if err := c.begin(ctx, dts, started); err != nil {
			return err
		}
	}
	c.hub.Write(&stream.Unit{Track: c.video, PTS: c.ticks(pts), DTS: c.ticks(dts), NTP: time.Now(),
		Payload: au, RandomAccess: idr})
	return nil
}

func (c *publisher) onH265(ctx context.Context, pts, dts int64, au [][]byte, started func()) error {
	au, ok := c.h265.Fix(au)
	if !ok {
		return nil
	}
	pts, dts = c.times.Decode(pts), c.times.Decode(dts)
	irap := h265.IsRandomAccess(au)
	if c.hub == nil {
		vps, sps, pps := c.h265.Params()
		if !irap || vps == nil || sps == nil || pps == nil {
			return nil
		}
		c.video.Codec = &stream.H265{VPS: vps, SPS: sps, PPS: pps}
		if err := c.begin(ctx, dts, started); err != nil {
			return err
		}
	}
	c.hub.Write(&stream.Unit{Track: c.video, PTS: c.ticks(pts), DTS: c.ticks(dts), NTP: time.Now(),
		Payload: au, RandomAccess: irap})
	return nil
}

func (c *publisher) onAudio(pts int64, aus [][]byte) error {
	pts = c.times.Decode(pts)
	if c.hub == nil {
		return nil // audio before the first keyframe has no picture to go with
	}
	for i, au := range aus {
		t := pts + int64(i)*c.sampleDur
		if t < c.startDTS || len(au) == 0 {
			continue
		}
		d := c.ticks(t)
		c.hub.Write(&stream.Unit{Track: c.audio, PTS: d, DTS: d, NTP: time.Now(), Payload: [][]byte{au}})
	}
	return nil
}

func (c *publisher) onOpus(pts int64, packets [][]byte) error {
	pts = c.times.Decode(pts)
	if c.hub == nil {
		return nil
	}
	for _, p := range packets {
		if pts >= c.startDTS && len(p) > 0 {
			d := c.ticks(pts)
			c.hub.Write(&stream.Unit{Track: c.audio, PTS: d, DTS: d, NTP: time.Now(), Payload: [][]byte{p}})
		}
		pts += opus.PacketDuration2(p) * videoClockRate / opusClockRate

	}
	return nil
}
