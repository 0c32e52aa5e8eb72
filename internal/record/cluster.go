package record

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/onair-video/onair/internal/ivs"
)

// In a cluster a node may die and never come back with its journal and
// spool. So the Recorder also keeps its recordings in the shared store
// (Config.Rows): a row per recording, written when it starts, changes
// state and ends, and a row per media segment once the spool uploaded it.
// Every node runs the orphan finisher (Run): the open recordings of nodes
// dead for longer than Config.OrphanAfter are finished from their segment
// rows by exactly one survivor, which holds the row while it writes. A
// node that comes back finds the rows of what a survivor finished ended,
// and does not finish those again (Recover).

// Rows is the shared store's part that the Recorder uses in a cluster;
// *postgres.Store implements it.
type Rows interface {
	PutRecording(ctx context.Context, r ivs.ClusterRecording) error
	AddRecordedSegment(ctx context.Context, s ivs.RecordedSegment) error
	EndRecording(ctx context.Context, id string, finish func() error) error
	EndOrphanRecordings(ctx context.Context, nodeID, runID string, deadFor time.Duration,
		finish func(ivs.ClusterRecording, []ivs.RecordedSegment) error) (int, error)
}

// rowTimeout bounds one write of a row.
const rowTimeout = 5 * time.Second

// maxQueuedRows bounds the row writes waiting for the store (it is down);
// past it the oldest are dropped, which costs only the orphan finisher's
// view of those recordings.
const maxQueuedRows = 10000

// rowQueue writes rows in the order they were queued, retrying what the
// store refused: a recording's end must not reach the store before its
// start, and the recording must not wait on the store.
type rowQueue struct {
	rows Rows
	log  *slog.Logger
	wake chan struct{}

	mu      sync.Mutex
	q       []rowWrite
	seq     uint64
	dropped int

	// drainMu makes one drain at a time, so that writes apply in order.
	drainMu sync.Mutex
}

type rowWrite struct {
	seq  uint64
	what string
	do   func(context.Context) error
}

func newRowQueue(rows Rows, log *slog.Logger) *rowQueue {
	return &rowQueue{rows: rows, log: log, wake: make(chan struct{}, 1)}
}

// push queues a write and wakes Run.
func (q *rowQueue) push(what string, do func(context.Context) error) {
	q.mu.Lock()
	if len(q.q) >= maxQueuedRows {
		q.q = q.q[1:]
		q.dropped++
		if q.dropped == 1 || q.dropped%1000 == 0 {
			q.log.Error("the shared store has been refusing recording rows for long: dropping the oldest", "dropped", q.dropped)
		}
	}
	q.seq++
	q.q = append(q.q, rowWrite{seq: q.seq, what: what, do: do})
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// drain writes what is queued, oldest first, and returns at the first
// write the store refuses (it stays queued) or when none is left. A write
// the store can never take (ErrNotFound: a key it cannot hold) is dropped.
func (q *rowQueue) drain(ctx context.Context) error {
	q.drainMu.Lock()
	defer q.drainMu.Unlock()
	for {
		q.mu.Lock()
		if len(q.q) == 0 {
			q.mu.Unlock()
			return nil
		}
		w := q.q[0]
		q.mu.Unlock()
		wctx, cancel := context.WithTimeout(ctx, rowTimeout)
		err := w.do(wctx)
		cancel()
		if err != nil && !errors.Is(err, ivs.ErrNotFound) {
			return fmt.Errorf("record: %s: %w", w.what, err)
		}
		if err != nil {
			q.log.Error("recording row dropped", "row", w.what, "err", err)
		}
		q.mu.Lock()
		if len(q.q) > 0 && q.q[0].seq == w.seq { // not dropped meanwhile
			q.q = q.q[1:]
		}
		q.mu.Unlock()
	}
}

// pending returns how many writes wait.
func (q *rowQueue) pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.q)
}

// Run writes the recording rows and, every OrphanInterval, finishes the
// recordings of dead nodes (see Rows). It returns when ctx ends; outside a
// cluster (no Rows) at once.
func (r *Recorder) Run(ctx context.Context) {
	if r.rows == nil {
		return
	}
	tick := time.NewTicker(r.cfg.OrphanInterval)
	defer tick.Stop()
	backoff := time.Second
	var retry <-chan time.Time
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.rows.wake:
		case <-retry:
		case <-tick.C:
			r.FinishOrphans(ctx)
		}
		retry = nil
		if err := r.rows.drain(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				r.log.Warn("recording rows wait for the shared store", "err", err, "pending", r.rows.pending())
			}
			failing = true
			retry = time.After(backoff)
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		if failing {
			r.log.Info("recording rows written again")
		}
		failing, backoff = false, time.Second
	}
}

