package session

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/stream"
)

type fakeStore struct {
	mu     sync.Mutex
	points []ivs.MetricPoint
	stats  ivs.SessionStats
}

func (f *fakeStore) AppendMetrics(_ context.Context, _ string, pts []ivs.MetricPoint, st ivs.SessionStats) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.points = append(f.points, pts...)
	f.stats = st
	return nil
}

type fakeEvents struct {
	mu  sync.Mutex
	evs []ivs.Event
}

func (f *fakeEvents) Emit(_ context.Context, e ivs.Event) (ivs.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.evs = append(f.evs, e)
	return e, nil
}

// TestTrackerEndToEnd runs a tracker on a real hub fed at 30 fps for about
// three seconds of wall clock: every whole second becomes a point in the
// store and on a subscription, and an over-size input is a limit breach.
func TestTrackerEndToEnd(t *testing.T) {
	t.Parallel()
	store, evs := &fakeStore{}, &fakeEvents{}
	tr := New(Config{Store: store, Events: evs, Log: slog.New(slog.DiscardHandler),
		Viewers: func(string) int { return 4 }, FlushInterval: time.Second})
	track := &stream.Track{Codec: &stream.H264{}, ClockRate: 90000}
	hub := stream.NewHub([]*stream.Track{track})
	st := &live.Stream{Channel: ivs.Channel{ID: "ch", ARN: "arn:aws:ivs:us-east-1:123456789012:channel/ch", Type: ivs.TypeBasic},
		StreamID: "st-x", StartTime: time.Now(), Hub: hub,
		Ingest: ivs.IngestConfigurations{Video: []ivs.VideoConfiguration{{VideoWidth: 2560, VideoHeight: 1440}}}}
	detach, err := tr.Attach(st)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	recent, sub, ok := tr.Subscribe(ctx, "st-x")
	if !ok || len(recent) != 0 {
		t.Fatalf("subscribe: ok %v, recent %v", ok, recent)
	}
	var got []ivs.MetricPoint
	done := make(chan struct{})
	go func() {
		defer close(done)
		for p := range sub {
			got = append(got, p)
		}
	}()
	start := time.Now()
	for i := 0; time.Since(start) < 3200*time.Millisecond; i++ {
		dts := time.Duration(i) * time.Second / 30
		time.Sleep(time.Until(start.Add(dts)))
		hub.Write(&stream.Unit{Track: track, DTS: dts, PTS: dts, NTP: time.Now(), Payload: [][]byte{make([]byte, 1000)},
			RandomAccess: i%60 == 0})
	}
	if !tr.Live("st-x") || len(tr.Snapshot()) != 1 {
		t.Fatal("stream not tracked while live")
	}
	// Flushed every second: a crash now would lose the newest point at
	// most (the tick that made it may not have flushed it yet).
	made := tr.Recent("st-x")
	store.mu.Lock()
	stored := len(store.points)
	store.mu.Unlock()
	if stored < len(made)-1 {
		t.Errorf("%d points stored of the %d made, want all but the newest at most", stored, len(made))
	}
	detach()
	<-done
	cancel()
	if tr.Live("st-x") {
		t.Fatal("stream still tracked after detach")
	}

	store.mu.Lock()
	defer store.mu.Unlock()
	if len(store.points) < 2 || len(store.points) > 3 {
		t.Fatalf("%d points stored, want 2 or 3 whole seconds", len(store.points))
	}
	for i, p := range store.points {
		if p.Framerate < 28 || p.Framerate > 32 || p.VideoBitrate < 220_000 || p.VideoBitrate > 260_000 || p.Viewers != 4 {
			t.Fatalf("point %d: %+v", i, p)
		}
		if i > 0 && p.Time.Sub(store.points[i-1].Time) != time.Second {
			t.Fatalf("points %d and %d not one second apart", i-1, i)
		}
	}
	if store.stats.Points != int64(len(store.points)) || store.stats.Viewers.Max != 4 {
		t.Fatalf("stats %+v", store.stats)
	}
	if len(got) != len(store.points) {
		t.Fatalf("subscriber got %d points, store %d", len(got), len(store.points))
	}
	evs.mu.Lock()
	defer evs.mu.Unlock()
	if len(evs.evs) != 1 || evs.evs[0].DetailType != ivs.EventTypeLimitBreach ||
		evs.evs[0].Detail.LimitName != ivs.LimitIngestResolution || *evs.evs[0].Detail.ExceededBy != 640 {
		t.Fatalf("events %+v", evs.evs)
	}
}
