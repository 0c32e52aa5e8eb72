package whep

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/live"
)

type noStreams struct{}

func (noStreams) Get(string) (*live.Stream, bool) { return nil, false }

// The WHEP routes answer CORS preflights, refuse a channel that is not live
// with 404 and an unknown session with 404.
func TestRoutes(t *testing.T) {
	t.Parallel()
	s := New(Config{Streams: noStreams{}})
	defer s.Close()
	mux := http.NewServeMux()
	s.Register(mux)
	tests := []struct {
		method, path, ctype, body string
		status                    int
	}{
		{http.MethodOptions, "/whep/AbCdEfGhIjKl", "", "", http.StatusNoContent},
		{http.MethodOptions, "/whep/AbCdEfGhIjKl/nope", "", "", http.StatusNoContent},
		{http.MethodPost, "/whep/AbCdEfGhIjKl", "application/sdp", "v=0\r\n", http.StatusNotFound},
		{http.MethodPost, "/whep/AbCdEfGhIjKl", "text/plain", "v=0\r\n", http.StatusUnsupportedMediaType},
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