// FinishOrphans finishes the open recordings of nodes dead for longer
// than OrphanAfter, and those of this node's earlier runs that Recover
// had no journal for, from the segments that reached storage. It returns
// how many it finished.
func (r *Recorder) FinishOrphans(ctx context.Context) int {
	if r.rows == nil {
		return 0
	}
	r.endMu.Lock()
	defer r.endMu.Unlock()
	// After the store was unreachable every heartbeat in it is old: the
	// nodes must have heartbeated again (a TTL) before any is judged dead.
	// Until then the query runs only to tell that the store answers.
	began := time.Now()
	ready := !r.healthySince.IsZero() && began.Sub(r.healthySince) >= r.cfg.LeaseTTL
	n, err := r.cfg.Rows.EndOrphanRecordings(ctx, r.cfg.NodeID, r.run, r.cfg.LeaseTTL+r.cfg.OrphanGrace,
		func(row ivs.ClusterRecording, segs []ivs.RecordedSegment) error {
			if !ready {
				return errNotYet
			}
			rec := r.orphan(row, segs)
			rec.finish()
			r.log.Warn("finished a recording of a node that is gone", "node", row.NodeID, "channel", row.Channel.ARN,
				"prefix", row.Prefix, "segments", len(segs))
			return nil
		})
	switch {
	case err == nil || errors.Is(err, errNotYet):
		if r.healthySince.IsZero() {
			r.healthySince = began
		}
	case ctx.Err() == nil:
		r.healthySince = time.Time{}
		r.log.Error("finishing the recordings of dead nodes", "err", err)
	}
	return n
}

// errNotYet declines an orphan while the store has not answered for a TTL.
var errNotYet = errors.New("record: the store was unreachable within the lease TTL")

// orphanReason is the status message of a recording that a node other
// than the one that recorded it finished.
func orphanReason(node, finisher string) string {
	return fmt.Sprintf("the onair node %s that recorded this stopped (crash, kill or lost connection) and did not come back "+
		"in time: node %s finished the recording at its last segment that reached storage; what %s had not uploaded is lost",
		node, finisher, node)
}

// orphan rebuilds a recording from its rows, to finish it.
func (r *Recorder) orphan(row ivs.ClusterRecording, segs []ivs.RecordedSegment) *recording {
	rec := &recording{r: r, id: row.ID, bucket: row.Bucket, prefix: row.Prefix, cfg: row.Config, channel: row.Channel,
		source: row.Source, started: row.Started, streamIDs: append([]string(nil), row.StreamIDs...),
		tracks: make(map[string]*trackState), endDone: make(chan struct{}), ended: true,
		failure: orphanReason(row.NodeID, r.cfg.NodeID)}
	if len(rec.streamIDs) == 0 {
		rec.streamIDs = []string{""}
	}
	sort.SliceStable(segs, func(i, j int) bool {
		if segs[i].Rendition != segs[j].Rendition {
			return segs[i].Rendition < segs[j].Rendition
		}
		return segs[i].Seq < segs[j].Seq
	})
	for _, g := range segs {
		t := rec.tracks[g.Rendition]
		if t == nil {
			t = &trackState{name: g.Rendition}
			rec.tracks[g.Rendition] = t
		}
		t.width, t.height, t.codecs, t.peakBitrate = g.Width, g.Height, g.Codecs, max(t.peakBitrate, g.PeakBitrate)
		t.segments = append(t.segments, segment{file: g.File, dur: g.Duration, disc: g.Discontinuity && len(t.segments) > 0})
	}
	return rec
}

// row is the recording's row in state; rec.mu held.
func (rec *recording) rowLocked(state string, window time.Time) ivs.ClusterRecording {
	return ivs.ClusterRecording{ID: rec.id, NodeID: rec.r.cfg.NodeID, RunID: rec.r.run, Channel: rec.channel,
		StreamIDs: append([]string(nil), rec.streamIDs...), Bucket: rec.bucket, Prefix: rec.prefix, Config: rec.cfg,
		Source: rec.source, State: state, Started: rec.started, WindowEnd: window}
}

// putRowLocked queues the recording's row in state; rec.mu held.
func (rec *recording) putRowLocked(state string, window time.Time) {
	if rec.r.rows == nil {
		return
	}
	row := rec.rowLocked(state, window)
	rows := rec.r.cfg.Rows
	rec.r.rows.push("recording "+rec.id+" "+state, func(ctx context.Context) error { return rows.PutRecording(ctx, row) })
}

