// Package webui serves the console and the player page, built from web/ with
// Vite into dist/ and embedded in the binary. Until the UI is built it
// serves a page that says how to build it and lists what the server offers.
package webui

import (
	"bytes"
	"embed"
	"encoding/json"
	"html"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"
)

//go:embed dist
var dist embed.FS

// Info is the server's public settings, written into every page (a page
// needs the region to sign requests, the account to name channels) and shown
// by the "UI not built" page.
type Info struct {
	Version   string `json:"version"`
	Region    string `json:"region"`
	Account   string `json:"account"`
	RTMPPort  int    `json:"rtmpPort"`
	RTMPSPort int    `json:"rtmpsPort"`
	// HTTPSPort is where the IVS Web Broadcast SDK's endpoint
	// (https://{host}:{port}) is served; 0 when it is not.
	HTTPSPort int `json:"httpsPort"`
}

// configMarker is where a built page takes the settings.
const configMarker = "<!--onair-config-->"

// playPath is the standalone player; every other page path is the console,
// which routes on the client.
var playPath = regexp.MustCompile(`^/play/[A-Za-z0-9]{1,64}/?$`)

// stagePath is the stage join page; it shadows no stage of the console's
// /stages/{id} (a stage id is 12 characters).
const stagePath = "/stages/join"

// Handler serves the embedded UI: files under /assets/, the player page at
// /play/{channelId}, the broadcast page at /broadcast, the stage page at
// /stages/join, and the console for
// every other path of GET /.
func Handler(info Info) http.Handler {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		return notBuiltHandler(info)
	}
	return handler(sub, info)
}

// handler serves a built UI from sub, or the "not built" page without one.
func handler(sub fs.FS, info Info) http.Handler {
	console, err1 := page(sub, "index.html", info)
	player, err2 := page(sub, "play.html", info)
	broadcast, err3 := page(sub, "broadcast.html", info)
	stage, err4 := page(sub, "stage.html", info)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return notBuiltHandler(info)
	}
	assets := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case strings.HasPrefix(p, "/assets/"):
			// Names carry a content hash: cache them for good.
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			assets.ServeHTTP(w, r)
		case playPath.MatchString(p):
			serve(w, r, player, "")
		case p == "/broadcast" || p == "/broadcast/":
			// Its ingest endpoint may be another onair's /whip.
			serve(w, r, broadcast, "connect-src 'self' https: http:; ")
		case p == stagePath || p == stagePath+"/":
			// The token names the stage's events socket and WHIP endpoint,
			// which may be on the HTTPS listener (another origin).
			serve(w, r, stage, "connect-src 'self' https: http: wss: ws:; ")
		case path.Ext(p) != "" && p != "/":
			http.NotFound(w, r) // a file that is not ours
		default:
			serve(w, r, console, "")
		}
	})
}

// page reads a built HTML page and writes the settings into it.
func page(sub fs.FS, name string, info Info) ([]byte, error) {
	b, err := fs.ReadFile(sub, name)
	if err != nil {
		return nil, err
	}
	cfg, err := json.Marshal(info)
	if err != nil {
		return nil, err
	}
	meta := `<meta name="onair-config" content="` + html.EscapeString(string(cfg)) + `">`
	return bytes.Replace(b, []byte(configMarker), []byte(meta), 1), nil
}

// serve writes a page; connect, if set, widens where it may fetch from.
func serve(w http.ResponseWriter, r *http.Request, body []byte, connect string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Pages are small and carry the settings: always fresh.
	h.Set("Cache-Control", "no-cache")
	// Everything comes from this server; media from blob: (MSE) and data:
	// (hls.js's metadata track, which carries timed metadata cues, is a
	// <track src="data:,WEBVTT">; blocked, Chromium drops its cues).
	h.Set("Content-Security-Policy", "default-src 'self'; "+connect+"img-src 'self' data:; media-src 'self' blob: data:; "+
		"style-src 'self' 'unsafe-inline'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

func notBuiltHandler(info Info) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = notBuilt.Execute(w, info) // a failed write to a gone client needs no handling
	})
}

var notBuilt = template.Must(template.New("").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>onair</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem">
<h1>onair {{.Version}}</h1>
<p>The web console is not built into this binary: build it with <code>make build</code> (or
<code>make run</code>), which runs <code>npm ci</code> and Vite in <code>web/</code> before <code>go build</code>.
The server is running:</p>
<ul>
<li>IVS API (SigV4, region {{.Region}}): <code>aws ivs list-channels --endpoint-url</code> this address</li>
<li>Playback: each channel's <code>playbackUrl</code> (HLS / LL-HLS)</li>
<li><a href="/metrics">/metrics</a> (Prometheus), <a href="/healthz">/healthz</a></li>
</ul>
</body></html>
`))
