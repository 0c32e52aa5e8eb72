package hls

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/stream/streamtest"
)

const channelDir = "/api/video/v1/" + testChannelID + "/"

func mustMedia(t *testing.T, body []byte) *playlist.Media {
	t.Helper()
	var pl playlist.Media
	if err := pl.Unmarshal(body); err != nil {
		t.Fatalf("media playlist: %v\n%s", err, body)
	}
	return &pl
}

func mustMultivariant(t *testing.T, body []byte) *playlist.Multivariant {
	t.Helper()
	var pl playlist.Multivariant
	if err := pl.Unmarshal(body); err != nil {
		t.Fatalf("multivariant playlist: %v\n%s", err, body)
	}
	return &pl
}

func checkCORS(t *testing.T, r response) {
	t.Helper()
	if got := r.header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Fatalf("Access-Control-Allow-Origin %q", got)
	}
}

func TestLowLatency(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ivs.LatencyLow, ivs.ContainerTS, nil)
	e.writeUntil(3 * time.Second)

	// Multivariant: the rendition is described and its URIs rewritten.
	mv := e.get(t, testPlayback)
	if mv.status != http.StatusOK {
		t.Fatalf("multivariant: %d %s", mv.status, mv.body)
	}
	checkCORS(t, mv)
	if ct := mv.header.Get("Content-Type"); ct != "application/vnd.apple.mpegurl" {
		t.Fatalf("Content-Type %q", ct)
	}
	pl := mustMultivariant(t, mv.body)
	if len(pl.Variants) != 1 {
		t.Fatalf("variants:\n%s", mv.body)
	}
	v := pl.Variants[0]
	if withoutSession(t, v.URI) != testChannelID+"/video1_stream.m3u8" || v.Bandwidth <= 0 || v.Resolution != "320x240" ||
		v.FrameRate == nil || *v.FrameRate != 30 || len(v.Codecs) != 2 ||
		!strings.HasPrefix(v.Codecs[0], "avc1.") || v.Codecs[1] != "mp4a.40.2" {
		t.Fatalf("variant %+v\n%s", v, mv.body)
	}
	// The audio travels with the video, as on IVS: no audio rendition.
	if len(pl.Renditions) != 0 || v.Audio != "" {
		t.Fatalf("renditions:\n%s", mv.body)
	}

	// Media playlist: LL-HLS features.
	mp := e.get(t, channelDir+"video1_stream.m3u8")
	if mp.status != http.StatusOK {
		t.Fatalf("media playlist: %d", mp.status)
	}
	checkCORS(t, mp)
	mp.body = e.settled(t, "video1_stream.m3u8")
	for _, want := range []string{"#EXT-X-PART:", "#EXT-X-PRELOAD-HINT:TYPE=PART", "#EXT-X-PART-INF:PART-TARGET=",
		"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES", "CAN-SKIP-UNTIL=", "#EXT-X-MAP:"} {
		if !bytes.Contains(mp.body, []byte(want)) {
			t.Fatalf("media playlist lacks %s:\n%s", want, mp.body)
		}
	}
	media := mustMedia(t, mp.body)

	init := e.get(t, channelDir+media.Map.URI)
	if init.status != http.StatusOK || init.header.Get("Content-Type") != "video/mp4" ||
		!bytes.Equal(init.body[4:8], []byte("ftyp")) {
		t.Fatalf("init: %d %q", init.status, init.header.Get("Content-Type"))
	}
	last := media.Segments[len(media.Segments)-1]
	seg := e.get(t, channelDir+last.URI)
	if seg.status != http.StatusOK || len(seg.body) < 8 || !bytes.Equal(seg.body[4:8], []byte("moof")) {
		t.Fatalf("segment %s: %d", last.URI, seg.status)
	}
	if len(last.Parts) == 0 {
		t.Fatalf("no parts on the last segment:\n%s", mp.body)
	}
	part := e.get(t, channelDir+last.Parts[0].URI)
	checkCORS(t, part)
	if part.status != http.StatusOK || !bytes.Equal(part.body[4:8], []byte("moof")) {
		t.Fatalf("part: %d", part.status)
	}

	// Delta update.
	if d := e.get(t, channelDir+"video1_stream.m3u8?_HLS_skip=YES"); !bytes.Contains(d.body, []byte("#EXT-X-SKIP:")) {
		t.Fatalf("delta update lacks EXT-X-SKIP:\n%s", d.body)
	}

	// Blocking reload for the hinted part, as hls.js asks it, and the hinted
	// part itself: both wait for media, then answer.
	msn := media.MediaSequence + len(media.Segments)
	reload := e.async(t, fmt.Sprintf("%svideo1_stream.m3u8?_HLS_msn=%d&_HLS_part=%d", channelDir, msn, len(media.Parts)))
	hinted := e.async(t, channelDir+media.PreloadHint.URI)
	select {
	case r := <-reload:
		t.Fatalf("blocking reload answered before the part existed: %d\n%s", r.status, r.body)
	case r := <-hinted:
		t.Fatalf("preload hint answered before the part existed: %d", r.status)
	default:
	}
	e.writeUntil(4 * time.Second)
	if r := await(t, hinted, 5*time.Second, "preload hint"); r.status != http.StatusOK ||
		!bytes.Equal(r.body[4:8], []byte("moof")) {
		t.Fatalf("preload hint: %d %s", r.status, r.body)
	}
	r := await(t, reload, 5*time.Second, "blocking reload")
	if r.status != http.StatusOK {
		t.Fatalf("blocking reload: %d %s", r.status, r.body)
	}
	if after := mustMedia(t, r.body); after.PreloadHint.URI == media.PreloadHint.URI {
		t.Fatal("blocking reload returned the old playlist")
	}

	// A part beyond the preload hint does not exist yet.
	sid, id, _ := partName(media.PreloadHint.URI)
	far := e.get(t, fmt.Sprintf("%sx_%s_part%d.mp4", channelDir, sid, id+100))
	if far.status != http.StatusNotFound {
		t.Fatalf("part beyond the hint: %d", far.status)
	}
}

