package compose

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/rtp"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/stream"
)

// Publisher is a participant publishing on the stage, as the composition
// sees it.
type Publisher struct {
	ID                       string
	Attributes               map[string]string
	AudioMuted, VideoStopped bool
	Since                    time.Time // when it started publishing
	// Session changes when the participant's publisher is replaced (a
	// republish): its tap has ended and is made again.
	Session string
}

// Tap is an in-process subscription to one publisher's media.
type Tap interface {
	Close()
	// Done is closed when the tap ends (the publisher left, or the tap
	// fell too far behind).
	Done() <-chan struct{}
	RequestKeyframe()
	// Codecs says what the publisher sends: its video codec (0: none) and
	// whether it sends audio (Opus).
	Codecs() (video VideoCodec, audio bool)
	// Layers are the publisher's simulcast layers (none without simulcast)
	// and SelectLayer pins the tap to one: a tile needs no more pixels
	// than it has, and a smaller layer is cheaper to decode.
	Layers() []Layer
	SelectLayer(id string) error
}

// Layer is one simulcast layer; its size is 0 while unknown.
type Layer struct {
	ID            string
	Width, Height int
}

// fitLayer picks, of layers, the smallest that covers a w x h tile, or
// the largest when none does; "" when the sizes are not known (or there
// is nothing to choose from).
func fitLayer(layers []Layer, w, h int) string {
	best, bestArea, top, topArea := "", 0, "", 0
	for _, l := range layers {
		if l.Width <= 0 || l.Height <= 0 {
			return ""
		}
		a := l.Width * l.Height
		if a > topArea {
			top, topArea = l.ID, a
		}
		if l.Width >= w && l.Height >= h && (best == "" || a < bestArea) {
			best, bestArea = l.ID, a
		}
	}
	if len(layers) < 2 {
		return ""
	}
	if best == "" {
		return top
	}
	return best
}

// Stage is what compositions need of the stages; app adapts
// *stage.Stages to it.
type Stage interface {
	// Watch calls fn with the stage's publishers, ordered by Since, at once
	// and after every change, on one goroutine; stop ends it.
	Watch(stageARN string, fn func([]Publisher)) (stop func())
	// Tap subscribes to a publisher's media; audio and video are called on
	// their own goroutines with packets valid only during the call.
	Tap(stageARN, participantID, tapID string, audio, video func(h *rtp.Header, payload []byte)) (Tap, error)
}

// Channels looks channels up; *ivs.Service implements it.
type Channels interface {
	GetChannel(ctx context.Context, arn string) (ivs.Channel, error)
}

// Live lets a composition publish into a channel; *live.Registry
// implements it.
type Live interface {
	ClaimChannel(ctx context.Context, c ivs.Channel, conn live.ConnInfo) (*live.Publisher, error)
}

// Reporter records what happens to compositions; *ivsrealtime.Service
// implements it (states are IVS's CompositionState and DestinationState).
type Reporter interface {
	SetCompositionState(ctx context.Context, arn, state, reason string) error
	SetDestinationState(ctx context.Context, arn, destinationID, state, reason string) error
}

// The states a run reports.
const (
	stateActive       = "ACTIVE"
	stateStopped      = "STOPPED"
	stateFailed       = "FAILED"
	stateReconnecting = "RECONNECTING"
)

// Spec is a composition to run.
type Spec struct {
	ARN, StageARN string
	Layout        Configuration
	Destinations  []DestinationSpec
}

// DestinationSpec is one destination: a channel (ChannelARN) or an S3
// recording (S3).
type DestinationSpec struct {
	ID         string
	ChannelARN string
	S3         *S3Spec
	Video      VideoSpec
}

// S3Spec is where and how an s3 destination records the composite as HLS.
type S3Spec struct {
	Bucket, Prefix     string
	SegmentDuration    time.Duration
	ThumbnailInterval  time.Duration // 0: no thumbnails
	Sequential, Latest bool
	// Metadata names the recording in its event files (stage_arn, ...).
	Metadata map[string]string
}

// Recording is an s3 destination's writer: record.HLS, through app.
type Recording interface {
	// Record writes the units r reads (of tracks) until the stream or ctx
	// ends, and says what ended it.
	Record(ctx context.Context, r *stream.Reader, tracks []*stream.Track) error
	// Close ends the recording: its final playlists and event file;
	// failure is "" for a clean end.
	Close(failure string)
}

