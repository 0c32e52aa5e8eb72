package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/test/e2e/harness"
)

func init() { suites["Recordings"] = testRecordings }

// orphanAfter is the tests' lease TTL plus orphan grace.
const orphanAfter = 10 * time.Second

func testRecording(id, node, run string) ivs.ClusterRecording {
	secs := int64(5)
	return ivs.ClusterRecording{ID: id, NodeID: node, RunID: run,
		Channel:   ivs.Channel{ID: "ch" + id, ARN: "arn:aws:ivs:us-east-1:123456789012:channel/ch" + id, Name: "name " + id},
		StreamIDs: []string{"st-1"}, Bucket: "bkt", Prefix: "ivs/v1/123456789012/ch" + id + "/2026/12/5/8/0/" + id + "/",
		Config: ivs.RecordingConfiguration{ARN: "arn:aws:ivs:us-east-1:123456789012:recording-configuration/rc",
			ThumbnailConfiguration: ivs.ThumbnailConfiguration{RecordingMode: "INTERVAL", TargetIntervalSeconds: &secs,
				Storage: []string{"SEQUENTIAL", "LATEST"}},
			RenditionConfiguration: ivs.RenditionConfiguration{RenditionSelection: "CUSTOM", Renditions: []string{"HD", "SD"}}},
		Source: "720p30", State: ivs.RecordingOpen, Started: time.Now().UTC().Truncate(time.Microsecond)}
}

func testSegment(rec, rendition string, seq int) ivs.RecordedSegment {
	return ivs.RecordedSegment{RecordingID: rec, Rendition: rendition, Seq: seq, File: fmt.Sprintf("%d.ts", seq),
		Duration: 6*time.Second + time.Duration(seq)*time.Millisecond, Discontinuity: seq == 2, Width: 1280, Height: 720,
		Codecs: "avc1.64001f,mp4a.40.2", PeakBitrate: 1000 + seq}
}

// orphans runs EndOrphanRecordings as node, collecting what it finished.
func orphans(t *testing.T, s *Store, node, run string) map[string][]ivs.RecordedSegment {
	t.Helper()
	got := map[string][]ivs.RecordedSegment{}
	n, err := s.EndOrphanRecordings(context.Background(), node, run, orphanAfter, func(r ivs.ClusterRecording, segs []ivs.RecordedSegment) error {
		got[r.ID] = segs
		return nil
	})
	if err != nil || n != len(got) {
		t.Fatalf("EndOrphanRecordings: %d %v (%d finished)", n, err, len(got))
	}
	return got
}

