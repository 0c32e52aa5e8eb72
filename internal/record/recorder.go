package record

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/stream"
)

// Configs finds recording configurations; *ivs.Service implements it.
type Configs interface {
	GetRecordingConfiguration(ctx context.Context, arn string) (ivs.RecordingConfiguration, error)
}

// Emitter stores and publishes an event; *ivs.Service implements it.
type Emitter interface {
	Emit(ctx context.Context, e ivs.Event) (ivs.Event, error)
}

// Config holds the dependencies and settings of a Recorder.
type Config struct {
	Configs Configs
	Spool   *Spool
	Events  Emitter
	Log     *slog.Logger
	// Account is the account id in the key prefix.
	Account string
	// Thumbnail makes a JPEG of a keyframe at most maxHeight high (0: the
	// picture's own size); nil: no thumbnails.
	Thumbnail func(ctx context.Context, au [][]byte, maxHeight int) ([]byte, error)
	// SegmentDuration is the target length of recorded segments. Default 6 s.
	SegmentDuration time.Duration
	// JournalDir holds the journals of open recordings, for Recover after
	// a crash; "" keeps none.
	JournalDir string
	// Rows, in a cluster, keeps the recordings in the shared store, so
	// that another node finishes them when this one dies (cluster.go);
	// nil outside a cluster.
	Rows Rows
	// NodeID names this node in Rows.
	NodeID string
	// LeaseTTL is the cluster's lease TTL: a node whose heartbeat is older
	// is dead. OrphanGrace is how long past that another node waits
	// before finishing its open recordings.
	LeaseTTL, OrphanGrace time.Duration
	// OrphanInterval is how often Run looks for them; default 5 s.
	OrphanInterval time.Duration
}

// Recorder records the streams of channels that have a recording
// configuration. It is a live.Consumer for sources and a sink for the
// ladder's renditions.
type Recorder struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	recs   map[string]*recording // by channel id
	closed bool
	wg     sync.WaitGroup

	// In a cluster: run names this process in the rows, rows queues their
	// writes, and endMu makes one end that holds a row at a time (each
	// holds a store connection and emits through another).
	run   string
	rows  *rowQueue
	endMu sync.Mutex
	// healthySince is when the orphan finisher's queries last began to
	// succeed (zero while they fail); held by endMu.
	healthySince time.Time
}

var _ live.Consumer = (*Recorder)(nil)

// New returns a Recorder.
func New(cfg Config) *Recorder {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.SegmentDuration <= 0 {
		cfg.SegmentDuration = 6 * time.Second
	}
	if cfg.OrphanInterval <= 0 {
		cfg.OrphanInterval = 5 * time.Second
	}
	r := &Recorder{cfg: cfg, log: cfg.Log.With("component", "record"), recs: make(map[string]*recording), run: randomID(12)}
	if cfg.Rows != nil {
		r.rows = newRowQueue(cfg.Rows, r.log)
		if cfg.Spool != nil {
			cfg.Spool.OnUploaded(r.uploaded)
		}
	}
	return r
}

// Attach implements live.Consumer: it records st's source when its channel
// has an ACTIVE recording configuration, continuing the channel's last
// recording if st starts within its reconnect window. A recording that
// cannot start is a Recording Start Failure; one whose crash journal
// cannot be opened records without it, and says so.
func (r *Recorder) Attach(st *live.Stream) (detach func(), err error) {
	arn := st.Channel.RecordingConfigurationARN
	if arn == "" {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	rc, err := r.cfg.Configs.GetRecordingConfiguration(ctx, arn)
	cancel()
	if err != nil || rc.State != ivs.RecordingStateActive {
		reason := "the recording configuration is not ACTIVE"
		if err != nil {
			reason = err.Error()
		}
		return nil, &live.Failure{Event: startFailure(st, rc, reason), Err: errors.New("record: not recording: " + reason)}
	}
	rec, err := r.recordingFor(st, rc)
	if rec == nil {
		return nil, err
	}
	name := renditionName(st.Hub.Tracks())
	return rec.attach(st, name, st.Hub, true), err
}

// AddRendition records a transcoded rendition of st beside its source
// (transcode.Renditions).
func (r *Recorder) AddRendition(st *live.Stream, name string, hub *stream.Hub) (remove func()) {
	r.mu.Lock()
	rec := r.recs[st.Channel.ID]
	r.mu.Unlock()
	if rec == nil || rec.cfg.RenditionConfiguration.RenditionSelection == "NONE" || !rec.wants(hub) {
		return func() {}
	}
	return rec.attach(st, name, hub, false)
}

// Close ends every recording now (those waiting out a reconnect window
// too) and waits for their writers.
func (r *Recorder) Close() {
	r.mu.Lock()
	r.closed = true
	recs := make([]*recording, 0, len(r.recs))
	for _, rec := range r.recs {
		recs = append(recs, rec)
	}
	r.mu.Unlock()
	for _, rec := range recs {
		rec.end()
	}
	r.wg.Wait()
	if r.rows != nil {
		// The rows of what just ended reach the store before the process
		// stops, or a survivor would finish them again.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.rows.drain(ctx); err != nil {
			r.log.Error("recording rows left unwritten at the stop", "pending", r.rows.pending(), "err", err)
		}
	}
}

