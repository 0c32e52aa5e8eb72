package rtc

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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

// Preflight says what an endpoint takes; ServeSession knows only PATCH and
// DELETE.
func TestPreflightAndSessionMethods(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	Preflight(w, httptest.NewRequest(http.MethodOptions, "/whip", nil))
	h := w.Header()
	if w.Code != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Access-Control-Allow-Methods") != Methods ||
		h.Get("Accept-Post") != "application/sdp" || h.Get("Accept-Patch") != "application/trickle-ice-sdpfrag" {
		t.Errorf("preflight: %d %v", w.Code, h)
	}
	w = httptest.NewRecorder()
	ServeSession(w, httptest.NewRequest(http.MethodGet, "/whep/x/y", nil), nil)
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") == "" {
		t.Errorf("GET on a session: %d", w.Code)
	}
}
