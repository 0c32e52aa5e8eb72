// Package session watches every live stream: once a second it turns the
// stream's units into a metrics point (ingest video and audio bit rate, frame
// rate, keyframe interval, concurrent viewers), judges its health, checks
// the channel type's input limits, emits IVS's health and limit events, and
// keeps the points with the session in the store.
package session

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
)

// Store is what the tracker needs of the store.
type Store interface {
	// AppendMetrics adds points to a session's series and replaces its
	// summary, in one transaction; a point of a second already stored
	// replaces it (a retried flush), and a session that does not exist is
	// ErrNotFound.
	AppendMetrics(ctx context.Context, streamID string, points []ivs.MetricPoint, stats ivs.SessionStats) error
}

// Emitter stores and publishes an event; *ivs.Service implements it.
type Emitter interface {
	Emit(ctx context.Context, e ivs.Event) (ivs.Event, error)
}

// Config holds a Tracker's dependencies and settings.
type Config struct {
	Store  Store
	Events Emitter
	Log    *slog.Logger
	// Viewers returns a channel's concurrent viewers (the HLS server's
	// count); nil counts none.
	Viewers func(channelID string) int
	// EnforceLimits disconnects a publisher that breaches its channel
	// type's input limits, as IVS does; the breach event is emitted either way.
	EnforceLimits bool
	// FlushInterval is how often points are written to the store; a crash
	// loses at most this much of the series. Default 1s: one small
	// transaction per live stream per second.
	FlushInterval time.Duration
	// IdleTimeout disconnects a publisher that sent nothing for this long
	// (IVS: 30 s). Default 30s.
	IdleTimeout time.Duration
}

// recentPoints is how many of its latest points a live stream keeps in
// memory for readers that join (the SSE series replays them).
const recentPoints = 120

// maxPending bounds the points kept for a store that keeps failing: an
// hour of them; older ones are dropped (and the loss logged) rather than
// held without bound.
const maxPending = 3600

// subscriberQueue bounds a live-series subscriber; one that falls this far
// behind is dropped and must reconnect.
const subscriberQueue = 64

// Tracker keeps the stats of every live stream. It implements live.Consumer.
type Tracker struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	streams map[string]*tracked // by stream id
}

// New returns a tracker.
func New(cfg Config) *Tracker {
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Second
	}
	if cfg.Viewers == nil {
		cfg.Viewers = func(string) int { return 0 }
	}
	return &Tracker{cfg: cfg, log: cfg.Log.With("component", "session"), streams: make(map[string]*tracked)}
}

// Status is the latest state of a live stream.
type Status struct {
	Stream *live.Stream
	Last   ivs.MetricPoint // zero before the first whole second
	Health string
}

// Snapshot returns the status of every live stream.
func (t *Tracker) Snapshot() []Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Status, 0, len(t.streams))
	for _, tr := range t.streams {
		tr.mu.Lock()
		out = append(out, Status{Stream: tr.st, Last: tr.last, Health: tr.health})
		tr.mu.Unlock()
	}
	return out
}

// Subscribe returns the recent points of a live stream and a channel of the
// points to come. The channel is closed when the stream ends, when ctx ends,
// or when the subscriber falls behind. ok is false when the stream is not live.
func (t *Tracker) Subscribe(ctx context.Context, streamID string) (recent []ivs.MetricPoint, points <-chan ivs.MetricPoint, ok bool) {
	t.mu.Lock()
	tr, ok := t.streams[streamID]
	t.mu.Unlock()
	if !ok {
		return nil, nil, false
	}
	ch := make(chan ivs.MetricPoint, subscriberQueue)
	tr.mu.Lock()
	if tr.ended {
		tr.mu.Unlock()
		return nil, nil, false
	}
	recent = append([]ivs.MetricPoint(nil), tr.recent...)
	tr.subs[ch] = struct{}{}
	tr.mu.Unlock()
	context.AfterFunc(ctx, func() { tr.unsubscribe(ch) })
	return recent, ch, true
}

// Live reports whether a stream is being tracked.
func (t *Tracker) Live(streamID string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.streams[streamID]
	return ok
}

// Recent returns the in-memory points of a live stream, which may not be in
// the store yet.
func (t *Tracker) Recent(streamID string) []ivs.MetricPoint {
	t.mu.Lock()
	tr, ok := t.streams[streamID]
	t.mu.Unlock()
	if !ok {
		return nil
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]ivs.MetricPoint(nil), tr.recent...)
}

