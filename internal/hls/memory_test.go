package hls

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/onair-video/onair/internal/stream/streamtest"
)

// BenchmarkMuxerHeap measures what one LL-HLS muxer (and one MPEG-TS
// edition of it) keeps in memory for a
// 720p30 2.5 Mbps stream (7 segments of 1 s, 100 ms parts, as onair runs
// them): heap in use per muxer after GC, against the bytes of media its
// playlist offers. third_party/gohlslib/ONAIR.md says what brought it from
// 7.2 MB to 3.2 MB. Run with -benchtime=1x.
func BenchmarkMuxerHeap(b *testing.B) {
	aus, sps, pps := clip720p(b)
	const muxers = 10
	for _, tc := range []struct {
		name     string
		variant  gohlslib.MuxerVariant
		playlist string
	}{
		{"LL-HLS", gohlslib.MuxerVariantLowLatency, "video1_stream.m3u8"},
		// What IVS's player adds to a LOW channel while it plays it
		// (edition.go).
		{"MPEG-TS-edition", gohlslib.MuxerVariantMPEGTS, editionPlaylist},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				runtime.GC()
				var m0, m1 runtime.MemStats
				runtime.ReadMemStats(&m0)
				ms := make([]*gohlslib.Muxer, muxers)
				for i := range ms {
					var tr *gohlslib.Track
					ms[i], tr = benchMuxer(b, sps, pps, tc.variant, false)
					for f := range 30 * 20 { // 20 s of media
						if err := ms[i].WriteH264(tr, time.Now(), int64(f)*3000, aus[f%len(aus)]); err != nil {
							b.Fatal(err)
						}
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&m1)
				b.ReportMetric(float64(m1.HeapInuse-m0.HeapInuse)/muxers/1e6, "heap-MB/muxer")
				b.ReportMetric(float64(windowBytes(b, ms[0], tc.playlist))/1e6, "media-MB")
				for _, m := range ms {
					m.Close()
				}
			}
		})
	}
}

// windowBytes sums the segments and parts a muxer's playlist offers.
func windowBytes(b *testing.B, m *gohlslib.Muxer, playlistName string) int {
	get := func(p string) []byte {
		w := httptest.NewRecorder()
		m.Handle(w, httptest.NewRequest("GET", "/"+p, nil))
		return w.Body.Bytes()
	}
	var pl playlist.Media
	if err := pl.Unmarshal(get(playlistName)); err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, s := range pl.Segments {
		if !s.Gap {
			n += len(get(s.URI))
		}
	}
	for _, p := range pl.Parts {
		n += len(get(p.URI))
	}
	return n
}

// clip720p is 4 s of 720p30 H.264 at 2.5 Mbps, a keyframe a second, as
// access units.
func clip720p(b *testing.B) (aus [][][]byte, sps, pps []byte) {
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
		"-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30", "-bf", "0", "-pix_fmt", "yuv420p",
		"-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "2500k", "-bsf:v", "h264_metadata=aud=insert", "-f", "h264", "pipe:1").Output()
	if err != nil {
		b.Skip("ffmpeg:", err)
	}
	var cur [][]byte
	for _, n := range streamtest.SplitAnnexB(out) {
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeAccessUnitDelimiter:
			if len(cur) > 0 {
				aus = append(aus, cur)
			}
			cur = nil
			continue
		case h264.NALUTypeSPS:
			sps = n
		case h264.NALUTypePPS:
			pps = n
		}
		cur = append(cur, n)
	}
	return append(aus, cur), sps, pps
}

// BenchmarkEditionWrite is what a frame costs the feed goroutine: written
// to the LL-HLS muxer alone, and with an MPEG-TS edition that serves its
// segment in progress to 0 or 100 waiting prefetch viewers (each one woken
// by every frame; they read from a recorder, so only the muxer's side is
// measured, not the network's).
func BenchmarkEditionWrite(b *testing.B) {
	aus, sps, pps := clip720p(b)
	start := func(v gohlslib.MuxerVariant) (*gohlslib.Muxer, *gohlslib.Track) {
		return benchMuxer(b, sps, pps, v, v == gohlslib.MuxerVariantMPEGTS)
	}
	for _, tc := range []struct {
		name    string
		edition bool
		viewers int
	}{{"LL-HLS", false, 0}, {"LL-HLS+edition", true, 0}, {"LL-HLS+edition+100-prefetch-viewers", true, 100}} {
		b.Run(tc.name, func(b *testing.B) {
			ll, llt := start(gohlslib.MuxerVariantLowLatency)
			defer ll.Close()
			var ts *gohlslib.Muxer
			var tst *gohlslib.Track
			if tc.edition {
				ts, tst = start(gohlslib.MuxerVariantMPEGTS)
				defer ts.Close()
			}
			f := 0
			write := func() {
				pts := int64(f) * 3000
				au := aus[f%len(aus)]
				if err := ll.WriteH264(llt, time.Now(), pts, au); err != nil {
					b.Fatal(err)
				}
				if ts != nil {
					if err := ts.WriteH264(tst, time.Now(), pts, au); err != nil {
						b.Fatal(err)
					}
				}
				f++
			}
			for range 60 { // two segments: one finished, one in progress
				write()
			}
			if tc.viewers > 0 {
				// Each viewer fetches the segment in progress, then the
				// next one, as IVS's player does, the way the server
				// serves them (ServeFile), into a writer that discards it.
				ctx, cancel := context.WithCancel(context.Background())
				var wg sync.WaitGroup
				for range tc.viewers {
					wg.Go(func() {
						for ctx.Err() == nil {
							snap, err := ts.MediaPlaylist("main")
							if err != nil {
								return
							}
							lines := strings.Split(strings.TrimSpace(string(snap.Playlist)), "\n")
							if uri, ok := strings.CutPrefix(lines[len(lines)-1], "#EXT-X-PREFETCH:"); ok {
								req := httptest.NewRequest(http.MethodGet, "/"+uri, nil).WithContext(ctx)
								ts.ServeFile(discardResponse{}, req, uri, 0)
							}
						}
					})
				}
				defer wg.Wait()
				defer cancel()
			}
			b.ResetTimer()
			for range b.N {
				write()
			}
		})
	}
}

// benchMuxer starts a muxer of one H.264 track as onair runs them
// (7 segments of 1 s, 100 ms parts, an ID3 track in MPEG-TS).
func benchMuxer(b *testing.B, sps, pps []byte, v gohlslib.MuxerVariant, prefetch bool) (*gohlslib.Muxer, *gohlslib.Track) {
	tr := &gohlslib.Track{Codec: &codecs.H264{SPS: sps, PPS: pps}, ClockRate: 90000}
	m := &gohlslib.Muxer{Tracks: []*gohlslib.Track{tr}, Variant: v, MPEGTSID3: true, MPEGTSPrefetch: prefetch,
		SegmentCount: minLowLatencySegments, SegmentMinDuration: time.Second, PartMinDuration: 100 * time.Millisecond}
	if err := m.Start(); err != nil {
		b.Fatal(err)
	}
	return m, tr
}

// discardResponse is a ResponseWriter that keeps nothing of what it is
// sent, as a viewer over the network costs the server nothing but writes.
type discardResponse struct{}

func (discardResponse) Header() http.Header         { return http.Header{} }
func (discardResponse) Write(b []byte) (int, error) { return len(b), nil }
func (discardResponse) WriteHeader(int)             {}
