package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/store/postgres"
	"github.com/onair-video/onair/internal/store/sqlite"
)

// metricsStore is what the metrics phase needs of a store: sessions to
// write to, and the session tracker's write (session.Store).
type metricsStore interface {
	CreateChannel(ctx context.Context, c ivs.Channel, key *ivs.StreamKey) error
	CreateStreamSession(ctx context.Context, ss ivs.StreamSession) error
	AppendMetrics(ctx context.Context, streamID string, points []ivs.MetricPoint, stats ivs.SessionStats) error
	Close() error
}

// openStore opens a new, empty store of kind k the way onair opens it:
// SQLite in a temp data dir, PostgreSQL as a new database on the bench's
// server (whose PID it returns, 0 for SQLite). done closes and removes it.
func openStore(ctx context.Context, k kind) (st metricsStore, pid int, done func(), err error) {
	switch k.store {
	case "sqlite":
		dir, err := os.MkdirTemp("", "onair-bench-store-")
		if err != nil {
			return nil, 0, nil, err
		}
		s, err := sqlite.Open(ctx, dir)
		if err != nil {
			os.RemoveAll(dir)
			return nil, 0, nil, err
		}
		return s, 0, func() { s.Close(); os.RemoveAll(dir) }, nil
	case "postgres":
		u, pid, err := postgresDB()
		if err != nil {
			return nil, 0, nil, err
		}
		s, err := postgres.Open(ctx, u)
		if err != nil {
			return nil, 0, nil, err
		}
		return s, pid, func() { s.Close() }, nil
	}
	return nil, 0, nil, errUnsupported
}

// metricsWrites measures the session tracker's writes: each live stream
// writes its second's point and its session's summary once a second, on
// the wall clock's whole second, all streams at once, each from its own
// goroutine (internal/session's tracked.run and flush). It runs once per
// count of -metrics-streams. A round is one second's writes of every
// stream; the store keeps up when every round ends within its second.
func metricsWrites(k kind, o options) ([]result, error) {
	if k.store == "" {
		return nil, errUnsupported
	}
	var rs []result
	for _, n := range o.metricsCounts {
		r, err := metricsRun(k, n, o.metricsSpan)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r...)
	}
	return rs, nil
}

// metricsWarmup is how many seconds of writes are not measured: the
// store's first connections, the sessions' first rows.
const metricsWarmup = 2