// Attach implements live.Consumer: it starts tracking st until detach.
func (t *Tracker) Attach(st *live.Stream) (detach func(), err error) {
	ctx, cancel := context.WithCancel(context.Background())
	tr := &tracked{
		t: t, st: st, log: t.log.With("channel", st.Channel.ARN, "stream_id", st.StreamID),
		health: ivs.HealthUnknown, subs: make(map[chan ivs.MetricPoint]struct{}),
	}
	t.mu.Lock()
	t.streams[st.StreamID] = tr
	t.mu.Unlock()

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); tr.read(ctx) }()
	go func() { defer wg.Done(); tr.run(ctx) }()
	return func() {
		cancel()
		wg.Wait()
		tr.finish()
	}, nil
}

// tracked is one live stream being measured.
type tracked struct {
	t   *Tracker
	st  *live.Stream
	log *slog.Logger

	mu       sync.Mutex // guards everything below
	m        meter
	stats    ivs.SessionStats
	last     ivs.MetricPoint
	recent   []ivs.MetricPoint
	pending  []ivs.MetricPoint // not yet in the store
	lost     int               // times the oldest unsaved point was dropped
	idled    bool              // disconnected for sending nothing
	health   string
	breached map[string]bool // limit names currently over
	subs     map[chan ivs.MetricPoint]struct{}
	ended    bool
}

// readerQueue is the stats reader's queue. It does little per unit, so it
// only falls behind when the process is starved; then it skips to the next
// keyframe (live counts that), and the current second is undercounted.
const readerQueue = 4096

func (tr *tracked) read(ctx context.Context) {
	r := tr.st.NewReader("session", tr.st.Hub, readerQueue)
	defer r.Close()
	for {
		u, err := r.Read(ctx)
		if err != nil {
			return
		}
		now := time.Now()
		tr.mu.Lock()
		tr.m.observe(u, now)
		tr.mu.Unlock()
	}
}

// run ticks on whole seconds of the wall clock, so that the points of all
// streams share their timestamps.
func (tr *tracked) run(ctx context.Context) {
	now := time.Now()
	tr.mu.Lock()
	tr.m.start(now)
	tr.mu.Unlock()
	if bad, ok := tr.resolutionBreach(); ok {
		tr.breach(ctx, bad)
	}
	flushed, started := now, now
	timer := time.NewTimer(time.Until(now.Truncate(time.Second).Add(time.Second)))
	defer timer.Stop()
	first := true
	for {
		select {
		case <-ctx.Done():
			return
		case now = <-timer.C:
		}
		timer.Reset(time.Until(now.Truncate(time.Second).Add(time.Second)))
		// The stream began mid-second: drop the partial second. Then, for
		// a few seconds, drop any second that is a burst of backlog (the
		// media an ingest buffered before going live): it is not the
		// encoder's rate, and it would be every session's max.
		if first || (now.Sub(started) < warmup && tr.backlog(now)) {
			first = false
			tr.mu.Lock()
			tr.m.start(now)
			tr.mu.Unlock()
			continue
		}
		tr.tick(ctx, now)
		// Counted in whole seconds: two ticks' times (each a few µs past its
		// second) can be a hair under a second apart, which must not skip
		// a flush.
		if now.Truncate(time.Second).Sub(flushed.Truncate(time.Second)) >= tr.t.cfg.FlushInterval {
			tr.flush(ctx)
			flushed = now
		}
	}
}

// warmup is how long after going live a burst of backlog is dropped.
const warmup = 5 * time.Second

func (tr *tracked) backlog(now time.Time) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.m.backlog(now)
}

func (tr *tracked) tick(ctx context.Context, now time.Time) {
	viewers := int64(tr.t.cfg.Viewers(tr.st.Channel.ID))
	tr.mu.Lock()
	p := tr.m.tick(now, viewers)
	prev := tr.health
	tr.health = tr.m.judge(prev, now)
	health := tr.health
	lastData := tr.m.lastUnit
	if lastData.IsZero() {
		lastData = tr.st.StartTime
	}
	idle := !tr.idled && now.Sub(lastData) > tr.t.cfg.IdleTimeout
	tr.idled = tr.idled || idle
	breach, over := tr.m.bitrateBreach(tr.bitrateLimit())
	switch {
	case over && tr.breached[breach.Name]:
		over = false // the same breach goes on: one event for it
	case !over:
		delete(tr.breached, ivs.LimitIngestBitrate) // back under: a later breach is new
	}
	tr.stats.Add(p)
	tr.last = p
	tr.recent = append(tr.recent, p)
	if len(tr.recent) > recentPoints {
		tr.recent = tr.recent[1:]
	}
	tr.pending = append(tr.pending, p)
	if len(tr.pending) > maxPending {
		tr.pending = tr.pending[len(tr.pending)-maxPending:]
		tr.lost++
	}
	lost := tr.lost
	for ch := range tr.subs {
		select {
		case ch <- p:
		default:
			tr.unsubscribeLocked(ch)
		}
	}
	tr.mu.Unlock()

	if lost == 1 {
		tr.log.Error("the store has failed for an hour: dropping the oldest unsaved metrics points")
	}
	tr.st.SetHealth(health)
	if health != prev && (health == ivs.HealthStarving || prev == ivs.HealthStarving) {
		name := ivs.EventStarvationStart
		if health != ivs.HealthStarving {
			name = ivs.EventStarvationEnd
		}
		tr.log.Info("stream health changed", "health", health)
		e := ivs.ChannelEvent(ivs.EventTypeStreamHealth, tr.st.Channel, tr.st.StreamID, now)
		e.Detail.EventName = name
		tr.emit(ctx, e)
	}
	if over {
		tr.breach(ctx, breach)
	}
	if idle {
		tr.log.Warn("disconnecting idle publisher", "idle_timeout", tr.t.cfg.IdleTimeout)
		tr.st.Disconnect(errIdle{tr.t.cfg.IdleTimeout})
	}
}

