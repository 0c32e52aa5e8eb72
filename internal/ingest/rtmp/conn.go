package rtmp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"

	"github.com/onair-video/onair/internal/conns"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/stream"
)

// Refusals of the client's request or stream.
var (
	errPlayRefused = errors.New("rtmp: playback is not served over RTMP")
	errNoVideo     = errors.New("rtmp: no supported video track (audio-only streams are refused)")
)

// lingerTimeout bounds how long a refused connection is drained so the
// refusal reaches the encoder instead of being lost to a TCP reset.
const lingerTimeout = time.Second

// conn is one encoder connection. It is used by a single goroutine, except
// that the stop watcher may close nc.
type conn struct {
	srv  *Server
	nc   net.Conn
	log  *slog.Logger
	info live.ConnInfo
}

// run serves the connection and reports, once, how it ended.
func (c *conn) run(ctx context.Context) {
	c.srv.conns.End(c.log, c.serve(ctx))
}

func (c *conn) serve(ctx context.Context) error {
	// One deadline covers the handshake and connect/publish commands, so a
	// client that stalls or sends garbage is dropped in bounded time.
	_ = c.nc.SetDeadline(time.Now().Add(c.srv.handshakeTimeout))

	// A client that cannot get through the handshake and connect (TLS,
	// garbage, a scanner) is refused, unless it simply went away.
	sc := &gortmplib.ServerConn{RW: c.nc}
	if err := sc.Initialize(); err != nil {
		return conns.Refuse(fmt.Errorf("rtmp: handshake: %w", redactErr(err)))
	}
	if err := sc.AcceptConn(); err != nil {
		return conns.Refuse(fmt.Errorf("rtmp: connect: %w", redactErr(err)))
	}
	if !sc.Publish {
		c.refuse(sc)
		return conns.Refuse(errPlayRefused)
	}
	key, err := streamKeyFromURL(sc.URL)
	if err != nil {
		c.refuse(sc)
		return conns.Refuse(err)
	}

	cctx, cancel := context.WithTimeout(ctx, claimTimeout)
	pub, err := c.srv.reg.Claim(cctx, key, c.info)
	cancel()
	if err != nil {
		c.refuse(sc)
		return fmt.Errorf("rtmp: claim: %w", err)
	}
	defer pub.Close()
	c.log = c.log.With(attrChannel, pub.Target())

	stopWatch := c.watchStop(pub)
	defer stopWatch()

	err = c.publish(ctx, sc, pub)
	select {
	case <-pub.Done():
		// Whatever the read failed with, the cause was the cut-off.
		return conns.CutOff(pub.Cause())
	default:
		return err
	}
}

// refuse tells the encoder its publish was rejected and closes gracefully:
// half-close, then drain what the client already sent, because closing a
// socket with unread input makes the kernel send a reset that can destroy
// the refusal before the encoder reads it.
func (c *conn) refuse(sc *gortmplib.ServerConn) {
	_ = c.nc.SetDeadline(time.Now().Add(lingerTimeout))
	if err := sc.RejectAction(); err != nil {
		return
	}
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(c.nc, 1<<20))
}

