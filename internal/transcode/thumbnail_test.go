package transcode

import (
	"bytes"
	"image/jpeg"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/stream"
	"github.com/onair-video/onair/internal/stream/streamtest"
)

// A live stream's thumbnail is a JPEG of its picture, served at
// /api/video/v1/{channelId}/thumb.jpg until the stream ends.
func TestThumbnails(t *testing.T) {
	t.Parallel()
	v := streamtest.H264(t)
	tr := &stream.Track{Codec: &stream.H264{SPS: v.SPS, PPS: v.PPS}, ClockRate: 90000}
	hub := stream.NewHub([]*stream.Track{tr})
	st := &live.Stream{Channel: ivs.Channel{ID: "AbCdEfGhIjKl", ARN: "arn:aws:ivs:us-east-1:123456789012:channel/AbCdEfGhIjKl"},
		StreamID: "st-1", Hub: hub}
	th := NewThumbnails(time.Second, streamtest.Log())
	detach, err := th.Attach(st)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /api/video/v1/{channelId}/thumb.jpg", th)
	get := func() *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/video/v1/AbCdEfGhIjKl/thumb.jpg", nil))
		return w
	}
	for i, au := range v.AUs {
		d := time.Duration(i) * time.Second / streamtest.FPS
		hub.Write(&stream.Unit{Track: tr, PTS: d, DTS: d, NTP: time.Now(), Payload: au, RandomAccess: h264.IsRandomAccess(au)})
	}
	streamtest.Eventually(t, 10*time.Second, "a thumbnail", func() bool { return get().Code == http.StatusOK })
	w := get()
	img, err := jpeg.Decode(bytes.NewReader(w.Body.Bytes()))
	if err != nil || w.Header().Get("Content-Type") != "image/jpeg" {
		t.Fatalf("thumbnail: %v %v", err, w.Header())
	}
	if b := img.Bounds(); b.Dx() != 320 || b.Dy() != 240 {
		t.Fatalf("thumbnail %v, want the clip's 320x240 (not scaled up)", b)
	}
	hub.Close()
	detach()
	if w := get(); w.Code != http.StatusNotFound {
		t.Fatalf("after the stream: %d", w.Code)
	}
}
