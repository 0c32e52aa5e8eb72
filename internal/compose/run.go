package compose

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/onair-video/onair/internal/ffmpeg"
	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/stream"
)

// Why a run ends.
const (
	endStop     = iota + 1 // StopComposition: STOPPED
	endIdle                // no publisher for the idle timeout: STOPPED
	endFailed              // nothing left to output to, or no encoder: FAILED
	endShutdown            // the server stops: nothing recorded
)

// canvas is the picture of one encoder configuration.
type canvas struct {
	spec  VideoSpec
	out   *Output
	enc   *ffmpeg.Converter
	tiles []Tile
	last  int64 // index of the last frame made
	pool  sync.Pool
}

// run is one running composition.
type run struct {
	e    *Engine
	spec Spec
	log  *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc

	endMu     sync.Mutex
	endWhy    int
	endReason string

	claims []*live.Publisher
	chans  []ivs.Channel

	canvases    []*canvas // by distinct video spec
	destOutputs []*Output // by destination
	audioEnc    *ffmpeg.Converter
	mixer       *Mixer

	// Owned by the main goroutine.
	inputs     map[string]*input
	publishers []Publisher

	updates chan []Publisher // latest set, coalesced
	kicks   chan struct{}
	wg      sync.WaitGroup // decoders being closed, destinations

	destMu    sync.Mutex
	destAlive int

	activeOnce sync.Once
}

func newRun(e *Engine, spec Spec, claims []*live.Publisher, chans []ivs.Channel) *run {
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{e: e, spec: spec, log: e.log.With("composition", spec.ARN, "stage", spec.StageARN), ctx: ctx, cancel: cancel,
		claims: claims, chans: chans, mixer: NewMixer(), inputs: map[string]*input{},
		updates: make(chan []Publisher, 1), kicks: make(chan struct{}, 1)}
	for _, d := range spec.Destinations {
		var c *canvas
		for _, have := range r.canvases {
			if have.spec == d.Video {
				c = have
			}
		}
		if c == nil {
			c = &canvas{spec: d.Video, last: -1}
			c.out = newOutput(d.Video, r.outputReady)
			r.canvases = append(r.canvases, c)
		}
		r.destOutputs = append(r.destOutputs, c.out)
	}
	return r
}

// end asks the run to end; the first reason given wins.
func (r *run) end(why int, reason string) {
	r.endMu.Lock()
	if r.endWhy == 0 {
		r.endWhy, r.endReason = why, reason
	}
	r.endMu.Unlock()
	r.cancel()
}

func (r *run) ended() (int, string) {
	r.endMu.Lock()
	defer r.endMu.Unlock()
	return r.endWhy, r.endReason
}