// watchStop closes the connection the moment the publisher is cut off
// (StopStream), so the encoder sees its connection end at once rather than
// at its next read timeout. The returned func stops the watcher and waits.
func (c *conn) watchStop(pub *live.Publisher) (stop func()) {
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-pub.Done():
			_ = c.nc.Close()
		case <-quit:
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

func (c *conn) publish(ctx context.Context, sc *gortmplib.ServerConn, pub *live.Publisher) error {
	// Track discovery reads ~2 s of media; it still counts as handshake.
	_ = c.nc.SetDeadline(time.Now().Add(c.srv.handshakeTimeout))
	// The Reader accepts the publish itself only when it reads a bare
	// *ServerConn; through metaConn it is ours to do.
	if err := sc.AcceptAction(); err != nil {
		return fmt.Errorf("rtmp: accept publish: %w", redactErr(err))
	}
	mc := &metaConn{ServerConn: sc}
	r := &gortmplib.Reader{Conn: mc}
	if err := r.Initialize(); err != nil {
		return fmt.Errorf("rtmp: read tracks: %w", redactErr(err))
	}

	tm := mapTracks(r.Tracks())
	for _, why := range tm.ignored {
		c.log.Info("ignoring track", attrReason, why)
	}
	if !tm.hasVideo() {
		return conns.Refuse(errNoVideo)
	}

	sctx, cancel := context.WithTimeout(ctx, claimTimeout)
	hub, err := pub.Start(sctx, tm.published(), mc.meta)
	cancel()
	if err != nil {
		return fmt.Errorf("rtmp: start stream: %w", err)
	}
	c.bind(r, tm, hub)
	c.log.Info("publishing", "tracks", describeTracks(tm.published()), "encoder", mc.meta.Encoder)

	for {
		// Also a write deadline: the library writes acknowledgements from
		// inside Read, and a client that stops reading must not block us.
		_ = c.nc.SetDeadline(time.Now().Add(c.srv.readTimeout))
		if err := r.Read(); err != nil {
			return fmt.Errorf("rtmp: read: %w", err)
		}
	}
}

// bind registers a data callback for every announced track. gortmplib calls
// a nil callback for a track without one, so ignored tracks get a no-op.
func (c *conn) bind(r *gortmplib.Reader, tm *trackMap, hub *stream.Hub) {
	for i, in := range tm.in {
		st := tm.out[i]
		if st == nil {
			bindNoop(r, in)
			continue
		}
		switch codec := st.Codec.(type) {
		case *stream.H264:
			f := stream.NewH264Fixer(codec.SPS, codec.PPS)
			r.OnDataH264(in, func(pts, dts time.Duration, au [][]byte) {
				au, ok := f.Fix(au)
				if !ok {
					return
				}
				hub.Write(&stream.Unit{Track: st, PTS: pts, DTS: dts, NTP: time.Now(),
					Payload: au, RandomAccess: h264.IsRandomAccess(au)})
			})
		case *stream.H265:
			f := stream.NewH265Fixer(codec.VPS, codec.SPS, codec.PPS)
			r.OnDataH265(in, func(pts, dts time.Duration, au [][]byte) {
				au, ok := f.Fix(au)
				if !ok {
					return
				}
				hub.Write(&stream.Unit{Track: st, PTS: pts, DTS: dts, NTP: time.Now(),
					Payload: au, RandomAccess: h265.IsRandomAccess(au)})
			})
		case *stream.AAC:
			r.OnDataMPEG4Audio(in, func(pts time.Duration, au []byte) {
				if len(au) == 0 {
					return
				}
				hub.Write(&stream.Unit{Track: st, PTS: pts, DTS: pts, NTP: time.Now(), Payload: [][]byte{au}})
			})
		case *stream.Opus:
			r.OnDataOpus(in, func(pts time.Duration, packet []byte) {
				if len(packet) == 0 {
					return
				}
				hub.Write(&stream.Unit{Track: st, PTS: pts, DTS: pts, NTP: time.Now(), Payload: [][]byte{packet}})
			})
		}
	}
}

// bindNoop installs a callback that drops a track's data. Any OnData method
// of the right kind (video or audio) registers the handler for that track's
// id; VP9's and Opus' ignore every message they do not understand.
func bindNoop(r *gortmplib.Reader, t *gortmplib.Track) {
	if t.Codec.IsVideo() {
		r.OnDataVP9(t, func(time.Duration, []byte) {})
		return
	}
	r.OnDataOpus(t, func(time.Duration, []byte) {})
}

func describeTracks(ts []*stream.Track) string {
	var b strings.Builder
	for i, t := range ts {
		if i > 0 {
			b.WriteString(", ")
		}
		switch c := t.Codec.(type) {
		case *stream.H264:
			b.WriteString("H264")
		case *stream.H265:
			b.WriteString("H265")
		case *stream.AAC:
			fmt.Fprintf(&b, "AAC %d Hz %d ch", c.Config.SampleRate, c.Channels())
		case *stream.Opus:
			fmt.Fprintf(&b, "Opus %d ch", c.ChannelCount)
		}
	}
	return b.String()
}
