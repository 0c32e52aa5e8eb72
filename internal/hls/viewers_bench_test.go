package hls

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkViewers measures what LL-HLS viewers cost the server: a 30 fps
// stream fed in real time for 5 s (after 1 s of warm-up), and N viewers
// that each do as hls.js does, every part: a blocking reload of the media
// playlist for the next part (_HLS_msn, _HLS_part, _HLS_skip=YES, its
// session id) with a request for the preload-hinted part beside it.
// Requests go straight to ServeHTTP (no network), so the figure is the
// server's work and the viewers' small loop, not the kernel's. It reports
// the process's CPU time per second of stream (getrusage: the machine's
// other load does not count) and the requests answered per second.
// BenchmarkLowLatencyPart measures the latency. Run it with
// -benchtime=1x: each run is real time.
func BenchmarkViewers(b *testing.B) {
	for _, viewers := range []int{10, 200} {
		b.Run("viewers="+strconv.Itoa(viewers), func(b *testing.B) {
			var cpu, reqs float64
			for range b.N {
				c, r := measureViewers(b, viewers, time.Second, 5*time.Second)
				cpu += c
				reqs += r
			}
			b.ReportMetric(cpu/float64(b.N), "cpu-ms/s")
			b.ReportMetric(reqs/float64(b.N), "req/s")
		})
	}
}

func measureViewers(b *testing.B, viewers int, warmup, span time.Duration) (cpuMSPerSec, reqPerSec float64) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	return measureViewersOf(ctx, liveBench(b, ctx, 0), viewers, warmup, span)
}

// measureViewersOf is measureViewers of the viewers of srv, until ctx
// ends.
func measureViewersOf(ctx context.Context, srv http.Handler, viewers int, warmup, span time.Duration) (cpuMSPerSec, reqPerSec float64) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var served atomic.Int64
	get := func(target string) (int, []byte) {
		w := &benchWriter{h: make(http.Header)}
		srv.ServeHTTP(w, httptest.NewRequestWithContext(ctx, http.MethodGet, target, nil))
		served.Add(1)
		return w.code, w.body.Bytes()
	}
	const dir = pathPrefix + testChannelID + "/"
	var wg sync.WaitGroup
	for i := range viewers {
		wg.Go(func() {
			vsid := newSessionID()
			next := func() (msn, part int, hint string, ok bool) {
				for ctx.Err() == nil {
					code, body := get(dir + "video1_stream.m3u8?_HLS_skip=YES&vsid=" + vsid)
					if code == http.StatusOK {
						return nextPart(body)
					}
					time.Sleep(50 * time.Millisecond) // starting
				}
				return 0, 0, "", false
			}
			// Spread the viewers' first requests over a part.
			time.Sleep(time.Duration(i) * 100 * time.Millisecond / time.Duration(viewers))
			msn, part, hint, ok := next()
			for ok && ctx.Err() == nil {
				var pw sync.WaitGroup
				pw.Go(func() { get(dir + hint) })
				code, body := get(dir + "video1_stream.m3u8?_HLS_msn=" + strconv.Itoa(msn) + "&_HLS_part=" + strconv.Itoa(part) +
					"&_HLS_skip=YES&vsid=" + vsid)
				pw.Wait()
				if code == http.StatusOK {
					msn, part, hint, ok = nextPart(body)
				} else {
					msn, part, hint, ok = next()
				}
			}
		})
	}

	time.Sleep(warmup)
	u0, n0, t0 := cpuTime(), served.Load(), time.Now()
	time.Sleep(span)
	u1, n1, el := cpuTime(), served.Load(), time.Since(t0)
	cancel()
	wg.Wait()
	return float64((u1 - u0).Milliseconds()) / el.Seconds(), float64(n1-n0) / el.Seconds()
}

// nextPart reads, from an LL-HLS media playlist (a delta update or not),
// the next part's media sequence number and index and the preload hint's
// URI, as hls.js does.
func nextPart(pl []byte) (msn, part int, hint string, ok bool) {
	seq, segs := 0, 0
	for line := range bytes.Lines(pl) {
		line = bytes.TrimSpace(line)
		switch {
		case bytes.HasPrefix(line, []byte("#EXT-X-MEDIA-SEQUENCE:")):
			seq, _ = strconv.Atoi(string(line[len("#EXT-X-MEDIA-SEQUENCE:"):]))
		case bytes.HasPrefix(line, []byte("#EXT-X-SKIP:SKIPPED-SEGMENTS=")):
			n, _ := strconv.Atoi(string(line[len("#EXT-X-SKIP:SKIPPED-SEGMENTS="):]))
			segs += n
		case bytes.HasPrefix(line, []byte("#EXTINF:")):
			segs++
			part = 0
		case bytes.HasPrefix(line, []byte("#EXT-X-PART:")):
			part++
		case bytes.HasPrefix(line, []byte("#EXT-X-PRELOAD-HINT:")):
			_, uri, _ := bytes.Cut(line, []byte(`URI="`))
			uri, _, _ = bytes.Cut(uri, []byte(`"`))
			hint, ok = string(uri), true
		}
	}
	// The parts counted since the last segment are the next segment's.
	return seq + segs, part, hint, ok
}

// cpuTime is the process's user and system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchWriter is a ResponseWriter that keeps the body (as a player reads
// it) in memory.
type benchWriter struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func (w *benchWriter) Header() http.Header { return w.h }
func (w *benchWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *benchWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.body.Write(p)
}
