package hls

import (
	"bytes"
	"net/http"
)

// captureWriter records a gohlslib response so it can be rewritten (the
// multivariant playlist) or inspected (internal playlist requests).
type captureWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newCaptureWriter() *captureWriter { return &captureWriter{header: make(http.Header)} }

func (c *captureWriter) Header() http.Header { return c.header }

func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
}

func (c *captureWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return c.body.Write(p)
}

// notFoundWriter passes a gohlslib response straight through (parts and
// segments are streamed, never buffered per viewer) and remembers whether
// anything was written: gohlslib answers an unknown path with nothing at
// all, which net/http would send as an empty 200.
type notFoundWriter struct {
	http.ResponseWriter
	wrote    bool
	replaced bool // a 500 became a 404; drop what gohlslib writes after
	// gone reports whether the muxer was closed; gohlslib then answers
	// waiting requests with 500, which to a viewer is a 404: the stream
	// is over.
	gone func() bool
}

func (w *notFoundWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	if code == http.StatusInternalServerError && w.gone() {
		w.replaced = true
		notFound(w.ResponseWriter)
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *notFoundWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.replaced {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (Flush,
// deadlines).
func (w *notFoundWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish answers 404 if gohlslib wrote nothing.
func (w *notFoundWriter) finish() {
	if !w.wrote {
		w.wrote = true
		notFound(w.ResponseWriter)
	}
}

func notFound(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-cache")
	http.Error(w, "not found", http.StatusNotFound)
}
