package hls

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/stream"
	"github.com/onair-video/onair/internal/stream/streamtest"
)

// BenchmarkLowLatencyPart measures, for a 30 fps stream fed in real time,
// the time from a frame entering the hub to the end of the download of the
// LL-HLS part that holds it, by a client that always has a request out for
// the preload-hinted part (as hls.js and AVPlayer do). It reports the p50
// and p95 over every frame of 8 s of stream, after 2 s of warm-up. Run it
// with -benchtime=1x: each run is real time, whatever b.N is.
func BenchmarkLowLatencyPart(b *testing.B) {
	for _, part := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond} {
		b.Run("part="+part.String(), func(b *testing.B) {
			var all []time.Duration
			for range b.N {
				all = append(all, measurePartLatency(b, part, 2*time.Second, 8*time.Second)...)
			}
			slices.Sort(all)
			if len(all) == 0 {
				b.Fatal("no frame measured")
			}
			b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(all[len(all)*95/100].Microseconds())/1000, "p95-ms")
			b.ReportMetric(float64(len(all)), "frames")
		})
	}
}

func measurePartLatency(b *testing.B, part, warmup, span time.Duration) []time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), warmup+span+5*time.Second)
	defer cancel()
	srv := liveBench(b, ctx, part)
	mux := http.NewServeMux()
	mux.Handle(pathPrefix, srv)
	hs := httptest.NewServer(mux)
	defer hs.Close()

	get := func(url string) ([]byte, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %d", url, res.StatusCode)
		}
		return body, err
	}
	media := hs.URL + pathPrefix + testChannelID + "/video1_stream.m3u8"
	start := time.Now()
	var out []time.Duration
	for time.Since(start) < warmup+span {
		body, err := get(media)
		if err != nil {
			time.Sleep(50 * time.Millisecond) // the stream is starting
			continue
		}
		var pl playlist.Media
		if err := pl.Unmarshal(body); err != nil || pl.PreloadHint == nil {
			b.Fatalf("playlist: %v\n%s", err, body)
		}
		data, err := get(hs.URL + pathPrefix + testChannelID + "/" + path.Base(pl.PreloadHint.URI))
		if err != nil {
			b.Fatal(err)
		}
		got := time.Now()
		var parts fmp4.Parts
		if err := parts.Unmarshal(data); err != nil {
			b.Fatal(err)
		}
		if time.Since(start) < warmup {
			continue
		}
		for _, p := range parts {
			for _, tr := range p.Tracks {
				for _, s := range tr.Samples {
					var au h264.AVCC
					if au.Unmarshal(s.Payload) != nil {
						continue
					}
					for _, n := range au {
						if t, ok := streamtest.ReadStamp(n); ok {
							out = append(out, got.Sub(t))
						}
					}
				}
			}
		}
	}
	return out
}

// liveBench starts a server with a LOW channel's stream of the test clip
// (H.264, 30 fps) and feeds it in real time until ctx ends, each frame
// stamped (streamtest.StampSEI) with the time it entered the hub. Cleanup
// stops it all.
func liveBench(b *testing.B, ctx context.Context, part time.Duration) *Server {
	v := streamtest.H264(b)
	srv := New(Config{Log: streamtest.Log(), PartDuration: part})
	hub := stream.NewHub([]*stream.Track{{Codec: &stream.H264{SPS: v.SPS, PPS: v.PPS}, ClockRate: 90000}})
	detach, err := srv.Attach(&live.Stream{
		Channel:  ivs.Channel{ID: testChannelID, ARN: "arn:aws:ivs:us-east-1:123456789012:channel/" + testChannelID, LatencyMode: ivs.LatencyLow},
		StreamID: "st-bench", StartTime: time.Now(), Hub: hub,
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	var feed sync.WaitGroup
	feed.Go(func() {
		tick := time.NewTicker(time.Second / streamtest.FPS)
		defer tick.Stop()
		for i := 0; ; i++ {
			now := time.Now()
			au := v.AUs[i%len(v.AUs)]
			pts := time.Duration(i) * time.Second / streamtest.FPS
			hub.Write(&stream.Unit{Track: hub.Tracks()[0], PTS: pts, DTS: pts, NTP: now,
				Payload: append([][]byte{streamtest.StampSEI(now)}, au...), RandomAccess: h264.IsRandomAccess(au)})
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	b.Cleanup(func() {
		cancel()
		feed.Wait()
		hub.Close()
		detach()
		srv.Close()
	})
	return srv
}
