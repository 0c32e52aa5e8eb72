package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/test/e2e/harness"
)

func init() {
	suites["SessionsShared"] = func(t *testing.T, pg *harness.Postgres) {
		for _, tc := range []struct {
			name string
			test func(t *testing.T, pg *harness.Postgres)
		}{
			{"Downsamplers", testDownsamplers},
			{"DownsampleTakesTurns", testDownsampleTakesTurns},
			{"Rounding", testDownsampleRounding},
			{"AppendConcurrent", testAppendConcurrent},
			{"AppendSameSecond", testAppendSameSecond},
			{"EndOpenConcurrent", testEndOpenConcurrent},
			{"HasError", testHasError},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.test(t, pg)
			})
		}
	}
}

var sessionsStart = time.Date(2026, 3, 31, 22, 0, 0, 0, time.UTC)

// fillEndedSessions gives s ended sessions with varied points: gaps, points of
// more than a second, buckets of one point, and an open session and one
// that ended late, which downsampling leaves alone. It returns the ids.
func fillEndedSessions(t *testing.T, s *Store) []string {
	t.Helper()
	ctx := context.Background()
	var ids []string
	for i := range 12 {
		id := fmt.Sprintf("st-%02d", i)
		ids = append(ids, id)
		mustDo(t, s.CreateStreamSession(ctx, ivs.StreamSession{StreamID: id, ChannelID: fmt.Sprintf("ch%d", i%3),
			StartTime: sessionsStart}))
		var pts []ivs.MetricPoint
		for k := 0; k < 600; k++ {
			if (k+i)%11 == 0 { // gaps
				continue
			}
			span := 1
			if k%97 == 5 {
				span = 3 // a late flush covering three seconds
			}
			pts = append(pts, ivs.MetricPoint{Time: sessionsStart.Add(time.Duration(k) * time.Second), Span: span,
				VideoBitrate: int64(2_000_000 + (k*7919+i)%5003), Framerate: 29.97 + float64(k%5)/10,
				AudioBitrate: int64(128_000 + k%3), KeyframeInterval: 2 + float64(k%2), Viewers: int64((k * i) % 17)})
		}
		// A lone point in its own bucket: left as it is.
		pts = append(pts, ivs.MetricPoint{Time: sessionsStart.Add(3600 * time.Second), Span: 1, VideoBitrate: 7, Viewers: 1})
		for b := 0; b < len(pts); b += 50 {
			mustDo(t, s.AppendMetrics(ctx, id, pts[b:min(b+50, len(pts))], ivs.SessionStats{Points: int64(b)}))
		}
		end := sessionsStart.Add(2 * time.Hour)
		if i == 11 {
			end = sessionsStart.Add(5 * time.Hour) // after endedBefore
		}
		if i != 10 { // st-10 stays open
			mustDo(t, s.EndStreamSession(ctx, id, end))
		}
	}
	return ids
}

func allSessionMetrics(t *testing.T, s *Store, ids []string) map[string][]ivs.MetricPoint {
	t.Helper()
	out := map[string][]ivs.MetricPoint{}
	for _, id := range ids {
		pts, err := s.SessionMetrics(context.Background(), id, time.Time{}, time.Time{})
		mustDo(t, err)
		out[id] = pts
	}
	return out
}