// report records a state unless the server is shutting down.
func (r *run) report(dest, state, reason string) {
	if why, _ := r.ended(); why == endShutdown {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	if dest == "" {
		err = r.e.cfg.Reporter.SetCompositionState(ctx, r.spec.ARN, state, reason)
	} else {
		err = r.e.cfg.Reporter.SetDestinationState(ctx, r.spec.ARN, dest, state, reason)
	}
	if err != nil {
		r.log.Warn("record composition state", "destination", dest, "state", state, "err", err)
	}
}

// outputReady is called when an output has its first keyframe: the
// composition is ACTIVE (Session Start) once the first one has.
func (r *run) outputReady() {
	r.activeOnce.Do(func() {
		r.log.Info("composition active")
		r.report("", stateActive, "")
	})
}

// frameRate is the tick rate: the highest of the canvases'.
func (r *run) frameRate() float64 {
	fps := 1.0
	for _, c := range r.canvases {
		fps = max(fps, c.spec.FPS)
	}
	return fps
}

func (r *run) main() {
	defer r.teardown()
	if err := r.startEncoders(); err != nil {
		r.log.Error("composition cannot start", "err", err)
		r.end(endFailed, err.Error())
		return
	}
	for i, d := range r.spec.Destinations {
		switch {
		case r.claims[i] != nil:
			r.destMu.Lock()
			r.destAlive++
			r.destMu.Unlock()
			r.wg.Go(func() { r.channelDestination(i, d) })
		case d.S3 != nil:
			r.destMu.Lock()
			r.destAlive++
			r.destMu.Unlock()
			r.wg.Go(func() { r.s3Destination(d, r.destOutputs[i]) })
		}
	}
	stop := r.e.cfg.Stage.Watch(r.spec.StageARN, func(ps []Publisher) {
		select { // keep only the latest set
		case <-r.updates:
		default:
		}
		r.updates <- ps
	})
	defer stop()

	idle := time.NewTimer(r.e.cfg.IdleTimeout)
	defer idle.Stop()
	tick := time.NewTicker(time.Duration(float64(time.Second) / r.frameRate()))
	defer tick.Stop()
	t0 := time.Now()
	var samples int64
	for {
		select {
		case <-r.ctx.Done():
			return
		case ps := <-r.updates:
			r.reconcile(ps)
			if len(ps) > 0 {
				idle.Stop()
			} else {
				idle.Reset(r.e.cfg.IdleTimeout)
			}
		case <-r.kicks:
			r.reconcile(r.publishers)
		case <-idle.C:
			r.log.Info("composition ends: no publisher on the stage", "for", r.e.cfg.IdleTimeout)
			r.end(endIdle, "")
		case now := <-tick.C:
			el := now.Sub(t0)
			// Audio: every sample due by now, so the mix keeps real time
			// even when a video frame is skipped.
			if due := int64(el) * SampleRate / int64(time.Second); due > samples {
				pcm := r.mixer.Mix(int(due - samples))
				r.audioEnc.Write(ffmpeg.Frame{PTS: time.Duration(samples) * time.Second / SampleRate, Data: pcm})
				samples = due
			}
			for _, c := range r.canvases {
				// The nearest frame, not the floor: the ticker's ticks fall
				// a hair before or after each frame's boundary, and a floor
				// would land on the frame just made every so often, then
				// jump one (a canvas skipped).
				idx := int64(math.Round(el.Seconds() * c.spec.FPS))
				if idx <= c.last {
					continue
				}
				c.last = idx
				r.compose(c, time.Duration(float64(idx)/c.spec.FPS*float64(time.Second)), now)
			}
		}
	}
}

// startEncoders starts the audio encoder and one video encoder per
// canvas.
func (r *run) startEncoders() error {
	if _, err := ffmpeg.Path(); err != nil {
		return err
	}
	var err error
	r.audioEnc, err = startAudioEncoder(r.ctx, r.log, func(pts time.Duration, au []byte) {
		for _, c := range r.canvases {
			c.out.writeAudio(pts, au)
		}
	})
	if err != nil {
		return fmt.Errorf("compose: audio encoder: %w", err)
	}
	for _, c := range r.canvases {
		size := PictureSize(c.spec.Width, c.spec.Height)
		c.pool.New = func() any { b := make([]byte, size); return &b }
		c.enc, err = startVideoEncoder(r.ctx, c.spec, r.log, c.out.writeVideo, &c.pool)
		if err != nil {
			return fmt.Errorf("compose: video encoder: %w", err)
		}
	}
	return nil
}

// compose draws canvas c at media time pts and hands it to its encoder.
func (r *run) compose(c *canvas, pts time.Duration, now time.Time) {
	bp := c.pool.Get().(*[]byte)
	pic := &Picture{W: c.spec.Width, H: c.spec.Height, Data: *bp}
	pic.Fill(Black)
	for _, t := range c.tiles {
		in := r.inputs[t.ParticipantID]
		if in == nil || in.pub.VideoStopped {
			pic.FillRect(t.X, t.Y, t.W, t.H, Black)
			continue
		}
		in.drawInto(pic, t)
	}
	// The compose time rides in DTS (the encoder's stamps take it back).
	c.enc.Write(ffmpeg.Frame{PTS: pts, DTS: time.Duration(now.UnixNano()), Data: pic.Data})
}

// reconcile brings the inputs and the layout to the publishers ps.
func (r *run) reconcile(ps []Publisher) {
	r.publishers = ps
	seen := map[string]bool{}
	for _, p := range ps {
		seen[p.ID] = true
		in := r.inputs[p.ID]
		if in == nil {
			in = &input{id: p.ID, log: r.log.With("participant", p.ID), kick: r.kick, aq: r.mixer.Queue(p.ID)}
			r.inputs[p.ID] = in
		}
		republished := in.pub.Session != p.Session
		in.pub = p
		in.aq.SetMuted(p.AudioMuted)
		if t := in.currentTap(); t == nil || isDone(t.Done()) || republished {
			r.tap(in)
		}
	}
	for id, in := range r.inputs {
		if !seen[id] {
			in.close()
			r.mixer.Remove(id)
			delete(r.inputs, id)
		}
	}
	r.relayout()
}

func isDone(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// kick asks the main goroutine to reconcile again (a source size changed
// or a tap ended).
func (r *run) kick() {
	select {
	case r.kicks <- struct{}{}:
	default:
	}
}

// tap (re)subscribes to an input's media and starts its audio decoder.
func (r *run) tap(in *input) {
	if old := in.currentTap(); old != nil {
		old.Close()
		in.setTap(nil)
	}
	t, err := r.e.cfg.Stage.Tap(r.spec.StageARN, in.id, "composition-"+r.spec.ARN[strings.LastIndexByte(r.spec.ARN, '/')+1:], in.onAudio, in.onVideo)
	if err != nil {
		// It stopped publishing meanwhile: the next update removes it.
		r.log.Debug("tap a publisher", "participant", in.id, "err", err)
		return
	}
	in.setTap(t)
	in.layer = "" // a new tap follows the highest layer until told
	video, audio := t.Codecs()
	in.retap(video)
	in.amu.Lock()
	needAudio := audio && in.adec == nil
	in.amu.Unlock()
	if needAudio {
		adec, err := startAudioDecoder(r.ctx, in.log, in.aq)
		if err != nil {
			r.log.Warn("audio decoder", "participant", in.id, "err", err)
		} else {
			in.amu.Lock()
			in.adec = adec
			in.amu.Unlock()
		}
	}
	r.wg.Go(func() {
		select {
		case <-t.Done():
			r.kick()
		case <-r.ctx.Done():
		}
	})
}

// relayout lays every canvas out for the current publishers and fits each
// participant's decoder to its tile on the first canvas (other canvases
// scale from it).
func (r *run) relayout() {
	parts := make([]Participant, 0, len(r.publishers))
	for _, p := range r.publishers {
		w, h := 0, 0
		if in := r.inputs[p.ID]; in != nil {
			w, h = in.sourceSize()
		}
		parts = append(parts, Participant{ID: p.ID, Attributes: p.Attributes, JoinOrder: p.Since.UnixNano(),
			VideoStopped: p.VideoStopped, Width: w, Height: h})
	}
	for _, c := range r.canvases {
		c.tiles = Layout(c.spec.Width, c.spec.Height, r.spec.Layout, parts)
	}
	tiles := map[string]Tile{}
	for _, t := range r.canvases[0].tiles {
		tiles[t.ParticipantID] = t
	}
	for _, id := range slices.Sorted(maps.Keys(r.inputs)) {
		in, t := r.inputs[id], tiles[id]
		if tap := in.currentTap(); tap != nil && t.W > 0 {
			if l := fitLayer(tap.Layers(), t.W, t.H); l != "" && l != in.layer {
				if err := tap.SelectLayer(l); err == nil {
					in.layer = l
				}
			}
		}
		if err := in.fitDecoder(r.ctx, t.W, t.H, t.Fill, &r.wg); err != nil {
			r.log.Warn("video decoder", "participant", id, "err", err)
		}
	}
}

// teardown ends everything and records how the composition ended.
func (r *run) teardown() {
	r.cancel()
	for id, in := range r.inputs {
		in.close()
		delete(r.inputs, id)
	}
	if r.audioEnc != nil {
		r.audioEnc.Close()
	}
	for _, c := range r.canvases {
		if c.enc != nil {
			c.enc.Close()
		}
	}
	r.wg.Wait() // the destinations close their publishers
	for _, c := range r.canvases {
		c.out.close()
	}
	for _, p := range r.claims {
		if p != nil {
			p.Close()
		}
	}
	why, reason := r.ended()
	if why == endShutdown {
		return
	}
	state := stateStopped
	if why == endFailed {
		state = stateFailed
	}
	for _, d := range r.spec.Destinations {
		r.report(d.ID, state, reason)
	}
	r.report("", state, reason)
	r.log.Info("composition ended", "state", state, "reason", reason)
}

// channelDestination publishes the composite into destination i's channel
// for as long as the run lasts. When the channel's publication is cut off
// (StopStream), the destination reconnects (RECONNECTING), claiming the
// channel again with backoff; when that fails ReconnectTries times it
// fails, and the composition with it when no destination is left.
func (r *run) channelDestination(i int, d DestinationSpec) {
	pub, ch, out := r.claims[i], r.chans[i], r.destOutputs[i]
	log := r.log.With("destination", d.ID, "channel", ch.ARN)
	for {
		err := r.publish(pub, d, out)
		pub.Close()
		if r.ctx.Err() != nil {
			return
		}
		cause := pub.Cause()
		if errors.Is(cause, live.ErrShutdown) {
			r.end(endShutdown, "")
			return
		}
		reason := fmt.Sprintf("the channel's publication ended: %v", errors.Join(cause, err))
		log.Warn("composition destination cut off, reconnecting", "cause", cause, "err", err)
		r.report(d.ID, stateReconnecting, reason)
		pub = r.reclaim(ch, log)
		if pub == nil {
			if r.ctx.Err() != nil {
				return
			}
			r.destinationFailed(d.ID, "reconnect attempts exhausted: "+reason)
			return
		}
	}
}

// s3Destination records the composite from its first keyframe until the
// composition ends; a recording that loses objects (the spool is full)
// ends FAILED, with the composition when no destination is left.
func (r *run) s3Destination(d DestinationSpec, out *Output) {
	if r.e.cfg.Record == nil {
		r.destinationFailed(d.ID, "this server records no composition to S3")
		return
	}
	// Asked for before the composite exists, the reader starts at its
	// first keyframe: one made after it waits for the next (2 s).
	var rd *stream.Reader
	select {
	case rd = <-out.Subscribe(1024, stream.Resync):
	case <-r.ctx.Done():
		return // a reader made later ends with the hub
	}
	rec := r.e.cfg.Record(r.spec.ARN, d)
	src := out.Hub()
	r.report(d.ID, stateActive, "")
	err := rec.Record(r.ctx, rd, src.Tracks())
	rd.Close()
	failure := ""
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, stream.ErrClosed) {
		failure = err.Error()
	}
	rec.Close(failure)
	if failure != "" {
		r.destinationFailed(d.ID, failure)
	}
}

// destinationFailed records a destination's failure; the composition
// fails with its last destination.
func (r *run) destinationFailed(id, reason string) {
	r.report(id, stateFailed, reason)
	r.destMu.Lock()
	r.destAlive--
	left := r.destAlive
	r.destMu.Unlock()
	if left == 0 {
		r.end(endFailed, "every destination failed")
	}
}

// reclaim claims ch again, with backoff from 1 s, ReconnectTries times;
// nil when it could not (or the run ended).
func (r *run) reclaim(ch ivs.Channel, log *slog.Logger) *live.Publisher {
	wait := time.Second
	for try := range r.e.cfg.ReconnectTries {
		select {
		case <-r.ctx.Done():
			return nil
		case <-time.After(wait):
		}
		p, err := r.e.cfg.Live.ClaimChannel(r.ctx, ch, connInfo)
		if err == nil {
			return p
		}
		log.Info("reclaim the composition's channel", "try", try+1, "err", err)
		wait = min(2*wait, 8*time.Second)
	}
	return nil
}

// publish makes the channel live with the composite once it exists and
// copies its units until the run ends or the publication is cut off.
// Media times start at 0 for each publication.
func (r *run) publish(pub *live.Publisher, d DestinationSpec, out *Output) error {
	// Asked for before the composite exists, the reader starts at its
	// first keyframe (the channel goes live 2 s sooner than with one made
	// after it); on a reconnect it is made now.
	var rd *stream.Reader
	select {
	case rd = <-out.Subscribe(512, stream.Resync):
	case <-r.ctx.Done():
		return nil // a reader made later ends with the hub
	case <-pub.Done():
		return nil
	}
	defer rd.Close()
	src := out.Hub()
	tracks := make([]*stream.Track, len(src.Tracks()))
	for i, t := range src.Tracks() {
		tracks[i] = &stream.Track{Codec: t.Codec, ClockRate: t.ClockRate}
	}
	hub, err := pub.Start(r.ctx, tracks, live.Metadata{Encoder: "onair composition", FrameRate: d.Video.FPS,
		Width: float64(d.Video.Width), Height: float64(d.Video.Height), VideoDataRate: float64(d.Video.Bitrate) / 1000})
	if err != nil {
		return err
	}
	r.report(d.ID, stateActive, "")
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	go func() {
		select {
		case <-pub.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	var base time.Duration
	started := false
	for {
		u, err := rd.Read(ctx)
		if errors.Is(err, context.Canceled) {
			return nil // the run ended, or the publication was cut off
		}
		if err != nil {
			return err
		}
		if !started {
			if !u.RandomAccess {
				continue
			}
			base, started = u.DTS, true
		}
		if u.DTS < base {
			continue // audio from before the first picture
		}
		hub.Write(&stream.Unit{Track: tracks[u.Track.Index], PTS: u.PTS - base, DTS: u.DTS - base, NTP: u.NTP,
			Payload: u.Payload, RandomAccess: u.RandomAccess})
	}
}
