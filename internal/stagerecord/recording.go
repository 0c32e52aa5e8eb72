package stagerecord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/onair-video/onair/internal/ivsrealtime"
	"github.com/onair-video/onair/internal/record"
	"github.com/onair-video/onair/internal/rtpmedia"
	"github.com/onair-video/onair/internal/sfu"
	"github.com/onair-video/onair/internal/stream"
)

const (
	// keyframeInterval is how often the publisher is asked for a keyframe:
	// browsers send one only when asked, and segments start at keyframes
	// (IVS recommends one every 2 s).
	keyframeInterval = 2 * time.Second
	// tapWait is how long a publisher the roster shows publishing may take
	// to have its media in the room.
	tapWait = 5 * time.Second
	// drainTimeout bounds the wait for a run's writer to take what the
	// stream still holds when the publisher stops.
	drainTimeout = 10 * time.Second
	// readerQueue is the units a run's writer may fall behind (Resync:
	// beyond it, it skips to the next keyframe and marks the gap).
	readerQueue = 2048
)

// recording is one participant's recording: one prefix, made of runs
// (a run per publish; more than one when the publisher came back within
// the reconnect window).
type recording struct {
	r             *Recorder
	key           string
	stageARN      string
	participantID string
	target        ivsrealtime.RecordingTarget
	spec          mediaSpec
	window        time.Duration
	hls           *record.HLS
	log           *slog.Logger
	ended         chan struct{}

	// runMu orders the runs: one stops before the next starts.
	runMu     sync.Mutex
	mu        sync.Mutex
	run       *run
	timer     *time.Timer
	finishing bool
	active    bool // a run's stream started: Recording Start was emitted
}

// state is a report of the recording's state.
func (rec *recording) state(state, event, reason string) ivsrealtime.ParticipantRecording {
	return ivsrealtime.ParticipantRecording{SessionID: rec.target.SessionID, ParticipantID: rec.participantID,
		UserID: rec.target.UserID, State: state, Bucket: rec.target.Bucket, Prefix: rec.hls.Prefix(), Event: event, Reason: reason}
}

// resume takes the recording on for a new publish, if it is not ending:
// the reconnect window's timer is stopped.
func (rec *recording) resume() bool {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.finishing {
		return false
	}
	if rec.timer != nil {
		if !rec.timer.Stop() {
			return false // it fired: the recording is ending
		}
		rec.timer = nil
		rec.log.Info("participant recording continues after a reconnect")
	}
	return true
}

// startRun taps the publisher and records it; a tap that cannot be made
// leaves the recording waiting out its reconnect window.
func (rec *recording) startRun() {
	rec.runMu.Lock()
	rec.mu.Lock()
	if rec.finishing || rec.run != nil {
		rec.mu.Unlock()
		rec.runMu.Unlock()
		return
	}
	ru := &run{rec: rec, readers: make(chan *stream.Reader, 1), done: make(chan struct{})}
	ru.ctx, ru.cancel = context.WithCancel(context.Background())
	rec.run = ru
	rec.mu.Unlock()
	err := ru.start()
	if err != nil {
		rec.log.Warn("participant recording: publisher not tapped", "err", err)
		rec.mu.Lock()
		if rec.run == ru {
			rec.run = nil
		}
		rec.mu.Unlock()
		ru.stop()
	}
	rec.runMu.Unlock()
	if err != nil {
		rec.waitWindow()
	}
}

// takeRun stops and forgets the current run, if it is want (nil: any);
// rec.runMu held.
func (rec *recording) takeRun(want *run) bool {
	rec.mu.Lock()
	ru := rec.run
	if ru == nil || (want != nil && ru != want) {
		rec.mu.Unlock()
		return false
	}
	rec.run = nil
	rec.mu.Unlock()
	ru.stop()
	return true
}

// stopRun ends the current run (the publisher stopped); the recording
// ends after the reconnect window unless the publisher comes back.
func (rec *recording) stopRun() {
	rec.runMu.Lock()
	rec.takeRun(nil)
	rec.runMu.Unlock()
	rec.waitWindow()
}

// waitWindow starts the reconnect window (none running, no run): the
// recording ends when it passes.
func (rec *recording) waitWindow() {
	rec.mu.Lock()
	if rec.finishing || rec.run != nil || rec.timer != nil {
		rec.mu.Unlock()
		return
	}
	if rec.window <= 0 {
		rec.mu.Unlock()
		rec.finish()
		return
	}
	rec.timer = time.AfterFunc(rec.window, rec.finish)
	rec.mu.Unlock()
}

