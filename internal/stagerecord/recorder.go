// Package stagerecord records the publishers of stages individually
// (IVS's individual participant recording, a stage's
// autoParticipantRecordingConfiguration): it watches the stages where
// participants join, taps each publishing participant's media, turns its
// RTP into units (rtpmedia) and writes them as HLS under the
// participant's prefix (record.HLS: spool, journal, thumbnails), reporting
// the participant's recording state and events to the control plane.
package stagerecord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/onair-video/onair/internal/ivsrealtime"
	"github.com/onair-video/onair/internal/record"
	"github.com/onair-video/onair/internal/sfu"
	"github.com/onair-video/onair/internal/stage"
)

// Media is what the recorder sees of stages and takes from them;
// *stage.Stages implements it.
type Media interface {
	Watch(stageARN string, fn func([]stage.Publishing)) (stop func())
	Tap(stageARN, publisherID, tapID string, opts sfu.TapOptions) (*sfu.Subscription, error)
}

// Control is the control plane's side of recordings; *ivsrealtime.Service
// implements it.
type Control interface {
	ParticipantRecordingTarget(ctx context.Context, stageARN, participantID string) (ivsrealtime.RecordingTarget, error)
	SetParticipantRecording(ctx context.Context, stageARN string, r ivsrealtime.ParticipantRecording) error
}

// Config holds a Recorder's dependencies.
type Config struct {
	Media   Media
	Control Control
	Spool   *record.Spool
	// JournalDir keeps the journals of open recordings, which Recover
	// finishes after a crash; "" keeps none.
	JournalDir string
	// Thumbnail makes a JPEG of a keyframe (ffmpeg.KeyframeJPEG); nil: no
	// thumbnails.
	Thumbnail func(ctx context.Context, au [][]byte, maxHeight int) ([]byte, error)
	Log       *slog.Logger
}

// Recorder records stages' publishers. Watch a stage (StageActive) once a
// participant joins it; its publishers are recorded while the stage
// records them (its configuration when each starts to publish).
type Recorder struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	watches map[string]*watch     // by stage ARN
	recs    map[string]*recording // open recordings (also those in a reconnect window), by key
	lastID  map[string]int64      // the last recording id of a participant, by key
	closed  bool
	// ctx ends with Close: the waits for a join or a tap give up.
	ctx    context.Context
	cancel context.CancelFunc
	// starting runs the Watch calls.
	starting sync.WaitGroup
}

// watch is one stage's: the publishers it handles, by participant id,
// with the publisher session each recording run taps.
type watch struct {
	stop    func()            // set before started closes
	started chan struct{}     // closed once stop is set
	handled map[string]string // participant id → publisher session
}

// end stops the watch (its fn has returned when end does).
func (w *watch) end() {
	<-w.started
	w.stop()
}

// New returns a Recorder; it starts nothing.
func New(cfg Config) *Recorder {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Recorder{cfg: cfg, log: cfg.Log.With("component", "stagerecord"), watches: make(map[string]*watch),
		recs: make(map[string]*recording), lastID: make(map[string]int64), ctx: ctx, cancel: cancel}
}

func key(stageARN, participantID string) string { return stageARN + "/" + participantID }

// callTimeout bounds one call into the control plane.
const callTimeout = 10 * time.Second

// Recover finishes the recordings an earlier run left open (it stopped
// while recording): closed playlists, recording-ended.json with
// RECORDING_ENDED_WITH_FAILURE, the participant FAILED and a Recording End
// Failure event. Call it before anything records; it returns how many it
// finished.
func (r *Recorder) Recover(ctx context.Context) (int, error) {
	if r.cfg.JournalDir == "" {
		return 0, nil
	}
	got, err := record.RecoverHLS(r.cfg.JournalDir, r.cfg.Spool, r.cfg.Log)
	for _, g := range got {
		m := g.Metadata
		cerr := r.cfg.Control.SetParticipantRecording(ctx, m["stage_arn"], ivsrealtime.ParticipantRecording{
			SessionID: m["session_id"], ParticipantID: m["participant_id"], UserID: m["user_id"], State: ivsrealtime.RecordingFailed,
			Bucket: g.Bucket, Prefix: g.Prefix, Event: ivsrealtime.EventRecordingEndFailure, Reason: g.Summary.Failure})
		if cerr != nil {
			r.log.Error("recovered recording: participant state", "prefix", g.Prefix, "err", cerr)
		}
	}
	return len(got), err
}