// Every onair process sharing a database runs a downsampler: two running
// at once on one database leave what one leaves, and remove as many
// points in all.
func testDownsamplers(t *testing.T, pg *harness.Postgres) {
	ctx := context.Background()
	endedBefore := sessionsStart.Add(3 * time.Hour)

	one := newStore(t, pg)
	ids := fillEndedSessions(t, one)
	before := allSessionMetrics(t, one, ids)
	wantRemoved, err := one.DownsampleMetrics(ctx, endedBefore, 60)
	mustDo(t, err)
	want := allSessionMetrics(t, one, ids)

	url := newDatabase(t, pg)
	a, b := openStore(t, url), openStore(t, url)
	fillEndedSessions(t, a)
	removed := make([]int, 4)
	errs := together(len(removed), func(i int) (err error) {
		removed[i], err = []*Store{a, b}[i%2].DownsampleMetrics(ctx, endedBefore, 60)
		return err
	})
	mustDo(t, errors.Join(errs...))
	total := 0
	for _, n := range removed {
		total += n
	}
	if total != wantRemoved {
		t.Fatalf("downsamplers at once removed %v (%d in all), one removed %d", removed, total, wantRemoved)
	}
	got := allSessionMetrics(t, b, ids)
	for _, id := range ids {
		if !samePoints(got[id], want[id]) {
			t.Errorf("%s: at once %d points %+v\none alone %d points %+v", id, len(got[id]), got[id], len(want[id]), want[id])
		}
	}

	// What one downsampler left is what SQLite's arithmetic gives: buckets
	// of 60 s, spans summed, integers rounded half away from zero.
	for i, id := range ids {
		exp := before[id]
		if i < 10 {
			exp = expectDownsample(before[id], 60)
		}
		if !samePoints(want[id], exp) {
			t.Errorf("%s: downsampled to %+v\nwant %+v", id, want[id], exp)
		}
	}
	if n := len(want[ids[0]]); n != 11 || wantRemoved == 0 {
		t.Fatalf("st-00 downsampled to %d points (want 10 buckets and the lone point), %d removed", n, wantRemoved)
	}
}