// recordingFor returns the channel's recording for st: the one still open
// (within its reconnect window, same configuration and picture size), or a
// new one.
// A new recording whose journal cannot be opened comes with the error.
func (r *Recorder) recordingFor(st *live.Stream, rc ivs.RecordingConfiguration) (*recording, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, nil
	}
	name := renditionName(st.Hub.Tracks())
	if rec := r.recs[st.Channel.ID]; rec != nil {
		if rec.resume(st, rc, name) {
			return rec, nil
		}
		// Not mergeable: the old one ends now, a new one starts.
		go rec.end()
		delete(r.recs, st.Channel.ID)
	}
	rec, err := newRecording(r, st, rc, name)
	r.recs[st.Channel.ID] = rec
	return rec, err
}

func (r *Recorder) forget(rec *recording) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.recs[rec.channel.ID] == rec {
		delete(r.recs, rec.channel.ID)
	}
}

func (r *Recorder) emit(e ivs.Event) {
	if r.cfg.Events == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := r.cfg.Events.Emit(ctx, e); err != nil {
		r.log.Error("emit event", "name", e.Name(), "err", err)
	}
}

// startFailure is the Recording Start Failure event of st.
func startFailure(st *live.Stream, rc ivs.RecordingConfiguration, reason string) ivs.Event {
	e := ivs.ChannelEvent(ivs.EventTypeRecording, st.Channel, st.StreamID, time.Now())
	e.Detail.RecordingStatus = ivs.RecordingStartFailure
	e.Detail.RecordingStatusReason = &reason
	if rc.DestinationConfiguration.S3 != nil {
		e.Detail.RecordingS3BucketName = rc.DestinationConfiguration.S3.BucketName
	}
	return e
}

// renditionName names a source as IVS names recorded renditions: its
// height and frame rate, "720p30".
func renditionName(tracks []*stream.Track) string {
	for _, t := range tracks {
		if c, ok := t.Codec.(*stream.H264); ok {
			var sps h264.SPS
			if err := sps.Unmarshal(c.SPS); err == nil {
				fps := int(math.Round(sps.FPS()))
				if fps <= 0 {
					fps = 30
				}
				return fmt.Sprintf("%dp%d", sps.Height(), fps)
			}
		}
	}
	return "source"
}

// recording is one recording: a key prefix with its renditions, which may
// span several streams of a channel joined by the reconnect window.
type recording struct {
	r       *Recorder
	id      string
	bucket  string
	prefix  string
	cfg     ivs.RecordingConfiguration
	channel ivs.Channel
	source  string // the source rendition's name
	started time.Time

	mu        sync.Mutex
	streamIDs []string
	tracks    map[string]*trackState // by rendition name
	attached  int
	timer     *time.Timer
	ended     bool
	endDone   chan struct{} // closed when end has written everything
	lost      int           // objects the full spool refused
	jf        *os.File      // the journal; nil when none is kept
	// elsewhere: another node of the cluster finished this recording
	// while this one was cut off; its playlists are not written here.
	elsewhere bool
	// failure, if set, says why the recording ends with a failure: an
	// earlier run was killed while recording (Recover), or objects were
	// lost (the first loss's reason). Its end is then a Recording End
	// Failure, which reaches the store even if the loss's own event did
	// not (a full disk refuses that too).
	failure string
}

