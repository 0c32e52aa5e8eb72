package events

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"sync"
	"time"
)

// Leader elects, among the processes that share a store, the one that runs
// a piece of work that must have a single runner cluster-wide: a webhook's
// delivery loop (two would deliver every event twice), the downsampler.
// With SQLite there is one process and it always leads (Solo); with
// PostgreSQL the leaderships are the server's advisory locks
// (internal/store/postgres).
type Leader interface {
	// Lead blocks until ctx ends, running run while this process holds
	// the leadership called name, and trying to take it (again) every
	// couple of seconds while it does not. run's ctx is cancelled as soon
	// as the leadership is lost; run must then return. A run that returns
	// on its own gives the leadership up, and is run again once it is
	// taken again.
	Lead(ctx context.Context, name string, run func(ctx context.Context))
	// Check asks, before an action that must not be done twice (a
	// webhook's POST), whether this process still holds name: nil when it
	// does. An error also ends the run that holds it.
	Check(ctx context.Context, name string) error
}

// ErrNotLeader is Check's error when the leadership is not held.
var ErrNotLeader = errors.New("events: not the leader")

// leadRetry is how long Solo waits to run again a run that returned on
// its own.
const leadRetry = 2 * time.Second

// Solo is the Leader of a process that shares its store with no other:
// it holds every leadership.
type Solo struct{}

var _ Leader = Solo{}

// Lead implements Leader.
func (Solo) Lead(ctx context.Context, _ string, run func(ctx context.Context)) {
	for ctx.Err() == nil {
		run(ctx)
		if !sleep(ctx, leadRetry) {
			return
		}
	}
}

// Check implements Leader.
func (Solo) Check(ctx context.Context, _ string) error { return ctx.Err() }

// Observed is a Leader that logs when a leadership is taken and lost, and
// reports which it holds (for /metrics).
type Observed struct {
	l   Leader
	log *slog.Logger

	mu      sync.Mutex
	leading map[string]bool
}

var _ Leader = (*Observed)(nil)

// Observe wraps l.
func Observe(l Leader, log *slog.Logger) *Observed {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Observed{l: l, log: log.With("component", "leader"), leading: make(map[string]bool)}
}

// Lead implements Leader.
func (o *Observed) Lead(ctx context.Context, name string, run func(ctx context.Context)) {
	o.mu.Lock()
	if _, ok := o.leading[name]; !ok {
		o.leading[name] = false // asked for, not held (yet)
	}
	o.mu.Unlock()
	o.l.Lead(ctx, name, func(rctx context.Context) {
		o.set(name, true)
		o.log.Info("leadership taken", "leadership", name)
		defer func() {
			o.set(name, false)
			switch {
			case ctx.Err() != nil:
				o.log.Info("leadership released", "leadership", name)
			case rctx.Err() != nil:
				o.log.Warn("leadership lost", "leadership", name)
			default:
				o.log.Info("leadership given up", "leadership", name)
			}
		}()
		run(rctx)
	})
}

// Check implements Leader.
func (o *Observed) Check(ctx context.Context, name string) error { return o.l.Check(ctx, name) }

func (o *Observed) set(name string, leading bool) {
	o.mu.Lock()
	o.leading[name] = leading
	o.mu.Unlock()
}

// Leading returns every leadership Lead was asked for, and whether this
// process holds it now.
func (o *Observed) Leading() map[string]bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return maps.Clone(o.leading)
}