// H.265 (from Enhanced RTMP) plays as LL-HLS in fMP4, named hvc1 in CODECS.
func TestLowLatencyH265(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, streamtest.H265(t), ivs.LatencyLow, "", nil)
	e.writeUntil(3 * time.Second)
	mv := e.get(t, testPlayback)
	if mv.status != http.StatusOK {
		t.Fatalf("multivariant: %d %s", mv.status, mv.body)
	}
	v := mustMultivariant(t, mv.body).Variants[0]
	if v.Resolution != "320x240" || len(v.Codecs) != 2 || !strings.HasPrefix(v.Codecs[0], "hvc1.") {
		t.Fatalf("variant %+v\n%s", v, mv.body)
	}
	media := mustMedia(t, e.settled(t, "video1_stream.m3u8"))
	init := e.get(t, channelDir+media.Map.URI)
	if init.status != http.StatusOK || !bytes.Contains(init.body, []byte("hvcC")) {
		t.Fatalf("init: %d, hvcC box present: %v", init.status, bytes.Contains(init.body, []byte("hvcC")))
	}
	last := media.Segments[len(media.Segments)-1] // the first ones are gaps
	seg := e.get(t, channelDir+last.URI)
	if last.Gap || seg.status != http.StatusOK || !bytes.Contains(seg.body, []byte("moof")) {
		t.Fatalf("segment %s: %d", last.URI, seg.status)
	}
}

func TestQueryStringKept(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ivs.LatencyLow, "", nil)
	e.writeUntil(3 * time.Second)
	mv := e.get(t, testPlayback+"?token=abc")
	pl := mustMultivariant(t, mv.body)
	if !strings.Contains(pl.Variants[0].URI, "?token=abc&vsid=") {
		t.Fatalf("query lost:\n%s", mv.body)
	}
	mp := e.get(t, "/api/video/v1/"+pl.Variants[0].URI)
	media := mustMedia(t, mp.body)
	if !strings.Contains(media.Map.URI, "?token=abc") || !strings.Contains(media.PreloadHint.URI, "?token=abc") {
		t.Fatalf("query lost in media playlist:\n%s", mp.body)
	}
	if r := e.get(t, channelDir+media.Map.URI); r.status != http.StatusOK {
		t.Fatalf("init with query: %d", r.status)
	}
}