// tapLost ends a run whose tap ended under it. The publisher stopped: the
// watch says so too, or that a new one took its place. Else the tap fell
// behind and the SFU dropped it: the run starts again.
func (rec *recording) tapLost(ru *run, cause error) {
	rec.runMu.Lock()
	took := rec.takeRun(ru)
	rec.runMu.Unlock()
	if !took {
		return
	}
	if errors.Is(cause, sfu.ErrPublisherGone) {
		rec.waitWindow()
		return
	}
	rec.log.Warn("participant recording: the tap ended; tapping again", "cause", cause)
	rec.startRun()
}

// finish ends the recording: its last run, the final playlists and
// recording-ended.json, and the participant's state and event.
// Idempotent: a second call returns when the first is done.
func (rec *recording) finish() {
	rec.mu.Lock()
	if rec.finishing {
		rec.mu.Unlock()
		<-rec.ended
		return
	}
	rec.finishing = true
	if rec.timer != nil {
		rec.timer.Stop()
	}
	rec.mu.Unlock()
	defer close(rec.ended)
	rec.runMu.Lock()
	rec.takeRun(nil)
	rec.runMu.Unlock()
	rec.mu.Lock()
	active := rec.active
	rec.mu.Unlock()
	if active {
		rec.r.report(rec.stageARN, rec.state(ivsrealtime.RecordingStopping, "", ""))
	}
	s := rec.hls.Close("")
	switch {
	case !active:
		rec.r.report(rec.stageARN, rec.state(ivsrealtime.RecordingFailed, ivsrealtime.EventRecordingStartFailure,
			"no media that can be recorded came from the publisher"))
	case s.Failure != "":
		rec.r.report(rec.stageARN, rec.state(ivsrealtime.RecordingFailed, ivsrealtime.EventRecordingEndFailure, s.Failure))
	default:
		rec.r.report(rec.stageARN, rec.state(ivsrealtime.RecordingStopped, ivsrealtime.EventRecordingEnd, ""))
	}
	rec.r.forget(rec)
	rec.log.Info("participant recording ended", "duration", s.Duration, "failure", s.Failure)
}

// run is one publish of a recording: a tap, its conversion to units, a hub
// and the writer that reads it into the recording's HLS.
type run struct {
	rec    *recording
	ctx    context.Context
	cancel context.CancelFunc
	sub    *sfu.Subscription
	conv   atomic.Pointer[rtpmedia.Converter]
	// pending holds the packets tapped before conv exists.
	pmu     sync.Mutex
	pending []pendingPacket
	hub     *stream.Hub         // set by onStart (under the converter's lock)
	readers chan *stream.Reader // the writer's, from onStart
	done    chan struct{}       // the writer returned
	wg      sync.WaitGroup

	stopOnce sync.Once
	stopping atomic.Bool
}

