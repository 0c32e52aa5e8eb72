package webui

import (
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func TestHandler(t *testing.T) {
	t.Parallel()
	built := fstest.MapFS{
		"index.html":       {Data: []byte("<html><head><!--onair-config--></head><body>console</body></html>")},
		"play.html":        {Data: []byte("<html><head><!--onair-config--></head><body>player</body></html>")},
		"broadcast.html":   {Data: []byte("<html><head><!--onair-config--></head><body>broadcast</body></html>")},
		"stage.html":       {Data: []byte("<html><head><!--onair-config--></head><body>stage</body></html>")},
		"assets/app-1.js":  {Data: []byte("console.log(1)")},
		"assets/app-1.css": {Data: []byte("body{}")},
	}
	info := Info{Version: "v1", Region: "eu-west-1", Account: "123456789012", RTMPPort: 1935, RTMPSPort: 1936, HTTPSPort: 8443}
	h := handler(built, info)
	tests := []struct {
		path, want string
		status     int
	}{
		{"/", "console", 200},
		{"/channels/AbCdEfGhIjKl", "console", 200},
		{"/channels/AbCdEfGhIjKl/sessions/st-x", "console", 200},
		{"/play/AbCdEfGhIjKl", "player", 200},
		{"/broadcast", "broadcast", 200},
		{"/stages/join", "stage", 200},
		{"/stages/AbCdEfGhIjKl", "console", 200},
		{"/assets/app-1.js", "console.log(1)", 200},
		{"/assets/missing.js", "", 404},
		{"/favicon.ico", "", 404},
		{"/play/../../etc", "console", 200}, // cleaned by the mux in the app; here just not the player
	}
	for _, tc := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s: %d %q", tc.path, rec.Code, rec.Body.String())
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	body := rec.Body.String()
	want := `<meta name="onair-config" content="` + html.EscapeString(`{"version":"v1","region":"eu-west-1","account":"123456789012","rtmpPort":1935,"rtmpsPort":1936,"httpsPort":8443}`) + `">`
	if !strings.Contains(body, want) || strings.Contains(body, "<!--onair-config-->") {
		t.Fatalf("settings not written into the page:\n%s", body)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Fatalf("CSP %q", csp)
	}

	// Without a built UI: the page that says how to build it, at / only.
	h = handler(fstest.MapFS{"README.txt": {Data: []byte("x")}}, info)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "make build") {
		t.Fatalf("not built: %d %s", rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/channels/x", nil))
	if rec.Code != 404 {
		t.Fatalf("not built, /channels/x: %d", rec.Code)
	}
}