func TestNormalLatency(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		container string
		stream    string
		ext       string
		ctype     string
		magic     func([]byte) bool
	}{
		{"TS", ivs.ContainerTS, "main", ".ts", "video/mp2t", func(b []byte) bool { return b[0] == 0x47 }},
		{"default is TS", "", "main", ".ts", "video/mp2t", func(b []byte) bool { return b[0] == 0x47 }},
		{"fMP4", ivs.ContainerFMP4, "video1", ".mp4", "video/mp4",
			func(b []byte) bool { return bytes.Equal(b[4:8], []byte("moof")) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, ivs.LatencyNormal, tc.container, nil)
			e.writeUntil(4 * time.Second)
			mv := e.get(t, testPlayback)
			pl := mustMultivariant(t, mv.body)
			v := pl.Variants[0]
			if withoutSession(t, v.URI) != testChannelID+"/"+tc.stream+"_stream.m3u8" || v.Resolution != "320x240" || len(v.Codecs) != 2 {
				t.Fatalf("multivariant:\n%s", mv.body)
			}
			mp := e.get(t, channelDir+tc.stream+"_stream.m3u8")
			if bytes.Contains(mp.body, []byte("#EXT-X-PART")) || bytes.Contains(mp.body, []byte("PRELOAD-HINT")) {
				t.Fatalf("classic HLS with LL-HLS tags:\n%s", mp.body)
			}
			media := mustMedia(t, mp.body)
			if len(media.Segments) == 0 {
				t.Fatalf("no segments:\n%s", mp.body)
			}
			for _, s := range media.Segments {
				if !strings.HasSuffix(s.URI, tc.ext) {
					t.Fatalf("segment %s is not %s", s.URI, tc.ext)
				}
			}
			seg := e.get(t, channelDir+media.Segments[0].URI)
			if seg.status != http.StatusOK || seg.header.Get("Content-Type") != tc.ctype || !tc.magic(seg.body) {
				t.Fatalf("segment: %d %q", seg.status, seg.header.Get("Content-Type"))
			}
		})
	}
}

func TestNotFoundAndMethods(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ivs.LatencyLow, "", nil)
	e.writeUntil(3 * time.Second)
	if r := e.get(t, testPlayback); r.status != http.StatusOK {
		t.Fatalf("multivariant %d", r.status)
	}
	cases := []struct {
		method, path string
		want         int
	}{
		{"GET", "/api/video/v1/us-east-1.123456789012.channel.otherChannel1.m3u8", 404},
		{"GET", "/api/video/v1/otherChannel1/video1_stream.m3u8", 404},
		{"GET", channelDir + "nope_stream.m3u8", 404},
		{"GET", channelDir + "abc_video1_seg999.mp4", 404},
		{"GET", channelDir + "gap.mp4", 404},
		{"GET", channelDir + "index.m3u8", 404},
		{"GET", channelDir + "x/video1_stream.m3u8", 404},
		{"GET", "/api/video/v1/" + testChannelID + ".m3u8", 404},
		{"GET", "/api/video/v1/", 404},
		{"POST", testPlayback, 405},
		{"DELETE", channelDir + "video1_stream.m3u8", 405},
		{"HEAD", testPlayback, 200},
		{"OPTIONS", testPlayback, 204},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			t.Parallel()
			r := e.do(t, tc.method, tc.path)
			if r.status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.status, tc.want, r.body)
			}
			checkCORS(t, r)
			if tc.method == "OPTIONS" {
				if !strings.Contains(r.header.Get("Access-Control-Allow-Methods"), "GET") ||
					r.header.Get("Access-Control-Allow-Headers") == "" {
					t.Fatalf("preflight headers %v", r.header)
				}
			}
		})
	}
}

func TestDetachEndsEverything(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ivs.LatencyLow, "", nil)
	e.writeUntil(3 * time.Second)
	media := mustMedia(t, e.settled(t, "video1_stream.m3u8"))

	// Requests waiting inside the muxer when the stream ends must all be
	// released: the preload hint (several viewers) and a blocking reload.
	var waiting []<-chan response
	for range 3 {
		waiting = append(waiting, e.async(t, channelDir+media.PreloadHint.URI))
	}
	msn := media.MediaSequence + len(media.Segments)
	waiting = append(waiting, e.async(t,
		fmt.Sprintf("%svideo1_stream.m3u8?_HLS_msn=%d&_HLS_part=%d", channelDir, msn+1, 0)))
	// Let them reach the muxer (they cannot complete: no media comes).
	streamtest.Eventually(t, 5*time.Second, "requests waiting in the muxer", func() bool {
		return waitingInMuxer() >= len(waiting)
	})

	done := make(chan struct{})
	go func() { e.detach(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("detach hung")
	}
	for i, ch := range waiting {
		r := await(t, ch, 5*time.Second, fmt.Sprintf("waiting request %d", i))
		if r.status == http.StatusOK {
			t.Fatalf("waiting request %d: 200 after the stream ended", i)
		}
	}
	for _, p := range []string{testPlayback, channelDir + "video1_stream.m3u8", channelDir + media.Map.URI} {
		if r := e.get(t, p); r.status != http.StatusNotFound {
			t.Fatalf("%s after detach: %d", p, r.status)
		}
	}
}