// errIdle is the cause of a disconnect of a publisher that went silent.
type errIdle struct{ d time.Duration }

func (e errIdle) Error() string { return "no data from the encoder for " + e.d.String() }

func (tr *tracked) bitrateLimit() int64 {
	var w, h int64
	if len(tr.st.Ingest.Video) > 0 {
		w, h = tr.st.Ingest.Video[0].VideoWidth, tr.st.Ingest.Video[0].VideoHeight
	}
	return bitrateLimit(tr.st.Channel.Type, w, h)
}

func (tr *tracked) resolutionBreach() (Breach, bool) {
	for _, v := range tr.st.Ingest.Video {
		if b, ok := resolutionBreach(v.VideoWidth, v.VideoHeight); ok {
			return b, true
		}
	}
	return Breach{}, false
}

// breach emits IVS's limit-breach event and, when limits are enforced,
// disconnects the publisher with the breach as the reason.
func (tr *tracked) breach(ctx context.Context, b Breach) {
	tr.mu.Lock()
	if tr.breached == nil {
		tr.breached = make(map[string]bool)
	}
	tr.breached[b.Name] = true
	tr.mu.Unlock()
	tr.log.Warn("input limit breached", "limit", b.Name, "limit_value", b.Limit, "exceeded_by", b.ExceededBy,
		"unit", b.Unit, "enforced", tr.t.cfg.EnforceLimits)
	e := ivs.ChannelEvent(ivs.EventTypeLimitBreach, tr.st.Channel, tr.st.StreamID, time.Now())
	limit, by := b.Limit, b.ExceededBy
	e.Detail.LimitName, e.Detail.LimitValue, e.Detail.ExceededBy, e.Detail.LimitUnit = b.Name, &limit, &by, b.Unit
	tr.emit(ctx, e)
	if tr.t.cfg.EnforceLimits {
		tr.st.Disconnect(b)
	}
}

func (tr *tracked) emit(ctx context.Context, e ivs.Event) {
	if _, err := tr.t.cfg.Events.Emit(ctx, e); err != nil {
		tr.log.Error("emit event", "type", e.DetailType, "name", e.Name(), "err", err)
	}
}

// flush writes the pending points and the summary. On failure the points
// stay pending for the next flush; the store's write is idempotent per second.
func (tr *tracked) flush(ctx context.Context) {
	tr.mu.Lock()
	pts := append([]ivs.MetricPoint(nil), tr.pending...)
	stats := tr.stats
	tr.mu.Unlock()
	if err := tr.t.cfg.Store.AppendMetrics(ctx, tr.st.StreamID, pts, stats); err != nil {
		tr.log.Error("store metrics", "points", len(pts), "err", err)
		return
	}
	tr.mu.Lock()
	tr.pending = tr.pending[len(pts):]
	tr.mu.Unlock()
}

// finish writes what is left once the stream ended, forgets the stream and
// closes the subscribers, in that order: a subscriber whose channel closes
// finds the stream no longer Live and every point in the store. It runs
// after the tick goroutine stopped.
func (tr *tracked) finish() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tr.flush(ctx)
	tr.t.mu.Lock()
	delete(tr.t.streams, tr.st.StreamID)
	tr.t.mu.Unlock()
	tr.mu.Lock()
	tr.ended = true
	for ch := range tr.subs {
		tr.unsubscribeLocked(ch)
	}
	tr.mu.Unlock()
}

func (tr *tracked) unsubscribe(ch chan ivs.MetricPoint) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.unsubscribeLocked(ch)
}

func (tr *tracked) unsubscribeLocked(ch chan ivs.MetricPoint) {
	if _, ok := tr.subs[ch]; ok {
		delete(tr.subs, ch)
		close(ch)
	}
}
