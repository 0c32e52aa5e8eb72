package record

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/stream"
	"github.com/onair-video/onair/internal/stream/streamtest"
)

// fakeRows is the shared store's recordings in memory, with
// postgres.Store's semantics: an ended row is never revived, a finished
// recording is finished once.
type fakeRows struct {
	mu   sync.Mutex
	down bool
	recs map[string]ivs.ClusterRecording
	segs map[string][]ivs.RecordedSegment
	// dead are the nodes whose heartbeat is past the orphan grace.
	dead map[string]bool
	// store, when set, is checked: a segment's row must come after the
	// segment is in it.
	store      *flaky
	early      []string // segment rows written before their object was stored
	states     []string // the states PutRecording wrote, in order
	endCalls   int
	ownerEnded int
	refused    []string // segments of ended recordings
}

var _ Rows = (*fakeRows)(nil)

func newFakeRows() *fakeRows {
	return &fakeRows{recs: map[string]ivs.ClusterRecording{}, segs: map[string][]ivs.RecordedSegment{}, dead: map[string]bool{}}
}

var errDown = errors.New("connection refused")

func (f *fakeRows) PutRecording(_ context.Context, r ivs.ClusterRecording) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errDown
	}
	if old, ok := f.recs[r.ID]; ok && old.State == ivs.RecordingEnded {
		return nil
	}
	f.recs[r.ID] = r
	f.states = append(f.states, r.State)
	return nil
}

func (f *fakeRows) AddRecordedSegment(_ context.Context, s ivs.RecordedSegment) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errDown
	}
	if f.store != nil {
		f.store.mu.Lock()
		found := false
		for k := range f.store.body {
			found = found || strings.HasSuffix(k, "/"+s.Rendition+"/"+s.File)
		}
		f.store.mu.Unlock()
		if !found {
			f.early = append(f.early, s.File)
		}
	}
	if f.recs[s.RecordingID].State == ivs.RecordingEnded {
		f.refused = append(f.refused, s.File)
		return ivs.ErrRecordingEnded
	}
	for _, g := range f.segs[s.RecordingID] {
		if g.Rendition == s.Rendition && g.Seq == s.Seq {
			return nil
		}
	}
	f.segs[s.RecordingID] = append(f.segs[s.RecordingID], s)
	return nil
}

func (f *fakeRows) EndRecording(_ context.Context, id string, finish func() error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.endCalls++
	if f.down {
		return errDown
	}
	r, ok := f.recs[id]
	switch {
	case !ok:
		return fmt.Errorf("no row: %w", ivs.ErrNotFound)
	case r.State == ivs.RecordingEnded:
		return ivs.ErrRecordingEnded
	}
	if err := finish(); err != nil {
		return err
	}
	r.State = ivs.RecordingEnded
	f.recs[id] = r
	f.ownerEnded++
	return nil
}

func (f *fakeRows) EndOrphanRecordings(_ context.Context, nodeID, runID string, _ time.Duration,
	finish func(ivs.ClusterRecording, []ivs.RecordedSegment) error,
) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return 0, errDown
	}
	n := 0
	for id, r := range f.recs {
		if r.State == ivs.RecordingEnded || !(f.dead[r.NodeID] || r.NodeID == nodeID && r.RunID != runID) {
			continue
		}
		if err := finish(r, slices.Clone(f.segs[id])); err != nil {
			return n, err
		}
		r.State = ivs.RecordingEnded
		f.recs[id] = r
		delete(f.segs, id)
		n++
	}
	return n, nil
}

func (f *fakeRows) get(id string) (ivs.ClusterRecording, []ivs.RecordedSegment) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.recs[id], slices.Clone(f.segs[id])
}

func (f *fakeRows) only() ivs.ClusterRecording {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.recs {
		return r
	}
	return ivs.ClusterRecording{}
}

func (f *fakeRows) setDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

var testRC = ivs.RecordingConfiguration{ARN: "arn:aws:ivs:us-east-1:123456789012:recording-configuration/abcdABCDefgh",
	State: ivs.RecordingStateActive, DestinationConfiguration: ivs.DestinationConfiguration{S3: &ivs.S3Destination{BucketName: "b"}},
	ThumbnailConfiguration: ivs.ThumbnailConfiguration{RecordingMode: "DISABLED"}}