// segmentNote is the spool note of a media segment: its row, written
// once the segment is in storage. nil outside a cluster.
func (rec *recording) segmentNote(t *trackState, seq int) json.RawMessage {
	if rec.r.rows == nil {
		return nil
	}
	s := t.segments[seq]
	b, _ := json.Marshal(ivs.RecordedSegment{RecordingID: rec.id, Rendition: t.name, Seq: seq, File: s.file, Duration: s.dur,
		Discontinuity: s.disc, Width: t.width, Height: t.height, Codecs: t.codecs, PeakBitrate: t.peakBitrate})
	return b
}

// uploaded writes the row of a segment the spool uploaded: at once, so
// that the row is there when the spool forgets the object, else through
// the queue.
func (r *Recorder) uploaded(note []byte) {
	var s ivs.RecordedSegment
	if err := json.Unmarshal(note, &s); err != nil || s.RecordingID == "" {
		r.log.Error("a spooled segment's note is unreadable", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), rowTimeout)
	defer cancel()
	if r.rows.pending() == 0 {
		err := r.cfg.Rows.AddRecordedSegment(ctx, s)
		if errors.Is(err, ivs.ErrRecordingEnded) {
			r.endedElsewhere(s.RecordingID)
		}
		if err == nil || errors.Is(err, ivs.ErrRecordingEnded) {
			return
		}
	}
	rows := r.cfg.Rows
	r.rows.push("segment "+s.RecordingID+"/"+s.Rendition+"/"+s.File, func(ctx context.Context) error {
		err := rows.AddRecordedSegment(ctx, s)
		if errors.Is(err, ivs.ErrRecordingEnded) {
			r.endedElsewhere(s.RecordingID)
			return nil
		}
		return err
	})
}

// endedElsewhere is told that another node finished recording id while
// this node still records it: it was cut off from the cluster (frozen, or
// without the database) past the orphan grace. The recording's playlists
// stay as that node wrote them: this node writes none any more, and drops
// those still in its spool; its segments still upload.
func (r *Recorder) endedElsewhere(id string) {
	r.mu.Lock()
	var rec *recording
	for _, c := range r.recs {
		if c.id == id {
			rec = c
		}
	}
	r.mu.Unlock()
	if rec == nil {
		return // it ended here too (Recover, end) and said so
	}
	rec.mu.Lock()
	first := !rec.elsewhere
	rec.elsewhere = true
	rec.mu.Unlock()
	if !first {
		return
	}
	r.skipPlaylists(rec)
	r.log.Warn("another node finished this recording while this one was cut off from the cluster: "+
		"its playlists stay as that node wrote them, and the segments recorded since are not in them",
		"channel", rec.channel.ARN, "prefix", rec.prefix)
}

// skipPlaylists drops rec's playlists from the spool (those there and
// those to come).
func (r *Recorder) skipPlaylists(rec *recording) {
	bucket, prefix := rec.bucket, rec.prefix
	r.cfg.Spool.Skip(func(b, key string) bool {
		return b == bucket && strings.HasPrefix(key, prefix) && strings.HasSuffix(key, ".m3u8")
	})
}

// endShared finishes rec with finish unless another node did: it holds the
// recording's row while finish runs. It returns whether another node had
// finished it; its playlists and master playlist still in the spool are
// then dropped (they would replace that node's final ones), its segments
// and thumbnails still upload.
func (r *Recorder) endShared(rec *recording, finish func()) (elsewhere bool) {
	if r.rows == nil {
		finish()
		return false
	}
	r.endMu.Lock()
	defer r.endMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := r.rows.drain(ctx); err != nil {
		r.log.Warn("recording rows not written yet", "prefix", rec.prefix, "err", err)
	}
	finished := false
	err := r.cfg.Rows.EndRecording(ctx, rec.id, func() error {
		finish()
		finished = true
		return nil
	})
	switch {
	case err == nil:
		return false
	case errors.Is(err, ivs.ErrRecordingEnded):
		r.skipPlaylists(rec)
		return true
	case !errors.Is(err, ivs.ErrNotFound):
		r.log.Error("the shared store could not end the recording's row; it is finished here", "prefix", rec.prefix, "err", err)
	}
	if !finished {
		finish()
	}
	// The row, when it comes, must say ended: nobody is to finish it again.
	rec.mu.Lock()
	rec.putRowLocked(ivs.RecordingEnded, time.Time{})
	rec.mu.Unlock()
	return false
}
