package whip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtcp"
	pion "github.com/pion/webrtc/v4"

	"github.com/onair-video/onair/internal/conns"
	"github.com/onair-video/onair/internal/ffmpeg"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/rtpmedia"
	"github.com/onair-video/onair/internal/stream"
)

const (
	// keyframeInterval is how often the publisher is asked for a keyframe
	// (a PLI): browsers send one only when asked, and HLS segments and new
	// viewers need one every couple of seconds (IVS recommends 2 s).
	keyframeInterval = 2 * time.Second
)

// session is one WHIP publisher.
type session struct {
	id    string
	srv   *Server
	pub   *live.Publisher
	pc    *pion.PeerConnection
	log   *slog.Logger
	audio bool // the offer sends Opus
	// meta is what the client declared, for the ingest configuration.
	meta live.Metadata

	done chan struct{}
	once sync.Once

	mu        sync.Mutex
	hub       *stream.Hub
	video     *stream.Track
	opus      *stream.Track
	aac       *stream.Track
	fixer     *stream.H264Fixer
	conv      *ffmpeg.Converter
	vp8       *stream.Track     // the publisher's VP8, when it sends that
	vconv     *ffmpeg.Converter // VP8 → H.264
	wallStart time.Time         // arrival of the first RTP packet of any track
	startPTS  time.Duration     // media time of the first keyframe: the stream's zero
	videoSSRC uint32
	readers   sync.WaitGroup
}

func (x *session) onTrack(t *pion.TrackRemote, _ *pion.RTPReceiver) {
	x.readers.Add(1)
	defer x.readers.Done()
	mime := t.Codec().MimeType
	switch {
	case t.Kind() == pion.RTPCodecTypeVideo && (mime == pion.MimeTypeH264 || mime == pion.MimeTypeVP8):
		x.mu.Lock()
		x.videoSSRC = uint32(t.SSRC())
		x.mu.Unlock()
		x.requestKeyframe() // start at once, not at the encoder's next keyframe
		if mime == pion.MimeTypeVP8 {
			x.readFrames(t, rtpmedia.NewFrames(true), x.writeVP8)
		} else {
			x.readFrames(t, rtpmedia.NewFrames(false), x.writeH264)
		}
	case t.Kind() == pion.RTPCodecTypeAudio && mime == pion.MimeTypeOpus:
		x.readAudio(t)
	default:
		x.log.Info("ignoring track", "codec", mime)
		for {
			if _, _, err := t.ReadRTP(); err != nil {
				return
			}
		}
	}
}

func (x *session) markArrival(now time.Time) time.Time {
	if x.wallStart.IsZero() {
		x.wallStart = now
	}
	return x.wallStart
}

// readFrames reassembles a video track's frames and hands each to write;
// a frame that lost packets asks the publisher for a keyframe.
func (x *session) readFrames(t *pion.TrackRemote, sb *rtpmedia.Frames, write func(frame []byte, ts uint32, now time.Time, c *rtpmedia.Clock)) {
	c := &rtpmedia.Clock{Rate: 90000}
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		now := time.Now()
		sb.Push(pkt)
		for s := sb.Pop(); s != nil; s = sb.Pop() {
			if s.PrevDroppedPackets > 0 {
				x.requestKeyframe() // a lost packet breaks the picture until the next keyframe
			}
			write(s.Data, s.PacketTimestamp, now, c)
		}
	}
}

// writeH264 publishes one Annex-B access unit.
func (x *session) writeH264(frame []byte, ts uint32, now time.Time, c *rtpmedia.Clock) {
	var au h264.AnnexB
	if err := au.Unmarshal(frame); err != nil {
		return
	}
	x.writeVideo(au, ts, now, c)
}

func (x *session) writeVideo(nalus [][]byte, ts uint32, now time.Time, c *rtpmedia.Clock) {
	x.mu.Lock()
	pts := c.PTS(ts, now, x.markArrival(now))
	x.mu.Unlock()
	x.writeVideoAt(nalus, pts, now)
}