var testChannel = ivs.Channel{ID: "AbCdEfGhIjKl", ARN: "arn:aws:ivs:us-east-1:123456789012:channel/AbCdEfGhIjKl", Name: "c",
	RecordingConfigurationARN: testRC.ARN}

// runSpool runs sp until the test ends.
func runSpool(t *testing.T, sp *Spool) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sp.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// A cluster node's recording keeps its row: open at the start, waiting in
// the reconnect window, ended by its own end (which holds the row, once);
// a segment's row comes only once the segment is in storage, the rows of
// a store that was down come in order once it is back.
func TestRecordingRows(t *testing.T) {
	t.Parallel()
	v := streamtest.H264(t)
	store := &flaky{up: true, body: map[string]string{}}
	rows := newFakeRows()
	rows.store = store
	rows.setDown(true) // the start's row waits for the store
	sp, err := OpenSpool(filepath.Join(t.TempDir(), "spool"), store, 1<<30, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := &eventLog{}
	rc := testRC
	rc.RecordingReconnectWindowSeconds = 1
	r := New(Config{Configs: oneConfig{rc}, Spool: sp, Events: ev, Account: "123456789012", SegmentDuration: time.Second,
		Rows: rows, NodeID: "n1", OrphanInterval: time.Hour})
	runSpool(t, sp)
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() { defer close(runDone); r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-runDone })

	tr := &stream.Track{Codec: &stream.H264{SPS: v.SPS, PPS: v.PPS}, ClockRate: 90000}
	hub := stream.NewHub([]*stream.Track{tr})
	st := &live.Stream{Channel: testChannel, StreamID: "st-1", Hub: hub}
	detach, err := r.Attach(st)
	if err != nil {
		t.Fatal(err)
	}
	for i, au := range v.AUs {
		d := time.Duration(i) * time.Second / streamtest.FPS
		hub.Write(&stream.Unit{Track: tr, PTS: d, DTS: d, NTP: time.Now(), Payload: au, RandomAccess: h264.IsRandomAccess(au)})
	}
	streamtest.Eventually(t, 10*time.Second, "a segment uploaded", func() bool {
		store.mu.Lock()
		defer store.mu.Unlock()
		for k := range store.body {
			if strings.HasSuffix(k, ".ts") {
				return true
			}
		}
		return false
	})
	if row := rows.only(); row.ID != "" {
		t.Fatalf("a row written while the store is down: %+v", row)
	}
	rows.setDown(false)
	streamtest.Eventually(t, 20*time.Second, "the row and a segment's", func() bool {
		row := rows.only()
		_, segs := rows.get(row.ID)
		return row.State == ivs.RecordingOpen && len(segs) > 0
	})
	row := rows.only()
	if row.NodeID != "n1" || row.RunID != r.run || row.Channel.ID != testChannel.ID || row.Bucket != "b" ||
		!strings.HasPrefix(row.Prefix, "ivs/v1/123456789012/AbCdEfGhIjKl/") || !slices.Equal(row.StreamIDs, []string{"st-1"}) {
		t.Fatalf("row %+v", row)
	}
	hub.Close()
	detach()
	streamtest.Eventually(t, 20*time.Second, "the recording ended", func() bool {
		return slices.Contains(ev.names(), ivs.RecordingEnd)
	})
	r.Close()
	got, segs := rows.get(row.ID)
	rows.mu.Lock()
	states, early, ownerEnded := slices.Clone(rows.states), rows.early, rows.ownerEnded
	rows.mu.Unlock()
	if got.State != ivs.RecordingEnded || ownerEnded != 1 {
		t.Fatalf("row %s, ended by its owner %d times", got.State, ownerEnded)
	}
	if want := []string{ivs.RecordingOpen, ivs.RecordingWaiting}; !slices.Equal(states, want) {
		t.Errorf("row states %q, want %q", states, want)
	}
	if len(early) > 0 {
		t.Errorf("segment rows before their segments were stored: %v", early)
	}
	for i, s := range segs {
		if s.Seq != i || s.File != fmt.Sprintf("%d.ts", i) || s.Duration <= 0 || s.Width == 0 || s.Codecs == "" {
			t.Errorf("segment row %d: %+v", i, s)
		}
	}
	if names := ev.names(); !slices.Equal(names, []string{ivs.RecordingStart, ivs.RecordingEnd}) {
		t.Errorf("events %q", names)
	}
}