func newRecording(r *Recorder, st *live.Stream, rc ivs.RecordingConfiguration, source string) (*recording, error) {
	now := time.Now().UTC()
	id := randomID(12)
	rec := &recording{
		r: r, id: id, bucket: rc.DestinationConfiguration.S3.BucketName, cfg: rc, channel: st.Channel, source: source,
		started: now, streamIDs: []string{st.StreamID}, tracks: make(map[string]*trackState), endDone: make(chan struct{}),
		// IVS's prefix: UTC date parts at the start, not zero-padded.
		prefix: fmt.Sprintf("ivs/v1/%s/%s/%d/%d/%d/%d/%d/%s/", r.cfg.Account, st.Channel.ID,
			now.Year(), int(now.Month()), now.Day(), now.Hour(), now.Minute(), id),
	}
	rec.put("events/recording-started.json", rec.metadata("RECORDING_STARTED", nil), "application/json")
	rec.mu.Lock()
	rec.putRowLocked(ivs.RecordingOpen, time.Time{})
	rec.mu.Unlock()
	err := rec.openJournal(st.StreamID)
	e := rec.event(ivs.RecordingStart, st.StreamID)
	r.emit(e)
	r.log.Info("recording started", "channel", st.Channel.ARN, "bucket", rec.bucket, "prefix", rec.prefix)
	return rec, err
}

// resume takes st into this recording if it may: within the reconnect
// window (the timer is still pending), same configuration, same picture.
func (rec *recording) resume(st *live.Stream, rc ivs.RecordingConfiguration, source string) bool {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.ended || rec.timer == nil || rc.ARN != rec.cfg.ARN || source != rec.source || len(rec.streamIDs) >= 20 ||
		time.Since(rec.started) > 48*time.Hour {
		return false
	}
	if !rec.timer.Stop() {
		return false // it fired: the recording is ending
	}
	rec.timer = nil
	rec.streamIDs = append(rec.streamIDs, st.StreamID)
	rec.journal(journalLine{Stream: st.StreamID})
	rec.putRowLocked(ivs.RecordingOpen, time.Time{})
	for _, t := range rec.tracks {
		t.discontinuity = true
	}
	rec.r.log.Info("recording continues after a reconnect", "channel", st.Channel.ARN, "prefix", rec.prefix)
	return true
}

// wants says whether a rendition's hub is recorded, per the
// configuration's renditionSelection (CUSTOM: by resolution class).
func (rec *recording) wants(hub *stream.Hub) bool {
	if rec.cfg.RenditionConfiguration.RenditionSelection != "CUSTOM" {
		return true
	}
	h := 0
	for _, t := range hub.Tracks() {
		if c, ok := t.Codec.(*stream.H264); ok {
			var sps h264.SPS
			if sps.Unmarshal(c.SPS) == nil {
				h = sps.Height()
			}
		}
	}
	class := "FULL_HD"
	switch {
	case h <= 360:
		class = "LOWEST_RESOLUTION"
	case h <= 480:
		class = "SD"
	case h <= 720:
		class = "HD"
	}
	return slices.Contains(rec.cfg.RenditionConfiguration.Renditions, class)
}

// attach starts writing hub as rendition name; the returned func stops it
// and, for the source, starts the reconnect window.
func (rec *recording) attach(st *live.Stream, name string, hub *stream.Hub, source bool) func() {
	rec.mu.Lock()
	t := rec.tracks[name]
	if t == nil {
		t = &trackState{name: name}
		rec.tracks[name] = t
	}
	rec.attached++
	rec.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	reader := st.NewReader("record", hub, 2048)
	done := make(chan struct{})
	rec.r.wg.Add(1)
	go func() {
		defer rec.r.wg.Done()
		defer close(done)
		w := &segmentWriter{rec: rec, t: t, source: source}
		w.run(ctx, reader, hub.Tracks())
	}()
	return func() {
		// Let the writer take what the hub still holds, then stop it.
		reader.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		cancel()
		<-done
		rec.detached(source)
	}
}

func (rec *recording) detached(source bool) {
	rec.mu.Lock()
	rec.attached--
	if !source || rec.ended {
		rec.mu.Unlock()
		return
	}
	window := time.Duration(rec.cfg.RecordingReconnectWindowSeconds) * time.Second
	rec.timer = time.AfterFunc(window, rec.end)
	rec.putRowLocked(ivs.RecordingWaiting, time.Now().Add(window))
	rec.mu.Unlock()
}

// end finishes the recording (finish), unless another node of the
// cluster already did. Idempotent: a second call (Recorder.Close while the
// reconnect window's timer ends it) returns when the first has written
// everything.
func (rec *recording) end() {
	rec.mu.Lock()
	if rec.ended {
		rec.mu.Unlock()
		<-rec.endDone
		return
	}
	rec.ended = true
	defer close(rec.endDone)
	if rec.timer != nil {
		rec.timer.Stop()
	}
	// The ladder's renditions detach after the source: wait (bounded) for
	// their last segments.
	for deadline := time.Now().Add(10 * time.Second); rec.attached > 0 && time.Now().Before(deadline); {
		rec.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
		rec.mu.Lock()
	}
	rec.mu.Unlock()
	elsewhere := rec.r.endShared(rec, rec.finish)
	rec.r.forget(rec)
	rec.mu.Lock()
	rec.closeJournal()
	rec.mu.Unlock()
	if elsewhere {
		rec.r.log.Warn("another node had finished this recording while this one was away: its playlists stay as that node wrote them; "+
			"its segments still in the spool upload, but are not in them", "channel", rec.channel.ARN, "prefix", rec.prefix)
	}
}

