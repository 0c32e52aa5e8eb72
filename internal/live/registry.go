// Package live keeps the channels that are live: it authenticates a
// publisher's stream key, lets one publisher per channel in, starts the
// consumers (HLS, later WebRTC, recording) on its hub, and cuts it off on
// StopStream. It plays the role of MediaMTX's path manager.
package live

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/ratelimit"
	"github.com/onair-video/onair/internal/stream"
)

// Errors a publisher may get from Claim.
var (
	ErrUnknownKey  = errors.New("live: unknown stream key")
	ErrChannelBusy = errors.New("live: channel already has a publisher")
	ErrNotLive     = errors.New("live: channel is not live")
	ErrClosed      = errors.New("live: registry closed")
	// ErrRefused wraps a policy's refusal of a publish (e.g. a used-up
	// input quota); its message says why.
	ErrRefused = errors.New("live: publish refused")
	// ErrStopped is the cause of a cut-off by StopStream.
	ErrStopped = errors.New("live: stream stopped by StopStream")
	// ErrShutdown is the cause of a cut-off by the server shutting down.
	ErrShutdown = errors.New("live: server shutting down")
	// ErrInsecure refuses plain RTMP or unencrypted SRT on a channel whose
	// insecureIngest is false, as IVS does.
	ErrInsecure = errors.New("live: the channel takes only secure ingest (RTMPS, encrypted SRT or WHIP); set insecureIngest to allow RTMP and unencrypted SRT")
	// ErrThrottled refuses a source address that sent too many unknown
	// stream keys lately, without looking the key up.
	ErrThrottled = errors.New("live: too many unknown stream keys from this address; try again later")
	// ErrKeyDeleted is the cause of a cut-off by the deletion of the
	// stream key the publisher used.
	ErrKeyDeleted = errors.New("live: stream key deleted")
	// ErrLeaseLost is the cause of a cut-off by another cluster node
	// taking the channel over while this one could not heartbeat (it was
	// frozen or cut off from the shared store past the lease TTL).
	ErrLeaseLost = errors.New("live: another node took the channel over (this node's lease expired)")
	// ErrTakenOver is the cause of a cut-off by a new connection with the
	// same stream key, let in because this one looked gone (an encoder's
	// reconnect while its old connection has not timed out yet).
	ErrTakenOver = errors.New("live: a new connection with the same stream key took over")
)

// takeoverIdle is how long a live publisher may send nothing before a new
// connection with its stream key may take its channel over.
const takeoverIdle = 3 * time.Second

// Sessions is what the registry needs of the IVS service: key lookup,
// the stream-session record and its events. *ivs.Service implements it.
type Sessions interface {
	ResolveStreamKey(ctx context.Context, value string) (ivs.Channel, error)
	StartStreamSession(ctx context.Context, c ivs.Channel, start time.Time, ingest ivs.IngestConfigurations) (ivs.StreamSession, error)
	EndStreamSession(ctx context.Context, c ivs.Channel, streamID string, end time.Time) error
	Emit(ctx context.Context, e ivs.Event) (ivs.Event, error)
}

// Claimer reserves a channel beyond this process: a cluster's lease, so
// that one publisher per channel holds across nodes.
type Claimer interface {
	// Claim reserves channel c for a publisher of this process and returns
	// the function that frees it. A channel another node publishes is an
	// error wrapping ErrChannelBusy, unless streamKey ("" for none) may
	// take it over there (YieldTo).
	Claim(ctx context.Context, c ivs.Channel, streamKey string) (release func(), err error)
}

// KeyHash is how a stream key travels to another node that must compare
// it (YieldTo): never the key itself.
func KeyHash(streamKey string) []byte {
	h := sha256.Sum256([]byte(streamKey))
	return h[:]
}

// YieldTo lets a connection with the stream key whose KeyHash is keyHash,
// which reached another node, take the channel over as a reconnect would
// here: when the channel's publisher used that key and looks gone, it is
// cut off with ErrTakenOver and the returned channel closes once it is
// released (its session ended, its lease freed). ok is false when the
// publisher stays.
func (r *Registry) YieldTo(channelID string, keyHash []byte) (released <-chan struct{}, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, live := r.publishers[channelID]
	if !live || p.key == "" || subtle.ConstantTimeCompare(KeyHash(p.key), keyHash) != 1 || !p.replaceableBy(p.key, time.Now()) {
		return nil, false
	}
	p.cut(ErrTakenOver)
	r.log.Info("yielding a publisher that looks gone to a reconnect on another node", "channel", p.channel.ARN)
	return p.released, true
}

// Consumer is started for every stream that goes live, e.g. the HLS muxer.
type Consumer interface {
	// Attach begins consuming st (typically by reading st.Hub in a goroutine
	// through st.NewReader) and returns a function that stops it and waits
	// for it to finish. A consumer that cannot serve st returns an error
	// (a *Failure to name the event), which live logs and turns into one
	// session event; detach may still be non-nil when the consumer runs
	// without some part of itself (a recorder without its crash journal).
	Attach(st *Stream) (detach func(), err error)
}

