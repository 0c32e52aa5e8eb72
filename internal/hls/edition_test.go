package hls

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/stream/streamtest"
)

// ivsPlayerAccept is what IVS's web player (amazon-ivs-player 1.56.1)
// sends with every playlist request.
const ivsPlayerAccept = "application/x-mpegURL, application/vnd.apple.mpegurl, application/json, text/plain"

func TestFromIVSPlayer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		accept string
		want   bool
	}{
		{ivsPlayerAccept, true},
		{"APPLICATION/X-MPEGURL, application/json", true},
		{"", false},
		{"*/*", false},                           // hls.js, Safari, ffmpeg
		{"application/vnd.apple.mpegurl", false}, // a player that asks for playlists only
		{"application/json", false},              // an API client
	} {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Accept", tc.accept)
		if got := fromIVSPlayer(r); got != tc.want {
			t.Errorf("Accept %q: %v, want %v", tc.accept, got, tc.want)
		}
	}
}

func TestEditionURI(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"video1_stream.m3u8":                       "main_stream.m3u8",
		"video1_stream.m3u8?s=1&token=a%2Fb":       "main_stream.m3u8?s=1&token=a%2Fb",
		"abc/480p30/video1_stream.m3u8?s=1":        "abc/480p30/main_stream.m3u8?s=1",
		"abc/audio1_stream.m3u8?odd=/x/y_stream.m": "abc/main_stream.m3u8?odd=/x/y_stream.m",
	} {
		if got := editionURI(in); got != want {
			t.Errorf("editionURI(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestIVSPlayerEdition: IVS's web player gets a LOW channel in MPEG-TS,
// with timed metadata in its ID3 stream; other players get LL-HLS and
// start no MPEG-TS muxer; the edition stops when nobody asks for it and
// when the stream ends.
func TestIVSPlayerEdition(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ivs.LatencyLow, "", func(s *Server) { s.editionIdle = 2 * time.Second })
	e.writeUntil(2 * time.Second)
	m := e.srv.lookup(testChannelID)

	ll := mustMultivariant(t, e.get(t, testPlayback).body)
	if len(ll.Variants) != 1 || !strings.HasPrefix(ll.Variants[0].URI, testChannelID+"/video1_stream.m3u8?") {
		t.Fatalf("hls.js's multivariant: %+v", ll.Variants)
	}
	if r := e.get(t, channelDir+"video1_stream.m3u8"); r.status != http.StatusOK || m.ts.Load() != nil {
		t.Fatalf("LL-HLS media playlist: %d; edition started: %v", r.status, m.ts.Load() != nil)
	}

	// A private channel's credential rides on every URI, as in LL-HLS.
	mv := mustMultivariant(t, e.getAs(t, testPlayback+"?token=abc", ivsPlayerAccept).body)
	if len(mv.Variants) != 1 || len(mv.Renditions) != 0 {
		t.Fatalf("IVS player's multivariant: %+v %+v", mv.Variants, mv.Renditions)
	}
	v := mv.Variants[0]
	if !strings.HasPrefix(v.URI, testChannelID+"/main_stream.m3u8?") || !strings.Contains(v.URI, "token=abc") ||
		v.Codecs == nil || v.Bandwidth == 0 {
		t.Fatalf("IVS player's variant: %+v", v)
	}
	if m.ts.Load() != nil {
		t.Fatal("the multivariant alone started the edition")
	}
	if r := e.get(t, channelDir+"x_main_seg1.ts"); r.status != http.StatusNotFound {
		t.Fatalf("segment of no edition: %d", r.status)
	}

	// The first request starts it and waits for its first segment.
	first := e.async(t, "/api/video/v1/"+v.URI)
	streamtest.Eventually(t, 5*time.Second, "the edition to start", func() bool { return m.ts.Load() != nil })
	const text = `{"to":"the IVS player"}`
	if err := e.st.PutMetadata([]byte(text)); err != nil {
		t.Fatal(err)
	}
	e.writeUntil(6 * time.Second)
	if r := await(t, first, 10*time.Second, "the edition's media playlist"); r.status != http.StatusOK ||
		!strings.Contains(mustMedia(t, r.body).Segments[0].URI, "?token=abc") {
		t.Fatalf("edition's media playlist: %d %s", r.status, r.body)
	}
	media := mustMedia(t, e.settled(t, editionPlaylist))
	if len(media.Segments) < 2 || media.Map != nil {
		t.Fatalf("edition's media playlist: %d segments, map %v", len(media.Segments), media.Map)
	}
	seg := e.get(t, channelDir+media.Segments[0].URI)
	if seg.status != http.StatusOK || len(seg.body) == 0 || seg.body[0] != 0x47 {
		t.Fatalf("edition's segment: %d, %d bytes", seg.status, len(seg.body))
	}
	tags, _ := id3InTS(t, e, channelDir, media)
	if len(tags) != 1 || !bytes.Equal(tags[0], id3Text([]byte(text))) {
		t.Fatalf("%d ID3 tags in the edition's segments, want the one put: %q", len(tags), tags)
	}

	// Asked for, it lives on past editionIdle.
	kept := m.ts.Load()
	for range 6 {
		e.writeUntil(time.Duration(e.frame+15) * time.Second / streamtest.FPS)
		if r := e.get(t, channelDir+editionPlaylist); r.status != http.StatusOK {
			t.Fatalf("polled edition playlist: %d", r.status)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if m.ts.Load() != kept || kept.isGone() {
		t.Fatal("the edition stopped while its playlist was polled")
	}

	// Unasked for, it stops (on the next unit after editionIdle).
	stopped := m.ts.Load()
	deadline := time.Now().Add(10 * time.Second)
	for m.ts.Load() != nil && time.Now().Before(deadline) {
		e.writeUntil(time.Duration(e.frame+15) * time.Second / streamtest.FPS)
		time.Sleep(100 * time.Millisecond)
	}
	if m.ts.Load() != nil || !stopped.isGone() {
		t.Fatal("the edition runs on unrequested")
	}
	if r := e.get(t, channelDir+media.Segments[0].URI); r.status != http.StatusNotFound {
		t.Fatalf("segment of a stopped edition: %d", r.status)
	}

	// Asked for again, a new one starts; the stream's end stops it.
	again := e.async(t, channelDir+editionPlaylist)
	streamtest.Eventually(t, 5*time.Second, "a new edition", func() bool { return m.ts.Load() != nil })
	e.writeUntil(time.Duration(e.frame)*time.Second/streamtest.FPS + 3*time.Second)
	if r := await(t, again, 10*time.Second, "the new edition's playlist"); r.status != http.StatusOK {
		t.Fatalf("new edition's playlist: %d", r.status)
	}
	ed := m.ts.Load()
	e.hub.Close()
	e.detach()
	if m.ts.Load() != nil || ed == nil || !ed.isGone() {
		t.Fatal("the edition outlived its stream")
	}
}

// TestNoEditionForHEVC: MPEG-TS carries no H.265, so IVS's player gets
// LL-HLS of an H.265 channel.
func TestNoEditionForHEVC(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, streamtest.H265(t), ivs.LatencyLow, "", nil)
	e.writeUntil(2 * time.Second)
	// A private channel's credential rides on every URI, as in LL-HLS.
	mv := mustMultivariant(t, e.getAs(t, testPlayback+"?token=abc", ivsPlayerAccept).body)
	if len(mv.Variants) != 1 || !strings.HasPrefix(mv.Variants[0].URI, testChannelID+"/video1_stream.m3u8?") {
		t.Fatalf("multivariant: %+v", mv.Variants)
	}
	if r := e.get(t, channelDir+editionPlaylist); r.status != http.StatusNotFound {
		t.Fatalf("edition playlist of an H.265 stream: %d", r.status)
	}
}

// TestEditionPrefetch: the edition's media playlist ends with the segment
// being written as #EXT-X-PREFETCH (Twitch's low-latency HLS, which IVS's
// player reads), and that segment is served while it is written: bytes
// come before it is finished, and the whole response is the finished
// segment.
func TestEditionPrefetch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ivs.LatencyLow, "", nil)
	e.writeUntil(time.Second)
	first := e.async(t, channelDir+editionPlaylist)
	m := e.srv.lookup(testChannelID)
	streamtest.Eventually(t, 5*time.Second, "the edition to start", func() bool { return m.ts.Load() != nil })
	e.writeUntil(4 * time.Second)
	if r := await(t, first, 10*time.Second, "the edition's media playlist"); r.status != http.StatusOK {
		t.Fatalf("edition's media playlist: %d", r.status)
	}
	body := string(e.settled(t, editionPlaylist+"?vsid=abc"))
	lines := strings.Split(strings.TrimSpace(body), "\n")
	uri, ok := strings.CutPrefix(lines[len(lines)-1], "#EXT-X-PREFETCH:")
	media := mustMedia(t, []byte(body))
	last := media.Segments[len(media.Segments)-1].URI
	if !ok || !strings.HasSuffix(uri, ".ts?vsid=abc") || uri == last {
		t.Fatalf("no prefetch segment after %s:\n%s", last, body)
	}

	// Bounded: a prefetch that waited for the segment's end would hang.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.http.URL+channelDir+uri, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "video/mp2t" || res.ContentLength != -1 {
		t.Fatalf("prefetch segment: %d %q length %d", res.StatusCode, res.Header.Get("Content-Type"), res.ContentLength)
	}
	// What the segment holds so far comes at once, before it is finished.
	early := make([]byte, 188)
	if _, err := io.ReadFull(res.Body, early); err != nil || early[0] != 0x47 {
		t.Fatalf("the first packet of the segment being written: %v % x", err, early[:4])
	}
	// A HEAD is answered at once, not held for the segment's end.
	if r := e.do(t, http.MethodHead, channelDir+uri); r.status != http.StatusOK || r.header.Get("Content-Type") != "video/mp2t" {
		t.Fatalf("HEAD of the segment being written: %d %v", r.status, r.header)
	}
	// Other viewers of it meanwhile: one that leaves, two that read on.
	leaving, leave := context.WithCancel(ctx)
	gone := e.async(t, channelDir+uri) // reads it whole, at the end
	quitter := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(leaving, http.MethodGet, e.http.URL+channelDir+uri, nil)
		qres, err := http.DefaultClient.Do(req)
		if err == nil {
			// It has a packet, then leaves: the rest of its read fails.
			if _, err = io.ReadFull(qres.Body, make([]byte, 188)); err == nil {
				leave()
				_, err = io.ReadAll(qres.Body)
			}
			qres.Body.Close()
		}
		quitter <- err
	}()
	if err := <-quitter; !errors.Is(err, context.Canceled) {
		t.Fatalf("a viewer that leaves mid-segment: %v", err)
	}
	e.writeUntil(8 * time.Second) // the segment ends at the next IDR
	rest, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	whole := e.get(t, channelDir+uri)
	if whole.status != http.StatusOK || whole.header.Get("Content-Length") == "" ||
		!bytes.Equal(append(early, rest...), whole.body) {
		t.Fatalf("prefetched %d bytes; the finished segment: %d, %d bytes", len(early)+len(rest), whole.status, len(whole.body))
	}
	if other := await(t, gone, 10*time.Second, "a second prefetch viewer"); other.status != http.StatusOK || !bytes.Equal(other.body, whole.body) {
		t.Fatalf("second prefetch viewer: %d, %d bytes", other.status, len(other.body))
	}

	// After the stream's end, the segment that was in progress is a 404.
	body = string(e.settled(t, editionPlaylist))
	lines = strings.Split(strings.TrimSpace(body), "\n")
	uri, _ = strings.CutPrefix(lines[len(lines)-1], "#EXT-X-PREFETCH:")
	e.hub.Close()
	e.detach()
	if r := e.get(t, channelDir+uri); r.status != http.StatusNotFound {
		t.Fatalf("prefetch segment after the stream's end: %d", r.status)
	}
}