// Config holds an Engine's dependencies.
type Config struct {
	Stage    Stage
	Channels Channels
	Live     Live
	Reporter Reporter
	// Record starts the recording of an s3 destination; nil fails them.
	Record func(composition string, d DestinationSpec) Recording
	Log    *slog.Logger
	// IdleTimeout ends a composition whose stage has had no publisher for
	// that long (IVS: 60 s); 0 is 60 s.
	IdleTimeout time.Duration
	// ReconnectTries is how often a destination channel that was cut off
	// is claimed again before the destination fails; 0 is 5.
	ReconnectTries int
}

// Engine runs compositions: per composition one tap and decoder per
// publisher, the canvas and the mix made in Go every frame, one encoder
// per encoder configuration, and the composite published into the
// destination channel as an encoder would.
type Engine struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	runs   map[string]*run
	closed bool
	wg     sync.WaitGroup
}

// New returns an engine; it starts nothing.
func New(cfg Config) *Engine {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = time.Minute
	}
	if cfg.ReconnectTries <= 0 {
		cfg.ReconnectTries = 5
	}
	return &Engine{cfg: cfg, log: cfg.Log.With("component", "compose"), runs: map[string]*run{}}
}

// connInfo is how a composition appears as a channel's publisher.
var connInfo = live.ConnInfo{Protocol: "composition", Remote: "onair", Secure: true}

// Start claims the destination channels and runs the composition until
// Stop, the stage's idleness or a failure. A channel that does not exist
// is ResourceNotFound; one that is live is a ConflictException.
func (e *Engine) Start(ctx context.Context, spec Spec) error {
	claims := make([]*live.Publisher, len(spec.Destinations))
	chans := make([]ivs.Channel, len(spec.Destinations))
	release := func() {
		for _, p := range claims {
			if p != nil {
				p.Close()
			}
		}
	}
	for i, d := range spec.Destinations {
		if d.ChannelARN == "" {
			continue
		}
		ch, err := e.cfg.Channels.GetChannel(ctx, d.ChannelARN)
		if err != nil {
			release()
			return err
		}
		p, err := e.cfg.Live.ClaimChannel(ctx, ch, connInfo)
		if err != nil {
			release()
			if errors.Is(err, live.ErrChannelBusy) {
				return &ivs.Error{Code: ivs.CodeConflict, Message: fmt.Sprintf("channel %s is live: a composition's channel must be offline", ch.ARN)}
			}
			return &ivs.Error{Code: ivs.CodeConflict, Message: fmt.Sprintf("channel %s cannot take the composition: %v", ch.ARN, err)}
		}
		claims[i], chans[i] = p, ch
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		release()
		return errors.New("compose: engine closed")
	}
	if _, dup := e.runs[spec.ARN]; dup {
		release()
		return &ivs.Error{Code: ivs.CodeConflict, Message: fmt.Sprintf("composition %s is already running", spec.ARN)}
	}
	r := newRun(e, spec, claims, chans)
	e.runs[spec.ARN] = r
	e.wg.Go(func() {
		r.main()
		e.mu.Lock()
		delete(e.runs, spec.ARN)
		e.mu.Unlock()
	})
	return nil
}

// Stop ends a composition (STOPPED once it has); false when it does not
// run here.
func (e *Engine) Stop(arn string) bool {
	e.mu.Lock()
	r, ok := e.runs[arn]
	e.mu.Unlock()
	if ok {
		r.end(endStop, "")
	}
	return ok
}

// Outputs returns a running composition's outputs, one per destination
// (nil for an unknown composition): what an S3 writer would record.
func (e *Engine) Outputs(arn string) []*Output {
	e.mu.Lock()
	r, ok := e.runs[arn]
	e.mu.Unlock()
	if !ok {
		return nil
	}
	return r.destOutputs
}

// Close ends every composition without recording that they ended (the
// server is shutting down; they resume when it starts again) and waits.
func (e *Engine) Close() {
	e.mu.Lock()
	e.closed = true
	runs := make([]*run, 0, len(e.runs))
	for _, r := range e.runs {
		runs = append(runs, r)
	}
	e.mu.Unlock()
	for _, r := range runs {
		r.end(endShutdown, "")
	}
	e.wg.Wait()
}
