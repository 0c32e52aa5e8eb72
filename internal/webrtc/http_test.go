package webrtc

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/live"
)

func TestReadOffer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, ctype, body string
		status            int // 0: accepted
	}{
		{"offer", "application/sdp", "v=0\r\n", 0},
		{"with parameters", "application/sdp; charset=utf-8", "v=0\r\n", 0},
		{"wrong type", "text/plain", "v=0", http.StatusUnsupportedMediaType},
		{"no type", "", "v=0", http.StatusUnsupportedMediaType},
		{"empty", "application/sdp", "", http.StatusBadRequest},
		{"oversize", "application/sdp", strings.Repeat("a", maxSDP+1), http.StatusRequestEntityTooLarge},
	}
	for _, tc := range tests {
		r := httptest.NewRequest(http.MethodPost, "/whep/x", strings.NewReader(tc.body))
		if tc.ctype != "" {
			r.Header.Set("Content-Type", tc.ctype)
		}
		w := httptest.NewRecorder()
		got, err := ReadOffer(w, r)
		if tc.status == 0 {
			if err != nil || got != tc.body {
				t.Errorf("%s: %q %v", tc.name, got, err)
			}
			continue
		}
		Fail(w, err)
		if w.Code != tc.status || w.Header().Get("Content-Type") != "text/plain; charset=utf-8" || w.Body.Len() == 0 {
			t.Errorf("%s: %d %q", tc.name, w.Code, w.Body.String())
		}
	}
}

type noStreams struct{}

func (noStreams) Get(string) (*live.Stream, bool) { return nil, false }

// The WHEP routes answer CORS preflights, refuse a channel that is not live
// with 404 and an unknown session with 404, and ServeSession only knows
// PATCH and DELETE.
func TestWHEPRoutes(t *testing.T) {
	t.Parallel()
	s := NewWHEP(WHEPConfig{Streams: noStreams{}})
	defer s.Close()
	mux := http.NewServeMux()
	s.Register(mux)
	tests := []struct {
		method, path, ctype, body string
		status                    int
	}{
		{http.MethodOptions, "/whep/AbCdEfGhIjKl", "", "", http.StatusNoContent},
		{http.MethodPost, "/whep/AbCdEfGhIjKl", "application/sdp", "v=0\r\n", http.StatusNotFound},
		{http.MethodPatch, "/whep/AbCdEfGhIjKl/nope", "application/trickle-ice-sdpfrag", "a=candidate:1", http.StatusNotFound},
		{http.MethodDelete, "/whep/AbCdEfGhIjKl/nope", "", "", http.StatusNotFound},
	}
	for _, tc := range tests {
		r := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
		if tc.ctype != "" {
			r.Header.Set("Content-Type", tc.ctype)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		if w.Code != tc.status || w.Header().Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s %s: %d %v", tc.method, tc.path, w.Code, w.Header())
		}
	}
	w := httptest.NewRecorder()
	ServeSession(w, httptest.NewRequest(http.MethodGet, "/whep/x/y", nil), nil)
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") == "" {
		t.Errorf("GET on a session: %d", w.Code)
	}
}

func TestRTPTicksRoundTrip(t *testing.T) {
	t.Parallel()
	for tick := int64(0); tick < 90000*10; tick += 3000 {
		d := time.Duration(tick * int64(time.Second) / 90000) // truncated, as a unit's PTS is
		if got := rtpTicks(d, 90000); int64(got) != tick {
			t.Fatalf("tick %d → %v → %d", tick, d, got)
		}
	}
}
