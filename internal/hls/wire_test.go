package hls

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/stream/streamtest"
)

// TestServedAsGohlslib: what the server answers from the muxer's snapshots
// and files is what gohlslib's own handler (Muxer.Handle, which onair
// served through until issue 19) answers the same request: the same
// playlists with the same URIs and queries, the same files and headers.
// The stream is held still while both are asked.
func TestServedAsGohlslib(t *testing.T) {
	t.Parallel()
	const sid = "abcdefghijklmnopqrstuv" // a valid session id, kept
	for _, tc := range []struct {
		name, latency, container string
		edition                  bool
		playlist                 string
		// queries: each asked of both. LL-HLS playlists pass on a query
		// less the player's session id (passQuery), which gohlslib kept;
		// those are asked of gohlslib without it.
		queries []string
	}{
		{"LL-HLS", ivs.LatencyLow, "", false, "video1_stream.m3u8",
			[]string{"", "token=a%2Fb", "vsid=" + sid + "&token=abc", "_HLS_skip=YES", "_HLS_skip=v2&token=x"}},
		{"MPEG-TS", ivs.LatencyNormal, ivs.ContainerTS, false, "main_stream.m3u8",
			[]string{"", "vsid=" + sid, "token=a%2Fb&vsid=" + sid + "&_HLS_msn=3", "b=2&a=1&odd=%zz"}},
		{"fMP4", ivs.LatencyNormal, ivs.ContainerFMP4, false, "video1_stream.m3u8",
			[]string{"", "vsid=" + sid, "token=a%2Fb&vsid=" + sid + "&_HLS_msn=3", "b=2&a=1", "odd=%zz&_HLS_skip=YES"}},
		{"MPEG-TS edition", ivs.LatencyLow, "", true, editionPlaylist,
			[]string{"", "vsid=" + sid, "token=a%2Fb&vsid=" + sid}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.latency, tc.container, nil)
			e.writeUntil(time.Second)
			m := e.srv.lookup(testChannelID)
			if tc.edition {
				start := e.async(t, channelDir+tc.playlist)
				streamtest.Eventually(t, 5*time.Second, "the edition", func() bool { return m.ts.Load() != nil })
				e.writeUntil(3 * time.Second)
				await(t, start, 10*time.Second, "the edition's first playlist")
			}
			// Past LL-HLS's 7 initial gaps (gohlslib leaves the query off
			// "gap.mp4"; onair puts it on every URI).
			e.writeUntil(11 * time.Second)
			body := e.settled(t, tc.playlist)
			hm := m.hm
			if tc.edition {
				hm = m.ts.Load().hm
			}

			for _, q := range tc.queries {
				got := e.get(t, channelDir+tc.playlist+"?"+q)
				gq := q
				if tc.latency == ivs.LatencyLow && !tc.edition {
					gq = strings.ReplaceAll(strings.ReplaceAll(q, "vsid="+sid+"&", ""), "vsid="+sid, "")
				}
				want := handle(hm, http.MethodGet, tc.playlist, gq)
				samePlaylist(t, tc.playlist+"?"+q, got, want)
			}

			// The files the playlist names, as GET and HEAD.
			media := mustMedia(t, body)
			files := []string{media.Segments[len(media.Segments)-1].URI}
			if media.Map != nil {
				files = append(files, media.Map.URI)
			}
			if len(media.Parts) > 0 {
				files = append(files, media.Parts[0].URI)
			}
			if s := media.Segments[len(media.Segments)-2]; len(s.Parts) > 0 {
				files = append(files, s.Parts[len(s.Parts)-1].URI)
			}
			for _, f := range files {
				for _, method := range []string{http.MethodGet, http.MethodHead} {
					got := e.do(t, method, channelDir+f)
					want := handle(hm, method, f, "")
					sameFile(t, method+" "+f, got, want)
				}
			}

			if tc.edition {
				return // IVS's player's multivariant: edition_test.go
			}
			// The multivariant playlist: gohlslib's, with the request's
			// query on its URIs, rewritten for the playback URL.
			// Each says the server time when it was answered.
			for _, q := range []string{"vsid=" + sid, "vsid=" + sid + "&token=abc&b=%2F"} {
				before := time.Now()
				got := e.get(t, testPlayback+"?"+q)
				at, rest := serverTimeOf(t, got.body)
				if at.Before(before.Truncate(time.Millisecond)) || at.After(time.Now()) {
					t.Fatalf("multivariant ?%s: server time %v, asked at %v", q, at, before)
				}
				raw := handle(m.hm, http.MethodGet, "index.m3u8", q)
				pl := mustMultivariant(t, raw.body)
				want, err := rewriteMultivariant(pl, "", testChannelID, sid, "", at)
				if err != nil {
					t.Fatal(err)
				}
				if got.status != http.StatusOK || !bytes.Equal(got.body, want) || bytes.Contains(rest, []byte("SERVER-TIME")) {
					t.Fatalf("multivariant ?%s: %d\n%s\nwant\n%s", q, got.status, got.body, want)
				}
			}
		})
	}
}

// handle asks gohlslib's own handler.
func handle(hm *gohlslib.Muxer, method, file, query string) response {
	target := "/" + file
	if query != "" {
		target += "?" + query
	}
	w := httptest.NewRecorder()
	hm.Handle(w, httptest.NewRequest(method, target, nil))
	return response{status: w.Code, header: w.Header(), body: w.Body.Bytes()}
}

func samePlaylist(t *testing.T, what string, got, want response) {
	t.Helper()
	if got.status != want.status || !bytes.Equal(got.body, want.body) {
		t.Fatalf("%s: %d\n%s\ngohlslib: %d\n%s", what, got.status, got.body, want.status, want.body)
	}
	sameHeaders(t, what, got, want, "Content-Type", "Cache-Control")
	if n := got.header.Get("Content-Length"); n != fmt.Sprint(len(got.body)) {
		t.Fatalf("%s: Content-Length %q for %d bytes", what, n, len(got.body))
	}
}

func sameFile(t *testing.T, what string, got, want response) {
	t.Helper()
	if got.status != http.StatusOK || got.status != want.status {
		t.Fatalf("%s: %d, gohlslib %d", what, got.status, want.status)
	}
	// A HEAD's body is dropped by net/http, not by the recorder.
	if !strings.HasPrefix(what, http.MethodHead) && !bytes.Equal(got.body, want.body) {
		t.Fatalf("%s: %d bytes, gohlslib %d", what, len(got.body), len(want.body))
	}
	if strings.HasPrefix(what, http.MethodHead) && len(got.body) != 0 {
		t.Fatalf("%s: a body of %d bytes", what, len(got.body))
	}
	sameHeaders(t, what, got, want, "Content-Type", "Cache-Control", "Content-Length")
}

func sameHeaders(t *testing.T, what string, got, want response, names ...string) {
	t.Helper()
	for _, h := range names {
		if g, w := got.header.Get(h), want.header.Get(h); g != w {
			t.Fatalf("%s: %s %q, gohlslib %q", what, h, g, w)
		}
	}
}
