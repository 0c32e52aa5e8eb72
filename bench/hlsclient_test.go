package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const llPlaylist = `#EXTM3U
#EXT-X-MAP:URI="init.mp4?s=1"
#EXTINF:1.00000,
seg7.mp4?s=1
#EXT-X-PART:DURATION=0.1,URI="p8.mp4?s=1",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.1,URI="p9.mp4?s=1"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="p10.mp4?s=1"
`

func TestNextPart(t *testing.T) {
	for _, tc := range []struct {
		last, want string
		err        error
	}{
		{"", "p10.mp4?s=1", nil},
		{"p8.mp4?s=1", "p9.mp4?s=1", nil},
		{"p9.mp4?s=1", "p10.mp4?s=1", nil},
		{"p10.mp4?s=1", "", nil}, // the hint: wait for the playlist
		{"p3.mp4?s=1", "", errBehind},
	} {
		var pat []byte
		if tc.last != "" {
			pat = []byte(`URI="` + tc.last + `"`)
		}
		got, err := nextPart([]byte(llPlaylist), pat)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("after %q: %q, %v; want %q, %v", tc.last, got, err, tc.want, tc.err)
		}
	}
	uris, ind := parts([]byte(llPlaylist))
	if strings.Join(uris, " ") != "p8.mp4?s=1 p9.mp4?s=1 p10.mp4?s=1" || ind != "p8.mp4?s=1" {
		t.Errorf("parts: %v %q", uris, ind)
	}
	if got := segments([]byte(llPlaylist)); len(got) != 1 || got[0] != "seg7.mp4?s=1" {
		t.Errorf("segments: %v", got)
	}
}

// The bare client reads lengths and chunked bodies, keeps the connection
// alive, and reports a status other than 200.
func TestRawClient(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/len":
			w.Header().Set("Content-Length", "5")
			_, _ = w.Write([]byte("hello"))
		case "/block":
			<-r.Context().Done()
		case "/chunked":
			for _, p := range []string{"ab", "cd", strings.Repeat("e", 40000)} {
				_, _ = w.Write([]byte(p))
				w.(http.Flusher).Flush()
			}
		default:
			http.NotFound(w, r)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	var c rawClient
	defer c.close()
	var buf bytes.Buffer
	u := func(p string) *url.URL { v, _ := url.Parse(srv.URL + p); return v }
	for range 2 {
		if b, err := c.get(context.Background(), u("/len"), &buf); err != nil || string(b) != "hello" {
			t.Fatalf("/len: %q %v", b, err)
		}
		if b, err := c.get(context.Background(), u("/chunked"), &buf); err != nil || len(b) != 40004 || !bytes.HasPrefix(b, []byte("abcde")) {
			t.Fatalf("/chunked: %d bytes %v", len(b), err)
		}
	}
	if _, err := c.get(context.Background(), u("/nope"), &buf); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("/nope: %v", err)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for 5 requests, want 1", n)
	}
	// A request the context gives up on fails with the context's error,
	// and the next one dials again.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.get(ctx, u("/block"), &buf); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("/block: %v", err)
	}
	if b, err := c.get(context.Background(), u("/len"), &buf); err != nil || string(b) != "hello" {
		t.Fatalf("after a canceled request: %q %v", b, err)
	}
}
