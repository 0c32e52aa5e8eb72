package app

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// GC pacing. Most of a busy server's heap is live media (LL-HLS windows,
// hub queues) that turns over every few seconds, and Go's default (GOGC
// 100) lets the heap grow to twice what is live: at 300 publishers that is
// ~1 GB of garbage. A lower GOGC saves it, but on a small heap it means a
// collection every few MB allocated, and each one scans every goroutine's
// stack: with 500 LL-HLS viewers (two connections each) that cost more CPU
// than serving them (make bench, docs/benchmarks.md). So the headroom is
// half the live heap, but never less than gcMinHeadroom.
const (
	gcMinPercent  = 50
	gcMinHeadroom = 32 << 20
	gcRetune      = 2 * time.Second
)

// gcPercentFor returns the GOGC for a live heap of live bytes.
func gcPercentFor(live uint64) int {
	if live == 0 {
		return 100
	}
	return max(gcMinPercent, int(min(uint64(gcMinHeadroom)*100/live, 1000)))
}

// tuneGC keeps GOGC at gcPercentFor(live heap) until ctx ends, unless
// GOGC is set in the environment, which then rules.
func tuneGC(ctx context.Context) {
	if os.Getenv("GOGC") != "" {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	t := time.NewTicker(gcRetune)
	defer t.Stop()
	last := -1
	for {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			if p := gcPercentFor(sample[0].Value.Uint64()); p != last {
				debug.SetGCPercent(p)
				last = p
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