// A cluster's recordings: rows written as a recording goes, its uploaded
// segments, the orphan finisher taking the recordings of a dead node (and
// of this node's earlier runs) once each, and a node's own end that finds
// a survivor finished it.
func testRecordings(t *testing.T, pg *harness.Postgres) {
	ctx := context.Background()
	url := newDatabase(t, pg)
	a, b, c := openStore(t, url), openStore(t, url), openStore(t, url)
	a.SetNode("a")
	b.SetNode("b")
	c.SetNode("c")
	for _, s := range []*Store{a, b, c} {
		if _, err := s.Heartbeat(ctx, ivs.Node{ID: s.node, BootID: s.node + "1", Addr: "http://" + s.node, Version: "v",
			Started: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}

	// A records r1: open, waiting, open again with a second stream; two
	// renditions' segments reach storage (one twice: a resumed spool).
	r1 := testRecording("r1", "a", "run1")
	mustDo(t, a.PutRecording(ctx, r1))
	r1.State, r1.WindowEnd = ivs.RecordingWaiting, time.Now().Add(time.Minute)
	mustDo(t, a.PutRecording(ctx, r1))
	r1.State, r1.WindowEnd, r1.StreamIDs = ivs.RecordingOpen, time.Time{}, []string{"st-1", "st-2"}
	mustDo(t, a.PutRecording(ctx, r1))
	for _, g := range []ivs.RecordedSegment{testSegment("r1", "720p30", 1), testSegment("r1", "720p30", 0),
		testSegment("r1", "360p30", 0), testSegment("r1", "720p30", 2), testSegment("r1", "720p30", 1)} {
		mustDo(t, a.AddRecordedSegment(ctx, g))
	}
	// While A is live nobody takes its recordings, nor does A (its run).
	if got := orphans(t, b, "b", "b-run"); len(got) != 0 {
		t.Fatalf("a live node's recording finished: %v", got)
	}
	if got := orphans(t, a, "a", "run1"); len(got) != 0 {
		t.Fatalf("a node's own current recording finished: %v", got)
	}

	// A dies: within the grace still nobody; past it exactly one of B and
	// C finishes r1, with its segments in order.
	age(t, pg, a, "a", orphanAfter/2)
	if got := orphans(t, b, "b", "b-run"); len(got) != 0 {
		t.Fatalf("finished within the grace: %v", got)
	}
	age(t, pg, a, "a", orphanAfter+time.Second)
	var got map[string][]ivs.RecordedSegment
	var row ivs.ClusterRecording
	n, err := b.EndOrphanRecordings(ctx, "b", "b-run", orphanAfter, func(r ivs.ClusterRecording, segs []ivs.RecordedSegment) error {
		row, got = r, map[string][]ivs.RecordedSegment{r.ID: segs}
		return nil
	})
	if err != nil || n != 1 {
		t.Fatalf("EndOrphanRecordings: %d %v", n, err)
	}
	want := []ivs.RecordedSegment{testSegment("r1", "360p30", 0), testSegment("r1", "720p30", 0), testSegment("r1", "720p30", 1),
		testSegment("r1", "720p30", 2)}
	if !slices.Equal(got["r1"], want) {
		t.Fatalf("segments %+v\nwant %+v", got["r1"], want)
	}
	if row.Channel.ID != "chr1" || row.Channel.ARN != r1.Channel.ARN || row.Channel.Name != "name r1" || row.NodeID != "a" ||
		!slices.Equal(row.StreamIDs, []string{"st-1", "st-2"}) || row.Bucket != "bkt" || row.Prefix != r1.Prefix ||
		row.Source != "720p30" || !row.Started.Equal(r1.Started) || row.State != ivs.RecordingOpen ||
		*row.Config.ThumbnailConfiguration.TargetIntervalSeconds != 5 ||
		!slices.Equal(row.Config.RenditionConfiguration.Renditions, []string{"HD", "SD"}) {
		t.Fatalf("row %+v", row)
	}
	if got := orphans(t, c, "c", "c-run"); len(got) != 0 {
		t.Fatalf("finished twice: %v", got)
	}
	// A comes back: its end finds the row ended, and its late writes
	// neither revive the row nor add segments.
	if err := a.EndRecording(ctx, "r1", func() error { t.Fatal("finished twice"); return nil }); !errors.Is(err, ivs.ErrRecordingEnded) {
		t.Fatalf("EndRecording of a finished recording: %v", err)
	}
	mustDo(t, a.PutRecording(ctx, r1))
	if err := a.AddRecordedSegment(ctx, testSegment("r1", "720p30", 3)); !errors.Is(err, ivs.ErrRecordingEnded) {
		t.Fatalf("a segment of a finished recording: %v", err)
	}
	if out, err := pg.Query(sessionsDB(t, a), "SELECT state || ' ' || ended_by || ' ' || (SELECT count(*) FROM recording_segments) FROM recordings WHERE id = 'r1'"); err != nil || out != "ended b 0" {
		t.Fatalf("r1 after A came back: %q %v", out, err)
	}
	if err := a.EndRecording(ctx, "nope", func() error { t.Fatal("finished a recording without a row"); return nil }); !errors.Is(err, ivs.ErrNotFound) {
		t.Fatalf("EndRecording without a row: %v", err)
	}

	// A's own end: finish runs once, holding the row; a failing finish
	// leaves it open.
	age(t, pg, a, "a", 0)
	r2 := testRecording("r2", "a", "run1")
	mustDo(t, a.PutRecording(ctx, r2))
	boom := errors.New("boom")
	if err := a.EndRecording(ctx, "r2", func() error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("failed finish: %v", err)
	}
	runs := 0
	mustDo(t, a.EndRecording(ctx, "r2", func() error { runs++; return nil }))
	if runs != 1 {
		t.Fatalf("finish ran %d times", runs)
	}

	// A restarts as a new run without its journal: its earlier run's open
	// recording is its own to finish, nobody else's while it is live.
	r3 := testRecording("r3", "a", "run1")
	mustDo(t, a.PutRecording(ctx, r3))
	if got := orphans(t, b, "b", "b-run"); len(got) != 0 {
		t.Fatalf("a live node's earlier run's recording finished by another: %v", got)
	}
	if got := orphans(t, a, "a", "run2"); len(got) != 1 || !hasKey(got, "r3") {
		t.Fatalf("a's new run finished %v", got)
	}

	// A recording held by its node's end is skipped by the finisher; the
	// node's end waits for a finisher that holds it, then finds it ended.
	r4 := testRecording("r4", "a", "run2")
	mustDo(t, a.PutRecording(ctx, r4))
	age(t, pg, a, "a", orphanAfter+time.Second)
	holding, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = b.EndOrphanRecordings(ctx, "b", "b-run", orphanAfter, func(ivs.ClusterRecording, []ivs.RecordedSegment) error {
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
	if got := orphans(t, c, "c", "c-run"); len(got) != 0 {
		t.Fatalf("a held recording finished: %v", got)
	}
	ended := make(chan error, 1)
	go func() { ended <- a.EndRecording(ctx, "r4", func() error { return nil }) }()
	select {
	case err := <-ended:
		t.Fatalf("EndRecording did not wait for the finisher: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	wg.Wait()
	if err := <-ended; !errors.Is(err, ivs.ErrRecordingEnded) {
		t.Fatalf("EndRecording after a finisher: %v", err)
	}

	// Many orphans, two finishers at once: each finished exactly once.
	const many = 30
	for i := range many {
		mustDo(t, a.PutRecording(ctx, testRecording(fmt.Sprintf("m%02d", i), "a", "run2")))
	}
	var mu sync.Mutex
	finished := map[string]int{}
	var fw sync.WaitGroup
	for _, s := range []*Store{b, c} {
		fw.Add(1)
		go func() {
			defer fw.Done()
			for {
				n, err := s.EndOrphanRecordings(ctx, s.node, s.node+"-run", orphanAfter, func(r ivs.ClusterRecording, _ []ivs.RecordedSegment) error {
					mu.Lock()
					finished[r.ID]++
					mu.Unlock()
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
				if n == 0 {
					return
				}
			}
		}()
	}
	fw.Wait()
	if len(finished) != many {
		t.Fatalf("%d of %d orphans finished", len(finished), many)
	}
	for id, k := range finished {
		if k != 1 {
			t.Errorf("%s finished %d times", id, k)
		}
	}
}

func hasKey[V any](m map[string]V, k string) bool { _, ok := m[k]; return ok }