func TestHubEndRemovesMuxer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ivs.LatencyLow, "", nil)
	e.writeUntil(3 * time.Second)
	if r := e.get(t, testPlayback); r.status != http.StatusOK {
		t.Fatalf("multivariant %d", r.status)
	}
	// The publication ends before the registry detaches: viewers get 404
	// at once rather than a frozen playlist.
	e.hub.Close()
	streamtest.Eventually(t, 5*time.Second, "404 after the hub closed", func() bool {
		return e.get(t, testPlayback).status == http.StatusNotFound
	})
}

func TestMultivariantWaitIsBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ivs.LatencyLow, "", func(s *Server) { s.readyTimeout = 200 * time.Millisecond })
	// No media: the stream never gets a segment.
	start := time.Now()
	r := e.get(t, testPlayback)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("status %d, want 503 with Retry-After", r.status)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
	if r := e.get(t, channelDir+"video1_stream.m3u8"); r.status != http.StatusServiceUnavailable {
		t.Fatalf("media playlist before the first segment: %d", r.status)
	}
	// A client that gives up is let go at once.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.http.URL+testPlayback, nil)
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Fatal("request outlived its context")
	}
}

// TestCloseLeavesNothing is not parallel: it counts goroutines.
func TestCloseLeavesNothing(t *testing.T) {
	streamtest.H264(t)
	base := runtime.NumGoroutine()
	func() {
		e := newEnv(t, ivs.LatencyLow, "", nil)
		e.writeUntil(3 * time.Second)
		media := mustMedia(t, e.settled(t, "video1_stream.m3u8"))
		hinted := e.async(t, channelDir+media.PreloadHint.URI)
		e.srv.Close()
		await(t, hinted, 5*time.Second, "hinted part after Close")
		if r := e.get(t, testPlayback); r.status != http.StatusNotFound {
			t.Fatalf("multivariant after Close: %d", r.status)
		}
		// Attach after Close does nothing.
		if detach, err := e.srv.Attach(e.st); err != nil {
			t.Errorf("Attach after Close: %v", err)
		} else {
			detach()
		}
		e.hub.Close()
		e.http.Close()
		http.DefaultClient.CloseIdleConnections()
	}()
	streamtest.Eventually(t, 5*time.Second, "goroutines back to baseline", func() bool {
		return runtime.NumGoroutine() <= base
	})
}

// waitingInMuxer counts requests waiting for media: for a part to
// complete, or a blocking playlist reload (playlists.go).
func waitingInMuxer() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "hls.(*muxer).await(") {
			n++
		}
	}
	return n
}

// TestUnknownPlaylistsLeaveNothing: playlists and parts of streams the muxer
// does not have are refused and leave no entry behind, so requests cannot
// grow what the feed goroutine walks after every unit.
func TestUnknownPlaylistsLeaveNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ivs.LatencyLow, "", nil)
	e.writeUntil(3 * time.Second)
	if r := e.get(t, channelDir+"video1_stream.m3u8"); r.status != http.StatusOK {
		t.Fatalf("media playlist %d", r.status)
	}
	for i := range 20 {
		for _, p := range []string{fmt.Sprintf("bogus%d_stream.m3u8", i), fmt.Sprintf("x_bogus%d_part3.mp4", i)} {
			if r := e.get(t, channelDir+p); r.status != http.StatusNotFound {
				t.Fatalf("%s: status %d", p, r.status)
			}
		}
	}
	n := 0
	e.srv.lookup(testChannelID).playlists.Range(func(k, _ any) bool {
		if k != "video1" {
			t.Errorf("an entry for %v", k)
		}
		n++
		return true
	})
	if n != 1 {
		t.Fatalf("%d playlist entries, want 1 (video1)", n)
	}
}
