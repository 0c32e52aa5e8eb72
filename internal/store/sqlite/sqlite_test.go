package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/store/storetest"
)

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) *Store {
		s, err := Open(context.Background(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestReopenKeepsData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutAccount(ctx, ivs.Account{ID: "1", AccessKeyID: "A", SecretAccessKey: "S"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(filepath.Join(dir, "onair.db")); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, dir) // migrations must not run twice
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if a, err := s.Account(ctx); err != nil || a.ID != "1" {
		t.Fatalf("account after reopen = %+v, %v", a, err)
	}
}

// BenchmarkAppendMetrics is the per-second write of one live stream: one
// point and the session summary in one transaction.
func BenchmarkAppendMetrics(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
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
