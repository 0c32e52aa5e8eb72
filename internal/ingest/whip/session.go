package whip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/rtcp"
	pion "github.com/pion/webrtc/v4"

	"github.com/onair-video/onair/internal/conns"
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

	// conv turns the tracks' RTP into the channel's units; made before
	// the tracks come (open).
	conv *rtpmedia.Converter

	mu        sync.Mutex
	hub       *stream.Hub // once the stream started
	videoSSRC uint32
	readers   sync.WaitGroup
}

// newConverter makes the session's converter of the offered media: the
// publisher's own VP8 and Opus stay in the hub beside the H.264 and AAC
// made from them.
func (x *session) newConverter(vp8 bool) error {
	video := rtpmedia.H264
	if vp8 {
		video = rtpmedia.VP8
	}
	conv, err := rtpmedia.New(x.srv.sessions.Context(), rtpmedia.Config{Video: video, Audio: x.audio, Originals: true,
		OptionalAAC: true, Start: x.start, Unit: x.write, Keyframe: x.requestKeyframe, Failed: x.end, Log: x.log})
	if err != nil {
		return fmt.Errorf("whip: %w", err)
	}
	x.conv = conv
	return nil
}

// start makes the channel live at the stream's first keyframe.
func (x *session) start(tracks []*stream.Track) error {
	x.pub.OnKeyframeRequest(x.requestKeyframe)
	ctx, cancel := context.WithTimeout(x.srv.sessions.Context(), claimTimeout)
	defer cancel()
	hub, err := x.pub.Start(ctx, tracks, x.meta)
	if err != nil {
		return fmt.Errorf("whip: start stream: %w", err)
	}
	x.mu.Lock()
	x.hub = hub
	x.mu.Unlock()
	x.log.Info("publishing", "tracks", len(tracks))
	return nil
}

// write puts a unit of the started stream into the hub.
func (x *session) write(u *stream.Unit) {
	x.mu.Lock()
	hub := x.hub
	x.mu.Unlock()
	hub.Write(u)
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
		for {
			pkt, _, err := t.ReadRTP()
			if err != nil {
				return
			}
			x.conv.WriteVideo(&pkt.Header, pkt.Payload)
		}
	case t.Kind() == pion.RTPCodecTypeAudio && mime == pion.MimeTypeOpus:
		for {
			pkt, _, err := t.ReadRTP()
			if err != nil {
				return
			}
			x.conv.WriteAudio(&pkt.Header, pkt.Payload)
		}
	default:
		x.log.Info("ignoring track", "codec", mime)
		for {
			if _, _, err := t.ReadRTP(); err != nil {
				return
			}
		}
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
		if x.conv != nil {
			x.conv.Close()
		}
		x.pub.Close()
		x.srv.sessions.Remove(x.id)
		x.srv.sessions.End(x.log, cause)
	})
}
