package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

// HTTPResult is a fetched resource.
type HTTPResult struct {
	Status int
	Header http.Header
	Body   []byte
	// Elapsed is the time from request to the last body byte.
	Elapsed time.Duration
}

// Fetch GETs u and reads the whole body.
func Fetch(ctx context.Context, u string) (HTTPResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return HTTPResult{}, err
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return HTTPResult{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return HTTPResult{}, fmt.Errorf("read %s: %w", u, err)
	}
	return HTTPResult{Status: resp.StatusCode, Header: resp.Header, Body: b, Elapsed: time.Since(start)}, nil
}

// Resolve resolves ref against base.
func Resolve(base, ref string) string {
	b, err := url.Parse(base)
	if err != nil {
		return ref
	}
	r, err := url.Parse(ref)
	if err != nil {
		return ref
	}
	return b.ResolveReference(r).String()
}

// FetchMultivariant fetches and parses a multivariant playlist.
func FetchMultivariant(ctx context.Context, u string) (*playlist.Multivariant, HTTPResult, error) {
	res, err := Fetch(ctx, u)
	if err != nil {
		return nil, res, err
	}
	if res.Status != http.StatusOK {
		return nil, res, fmt.Errorf("GET %s: status %d", u, res.Status)
	}
	var m playlist.Multivariant
	if err := m.Unmarshal(res.Body); err != nil {
		return nil, res, fmt.Errorf("parse multivariant %s: %w\n%s", u, err, res.Body)
	}
	return &m, res, nil
}

// FetchMedia fetches and parses a media playlist.
func FetchMedia(ctx context.Context, u string) (*playlist.Media, HTTPResult, error) {
	res, err := Fetch(ctx, u)
	if err != nil {
		return nil, res, err
	}
	if res.Status != http.StatusOK {
		return nil, res, fmt.Errorf("GET %s: status %d", u, res.Status)
	}
	var m playlist.Media
	if err := m.Unmarshal(res.Body); err != nil {
		return nil, res, fmt.Errorf("parse media playlist %s: %w\n%s", u, err, res.Body)
	}
	return &m, res, nil
}

// Probe is what ffprobe found in a video file.
type Probe struct {
	Codec  string
	Width  int
	Height int
	// Frames is the number of frames ffprobe decoded.
	Frames int
}

// FFprobe decodes the video stream of data (e.g. an fMP4 init section and a
// segment, or a TS segment) and returns what it found.
func FFprobe(t testing.TB, data []byte) Probe {
	t.Helper()
	bin := RequireProgram(t, "ffprobe")
	f := filepath.Join(t.TempDir(), "media")
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "json", f).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, out)
	}
	var res struct {
		Streams []struct {
			CodecName string `json:"codec_name"`
			Width     int    `json:"width"`
			Height    int    `json:"height"`
			Frames    string `json:"nb_read_frames"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res.Streams) == 0 {
		t.Fatalf("ffprobe output %s: %v", out, err)
	}
	s := res.Streams[0]
	n, _ := strconv.Atoi(s.Frames) // absent means none decoded: 0
	return Probe{Codec: s.CodecName, Width: s.Width, Height: s.Height, Frames: n}
}