// writeVideoAt publishes an H.264 access unit at media time pts, starting
// the stream at the first keyframe with parameter sets.
func (x *session) writeVideoAt(nalus [][]byte, pts time.Duration, now time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.fixer == nil {
		x.fixer = stream.NewH264Fixer(nil, nil)
	}
	au, ok := x.fixer.Fix(nalus)
	if !ok {
		return
	}
	idr := h264.IsRandomAccess(au)
	if x.hub == nil {
		sps, pps := x.fixer.Params()
		if !idr || sps == nil || pps == nil {
			return
		}
		if err := x.startLocked(sps, pps, pts); err != nil {
			go x.end(fmt.Errorf("whip: start stream: %w", err))
			return
		}
	}
	if pts < x.startPTS {
		return
	}
	d := pts - x.startPTS
	x.hub.Write(&stream.Unit{Track: x.video, PTS: d, DTS: d, NTP: now, Payload: au, RandomAccess: idr})
}

// startLocked makes the channel live at the first keyframe.
func (x *session) startLocked(sps, pps []byte, pts time.Duration) error {
	x.video = &stream.Track{Codec: &stream.H264{SPS: sps, PPS: pps}, ClockRate: 90000}
	tracks := []*stream.Track{x.video}
	if x.vp8 != nil {
		// What the publisher sent first; the H.264 made from it is derived.
		x.video.Derived = true
		tracks = []*stream.Track{x.vp8, x.video}
	}
	if x.audio {
		x.opus = &stream.Track{Codec: &stream.Opus{ChannelCount: 2}, ClockRate: 48000}
		tracks = append(tracks, x.opus)
		// HLS players want AAC (Safari plays no Opus): one ffmpeg converts.
		if _, err := ffmpeg.Path(); err == nil {
			x.aac = &stream.Track{ClockRate: 48000, Derived: true}
			tracks = append(tracks, x.aac)
		} else {
			x.log.Warn("HLS without audio", "reason", err.Error())
		}
	}
	if x.aac != nil {
		conv, cfg, err := ffmpeg.OpusToAAC(x.srv.sessions.Context(), 2, x.log, x.writeAAC)
		if err != nil {
			x.log.Warn("HLS without audio", "reason", err.Error())
			tracks = tracks[:len(tracks)-1]
			x.aac = nil
		} else {
			x.aac.Codec = &stream.AAC{Config: cfg}
			x.conv = conv
		}
	}
	x.pub.OnKeyframeRequest(x.requestKeyframe)
	ctx, cancel := context.WithTimeout(x.srv.sessions.Context(), claimTimeout)
	defer cancel()
	hub, err := x.pub.Start(ctx, tracks, x.meta)
	if err != nil {
		return err
	}
	x.hub, x.startPTS = hub, pts
	x.log.Info("publishing", "tracks", len(tracks))
	return nil
}

func (x *session) readAudio(t *pion.TrackRemote) {
	c := &rtpmedia.Clock{Rate: 48000}
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		if len(pkt.Payload) == 0 {
			continue
		}
		now := time.Now()
		x.mu.Lock()
		pts := c.PTS(pkt.Timestamp, now, x.markArrival(now))
		if x.hub == nil || x.opus == nil || pts < x.startPTS {
			x.mu.Unlock()
			continue
		}
		d := pts - x.startPTS
		// pion reuses nothing it hands out from ReadRTP: the payload is ours.
		x.hub.Write(&stream.Unit{Track: x.opus, PTS: d, DTS: d, NTP: now, Payload: [][]byte{pkt.Payload}})
		conv := x.conv
		x.mu.Unlock()
		if conv != nil {
			conv.Write(ffmpeg.Frame{PTS: d, Data: pkt.Payload})
		}
	}
}

