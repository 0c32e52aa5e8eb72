package session

import (
	"context"
	"log/slog"
	"time"
)

// Downsampling keeps the store bounded without dropping old sessions: once
// a session has been over for the retention age, its one-second points are
// merged into one-minute points (averages; viewer-seconds are kept exact).
const (
	downsampleSpan  = 60
	downsampleEvery = time.Hour
)

// Downsampler is what downsampling needs of the store.
type Downsampler interface {
	// DownsampleMetrics merges the points of sessions that ended before
	// endedBefore into points of span seconds (averages), and returns how
	// many points it removed.
	DownsampleMetrics(ctx context.Context, endedBefore time.Time, span int) (int, error)
}

// RunDownsampler merges the points of sessions that ended more than after
// ago, at once and then hourly, until ctx ends.
func RunDownsampler(ctx context.Context, store Downsampler, after time.Duration, log *slog.Logger) {
	log = log.With("component", "session")
	t := time.NewTicker(downsampleEvery)
	defer t.Stop()
	for {
		n, err := store.DownsampleMetrics(ctx, time.Now().Add(-after), downsampleSpan)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("downsample session metrics", "err", err)
		case n > 0:
			log.Info("downsampled session metrics", "points_removed", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
