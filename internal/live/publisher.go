package live

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/stream"
)

// Publisher is the one connection allowed to publish on a channel.
type Publisher struct {
	reg *Registry
	// slot is its key in the registry: the channel id, or a stage
	// target's slot.
	slot    string
	channel ivs.Channel
	// stage is where an ingest configuration's key publishes (channel is
	// then zero); stageHub and stageStop are its publishing, set by Start
	// under reg.mu.
	stage     StageTarget
	stageHub  *stream.Hub
	stageStop func()
	conn      ConnInfo
	// key is the stream key the publisher claimed with: only a connection
	// with the same key may take its channel over; "" (ClaimChannel) for
	// none. Never logged.
	key string
	// gone is the ingest's report that the connection looks dead.
	gone atomic.Bool
	// ending: Close hid the stream and tears it down (under reg.mu); a
	// reconnect with the same key waits for the release rather than being
	// refused as a second publisher.
	ending bool
	// released is closed when the channel is free again (Close is done).
	released chan struct{}
	// unlease frees the channel's cluster lease; nil: none.
	unlease func()

	stopOnce sync.Once
	stop     chan struct{}
	cause    error // set once, before stop is closed

	// stream is set by Start under reg.mu, read under reg.mu.
	stream *Stream
	detach []func()
	// keyframe asks the encoder for a keyframe (WebRTC's PLI); set by an
	// ingest that can, before Start.
	keyframe func()
	closeMu  sync.Mutex
	closed   bool

	// events are the session events emitted off a consumer's goroutine
	// (resyncs); Close waits for them before the session ends.
	eventsMu     sync.Mutex
	eventsClosed bool
	events       sync.WaitGroup
}

// Channel returns the channel the publisher's key belongs to (zero for a
// stage ingest configuration's key).
func (p *Publisher) Channel() ivs.Channel { return p.channel }

// Target names what the publisher publishes to, for logs: the channel's
// ARN, or the stage ingest configuration's.
func (p *Publisher) Target() string {
	if p.stage != nil {
		return p.stage.Name()
	}
	return p.channel.ARN
}

// Done is closed when StopStream, shutdown or a policy (a limit breach) cuts
// the publisher off; the ingest must then close the connection and call
// Close. Cause says why.
func (p *Publisher) Done() <-chan struct{} { return p.stop }

// OnKeyframeRequest sets how the ingest asks its encoder for a keyframe
// (WHIP sends a PLI). Call it before Start. A WHEP viewer's decoder that
// lost its place then recovers at once instead of at the next keyframe.
func (p *Publisher) OnKeyframeRequest(fn func()) { p.keyframe = fn }

// SetGone reports whether the publisher's connection looks gone, e.g. a
// WebRTC peer connection whose ICE is disconnected: while it does, a Claim
// with the same stream key takes the channel over (the client's own
// reconnect) instead of being refused as a second publisher.
func (p *Publisher) SetGone(gone bool) { p.gone.Store(gone) }

// replaceableBy says whether a Claim with streamKey may take the channel
// over at now: the same key, from a publisher that reported itself gone or
// is live and sent nothing for takeoverIdle. Called under reg.mu.
func (p *Publisher) replaceableBy(streamKey string, now time.Time) bool {
	if p.key == "" {
		return false // claimed without a key (ClaimChannel): nothing can take it over
	}
	if subtle.ConstantTimeCompare([]byte(p.key), []byte(streamKey)) != 1 {
		return false
	}
	if p.gone.Load() || p.ending {
		return true // gone, or tearing down: the claim waits for its release
	}
	if p.stream == nil {
		return false // still starting: its ingest bounds that wait
	}
	last := p.stream.Hub.Stats().LastUnit
	if last.IsZero() {
		last = p.stream.StartTime
	}
	return now.Sub(last) >= takeoverIdle
}

// Cause returns why the publisher was cut off; valid once Done is closed.
func (p *Publisher) Cause() error {
	<-p.stop
	return p.cause
}

func (p *Publisher) cut(cause error) {
	p.stopOnce.Do(func() {
		p.cause = cause
		close(p.stop)
	})
}

// Start makes the channel live with the given tracks: it records the stream
// session with the ingest configuration read from the tracks and meta,
// creates the hub and starts the consumers. The caller writes units to the
// returned hub.
func (p *Publisher) Start(ctx context.Context, tracks []*stream.Track, meta Metadata) (*stream.Hub, error) {
	if len(tracks) == 0 {
		return nil, errors.New("live: a publication needs at least one track")
	}
	if p.stage != nil {
		return p.startStage(tracks)
	}
	now := time.Now()
	ingest := IngestConfigurations(tracks, meta)
	ss, err := p.reg.sessions.StartStreamSession(ctx, p.channel, now, ingest)
	if err != nil {
		return nil, fmt.Errorf("live: start session: %w", err)
	}
	hub := stream.NewHub(tracks)
	st := &Stream{Channel: p.channel, StreamID: ss.StreamID, StartTime: ss.StartTime, Conn: p.conn, Hub: hub,
		Ingest: ingest, pub: p, keyframe: p.keyframe}
	for _, c := range p.reg.consumers {
		detach, err := c.Attach(st)
		if detach != nil {
			p.detach = append(p.detach, detach)
		}
		if err != nil {
			p.reg.consumerFailed(st, err)
		}
	}
	p.reg.mu.Lock()
	p.stream = st
	p.reg.mu.Unlock()
	p.reg.log.Info("stream started", "channel", p.channel.ARN, "stream_id", ss.StreamID,
		"protocol", p.conn.Protocol, "remote", p.conn.Remote, "tracks", len(tracks))
	return hub, nil
}

// Close ends the publication: the consumers stop, the session ends and the
// channel is free for the next publisher. It is idempotent.
func (p *Publisher) Close() {
	p.closeMu.Lock()
	defer p.closeMu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	p.cut(ErrStopped)
	if p.stage != nil {
		p.closeStage()
		p.reg.release(p)
		return
	}

	// Hide the stream at once so GetStream answers ChannelNotBroadcasting
	// while the teardown runs; the channel stays claimed until release.
	p.reg.mu.Lock()
	st := p.stream
	p.stream = nil
	p.ending = true
	p.reg.mu.Unlock()
	if st != nil {
		st.Hub.Close()
		for _, d := range p.detach {
			d()
		}
		p.eventsMu.Lock()
		p.eventsClosed = true
		p.eventsMu.Unlock()
		p.events.Wait()
		// The session must end even when the connection's context is gone.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := p.reg.sessions.EndStreamSession(ctx, p.channel, st.StreamID, time.Now()); err != nil {
			p.reg.log.Error("end stream session", "channel", p.channel.ARN, "stream_id", st.StreamID, "err", err)
		}
		cancel()
		p.reg.log.Info("stream ended", "channel", p.channel.ARN, "stream_id", st.StreamID,
			"duration", time.Since(st.StartTime).Round(time.Millisecond))
	}
	p.reg.release(p)
}

// emitLater emits e without holding up the caller (a consumer's reader
// that just fell behind); Close waits for it.
func (p *Publisher) emitLater(e ivs.Event) {
	p.eventsMu.Lock()
	defer p.eventsMu.Unlock()
	if p.eventsClosed {
		return
	}
	p.events.Go(func() { p.reg.emit(e) })
}
