package live

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/onair-video/onair/internal/ratelimit"
	"github.com/onair-video/onair/internal/stream"
)

// Stages' ingest: a stream key of an IVS Real-Time ingest configuration
// (rt_…) publishes into a stage as a participant instead of making a
// channel live. The registry authenticates it through a StageIngest and
// lets one encoder per key in, as for a channel's; the hub the ingest
// writes goes to the StageTarget instead of the channel consumers.

// IVS's PUBLISH_ERROR codes the registry reports to a StageTarget.
const (
	CodeInvalidProtocol  = "INVALID_PROTOCOL"
	CodeReuseOfStreamKey = "REUSE_OF_STREAM_KEY"
)

// StageIngest resolves the stream keys of stage ingest configurations.
type StageIngest interface {
	// ResolveStageKey returns where key publishes; ErrUnknownKey (wrapped)
	// when it names nothing that takes a publisher.
	ResolveStageKey(ctx context.Context, key string) (StageTarget, error)
}

// StageTarget is a stage participant an encoder publishes as.
type StageTarget interface {
	// Slot names what takes one encoder at a time (the configuration's
	// credential): a second one is refused.
	Slot() string
	// Name is the ingest configuration's ARN, for logs.
	Name() string
	// InsecureIngest allows plain RTMP and unencrypted SRT.
	InsecureIngest() bool
	// Refused records why a publish was refused (an IVS PUBLISH_ERROR
	// code); conn is the refused connection's.
	Refused(code string, conn ConnInfo)
	// Publish starts publishing the hub's tracks into the stage; it does
	// not wait for media (the ingest writes the hub after it returns).
	// cut ends the encoder's connection with a cause. stop ends the
	// publishing and waits for it.
	Publish(hub *stream.Hub, conn ConnInfo, cut func(error)) (stop func(), err error)
}

// SetStageIngest routes the rt_ stream keys to si. Call it before serving
// publishers.
func (r *Registry) SetStageIngest(si StageIngest) { r.stageIngest = si }

// stageSlot is the publishers key of a stage target's slot: never a
// channel id (12 alphanumerics).
func stageSlot(t StageTarget) string { return "stage:" + t.Slot() }

// isStageKey tells an ingest configuration's key from a channel's.
func isStageKey(key string) bool { return strings.HasPrefix(key, "rt_") }

// stageProtocols are the ingests that publish into a stage: WHIP has the
// stage's own.
var stageProtocols = map[string]string{"rtmp": "RTMP", "rtmps": "RTMPS", "srt": "SRT"}

// StageProtocol is the participant protocol of an ingest's connection
// (RTMP, RTMPS, SRT).
func StageProtocol(conn ConnInfo) string { return stageProtocols[conn.Protocol] }

// claimStage is Claim for an ingest configuration's key.
func (r *Registry) claimStage(ctx context.Context, streamKey string, conn ConnInfo) (*Publisher, error) {
	host := ratelimit.Host(conn.Remote)
	if StageProtocol(conn) == "" {
		r.failures.Allow(host)
		return nil, ErrUnknownKey
	}
	t, err := r.stageIngest.ResolveStageKey(ctx, streamKey)
	if errors.Is(err, ErrUnknownKey) {
		r.failures.Allow(host)
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("live: resolve stage stream key: %w", err)
	}
	if !conn.Secure && !t.InsecureIngest() {
		t.Refused(CodeInvalidProtocol, conn)
		return nil, ErrInsecure
	}
	slot := stageSlot(t)
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if r.closed {
			return nil, ErrClosed
		}
		old, busy := r.publishers[slot]
		if !busy {
			break
		}
		if !old.replaceableBy(streamKey, time.Now()) {
			r.mu.Unlock()
			t.Refused(CodeReuseOfStreamKey, conn)
			r.mu.Lock()
			return nil, ErrChannelBusy
		}
		old.cut(ErrTakenOver)
		r.log.Info("taking over a publisher that looks gone", "ingest_configuration", t.Name(), "protocol", conn.Protocol, "remote", conn.Remote)
		released := old.released
		r.mu.Unlock()
		select {
		case <-released:
			r.mu.Lock()
		case <-ctx.Done():
			r.mu.Lock()
			return nil, fmt.Errorf("%w: the connection being taken over did not end in time", ErrChannelBusy)
		}
	}
	p := &Publisher{reg: r, slot: slot, stage: t, conn: conn, key: streamKey, stop: make(chan struct{}), released: make(chan struct{})}
	r.publishers[slot] = p
	return p, nil
}

// startStage is Start for a stage target: the hub goes to the target
// alone (a stage participant has no channel consumers or stream session).
func (p *Publisher) startStage(tracks []*stream.Track) (*stream.Hub, error) {
	hub := stream.NewHub(tracks)
	stop, err := p.stage.Publish(hub, p.conn, p.cut)
	if err != nil {
		hub.Close()
		return nil, err
	}
	p.reg.mu.Lock()
	p.stageHub, p.stageStop = hub, stop
	p.reg.mu.Unlock()
	p.reg.log.Info("publishing into a stage", "ingest_configuration", p.stage.Name(), "protocol", p.conn.Protocol,
		"remote", p.conn.Remote, "tracks", len(tracks))
	return hub, nil
}

// closeStage is Close's teardown of a stage target's publishing.
func (p *Publisher) closeStage() {
	p.reg.mu.Lock()
	hub, stop := p.stageHub, p.stageStop
	p.stageHub, p.stageStop = nil, nil
	p.reg.mu.Unlock()
	if hub != nil {
		hub.Close()
		stop()
		p.reg.log.Info("stopped publishing into a stage", "ingest_configuration", p.stage.Name())
	}
}