func metricsRun(k kind, n int, span time.Duration) ([]result, error) {
	ctx := context.Background()
	st, pgPID, done, err := openStore(ctx, k)
	if err != nil {
		return nil, err
	}
	defer done()
	start := time.Now().UTC()
	ids := make([]string, n)
	for i := range n {
		id := fmt.Sprintf("bench%06d", i)
		c := ivs.Channel{ID: id, ARN: "arn:aws:ivs:us-east-1:000000000000:channel/" + id, Name: id,
			LatencyMode: "LOW", Type: "STANDARD", CreatedAt: start}
		if err := st.CreateChannel(ctx, c, nil); err != nil {
			return nil, err
		}
		ids[i] = "st-" + id
		if err := st.CreateStreamSession(ctx, ivs.StreamSession{StreamID: ids[i], ChannelID: id, Channel: c, StartTime: start}); err != nil {
			return nil, err
		}
	}

	seconds := int(span / time.Second)
	first := time.Now().Truncate(time.Second).Add(time.Second)
	type write struct {
		sec int           // round, from 0
		end time.Duration // since the round's second
		lat time.Duration // the call's own
		err error
	}
	writes := make(chan write, n*4)
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			var stats ivs.SessionStats
			var pending []ivs.MetricPoint
			for sec := range metricsWarmup + seconds {
				at := first.Add(time.Duration(sec) * time.Second)
				// A write that ran past the next second delays that
				// second's, as the tracker's timer would fire late.
				time.Sleep(time.Until(at))
				// A 720p30 stream's second, as tracked.tick makes it.
				p := ivs.MetricPoint{Time: at.UTC(), Span: 1, VideoBitrate: 2_500_000 + int64(sec%7)*10_000, Framerate: 30,
					AudioBitrate: 128_000, KeyframeInterval: 2, Viewers: int64(sec % 11)}
				pending = append(pending, p)
				stats.Add(p)
				t0 := time.Now()
				err := st.AppendMetrics(ctx, id, pending, stats)
				t1 := time.Now()
				if err == nil {
					pending = pending[:0]
				}
				if sec >= metricsWarmup {
					writes <- write{sec: sec - metricsWarmup, end: t1.Sub(at), lat: t1.Sub(t0), err: err}
				}
			}
		})
	}
	var sm meter
	var g0 time.Duration
	metered := make(chan struct{})
	go func() {
		// CPU is measured over the measured rounds only.
		time.Sleep(time.Until(first.Add(metricsWarmup * time.Second)))
		g0 = self()
		if pgPID != 0 {
			sm = startMeter(pgPID)
		}
		close(metered)
	}()
	go func() { wg.Wait(); close(writes) }()

	rounds := make([]time.Duration, seconds)
	var lats []time.Duration
	var failed int
	var firstErr error
	label := fmt.Sprintf("%s metrics %d", k.store, n)
	for w := range writes {
		rounds[w.sec] = max(rounds[w.sec], w.end)
		lats = append(lats, w.lat)
		if w.err != nil {
			failed++
			if firstErr == nil {
				firstErr = w.err
			}
		}
		progress(label, len(lats), n*seconds)
	}
	<-metered
	wall := time.Since(first.Add(metricsWarmup * time.Second))
	proc := 100 * (self() - g0).Seconds() / wall.Seconds()
	var pgCPU float64
	if pgPID != 0 {
		pgCPU, _ = sm.read()
	}
	if firstErr != nil {
		fmt.Fprintf(os.Stderr, "bench: %s: %d of %d writes failed, the first: %v\n", label, failed, len(lats), firstErr)
	}
	late := 0
	for _, r := range rounds {
		if r > time.Second {
			late++
		}
	}
	name := func(s string) string { return fmt.Sprintf("%d streams: %s", n, s) }
	target := func(s string) string {
		if n == 300 {
			return s
		}
		return ""
	}
	roundsCopy := append([]time.Duration(nil), rounds...)
	res := []result{
		{Phase: "metrics", Name: name("round (all streams' writes of one second) p50"), Value: ms(percentile(roundsCopy, 0.5)), Unit: "ms"},
		{Phase: "metrics", Name: name("round p99"), Value: ms(percentile(roundsCopy, 0.99)), Unit: "ms"},
		{Phase: "metrics", Name: name("round max"), Value: ms(percentile(roundsCopy, 1)), Unit: "ms", Target: target("≤ 1000 ms (every round within its second)")},
		{Phase: "metrics", Name: name(fmt.Sprintf("rounds over 1 s, of %d", seconds)), Value: float64(late), Unit: "", Target: target("0")},
		{Phase: "metrics", Name: name("write (AppendMetrics) p50"), Value: ms(percentile(lats, 0.5)), Unit: "ms"},
		{Phase: "metrics", Name: name("write p99"), Value: ms(percentile(lats, 0.99)), Unit: "ms"},
		{Phase: "metrics", Name: name("failed writes"), Value: float64(failed), Unit: "", Target: target("0")},
	}
	pgRow := result{Phase: "metrics", Name: name("PostgreSQL server CPU (its backends)"), Value: round(pgCPU, 1), Unit: "% of a core"}
	if pgPID == 0 {
		pgRow.Text = "— (SQLite runs in the writers' process)"
	}
	res = append(res, result{Phase: "metrics", Name: name("writers' process CPU (goroutines + driver)"), Value: round(proc, 1), Unit: "% of a core"},
		pgRow)
	return res, nil
}