// A downsampler waits for another's turn: while the lock is held
// elsewhere it waits on it, and goes on once it is released.
func testDownsampleTakesTurns(t *testing.T, pg *harness.Postgres) {
	ctx := context.Background()
	s := newStore(t, pg)
	ids := fillEndedSessions(t, s)
	holder, err := s.pool.Begin(ctx)
	mustDo(t, err)
	defer func() { _ = holder.Rollback(ctx) }()
	_, err = holder.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockDownsample)
	mustDo(t, err)
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := s.DownsampleMetrics(ctx, sessionsStart.Add(3*time.Hour), 60)
		done <- result{n, err}
	}()
	// Waiting shows as an advisory lock not granted, on the lock's key.
	harness.Eventually(t, 30*time.Second, func() error {
		select {
		case r := <-done:
			t.Fatalf("downsampled (%d, %v) while another held the lock", r.n, r.err)
		default:
		}
		var waiting bool
		err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
			AND (classid::bigint << 32 | objid::bigint) = $1)`, lockDownsample).Scan(&waiting)
		if err == nil && !waiting {
			err = errors.New("the downsampler does not wait for the lock")
		}
		return err
	})
	mustDo(t, holder.Commit(ctx))
	r := <-done
	mustDo(t, r.err)
	if got := allSessionMetrics(t, s, ids[:1])[ids[0]]; r.n == 0 || len(got) != 11 {
		t.Fatalf("after the lock: removed %d, st-00 has %d points", r.n, len(got))
	}
}

// expectDownsample is DownsampleMetrics in Go.
func expectDownsample(pts []ivs.MetricPoint, span int64) []ivs.MetricPoint {
	var out []ivs.MetricPoint
	for _, b := range chunkByBucket(pts, span) {
		if len(b) == 1 {
			out = append(out, b[0])
			continue
		}
		var sp, video, audio, viewers int64
		var fr, kf float64
		for _, p := range b {
			s := int64(p.Span)
			sp += s
			video += p.VideoBitrate * s
			audio += p.AudioBitrate * s
			viewers += p.Viewers * s
			fr += p.Framerate * float64(s)
			kf += p.KeyframeInterval * float64(s)
		}
		avg := func(sum int64) int64 { return int64(math.Round(float64(sum) / float64(sp))) } // half away from zero
		out = append(out, ivs.MetricPoint{Time: time.Unix(b[0].Time.Unix()/span*span, 0).UTC(), Span: int(sp),
			VideoBitrate: avg(video), Framerate: fr / float64(sp), AudioBitrate: avg(audio),
			KeyframeInterval: kf / float64(sp), Viewers: avg(viewers)})
	}
	return out
}

func chunkByBucket(pts []ivs.MetricPoint, span int64) [][]ivs.MetricPoint {
	var out [][]ivs.MetricPoint
	for i, p := range pts {
		if i > 0 && p.Time.Unix()/span == pts[i-1].Time.Unix()/span {
			out[len(out)-1] = append(out[len(out)-1], p)
		} else {
			out = append(out, []ivs.MetricPoint{p})
		}
	}
	return out
}

// samePoints compares exactly but for the float averages, whose sums may
// add in another order.
func samePoints(a, b []ivs.MetricPoint) bool {
	return slices.EqualFunc(a, b, func(x, y ivs.MetricPoint) bool {
		return x.Time.Equal(y.Time) && x.Span == y.Span && x.VideoBitrate == y.VideoBitrate &&
			x.AudioBitrate == y.AudioBitrate && x.Viewers == y.Viewers &&
			math.Abs(x.Framerate-y.Framerate) < 1e-9 && math.Abs(x.KeyframeInterval-y.KeyframeInterval) < 1e-9
	})
}

// Averages that fall on .5 round away from zero, as SQLite's ROUND does
// (PostgreSQL's round of a double rounds to even).
func testDownsampleRounding(t *testing.T, pg *harness.Postgres) {
	ctx := context.Background()
	s := newStore(t, pg)
	mustDo(t, s.CreateStreamSession(ctx, ivs.StreamSession{StreamID: "st-r", ChannelID: "c", StartTime: sessionsStart}))
	mustDo(t, s.AppendMetrics(ctx, "st-r", []ivs.MetricPoint{
		{Time: sessionsStart, Span: 1, VideoBitrate: 2, AudioBitrate: 4, Viewers: 0},
		{Time: sessionsStart.Add(time.Second), Span: 1, VideoBitrate: 3, AudioBitrate: 5, Viewers: 1},
		{Time: sessionsStart.Add(60 * time.Second), Span: 1, VideoBitrate: 1, AudioBitrate: 2, Viewers: 2},
		{Time: sessionsStart.Add(61 * time.Second), Span: 3, VideoBitrate: 2, AudioBitrate: 2, Viewers: 3}, // (1+6)/4 = 1.75
	}, ivs.SessionStats{}))
	mustDo(t, s.EndStreamSession(ctx, "st-r", sessionsStart.Add(time.Hour)))
	n, err := s.DownsampleMetrics(ctx, sessionsStart.Add(2*time.Hour), 60)
	mustDo(t, err)
	got := allSessionMetrics(t, s, []string{"st-r"})["st-r"]
	if n != 2 || len(got) != 2 ||
		got[0].VideoBitrate != 3 || got[0].AudioBitrate != 5 || got[0].Viewers != 1 || got[0].Span != 2 ||
		got[1].VideoBitrate != 2 || got[1].AudioBitrate != 2 || got[1].Viewers != 3 || got[1].Span != 4 {
		t.Fatalf("removed %d, left %+v: want 2.5 → 3, 4.5 → 5, 0.5 → 1, then 1.75 → 2, 2, 2.75 → 3", n, got)
	}
}

// Live streams write their points at once, each to its own session; every
// write lands, with its summary.
func testAppendConcurrent(t *testing.T, pg *harness.Postgres) {
	ctx := context.Background()
	s := newStore(t, pg)
	const streams, seconds = 40, 30
	for i := range streams {
		mustDo(t, s.CreateStreamSession(ctx, ivs.StreamSession{StreamID: fmt.Sprintf("st-%d", i), ChannelID: fmt.Sprintf("ch%d", i),
			StartTime: sessionsStart}))
	}
	var wg sync.WaitGroup
	errs := make([]error, streams)
	for i := range streams {
		wg.Go(func() {
			id := fmt.Sprintf("st-%d", i)
			var stats ivs.SessionStats
			var prev ivs.MetricPoint
			for k := range seconds {
				p := ivs.MetricPoint{Time: sessionsStart.Add(time.Duration(k) * time.Second), Span: 1,
					VideoBitrate: int64(i*1000 + k), Framerate: 30, Viewers: int64(k)}
				stats.Add(p)
				pts := []ivs.MetricPoint{p}
				if k%5 == 4 {
					pts = []ivs.MetricPoint{prev, p} // a retried flush
				}
				if err := s.AppendMetrics(ctx, id, pts, stats); err != nil {
					errs[i] = err
					return
				}
				prev = p
			}
		})
	}
	wg.Wait()
	mustDo(t, errors.Join(errs...))
	for i := range streams {
		id := fmt.Sprintf("st-%d", i)
		pts, err := s.SessionMetrics(ctx, id, time.Time{}, time.Time{})
		mustDo(t, err)
		if len(pts) != seconds || pts[seconds-1].VideoBitrate != int64(i*1000+seconds-1) || pts[7].Viewers != 7 {
			t.Fatalf("%s: %d points, last %+v", id, len(pts), pts[len(pts)-1])
		}
		ss, err := s.GetStreamSession(ctx, fmt.Sprintf("ch%d", i), id)
		mustDo(t, err)
		if ss.Stats.Points != seconds || ss.Stats.VideoBitrate.Max != float64(i*1000+seconds-1) {
			t.Fatalf("%s: stats %+v", id, ss.Stats)
		}
	}
}

// Of two points of one second in one write, the later is kept (as INSERT
// OR REPLACE does one after the other); a write to an unknown session
// writes nothing.
func testAppendSameSecond(t *testing.T, pg *harness.Postgres) {
	ctx := context.Background()
	s := newStore(t, pg)
	mustDo(t, s.CreateStreamSession(ctx, ivs.StreamSession{StreamID: "st-d", ChannelID: "c", StartTime: sessionsStart}))
	mustDo(t, s.AppendMetrics(ctx, "st-d", []ivs.MetricPoint{
		{Time: sessionsStart, Span: 1, VideoBitrate: 1},
		{Time: sessionsStart.Add(time.Second), Span: 0, VideoBitrate: 2}, // span 0 is stored as 1
		{Time: sessionsStart.Add(1500 * time.Millisecond), Span: 2, VideoBitrate: 3},
	}, ivs.SessionStats{Points: 3}))
	got := allSessionMetrics(t, s, []string{"st-d"})["st-d"]
	if len(got) != 2 || got[1].VideoBitrate != 3 || got[1].Span != 2 || !got[1].Time.Equal(sessionsStart.Add(time.Second)) {
		t.Fatalf("points %+v, want the later of the second's two", got)
	}
	mustDo(t, s.AppendMetrics(ctx, "st-d", []ivs.MetricPoint{{Time: sessionsStart, Span: 0, VideoBitrate: 9}}, ivs.SessionStats{Points: 4}))
	got = allSessionMetrics(t, s, []string{"st-d"})["st-d"]
	if len(got) != 2 || got[0].VideoBitrate != 9 || got[0].Span != 1 {
		t.Fatalf("points %+v after replacing the first", got)
	}
	err := s.AppendMetrics(ctx, "st-x", []ivs.MetricPoint{{Time: sessionsStart, Span: 1}}, ivs.SessionStats{})
	if !errors.Is(err, ivs.ErrNotFound) {
		t.Fatalf("append to an unknown session: %v", err)
	}
	if n, err := pg.Query(sessionsDB(t, s), "SELECT count(*) FROM session_metrics WHERE stream_id = 'st-x'"); err != nil || n != "0" {
		t.Fatalf("points of an unknown session: %q %v", n, err)
	}
}

// has_error, which the event log sets (a BOOLEAN here, an INTEGER on
// SQLite), reads back as HasErrorEvent.
func testHasError(t *testing.T, pg *harness.Postgres) {
	ctx := context.Background()
	s := newStore(t, pg)
	for _, id := range []string{"st-e", "st-ok"} {
		mustDo(t, s.CreateStreamSession(ctx, ivs.StreamSession{StreamID: id, ChannelID: "c", StartTime: sessionsStart}))
		mustDo(t, s.EndStreamSession(ctx, id, sessionsStart.Add(time.Second))) // one open session per channel
	}
	if _, err := pg.Query(sessionsDB(t, s), "UPDATE stream_sessions SET has_error = true WHERE stream_id = 'st-e'"); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListStreamSessions(ctx, "c", "", 10)
	mustDo(t, err)
	got := map[string]bool{}
	for _, ss := range list {
		got[ss.StreamID] = ss.HasErrorEvent
	}
	if len(got) != 2 || !got["st-e"] || got["st-ok"] {
		t.Fatalf("has error: %v", got)
	}
}

// sessionsDB is the name of s's database.
func sessionsDB(t *testing.T, s *Store) string {
	t.Helper()
	return s.pool.Config().ConnConfig.Database
}

// Processes that start at once on one database end each crashed session
// once between them.
func testEndOpenConcurrent(t *testing.T, pg *harness.Postgres) {
	ctx := context.Background()
	url := newDatabase(t, pg)
	a, b := openStore(t, url), openStore(t, url)
	const sessions = 30
	for i := range sessions {
		id := fmt.Sprintf("st-%d", i)
		mustDo(t, a.CreateStreamSession(ctx, ivs.StreamSession{StreamID: id, ChannelID: fmt.Sprintf("ch%d", i), StartTime: sessionsStart}))
		mustDo(t, a.AppendMetrics(ctx, id, []ivs.MetricPoint{{Time: sessionsStart.Add(time.Duration(i) * time.Second), Span: 2}}, ivs.SessionStats{}))
	}
	ended := make([][]ivs.StreamSession, 4)
	errs := together(len(ended), func(i int) (err error) {
		ended[i], err = []*Store{a, b}[i%2].EndOpenStreamSessions(ctx, sessionsStart.Add(time.Hour))
		return err
	})
	mustDo(t, errors.Join(errs...))
	var ids []string
	for _, e := range ended {
		for _, ss := range e {
			ids = append(ids, ss.StreamID)
		}
	}
	slices.Sort(ids)
	if len(ids) != sessions || len(slices.Compact(ids)) != sessions {
		t.Fatalf("ended %d sessions between them (%v), want each of %d once", len(ids), ids, sessions)
	}
	for i := range sessions {
		ss, err := b.GetStreamSession(ctx, fmt.Sprintf("ch%d", i), fmt.Sprintf("st-%d", i))
		mustDo(t, err)
		if want := sessionsStart.Add(time.Duration(i+2) * time.Second); !ss.EndTime.Equal(want) {
			t.Fatalf("st-%d ended at %s, want %s (its last point's end)", i, ss.EndTime, want)
		}
	}
}

func mustDo(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// benchStore opens a store on a private PostgreSQL server of its own,
// closed when b ends.
func benchStore(b *testing.B) *Store {
	b.Helper()
	pg := harness.StartPostgres(b)
	s, err := Open(context.Background(), pg.CreateDatabase("bench"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// BenchmarkAppendMetrics is the per-second write of one live stream: one
// point and the session summary in one statement (the SQLite store's
// benchmark of the same name does it in one transaction).
func BenchmarkAppendMetrics(b *testing.B) {
	ctx := context.Background()
	s := benchStore(b)
	start := time.Now().Truncate(time.Second)
	if err := s.CreateStreamSession(ctx, ivs.StreamSession{StreamID: "st-b", ChannelID: "c", StartTime: start}); err != nil {
		b.Fatal(err)
	}
	var stats ivs.SessionStats
	i := 0
	for b.Loop() {
		p := ivs.MetricPoint{Time: start.Add(time.Duration(i) * time.Second), Span: 1, VideoBitrate: 2e6, Framerate: 30}
		stats.Add(p)
		if err := s.AppendMetrics(ctx, "st-b", []ivs.MetricPoint{p}, stats); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkAppendMetricsParallel is many live streams writing at once,
// each to its own session, through the pool: ns/op is the time per write
// of all of them together (1e9 / ns/op writes a second). The sessions and
// the pool's connections are made before the clock starts.
func BenchmarkAppendMetricsParallel(b *testing.B) {
	ctx := context.Background()
	s := benchStore(b)
	const parallelism = 4 // × GOMAXPROCS writers, within the pool's 10 connections on 2 cores
	writers := parallelism * runtime.GOMAXPROCS(0)
	start := time.Now().Truncate(time.Second)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() { // each on its own connection: the pool opens them all
			id := fmt.Sprintf("st-%d", i)
			if err := s.CreateStreamSession(ctx, ivs.StreamSession{StreamID: id, ChannelID: "c", StartTime: start}); err != nil {
				b.Error(err)
			}
			if err := s.AppendMetrics(ctx, id, nil, ivs.SessionStats{}); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	var next atomic.Int64
	b.SetParallelism(parallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := fmt.Sprintf("st-%d", next.Add(1)-1)
		var stats ivs.SessionStats
		for i := 0; pb.Next(); i++ {
			p := ivs.MetricPoint{Time: start.Add(time.Duration(i) * time.Second), Span: 1, VideoBitrate: 2e6, Framerate: 30}
			stats.Add(p)
			if err := s.AppendMetrics(ctx, id, []ivs.MetricPoint{p}, stats); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