// finish writes the final playlists, the master playlist and
// recording-ended.json, and emits the Recording End event.
func (rec *recording) finish() {
	rec.mu.Lock()
	names := make([]string, 0, len(rec.tracks))
	for n := range rec.tracks {
		names = append(names, n)
	}
	rec.mu.Unlock()
	for _, n := range names {
		rec.writePlaylist(n, true)
	}
	rec.writeMaster()
	dur := rec.durationMs()
	rec.mu.Lock()
	failure := rec.failure
	rec.mu.Unlock()
	status, kind := "RECORDING_ENDED", ivs.RecordingEnd
	if failure != "" {
		status, kind = "RECORDING_ENDED_WITH_FAILURE", ivs.RecordingEndFailure
	}
	rec.put("events/recording-ended.json", rec.metadata(status, &dur), "application/json")
	e := rec.event(kind, rec.lastStreamID())
	if failure != "" {
		e.Detail.RecordingStatusReason = &failure
	}
	e.Detail.RecordingDurationMs = &dur
	rec.mu.Lock()
	e.Detail.RecordingSessionStreamIDs = append([]string(nil), rec.streamIDs...)
	rec.mu.Unlock()
	rec.r.emit(e)
	rec.r.log.Info("recording ended", "channel", rec.channel.ARN, "prefix", rec.prefix, "duration_ms", dur,
		"failure", failure)
}

// interruptedReason is the status message of a recording that Recover
// finished.
var interruptedReason = "the server stopped while recording; the recording ends at its last complete segment"

func (rec *recording) lastStreamID() string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.streamIDs[len(rec.streamIDs)-1]
}

func (rec *recording) event(status, streamID string) ivs.Event {
	e := ivs.ChannelEvent(ivs.EventTypeRecording, rec.channel, streamID, time.Now())
	empty := ""
	e.Detail.RecordingStatus = status
	e.Detail.RecordingStatusReason = &empty
	e.Detail.RecordingS3BucketName = rec.bucket
	e.Detail.RecordingS3KeyPrefix = strings.TrimSuffix(rec.prefix, "/")
	e.Detail.RecordingSessionID = rec.id
	return e
}

// put queues an object under the recording's prefix. An object the spool
// refuses (it is full, or the disk is) is lost: that is logged, and the
// first loss of a recording goes out as a Recording End Failure event.
// lossReason says why a recording lost an object the spool refused.
func lossReason(err error) string {
	switch {
	case errors.Is(err, ErrSpoolFull):
		return "the upload spool is full: the storage is unreachable or too slow; parts of the recording are lost"
	case ivs.StorageFull(err):
		return "the server's disk is full; parts of the recording are lost"
	}
	return "the recording could not be spooled for upload; parts of it are lost: " + err.Error()
}

func (rec *recording) put(key string, body []byte, contentType string) {
	rec.putNoted(key, body, contentType, nil)
}

// putNoted is put with the spool's note (a segment's row in a cluster).
func (rec *recording) putNoted(key string, body []byte, contentType string, note json.RawMessage) {
	err := rec.r.cfg.Spool.PutNoted(rec.bucket, rec.prefix+key, body, contentType, note)
	if err == nil {
		return
	}
	rec.r.log.Error("recording object lost", "key", rec.prefix+key, "err", err)
	reason := lossReason(err)
	rec.mu.Lock()
	rec.lost++
	first := rec.lost == 1
	if first {
		rec.failure = reason
	}
	rec.mu.Unlock()
	if !first {
		return // one event per recording says it now, and its end again
	}
	e := rec.event(ivs.RecordingEndFailure, rec.lastStreamID())
	e.Detail.RecordingStatusReason = &reason
	rec.r.emit(e)
}

// durationMs is the recorded length of the source rendition.
func (rec *recording) durationMs() int64 {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	t := rec.tracks[rec.source]
	if t == nil {
		return 0
	}
	var d time.Duration
	for _, s := range t.segments {
		d += s.dur
	}
	return d.Milliseconds()
}