// StageActive makes sure the stage is watched: app calls it when a
// participant joins (from the roster's event goroutine, which the watch
// must not wait on: it starts on a goroutine of its own). The watch lasts
// until the stage is deleted or the recorder closes.
func (r *Recorder) StageActive(stageARN string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.watches[stageARN] != nil {
		return
	}
	w := &watch{handled: make(map[string]string), started: make(chan struct{})}
	r.watches[stageARN] = w
	r.starting.Go(func() {
		defer close(w.started)
		w.stop = r.cfg.Media.Watch(stageARN, func(ps []stage.Publishing) { r.update(stageARN, w, ps) })
	})
}

// StageDeleted ends the stage's watch and its recordings now (no
// reconnect window: the stage is gone).
func (r *Recorder) StageDeleted(stageARN string) {
	r.mu.Lock()
	w := r.watches[stageARN]
	delete(r.watches, stageARN)
	r.mu.Unlock()
	if w != nil {
		w.end() // no recording starts after it
	}
	r.mu.Lock()
	var recs []*recording
	for _, rec := range r.recs {
		if rec.stageARN == stageARN {
			recs = append(recs, rec)
		}
	}
	r.mu.Unlock()
	for _, rec := range recs {
		rec.finish()
	}
}

// Close ends every watch and every recording (those waiting out a
// reconnect window too), and waits for them.
func (r *Recorder) Close() {
	r.cancel()
	r.mu.Lock()
	r.closed = true
	ws := make([]*watch, 0, len(r.watches))
	for _, w := range r.watches {
		ws = append(ws, w)
	}
	r.watches = map[string]*watch{}
	r.mu.Unlock()
	for _, w := range ws {
		w.end()
	}
	r.starting.Wait()
	r.mu.Lock()
	recs := make([]*recording, 0, len(r.recs))
	for _, rec := range r.recs {
		recs = append(recs, rec)
	}
	r.mu.Unlock()
	for _, rec := range recs {
		rec.finish()
	}
}

// update takes a stage's publishing set (on the watch's goroutine, one
// set at a time): a publisher that is new, or whose publisher session
// changed, starts a recording run; one that is gone ends its run.
func (r *Recorder) update(stageARN string, w *watch, ps []stage.Publishing) {
	now := make(map[string]string, len(ps))
	for _, p := range ps {
		now[p.Participant.ID] = p.Session
	}
	for id, session := range w.handled {
		if s, ok := now[id]; !ok || s != session {
			delete(w.handled, id)
			r.stopped(stageARN, id)
		}
	}
	for _, p := range ps {
		if _, ok := w.handled[p.Participant.ID]; ok {
			continue
		}
		w.handled[p.Participant.ID] = p.Session
		r.started(stageARN, p.Participant.ID, p.Participant.ReplicaOf != "")
	}
}

// started records a participant that started publishing, if its stage
// records publishers (and replicas, for a replica: its configuration's
// recordParticipantReplicas): a new recording, or its open one continued
// within the reconnect window.
func (r *Recorder) started(stageARN, participantID string, replica bool) {
	t, err := r.target(stageARN, participantID)
	if err == nil && (!t.Config.Enabled() || (replica && !t.Config.RecordParticipantReplicas)) {
		return
	}
	media, spec := mediaOf(t.Config)
	if err == nil && spec == nil {
		return // mediaTypes NONE without thumbnails: nothing to keep
	}
	if err != nil {
		if t.SessionID == "" {
			r.log.Warn("participant not recorded", "stage", stageARN, "participant", participantID, "err", err)
			return
		}
		r.report(stageARN, ivsrealtime.ParticipantRecording{SessionID: t.SessionID, ParticipantID: participantID, UserID: t.UserID,
			State: ivsrealtime.RecordingFailed, Event: ivsrealtime.EventRecordingStartFailure, Reason: err.Error()})
		return
	}
	k := key(stageARN, participantID)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	rec := r.recs[k]
	if rec != nil && !rec.resume() {
		rec = nil // it is ending: a new one starts
	}
	fresh := rec == nil
	if fresh {
		rec = r.newRecording(k, stageARN, participantID, t, media, spec)
		r.recs[k] = rec
	}
	r.mu.Unlock()
	if fresh {
		r.report(stageARN, rec.state(ivsrealtime.RecordingStarting, "", ""))
	}
	rec.startRun()
}

// stopped ends the run of a participant that stopped publishing; its
// recording ends after the reconnect window.
func (r *Recorder) stopped(stageARN, participantID string) {
	r.mu.Lock()
	rec := r.recs[key(stageARN, participantID)]
	r.mu.Unlock()
	if rec != nil {
		rec.stopRun()
	}
}