// ConnInfo describes a publisher's connection, for logs and session events.
type ConnInfo struct {
	Protocol string // rtmp, rtmps, srt, whip
	Remote   string // host:port
	// Secure is true when the stream key and media travel encrypted
	// (RTMPS, SRT with a passphrase, WHIP's DTLS-SRTP).
	Secure bool
}

// Stream is a channel that is live.
type Stream struct {
	Channel   ivs.Channel
	StreamID  string
	StartTime time.Time
	Conn      ConnInfo
	Hub       *stream.Hub
	// Ingest is what the encoder announced, as the session records it.
	Ingest ivs.IngestConfigurations

	pub      *Publisher
	health   atomic.Pointer[string] // set by the session tracker
	keyframe func()
	metadata metadataReaders

	lagMu sync.Mutex
	lags  map[string]*lag // by consumer, for the resync events
}

// RequestKeyframe asks the encoder for a keyframe when its ingest can (WHIP);
// otherwise the next one comes at the encoder's own interval.
func (s *Stream) RequestKeyframe() {
	if s.keyframe != nil {
		s.keyframe()
	}
}

// SetHealth records the health the session tracker judged, which then
// overrides the fallback rule in Health.
func (s *Stream) SetHealth(h string) { s.health.Store(&h) }

// Disconnect cuts the publisher off with cause, e.g. a limit breach. The
// ingest closes the connection and logs the cause.
func (s *Stream) Disconnect(cause error) {
	if s.pub != nil {
		s.pub.cut(cause)
	}
}

// starvingAfter is how long a live stream may go without data before its
// health is STARVING.
const starvingAfter = 2 * time.Second

// Health is what the session tracker last judged; without one, HEALTHY
// while units arrive, STARVING once none came for a while.
func (s *Stream) Health(now time.Time) string {
	if h := s.health.Load(); h != nil {
		return *h
	}
	last := s.Hub.Stats().LastUnit
	if last.IsZero() {
		return ivs.HealthUnknown
	}
	if now.Sub(last) > starvingAfter {
		return ivs.HealthStarving
	}
	return ivs.HealthHealthy
}

// Registry is the set of live channels.
type Registry struct {
	sessions  Sessions
	log       *slog.Logger
	consumers []Consumer
	admit     func(ctx context.Context, c ivs.Channel) error
	// failures counts unknown keys per source address.
	failures *ratelimit.Table
	// stageIngest routes the stream keys of stage ingest configurations;
	// nil: they are unknown keys.
	stageIngest StageIngest
	// claimer reserves channels across a cluster; nil: one process.
	claimer Claimer

	mu         sync.Mutex
	publishers map[string]*Publisher // by channel id
	closed     bool

	resyncMu sync.Mutex
	resyncs  map[string]*ResyncCount // by consumer
}

// New returns an empty registry.
func New(sessions Sessions, log *slog.Logger) *Registry {
	return &Registry{sessions: sessions, log: log.With("component", "live"), publishers: make(map[string]*Publisher),
		failures: ratelimit.New(keyFailureBurst, keyFailureEvery)}
}

// AddConsumer registers a consumer for streams that start after the call.
// Call it before serving publishers.
func (r *Registry) AddConsumer(c Consumer) { r.consumers = append(r.consumers, c) }

// SetAdmission installs a check every publish must pass after its key is
// accepted, e.g. the monthly input quota. Call it before serving publishers.
func (r *Registry) SetAdmission(admit func(ctx context.Context, c ivs.Channel) error) {
	r.admit = admit
}

// SetClaimer makes every publish reserve its channel through c as well
// (a cluster's lease). Call it before serving publishers.
func (r *Registry) SetClaimer(c Claimer) { r.claimer = c }