// writeVP8 feeds the transcoder (started at the first keyframe) and, once
// the stream is live, the hub's VP8 track (for stats).
func (x *session) writeVP8(frame []byte, ts uint32, now time.Time, c *rtpmedia.Clock) {
	x.mu.Lock()
	defer x.mu.Unlock()
	pts := c.PTS(ts, now, x.markArrival(now))
	key, w, h := rtpmedia.VP8Keyframe(frame)
	if x.vconv == nil {
		if !key {
			return
		}
		conv, err := ffmpeg.VP8ToH264(x.srv.sessions.Context(), w, h, x.log, x.writeTranscoded)
		if err != nil {
			go x.end(fmt.Errorf("whip: VP8 could not be transcoded: %w", err))
			return
		}
		x.vconv = conv
		x.vp8 = &stream.Track{Codec: &stream.VP8{Width: w, Height: h}, ClockRate: 90000}
	}
	x.vconv.Write(ffmpeg.Frame{PTS: pts, Data: frame})
	if x.hub != nil && pts >= x.startPTS {
		d := pts - x.startPTS
		x.hub.Write(&stream.Unit{Track: x.vp8, PTS: d, DTS: d, NTP: now, Payload: [][]byte{frame}, RandomAccess: key})
	}
}

// writeTranscoded takes the H.264 made from VP8: the stream goes live with
// its first keyframe, as with a publisher's own H.264.
func (x *session) writeTranscoded(au ffmpeg.Frame) {
	x.writeVideoAt(au.NALUs, au.PTS, time.Now())
}

// writeAAC puts the converter's output into the hub.
func (x *session) writeAAC(f ffmpeg.Frame) {
	x.mu.Lock()
	hub, tr := x.hub, x.aac
	x.mu.Unlock()
	if hub != nil && tr != nil {
		hub.Write(&stream.Unit{Track: tr, PTS: f.PTS, DTS: f.PTS, NTP: time.Now(), Payload: [][]byte{f.Data}})
	}
}

// requestKeyframe sends the publisher a picture loss indication.
func (x *session) requestKeyframe() {
	x.mu.Lock()
	ssrc := x.videoSSRC
	x.mu.Unlock()
	if ssrc == 0 {
		return
	}
	_ = x.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
}

// run watches the session: keyframe requests, the first-keyframe deadline,
// StopStream and shutdown.
func (x *session) run() {
	tick := time.NewTicker(keyframeInterval)
	defer tick.Stop()
	first := time.NewTimer(firstKeyframeTimeout)
	defer first.Stop()
	for {
		select {
		case <-x.done:
			return
		case <-x.pub.Done():
			x.end(conns.CutOff(x.pub.Cause()))
			return
		case <-x.srv.sessions.Context().Done():
			x.end(live.ErrShutdown)
			return
		case <-first.C:
			x.mu.Lock()
			started := x.hub != nil
			x.mu.Unlock()
			if !started {
				x.end(conns.Refuse(errors.New("whip: no H.264 keyframe arrived within " + firstKeyframeTimeout.String())))
				return
			}
		case <-tick.C:
			x.requestKeyframe()
		}
	}
}

// PeerConnection implements rtc.Session.
func (x *session) PeerConnection() *pion.PeerConnection { return x.pc }

// End implements rtc.Session: the publisher's DELETE.
func (x *session) End() { x.end(conns.ErrClientEnded) }

// Close ends the session as the server shuts down (the set's Close).
func (x *session) Close() error {
	x.end(live.ErrShutdown)
	return nil
}

// end ends the session with cause: the peer connection, the converter,
// the publication; then it reports how the session ended. It is
// idempotent and may be called from any goroutine but the track readers'.
func (x *session) end(cause error) {
	x.once.Do(func() {
		close(x.done)
		_ = x.pc.Close()
		x.readers.Wait()
		x.mu.Lock()
		convs := []*ffmpeg.Converter{x.conv, x.vconv}
		x.mu.Unlock()
		for _, c := range convs {
			if c != nil {
				c.Close()
			}
		}
		x.pub.Close()
		x.srv.sessions.Remove(x.id)
		x.srv.sessions.End(x.log, cause)
	})
}
