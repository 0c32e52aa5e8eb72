package hls

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

// BenchmarkEdgePreloadHintPart measures the latency an edge adds to
// LL-HLS: two players follow the same live stream (30 fps, fed in real
// time, 100 ms parts) as hls.js does, one blocking reload and one request
// for the preload-hinted part always out, one at the origin's own server
// and one through an edge (over h2c to the origin's internal route). For
// every part both got, it takes the time the edge's player had its last
// byte minus the time the origin's player had it: what the edge added to
// the moment the origin completed the part. It reports the p50 and p95
// over the parts of 14 s of stream (≥ 100), after 2 s of warm-up. Run it
// with -benchtime=1x: each run is real time, whatever b.N is.
func BenchmarkEdgePreloadHintPart(b *testing.B) {
	var all []time.Duration
	for range b.N {
		all = append(all, measureEdgeLatency(b, 100*time.Millisecond, 2*time.Second, 14*time.Second)...)
	}
	if len(all) == 0 {
		b.Fatal("no part measured")
	}
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*95/100].Microseconds())/1000, "p95-ms")
	b.ReportMetric(float64(len(all)), "parts")
}

func measureEdgeLatency(b *testing.B, part, warmup, span time.Duration) []time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), warmup+span+10*time.Second)
	defer cancel()
	origin := liveBench(b, ctx, part)
	origin.cfg.ClusterSecret = testSecret
	pub := http.NewServeMux()
	pub.Handle(pathPrefix, origin)
	originPub := httptest.NewServer(pub)
	defer originPub.Close()
	internal := http.NewServeMux()
	internal.Handle(InternalPathPrefix, origin.InternalHandler())
	originInt := httptest.NewUnstartedServer(internal)
	ConfigureOriginServer(originInt.Config)
	originInt.Start()
	defer originInt.Close()

	edge := New(Config{ClusterSecret: testSecret, Origins: &testOrigins{m: map[string]Origin{
		testChannelID: {NodeID: "origin", BaseURL: originInt.URL, StreamID: "st-bench"},
	}}})
	defer edge.Close()
	emux := http.NewServeMux()
	emux.Handle(pathPrefix, edge)
	edgePub := httptest.NewServer(emux)
	defer edgePub.Close()

	start := time.Now()
	var wg sync.WaitGroup
	got := make([]map[string]time.Time, 2)
	for i, base := range []string{originPub.URL, edgePub.URL} {
		got[i] = make(map[string]time.Time)
		wg.Go(func() {
			if err := followHints(ctx, base, start.Add(warmup), start.Add(warmup+span), got[i]); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	var out []time.Duration
	for uri, te := range got[1] {
		if to, ok := got[0][uri]; ok {
			out = append(out, te.Sub(to))
		}
	}
	return out
}

// followHints plays the channel's LL-HLS from base as hls.js does, and
// notes when it had the last byte of each hinted part, from from until
// until.
func followHints(ctx context.Context, base string, from, until time.Time, got map[string]time.Time) error {
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	get := func(p string) ([]byte, int, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+channelDir+p, nil)
		res, err := client.Do(req)
		if err != nil {
			return nil, 0, err
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		return body, res.StatusCode, err
	}
	reload := "video1_stream.m3u8"
	for time.Now().Before(until) {
		body, status, err := get(reload)
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			reload = "video1_stream.m3u8"
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond): // the stream is starting
			}
			continue
		}
		var pl playlist.Media
		if err := pl.Unmarshal(body); err != nil || pl.PreloadHint == nil {
			return fmt.Errorf("playlist from %s: %w\n%s", base, err, body)
		}
		// The blocking reload for the hinted part, as soon as it is out.
		reload = fmt.Sprintf("video1_stream.m3u8?_HLS_msn=%d&_HLS_part=%d", pl.MediaSequence+len(pl.Segments), len(pl.Parts))
		_, status, err = get(pl.PreloadHint.URI)
		if err != nil {
			return err
		}
		if now := time.Now(); status == http.StatusOK && now.After(from) {
			got[pl.PreloadHint.URI] = now
		}
	}
	return nil
}

// BenchmarkEdgeViewers is BenchmarkViewers through an edge: N LL-HLS
// viewers of an edge (requests straight to its ServeHTTP), whose origin
// (fed in real time, 30 fps) it reaches over h2c on loopback. It reports
// the CPU time of the whole process (edge, origin and viewers) per second
// of stream, the viewers' requests per second, and the requests the
// origin got per second, which coalescing keeps at about two per part
// whatever N is. Run it with -benchtime=1x.
func BenchmarkEdgeViewers(b *testing.B) {
	for _, viewers := range []int{10, 200} {
		b.Run("viewers="+strconv.Itoa(viewers), func(b *testing.B) {
			var cpu, reqs, up float64
			for range b.N {
				c, r, u := measureEdgeViewers(b, viewers, time.Second, 5*time.Second)
				cpu += c
				reqs += r
				up += u
			}
			b.ReportMetric(cpu/float64(b.N), "cpu-ms/s")
			b.ReportMetric(reqs/float64(b.N), "req/s")
			b.ReportMetric(up/float64(b.N), "origin-req/s")
		})
	}
}

func measureEdgeViewers(b *testing.B, viewers int, warmup, span time.Duration) (cpuMSPerSec, reqPerSec, originPerSec float64) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	origin := liveBench(b, ctx, 0)
	origin.cfg.ClusterSecret = testSecret
	var upstream atomic.Int64
	internal := http.NewServeMux()
	internal.Handle(InternalPathPrefix, origin.InternalHandler())
	originInt := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstream.Add(1)
		internal.ServeHTTP(w, r)
	}))
	ConfigureOriginServer(originInt.Config)
	originInt.Start()
	defer originInt.Close()
	edge := New(Config{ClusterSecret: testSecret, Origins: &testOrigins{m: map[string]Origin{
		testChannelID: {NodeID: "origin", BaseURL: originInt.URL, StreamID: "st-bench"},
	}}})
	defer edge.Close()
	start := time.Now()
	u0 := upstream.Load()
	cpu, reqs := measureViewersOf(ctx, edge, viewers, warmup, span)
	// The origin's requests over the same span, roughly: warm-up excluded.
	ups := float64(upstream.Load()-u0) / time.Since(start).Seconds()
	return cpu, reqs, ups
}