// Claim authenticates a stream key and reserves its channel for the caller,
// who must Close the returned publisher. A second publisher on a channel gets
// ErrChannelBusy; the first is not disturbed.
//
// The exception is a reconnect: when the channel's publisher used the same
// stream key and looks gone (it reported so with SetGone, or it is live and
// sent nothing for takeoverIdle), it is cut off with ErrTakenOver and Claim
// waits, within ctx, until its owner has closed it; then the caller gets the
// channel.
//
// An address that sent too many unknown keys lately gets ErrThrottled
// before any lookup; a channel that takes secure ingest only refuses an
// insecure connection with ErrInsecure.
func (r *Registry) Claim(ctx context.Context, streamKey string, conn ConnInfo) (*Publisher, error) {
	host := ratelimit.Host(conn.Remote)
	if !r.failures.Has(host) {
		return nil, ErrThrottled
	}
	if r.stageIngest != nil && isStageKey(streamKey) {
		return r.claimStage(ctx, streamKey, conn)
	}
	ch, err := r.sessions.ResolveStreamKey(ctx, streamKey)
	if errors.Is(err, ivs.ErrUnknownStreamKey) {
		r.failures.Allow(host)
		return nil, ErrUnknownKey
	}
	if err != nil {
		return nil, fmt.Errorf("live: resolve stream key: %w", err)
	}
	if !conn.Secure && !ch.InsecureIngest {
		return nil, ErrInsecure
	}
	if r.admit != nil {
		if err := r.admit(ctx, ch); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRefused, err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if r.closed {
			return nil, ErrClosed
		}
		old, busy := r.publishers[ch.ID]
		if !busy {
			break
		}
		if !old.replaceableBy(streamKey, time.Now()) {
			return nil, ErrChannelBusy
		}
		old.cut(ErrTakenOver)
		r.log.Info("taking over a publisher that looks gone", "channel", ch.ARN, "protocol", conn.Protocol, "remote", conn.Remote)
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
	p := &Publisher{reg: r, slot: ch.ID, channel: ch, conn: conn, key: streamKey, stop: make(chan struct{}), released: make(chan struct{})}
	r.publishers[ch.ID] = p
	return r.claimBeyond(ctx, p)
}

// claimBeyond reserves p's channel through the claimer, with r.mu held
// on entry and on return but not while the claimer runs (it asks the
// shared store): p holds the channel in this process meanwhile.
func (r *Registry) claimBeyond(ctx context.Context, p *Publisher) (*Publisher, error) {
	if r.claimer == nil {
		return p, nil
	}
	r.mu.Unlock()
	release, err := r.claimer.Claim(ctx, p.channel, p.key)
	r.mu.Lock()
	if err != nil {
		if r.publishers[p.slot] == p {
			delete(r.publishers, p.slot)
		}
		close(p.released)
		return nil, err
	}
	p.unlease = release
	return p, nil
}

// ClaimChannel reserves channel c for a publisher inside onair (a stage
// composition), which has no stream key: it passes the admission check as
// any publish, never takes over another publisher, and can never be taken
// over by a stream key. A channel that has a publisher is ErrChannelBusy.
func (r *Registry) ClaimChannel(ctx context.Context, c ivs.Channel, conn ConnInfo) (*Publisher, error) {
	if r.admit != nil {
		if err := r.admit(ctx, c); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRefused, err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if _, busy := r.publishers[c.ID]; busy {
		return nil, ErrChannelBusy
	}
	p := &Publisher{reg: r, slot: c.ID, channel: c, conn: conn, stop: make(chan struct{}), released: make(chan struct{})}
	r.publishers[c.ID] = p
	return r.claimBeyond(ctx, p)
}

// Get returns the live stream of a channel.
func (r *Registry) Get(channelID string) (*Stream, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.publishers[channelID]
	if !ok || p.stream == nil {
		return nil, false
	}
	return p.stream, true
}

// List returns every live stream, ordered by channel ARN.
func (r *Registry) List() []*Stream {
	r.mu.Lock()
	out := make([]*Stream, 0, len(r.publishers))
	for _, p := range r.publishers {
		if p.stream != nil {
			out = append(out, p.stream)
		}
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Channel.ARN < out[j].Channel.ARN })
	return out
}

// Stop cuts the publisher of a channel off. It returns once the publisher
// was told to stop; its connection closes right after.
func (r *Registry) Stop(channelID string) error {
	r.mu.Lock()
	p, ok := r.publishers[channelID]
	r.mu.Unlock()
	if !ok || p.stream == nil {
		return ErrNotLive
	}
	p.cut(ErrStopped)
	return nil
}

// Disconnect cuts the publisher of a channel off with cause, if it has one
// (live or still starting).
func (r *Registry) Disconnect(channelID string, cause error) {
	r.mu.Lock()
	p, ok := r.publishers[channelID]
	r.mu.Unlock()
	if ok {
		p.cut(cause)
	}
}

// Close cuts every publisher off and refuses new ones. It waits until every
// publisher has been closed by its owner, or ctx ends.
func (r *Registry) Close(ctx context.Context) {
	r.mu.Lock()
	r.closed = true
	ps := make([]*Publisher, 0, len(r.publishers))
	for _, p := range r.publishers {
		ps = append(ps, p)
	}
	r.mu.Unlock()
	for _, p := range ps {
		p.cut(ErrShutdown)
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		r.mu.Lock()
		n := len(r.publishers)
		r.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Registry) release(p *Publisher) {
	// The channel is free in the cluster once its session has ended
	// (Close ends it before release), so that the next node's session
	// never overlaps this one's.
	if p.unlease != nil {
		p.unlease()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.publishers[p.slot] == p {
		delete(r.publishers, p.slot)
	}
	close(p.released)
}
