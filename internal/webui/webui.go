// Package webui serves the console, broadcast and player pages, built from
// web/ with Vite into dist/ and embedded in the binary. Until the UI is built
// it serves a page that says so and lists what the server offers.
package webui

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"
)

//go:embed dist
var dist embed.FS

// Info is what the "UI not built" page shows.
type Info struct {
	Version string
	Region  string
}

// Handler serves the embedded UI at /.
func Handler(info Info) http.Handler {
	sub, err := fs.Sub(dist, "dist")
	if err == nil {
		if _, err := fs.Stat(sub, "index.html"); err == nil {
			return http.FileServerFS(sub)
		}
	}
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
<p>The web console is not built into this binary. The server is running:</p>
<ul>
<li>IVS API (SigV4, region {{.Region}}): <code>aws ivs list-channels --endpoint-url</code> this address</li>
<li>Playback: each channel's <code>playbackUrl</code> (HLS / LL-HLS)</li>
<li><a href="/metrics">/metrics</a> (Prometheus), <a href="/healthz">/healthz</a></li>
</ul>
</body></html>
`))
