package hls

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/stream/streamtest"
)

// withoutSession checks that uri carries a valid playback session id and
// returns it without one.
func withoutSession(t *testing.T, uri string) string {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if !validSessionID(q.Get(sessionParam)) {
		t.Fatalf("URI %q has no valid %s", uri, sessionParam)
	}
	q.Del(sessionParam)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestAudience(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	a := newAudience(10 * time.Second)
	steps := []struct {
		at    time.Duration
		touch []string
		want  int
	}{
		{0, []string{"a", "b", "c"}, 3},
		{time.Second, []string{"a", "a"}, 3}, // the same player twice is one
		{9 * time.Second, []string{"b"}, 3},
		{10500 * time.Millisecond, nil, 2}, // c left; a was seen at 1 s
		{11500 * time.Millisecond, nil, 1},
		{20 * time.Second, nil, 0},
	}
	for _, s := range steps {
		now := t0.Add(s.at)
		for _, k := range s.touch {
			a.touch(k, now)
		}
		if got := a.count(now); got != s.want {
			t.Fatalf("at %s: %d viewers, want %d", s.at, got, s.want)
		}
	}
}

func TestAudienceCap(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	a := newAudience(time.Minute)
	for i := range maxViewersPerChannel {
		if a.touch(strconv.Itoa(i), t0) {
			t.Fatalf("cap hit at %d", i)
		}
	}
	if !a.touch("one more", t0) || a.touch("and another", t0) {
		t.Fatal("the cap is reported once")
	}
	if n := a.count(t0); n != maxViewersPerChannel {
		t.Fatalf("%d tracked, want the cap", n)
	}
	// Once the old ones expire, new players are counted again.
	later := t0.Add(2 * time.Minute)
	a.touch("new", later)
	if n := a.count(later); n != 1 {
		t.Fatalf("%d after expiry, want 1", n)
	}
}

func TestSessionIDs(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		id := newSessionID()
		if !validSessionID(id) || seen[id] {
			t.Fatalf("id %q invalid or repeated", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "short", strings.Repeat("a", 21), strings.Repeat("a", 23), strings.Repeat("é", 11), "aaaaaaaaaaaaaaaaaaaa/+"} {
		if validSessionID(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestViewersThroughServer plays the channel like players do: each fetches
// the multivariant playlist, then its media playlist with the session id
// it was handed.
func TestViewersThroughServer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ivs.LatencyLow, "", func(s *Server) { s.cfg.ViewerTimeout = 500 * time.Millisecond })
	e.writeUntil(3 * time.Second)

	if n := e.srv.Viewers(testChannelID); n != 0 {
		t.Fatalf("%d viewers before any player", n)
	}
	// A multivariant fetch alone (a link preview) is not a viewer.
	mv := e.get(t, testPlayback)
	if n := e.srv.Viewers(testChannelID); n != 0 {
		t.Fatalf("%d viewers after a multivariant fetch alone", n)
	}
	served := e.srv.BytesOut(testChannelID)
	if served != uint64(len(mv.body)) {
		t.Fatalf("bytes out %d, want the %d bytes of the playlist", served, len(mv.body))
	}

	play := func() string {
		pl := mustMultivariant(t, e.get(t, testPlayback).body)
		media := e.get(t, "/api/video/v1/"+pl.Variants[0].URI)
		if media.status != http.StatusOK {
			t.Fatalf("media playlist: %d", media.status)
		}
		return pl.Variants[0].URI
	}
	uris := []string{play(), play(), play()}
	if n := e.srv.Viewers(testChannelID); n != 3 {
		t.Fatalf("%d viewers, want 3", n)
	}
	if e.srv.BytesOut(testChannelID) <= served {
		t.Fatal("bytes out did not grow")
	}
	// Players without an id (or with a forged one) count by address and
	// User-Agent: two agents are two viewers, the same agent again is one.
	for _, ua := range []string{"player-a", "player-b", "player-a"} {
		req, _ := http.NewRequest(http.MethodGet, e.http.URL+"/api/video/v1/"+testChannelID+"/video1_stream.m3u8?vsid=forged", nil)
		req.Header.Set("User-Agent", ua)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if n := e.srv.Viewers(testChannelID); n != 5 {
		t.Fatalf("%d viewers, want 5", n)
	}
	// One player keeps polling; the others stop and expire.
	streamtest.Eventually(t, 5*time.Second, "the idle players to expire", func() bool {
		e.get(t, "/api/video/v1/"+uris[0])
		return e.srv.Viewers(testChannelID) == 1
	})
	// The stream ends: nobody is watching it any more.
	e.detach()
	if n := e.srv.Viewers(testChannelID); n != 0 {
		t.Fatalf("%d viewers after the stream ended", n)
	}
	if e.srv.BytesOut(testChannelID) == 0 {
		t.Fatal("bytes out forgotten at the stream's end")
	}
}

// BenchmarkAudienceCount is the cost of Viewers (called once a second per
// live stream and per Prometheus scrape) with n players, all active.
func BenchmarkAudienceCount(b *testing.B) {
	for _, n := range []int{100, 10_000, 100_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			now := time.Now()
			a := newAudience(time.Hour)
			for i := range n {
				a.touch(strconv.Itoa(i), now)
			}
			for b.Loop() {
				a.count(now)
			}
		})
	}
}