// start taps the publisher (waiting a little for its media to be in the
// room), starts the conversion and the writer.
func (ru *run) start() error {
	rec := ru.rec
	opts := sfu.TapOptions{}
	if rec.spec.video {
		opts.Video = func(h *rtp.Header, p []byte) { ru.feed(true, h, p) }
	}
	if rec.spec.audio {
		opts.Audio = func(h *rtp.Header, p []byte) { ru.feed(false, h, p) }
	}
	deadline := time.Now().Add(tapWait)
	for {
		sub, err := rec.r.cfg.Media.Tap(rec.stageARN, rec.participantID, "record-"+rec.participantID, opts)
		if err == nil {
			ru.sub = sub
			break
		}
		if !errors.Is(err, sfu.ErrPublisherNotFound) || time.Now().After(deadline) {
			close(ru.done)
			return err
		}
		select {
		case <-ru.ctx.Done():
			close(ru.done)
			return ru.ctx.Err()
		case <-rec.r.ctx.Done():
			close(ru.done)
			return rec.r.ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	cfg := rtpmedia.Config{Start: ru.onStart, Unit: ru.onUnit, Keyframe: ru.sub.RequestKeyframe, Log: rec.r.cfg.Log}
	audio, video := ru.sub.Codecs()
	if video != nil {
		switch {
		case strings.EqualFold(video.MimeType, webrtc.MimeTypeH264):
			cfg.Video = rtpmedia.H264
		case strings.EqualFold(video.MimeType, webrtc.MimeTypeVP8):
			cfg.Video = rtpmedia.VP8
		default:
			rec.log.Warn("participant recording without video", "codec", video.MimeType)
		}
	}
	cfg.Audio = audio != nil && strings.EqualFold(audio.MimeType, webrtc.MimeTypeOpus)
	conv, err := rtpmedia.New(ru.ctx, cfg)
	if err != nil {
		close(ru.done)
		return fmt.Errorf("stagerecord: %w", err)
	}
	// The packets that came while the converter was made (the tap's first
	// keyframe among them) go first.
	ru.pmu.Lock()
	for _, p := range ru.pending {
		if p.video {
			conv.WriteVideo(&p.h, p.payload)
		} else {
			conv.WriteAudio(&p.h, p.payload)
		}
	}
	ru.pending = nil
	ru.conv.Store(conv)
	ru.pmu.Unlock()
	go ru.write()
	ru.wg.Go(ru.keyframes)
	ru.wg.Go(func() {
		select {
		case <-ru.ctx.Done():
		case <-ru.sub.Done():
			if !ru.stopping.Load() {
				go rec.tapLost(ru, ru.sub.Err())
			}
		}
	})
	return nil
}

// pendingLimit bounds the packets kept while a run's converter is made.
const pendingLimit = 4096

type pendingPacket struct {
	video   bool
	h       rtp.Header
	payload []byte
}

// feed hands a tapped packet to the converter, or keeps it until there is
// one.
func (ru *run) feed(video bool, h *rtp.Header, p []byte) {
	c := ru.conv.Load()
	if c == nil {
		ru.pmu.Lock()
		if c = ru.conv.Load(); c == nil {
			if len(ru.pending) < pendingLimit {
				ru.pending = append(ru.pending, pendingPacket{video: video, h: h.Clone(), payload: append([]byte(nil), p...)})
			}
			ru.pmu.Unlock()
			return
		}
		ru.pmu.Unlock()
	}
	if video {
		c.WriteVideo(h, p)
	} else {
		c.WriteAudio(h, p)
	}
}

// keyframes asks the publisher for a keyframe every keyframeInterval.
func (ru *run) keyframes() {
	t := time.NewTicker(keyframeInterval)
	defer t.Stop()
	for {
		select {
		case <-ru.ctx.Done():
			return
		case <-t.C:
			ru.sub.RequestKeyframe()
		}
	}
}

// onStart makes the run's hub when its stream starts, with the writer's
// reader: it must have the first unit, the keyframe, which comes next.
func (ru *run) onStart(tracks []*stream.Track) error {
	ru.hub = stream.NewHub(tracks)
	ru.readers <- ru.hub.NewReader(readerQueue, stream.Resync)
	return nil
}

func (ru *run) onUnit(u *stream.Unit) { ru.hub.Write(u) }

// tracks are the run's stream's (the writer has its reader: onStart made
// the hub before it).
func (ru *run) tracks() []*stream.Track { return ru.hub.Tracks() }

// write reads the run's stream into the recording until the hub closes:
// the first run's start is the recording's Recording Start.
func (ru *run) write() {
	defer close(ru.done)
	var reader *stream.Reader
	select {
	case r, ok := <-ru.readers:
		if !ok {
			return // the publisher stopped before any media
		}
		reader = r
	case <-ru.ctx.Done():
		return
	}
	defer reader.Close()
	rec := ru.rec
	rec.mu.Lock()
	first := !rec.active
	rec.active = true
	rec.mu.Unlock()
	if first {
		rec.r.report(rec.stageARN, rec.state(ivsrealtime.RecordingActive, ivsrealtime.EventRecordingStart, ""))
	} else {
		rec.r.report(rec.stageARN, rec.state(ivsrealtime.RecordingActive, "", ""))
	}
	_ = rec.hls.Record(ru.ctx, reader, ru.tracks()) // ends with the stream, or the drain's deadline
}

// stop ends the run: the tap and conversion stop, the writer takes what
// the stream still holds (bounded), then everything is gone.
func (ru *run) stop() {
	ru.stopOnce.Do(func() {
		ru.stopping.Store(true)
		if ru.sub != nil {
			ru.sub.Close()
		}
		if c := ru.conv.Load(); c != nil {
			c.Close() // no unit, no onStart after it
			if ru.hub != nil {
				ru.hub.Close()
			} else {
				close(ru.readers)
			}
		}
		select {
		case <-ru.done:
		case <-time.After(drainTimeout):
		}
		ru.cancel()
		<-ru.done
		ru.wg.Wait()
	})
}