// target asks the control plane for a publisher's recording target,
// waiting while its join is not recorded yet (the media side records it
// asynchronously).
func (r *Recorder) target(stageARN, participantID string) (ivsrealtime.RecordingTarget, error) {
	deadline := time.Now().Add(callTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		t, err := r.cfg.Control.ParticipantRecordingTarget(ctx, stageARN, participantID)
		cancel()
		if !errors.Is(err, ivsrealtime.ErrNotJoined) || time.Now().After(deadline) {
			return t, err
		}
		select {
		case <-r.ctx.Done():
			return t, err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// report tells the control plane of a recording's state (and event).
func (r *Recorder) report(stageARN string, pr ivsrealtime.ParticipantRecording) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if err := r.cfg.Control.SetParticipantRecording(ctx, stageARN, pr); err != nil {
		r.log.Error("participant recording state", "stage", stageARN, "participant", pr.ParticipantID, "state", pr.State, "err", err)
	}
}

// recordingID is the last part of a recording's prefix: the Unix second
// it starts (as IVS's ten digits), after the participant's previous one.
func (r *Recorder) recordingID(k string) string {
	id := time.Now().Unix()
	if last := r.lastID[k]; id <= last {
		id = last + 1
	}
	r.lastID[k] = id
	return strconv.FormatInt(id, 10)
}

// mediaSpec is what a recording keeps.
type mediaSpec struct {
	audio, video bool
}

// mediaOf maps a configuration's mediaTypes to the HLS writer's media and
// the kinds to tap; nil when nothing would be kept.
func mediaOf(c ivsrealtime.AutoParticipantRecordingConfiguration) (record.Media, *mediaSpec) {
	mt := "AUDIO_VIDEO"
	if len(c.MediaTypes) > 0 {
		mt = c.MediaTypes[0]
	}
	switch mt {
	case "AUDIO_ONLY":
		return record.AudioOnly, &mediaSpec{audio: true}
	case "NONE":
		if c.ThumbnailConfiguration.RecordingMode != "INTERVAL" {
			return record.NoMedia, nil
		}
		return record.NoMedia, &mediaSpec{video: true}
	}
	return record.AudioVideo, &mediaSpec{audio: true, video: true}
}

// thumbnailsOf is the HLS writer's thumbnail configuration.
func (r *Recorder) thumbnailsOf(c ivsrealtime.ParticipantThumbnailConfiguration) record.Thumbnails {
	if c.RecordingMode != "INTERVAL" || r.cfg.Thumbnail == nil {
		return record.Thumbnails{}
	}
	th := record.Thumbnails{Interval: time.Duration(c.TargetIntervalSeconds) * time.Second, Make: r.cfg.Thumbnail}
	for _, s := range c.Storage {
		th.Sequential = th.Sequential || s == "SEQUENTIAL"
		th.Latest = th.Latest || s == "LATEST"
	}
	return th
}

// newRecording starts a participant's recording (r.mu held): its prefix
// is <stage id>/<stage session id>/<participant id>/<recording id>.
func (r *Recorder) newRecording(k, stageARN, participantID string, t ivsrealtime.RecordingTarget, media record.Media, spec *mediaSpec) *recording {
	prefix := fmt.Sprintf("%s/%s/%s/%s", t.StageID, t.SessionID, participantID, r.recordingID(k))
	rec := &recording{r: r, key: k, stageARN: stageARN, participantID: participantID, target: t, spec: *spec,
		window: time.Duration(t.Config.RecordingReconnectWindowSeconds) * time.Second, ended: make(chan struct{})}
	rec.log = r.log.With("stage", stageARN, "participant", participantID, "prefix", prefix)
	rec.hls = record.NewHLS(record.HLSConfig{Spool: r.cfg.Spool, Bucket: t.Bucket, Prefix: prefix, Rendition: "high",
		SegmentDuration: time.Duration(t.Config.HLSConfiguration.TargetSegmentDurationSeconds) * time.Second, Media: media,
		Thumbnails: r.thumbnailsOf(t.Config.ThumbnailConfiguration), JournalDir: r.cfg.JournalDir, Log: r.cfg.Log,
		Metadata: map[string]string{"stage_arn": stageARN, "session_id": t.SessionID, "participant_id": participantID,
			"user_id": t.UserID}})
	rec.log.Info("participant recording started", "bucket", t.Bucket)
	return rec
}

func (r *Recorder) forget(rec *recording) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.recs[rec.key] == rec {
		delete(r.recs, rec.key)
	}
	if r.lastID[rec.key] < time.Now().Unix() {
		delete(r.lastID, rec.key) // the next id is later anyway
	}
}