// A dead node's recording is finished by a survivor from its rows: the
// playlists list exactly the segments that reached storage, the master
// playlist names the renditions, recording-ended.json and the one Recording
// End Failure event name the node; a second look finds nothing to do.
func TestFinishOrphans(t *testing.T) {
	t.Parallel()
	store := &flaky{up: true, body: map[string]string{}}
	sp, err := OpenSpool(filepath.Join(t.TempDir(), "spool"), store, 1<<30, nil)
	if err != nil {
		t.Fatal(err)
	}
	runSpool(t, sp)
	rows := newFakeRows()
	ev := &eventLog{}
	r := New(Config{Configs: oneConfig{testRC}, Spool: sp, Events: ev, Account: "123456789012", Rows: rows, NodeID: "n2",
		LeaseTTL: time.Hour})
	secs := int64(10)
	rc := testRC
	rc.ThumbnailConfiguration = ivs.ThumbnailConfiguration{RecordingMode: "INTERVAL", TargetIntervalSeconds: &secs, Storage: []string{"LATEST"}}
	prefix := "ivs/v1/123456789012/AbCdEfGhIjKl/2026/12/5/8/0/recid/"
	started := time.Date(2026, 12, 5, 8, 0, 1, 0, time.UTC)
	for _, row := range []ivs.ClusterRecording{
		{ID: "recid", NodeID: "n1", RunID: "x", Channel: testChannel, StreamIDs: []string{"st-1", "st-2"}, Bucket: "b",
			Prefix: prefix, Config: rc, Source: "720p30", State: ivs.RecordingWaiting, Started: started},
		{ID: "alive", NodeID: "n3", RunID: "y", Channel: testChannel, StreamIDs: []string{"st-9"}, Bucket: "b",
			Prefix: "ivs/v1/123456789012/AbCdEfGhIjKl/2026/12/5/8/0/alive/", Config: rc, Source: "720p30", State: ivs.RecordingOpen, Started: started},
	} {
		mustPut(t, rows, row)
	}
	for _, s := range []ivs.RecordedSegment{
		{RecordingID: "recid", Rendition: "720p30", Seq: 1, File: "1.ts", Duration: 6 * time.Second, Width: 1280, Height: 720, Codecs: "avc1.64001f", PeakBitrate: 3000},
		{RecordingID: "recid", Rendition: "720p30", Seq: 0, File: "0.ts", Duration: 5500 * time.Millisecond, Width: 1280, Height: 720, Codecs: "avc1.64001f", PeakBitrate: 2000},
		{RecordingID: "recid", Rendition: "720p30", Seq: 2, File: "2.ts", Duration: 2 * time.Second, Discontinuity: true, Width: 1280, Height: 720, Codecs: "avc1.64001f", PeakBitrate: 2500},
		{RecordingID: "recid", Rendition: "160p30", Seq: 0, File: "0.ts", Duration: 5500 * time.Millisecond, Width: 284, Height: 160, Codecs: "avc1.42c00c", PeakBitrate: 300},
	} {
		if err := rows.AddRecordedSegment(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	rows.dead["n1"] = true
	// Right after the store was unreachable nothing is finished: the
	// nodes have not heartbeated again yet. Then, a lease TTL later, it is.
	rows.setDown(true)
	if n := r.FinishOrphans(context.Background()); n != 0 || !r.healthySince.IsZero() {
		t.Fatalf("finished %d with the store down", n)
	}
	rows.setDown(false)
	if n := r.FinishOrphans(context.Background()); n != 0 || r.healthySince.IsZero() {
		t.Fatalf("finished %d right after the store came back", n)
	}
	if got, _ := rows.get("recid"); got.State == ivs.RecordingEnded {
		t.Fatal("the orphan ended by the probe")
	}
	r.healthySince = r.healthySince.Add(-time.Hour) // a TTL passed
	if n := r.FinishOrphans(context.Background()); n != 1 {
		t.Fatalf("finished %d", n)
	}
	if n := r.FinishOrphans(context.Background()); n != 0 {
		t.Fatalf("finished %d more", n)
	}
	if got, _ := rows.get("alive"); got.State != ivs.RecordingOpen {
		t.Fatalf("a live node's recording: %s", got.State)
	}
	<-sp.Drained()
	store.mu.Lock()
	body := copyMap(store.body)
	store.mu.Unlock()
	wantPlaylist := "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:EVENT\n" +
		"#EXTINF:5.500,\n0.ts\n#EXTINF:6.000,\n1.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\n2.ts\n#EXT-X-ENDLIST\n"
	if got := body["b/"+prefix+"media/hls/720p30/playlist.m3u8"]; got != wantPlaylist {
		t.Errorf("playlist:\n%s\nwant:\n%s", got, wantPlaylist)
	}
	master := body["b/"+prefix+"media/hls/master.m3u8"]
	if !strings.Contains(master, "BANDWIDTH=3000,RESOLUTION=1280x720,CODECS=\"avc1.64001f\"\n720p30/playlist.m3u8") ||
		strings.Index(master, "720p30") > strings.Index(master, "160p30") {
		t.Errorf("master:\n%s", master)
	}
	var ended struct {
		Status  string `json:"recording_status"`
		Message string `json:"recording_status_message"`
		Started string `json:"recording_started_at"`
		Media   struct {
			HLS struct {
				DurationMs int64 `json:"duration_ms"`
				Renditions []struct {
					Path string `json:"path"`
				} `json:"renditions"`
			} `json:"hls"`
			Latest *struct{ Path string } `json:"latest_thumbnail"`
		} `json:"media"`
	}
	if err := json.Unmarshal([]byte(body["b/"+prefix+"events/recording-ended.json"]), &ended); err != nil {
		t.Fatal(err)
	}
	if ended.Status != "RECORDING_ENDED_WITH_FAILURE" || !strings.Contains(ended.Message, "node n1 ") ||
		!strings.Contains(ended.Message, "node n2 finished") || ended.Started != "2026-12-05T08:00:01Z" ||
		ended.Media.HLS.DurationMs != 13500 || len(ended.Media.HLS.Renditions) != 2 || ended.Media.HLS.Renditions[0].Path != "720p30" ||
		ended.Media.Latest == nil {
		t.Errorf("recording-ended.json %+v", ended)
	}
	if len(ev.got) != 1 {
		t.Fatalf("events %q", ev.names())
	}
	e := ev.got[0]
	if e.Name() != ivs.RecordingEndFailure || e.ChannelID != testChannel.ID || e.StreamID != "st-2" ||
		!slices.Equal(e.Detail.RecordingSessionStreamIDs, []string{"st-1", "st-2"}) || e.Detail.RecordingSessionID != "recid" ||
		e.Detail.RecordingS3KeyPrefix != strings.TrimSuffix(prefix, "/") || e.Detail.RecordingStatusReason == nil ||
		!strings.Contains(*e.Detail.RecordingStatusReason, "n1") || *e.Detail.RecordingDurationMs != 13500 {
		t.Errorf("event %+v %+v", e, e.Detail)
	}
}

func mustPut(t *testing.T, rows *fakeRows, r ivs.ClusterRecording) {
	t.Helper()
	if err := rows.PutRecording(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// A node comes back with its journal and spool: a recording a survivor
// finished is not finished again (no event, no ended file), its spooled
// segments upload and its spooled playlists do not; a recording whose row
// is still open is finished here, once, holding the row.
func TestRecoverInCluster(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		state     string // the row's; "" none
		recovered int
		events    []string
	}{
		{"finished by a survivor", ivs.RecordingEnded, 0, nil},
		{"still open", ivs.RecordingOpen, 1, []string{ivs.RecordingEndFailure}},
		{"no row", "", 1, []string{ivs.RecordingEndFailure}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store := &flaky{up: true, body: map[string]string{}}
			sp, err := OpenSpool(filepath.Join(t.TempDir(), "spool"), store, 1<<30, nil)
			if err != nil {
				t.Fatal(err)
			}
			prefix := "ivs/v1/123456789012/AbCdEfGhIjKl/2026/12/5/8/0/recid/"
			// What the killed run left: two segments and the live playlist
			// in the spool, and the journal.
			for _, o := range []struct{ key, body string }{
				{"media/hls/720p30/0.ts", "ts0"}, {"media/hls/720p30/1.ts", "ts1"},
				{"media/hls/720p30/playlist.m3u8", "#EXTM3U stale"}, {"media/hls/master.m3u8", "#EXTM3U stale master"},
			} {
				if err := sp.Put("b", prefix+o.key, []byte(o.body), ""); err != nil {
					t.Fatal(err)
				}
			}
			dir := t.TempDir()
			start, _ := json.Marshal(journalLine{Start: &journalStart{ID: "recid", Bucket: "b", Prefix: prefix, Config: testRC,
				Channel: testChannel, Source: "720p30", Started: time.Now().UTC(), Stream: "st-1"}})
			seg0, _ := json.Marshal(journalLine{Segment: &journalSegment{Track: "720p30", Width: 1280, Height: 720, Codecs: "avc1.64001f",
				Peak: 1, File: "0.ts", Dur: 6 * time.Second}})
			seg1, _ := json.Marshal(journalLine{Segment: &journalSegment{Track: "720p30", Width: 1280, Height: 720, Codecs: "avc1.64001f",
				Peak: 1, File: "1.ts", Dur: 6 * time.Second}})
			if err := os.WriteFile(filepath.Join(dir, "recid.jsonl"), []byte(string(start)+"\n"+string(seg0)+"\n"+string(seg1)+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			rows := newFakeRows()
			if tc.state != "" {
				mustPut(t, rows, ivs.ClusterRecording{ID: "recid", NodeID: "n1", RunID: "old", Channel: testChannel, Bucket: "b",
					Prefix: prefix, Config: testRC, Source: "720p30", State: tc.state})
			}
			ev := &eventLog{}
			r := New(Config{Configs: oneConfig{testRC}, Spool: sp, Events: ev, Account: "123456789012", JournalDir: dir,
				Rows: rows, NodeID: "n1"})
			n, err := r.Recover()
			if err != nil || n != tc.recovered {
				t.Fatalf("Recover: %d %v, want %d", n, err, tc.recovered)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
				t.Errorf("journal left: %v", left)
			}
			if names := ev.names(); !slices.Equal(names, tc.events) {
				t.Errorf("events %q, want %q", names, tc.events)
			}
			if tc.events != nil && ev.got[0].ChannelID != testChannel.ID {
				t.Errorf("the event's channel id %q", ev.got[0].ChannelID)
			}
			// Recover ran before the spool, as app runs them.
			runSpool(t, sp)
			ctx, cancel := context.WithCancel(context.Background())
			runDone := make(chan struct{})
			go func() { defer close(runDone); r.Run(ctx) }()
			defer func() { cancel(); <-runDone }()
			<-sp.Drained()
			store.mu.Lock()
			body := copyMap(store.body)
			store.mu.Unlock()
			if body["b/"+prefix+"media/hls/720p30/0.ts"] != "ts0" || body["b/"+prefix+"media/hls/720p30/1.ts"] != "ts1" {
				t.Errorf("spooled segments not uploaded: %v", body)
			}
			playlist, ended := body["b/"+prefix+"media/hls/720p30/playlist.m3u8"], body["b/"+prefix+"events/recording-ended.json"]
			if tc.state == ivs.RecordingEnded {
				if playlist != "" || body["b/"+prefix+"media/hls/master.m3u8"] != "" || ended != "" {
					t.Errorf("a finished recording's objects replaced: playlist %q, ended %q", playlist, ended)
				}
				return
			}
			if !strings.Contains(playlist, "0.ts\n") || !strings.Contains(playlist, "1.ts\n#EXT-X-ENDLIST") || ended == "" {
				t.Errorf("playlist %q, ended %q", playlist, ended)
			}
			streamtest.Eventually(t, 10*time.Second, "the row ended", func() bool {
				got, _ := rows.get("recid")
				return got.State == ivs.RecordingEnded
			})
		})
	}
}

// The row queue writes in order, keeps what the store refused for the
// next drain, and drops what the store can never take.
func TestRowQueue(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var done []string
	down := true
	q := newRowQueue(nil, slog.New(slog.DiscardHandler))
	write := func(name string, err error) func(context.Context) error {
		return func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			if down {
				return errDown
			}
			if err == nil {
				done = append(done, name)
			}
			return err
		}
	}
	q.push("a", write("a", nil))
	q.push("bad", write("bad", fmt.Errorf("key: %w", ivs.ErrNotFound)))
	q.push("b", write("b", nil))
	if err := q.drain(context.Background()); !errors.Is(err, errDown) || q.pending() != 3 {
		t.Fatalf("drain while down: %v, %d pending", err, q.pending())
	}
	mu.Lock()
	down = false
	mu.Unlock()
	if err := q.drain(context.Background()); err != nil || q.pending() != 0 {
		t.Fatalf("drain: %v, %d pending", err, q.pending())
	}
	if !slices.Equal(done, []string{"a", "b"}) {
		t.Fatalf("written %q", done)
	}
}

// A node cut off from the cluster past the orphan grace (frozen, or
// without the database) while it records: when it hears that a survivor
// finished its recording (a segment's row is refused), it writes no more
// playlists for it and drops those in its spool, so that the survivor's
// final playlist stays; the segments still upload, and its own end emits
// nothing.
func TestRecordingFinishedElsewhereWhileLive(t *testing.T) {
	t.Parallel()
	v := streamtest.H264(t)
	store := &flaky{up: true, body: map[string]string{}}
	rows := newFakeRows()
	sp, err := OpenSpool(filepath.Join(t.TempDir(), "spool"), store, 1<<30, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := &eventLog{}
	r := New(Config{Configs: oneConfig{testRC}, Spool: sp, Events: ev, Account: "123456789012", SegmentDuration: time.Second,
		Rows: rows, NodeID: "n1", OrphanInterval: time.Hour})
	runSpool(t, sp)
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() { defer close(runDone); r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-runDone })
	tr := &stream.Track{Codec: &stream.H264{SPS: v.SPS, PPS: v.PPS}, ClockRate: 90000}
	hub := stream.NewHub([]*stream.Track{tr})
	detach, err := r.Attach(&live.Stream{Channel: testChannel, StreamID: "st-1", Hub: hub})
	if err != nil {
		t.Fatal(err)
	}
	clip := time.Duration(len(v.AUs)) * time.Second / streamtest.FPS
	play := func(round int) {
		for i, au := range v.AUs {
			d := time.Duration(round)*clip + time.Duration(i)*time.Second/streamtest.FPS
			hub.Write(&stream.Unit{Track: tr, PTS: d, DTS: d, NTP: time.Now(), Payload: au, RandomAccess: h264.IsRandomAccess(au)})
		}
	}
	play(0)
	streamtest.Eventually(t, 10*time.Second, "two segments' rows", func() bool {
		_, segs := rows.get(rows.only().ID)
		return len(segs) >= 2
	})
	// A survivor finishes it.
	row := rows.only()
	mustPut(t, rows, ivs.ClusterRecording{ID: row.ID, State: ivs.RecordingEnded})
	play(1)
	play(2)
	hub.Close()
	detach()
	r.Close()
	<-sp.Drained()
	rows.mu.Lock()
	refused := slices.Clone(rows.refused)
	rows.mu.Unlock()
	if len(refused) == 0 {
		t.Fatal("no segment's row was refused")
	}
	store.mu.Lock()
	body := copyMap(store.body)
	store.mu.Unlock()
	playlist := body["b/"+row.Prefix+"media/hls/720p30/playlist.m3u8"]
	for k := range body {
		if strings.HasSuffix(k, "/playlist.m3u8") && k != "b/"+row.Prefix+"media/hls/720p30/playlist.m3u8" {
			playlist = body[k] // the rendition is named after the clip's size
		}
	}
	if playlist == "" || strings.Contains(playlist, "#EXT-X-ENDLIST") {
		t.Fatalf("playlist %q", playlist)
	}
	for _, f := range refused {
		if strings.Contains(playlist, "\n"+f+"\n") {
			t.Errorf("%s, recorded after the survivor finished, is in the playlist:\n%s", f, playlist)
		}
		found := false
		for k := range body {
			found = found || strings.HasSuffix(k, "/"+f)
		}
		if !found {
			t.Errorf("%s not uploaded", f)
		}
	}
	if _, ok := body["b/"+row.Prefix+"events/recording-ended.json"]; ok {
		t.Error("recording-ended.json written by the cut-off node")
	}
	if names := ev.names(); !slices.Equal(names, []string{ivs.RecordingStart}) {
		t.Errorf("events %q", names)
	}
}