// metadata is the JSON of events/recording-*.json, as IVS writes it.
func (rec *recording) metadata(status string, durationMs *int64) []byte {
	type rendition struct {
		Path             string `json:"path"`
		Playlist         string `json:"playlist"`
		ResolutionWidth  int    `json:"resolution_width,omitempty"`
		ResolutionHeight int    `json:"resolution_height,omitempty"`
	}
	type hls struct {
		DurationMs *int64      `json:"duration_ms,omitempty"`
		Path       string      `json:"path"`
		Playlist   string      `json:"playlist"`
		Renditions []rendition `json:"renditions"`
	}
	type thumbs struct {
		Path string `json:"path"`
	}
	type media struct {
		HLS             hls     `json:"hls"`
		Thumbnails      *thumbs `json:"thumbnails,omitempty"`
		LatestThumbnail *thumbs `json:"latest_thumbnail,omitempty"`
	}
	doc := struct {
		Version          string `json:"version"`
		ChannelARN       string `json:"channel_arn"`
		RecordingStarted string `json:"recording_started_at"`
		RecordingEnded   string `json:"recording_ended_at,omitempty"`
		Status           string `json:"recording_status"`
		StatusMessage    string `json:"recording_status_message"`
		Media            media  `json:"media"`
	}{Version: "v1", ChannelARN: rec.channel.ARN, RecordingStarted: rec.started.Format(time.RFC3339), Status: status}
	rec.mu.Lock()
	doc.StatusMessage = rec.failure
	rec.mu.Unlock()
	if status != "RECORDING_STARTED" {
		doc.RecordingEnded = time.Now().UTC().Format(time.RFC3339)
	}
	doc.Media.HLS = hls{DurationMs: durationMs, Path: "media/hls", Playlist: "master.m3u8", Renditions: []rendition{}}
	rec.mu.Lock()
	for _, t := range rec.sortedTracks() {
		doc.Media.HLS.Renditions = append(doc.Media.HLS.Renditions, rendition{Path: t.name, Playlist: "playlist.m3u8",
			ResolutionWidth: t.width, ResolutionHeight: t.height})
	}
	rec.mu.Unlock()
	if tc := rec.cfg.ThumbnailConfiguration; tc.RecordingMode == "INTERVAL" {
		if slices.Contains(tc.Storage, "SEQUENTIAL") {
			doc.Media.Thumbnails = &thumbs{Path: "media/thumbnails"}
		}
		if slices.Contains(tc.Storage, "LATEST") {
			doc.Media.LatestThumbnail = &thumbs{Path: "media/latest_thumbnail"}
		}
	}
	b, _ := json.MarshalIndent(doc, "", "  ")
	return b
}

// sortedTracks returns the renditions, highest first; rec.mu held.
func (rec *recording) sortedTracks() []*trackState {
	ts := make([]*trackState, 0, len(rec.tracks))
	for _, t := range rec.tracks {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(a, b *trackState) int {
		if a.height != b.height {
			return b.height - a.height
		}
		return strings.Compare(a.name, b.name)
	})
	return ts
}

// writePlaylist writes a rendition's media playlist (an EVENT playlist
// while recording, closed with EXT-X-ENDLIST at the end).
func (rec *recording) writePlaylist(name string, final bool) {
	rec.mu.Lock()
	var b []byte
	if t := rec.tracks[name]; t != nil && !rec.elsewhere {
		b = mediaPlaylist(t.segments, final)
	}
	rec.mu.Unlock()
	if b == nil {
		return
	}
	rec.put("media/hls/"+name+"/playlist.m3u8", b, "application/vnd.apple.mpegurl")
}

// writeMaster writes media/hls/master.m3u8 with every rendition that has
// a segment, highest first.
func (rec *recording) writeMaster() {
	rec.mu.Lock()
	var b bytes.Buffer
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	n := 0
	for _, t := range rec.sortedTracks() {
		if len(t.segments) == 0 || rec.elsewhere {
			continue
		}
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,RESOLUTION=%dx%d,CODECS=\"%s\"\n%s/playlist.m3u8\n",
			max(t.peakBitrate, 1), t.width, t.height, t.codecs, t.name)
		n++
	}
	rec.mu.Unlock()
	if n > 0 {
		rec.put("media/hls/master.m3u8", b.Bytes(), "application/vnd.apple.mpegurl")
	}
}

// thumbnailHeight is the largest height of thumbnailConfiguration's
// resolution (unset: the source's).
func thumbnailHeight(resolution string) int {
	switch resolution {
	case "LOWEST_RESOLUTION":
		return 160
	case "SD":
		return 480
	case "HD":
		return 720
	case "FULL_HD":
		return 1080
	}
	return 0
}

// randomID returns n alphanumerics, as IVS's recording ids.
func randomID(n int) string {
	const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		k, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alnum))))
		b[i] = alnum[k.Int64()]
	}
	return string(b)
}
