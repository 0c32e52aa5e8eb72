package hls

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/stream"
	"github.com/onair-video/onair/internal/stream/streamtest"
)

const (
	testChannelID = "abcDEF123456"
	testPlayback  = "/api/video/v1/us-east-1.123456789012.channel." + testChannelID + ".m3u8"
)

// env is an HLS server behind an HTTP server, with one live stream whose
// hub the test feeds.
type env struct {
	srv    *Server
	http   *httptest.Server
	hub    *stream.Hub
	st     *live.Stream
	detach func()
	v      *streamtest.Video
	frame  int
	aframe int
	// ntp is the receive time writeUntil gives a unit of media time pts;
	// nil: time.Now().
	ntp func(pts time.Duration) time.Time
}

func newEnv(t *testing.T, latency, container string, tweak func(*Server)) *env {
	t.Helper()
	return newEnvWith(t, streamtest.H264(t), latency, container, tweak)
}

// newEnvWith is newEnv with a clip of the caller's (H.264 or H.265).
func newEnvWith(t *testing.T, v *streamtest.Video, latency, container string, tweak func(*Server)) *env {
	t.Helper()
	srv := New(Config{Log: streamtest.Log()})
	if tweak != nil {
		tweak(srv)
	}
	mux := http.NewServeMux()
	mux.Handle(pathPrefix, srv)
	e := &env{srv: srv, http: httptest.NewServer(mux), v: v}
	e.hub = stream.NewHub([]*stream.Track{
		{Codec: videoCodec(v), ClockRate: 90000},
		{Codec: &stream.AAC{Config: &mpeg4audio.AudioSpecificConfig{
			Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelConfig: 2}}, ClockRate: 48000},
	})
	e.st = &live.Stream{
		Channel: ivs.Channel{ID: testChannelID, ARN: "arn:aws:ivs:us-east-1:123456789012:channel/" + testChannelID,
			LatencyMode: latency, ContainerFormat: container},
		StreamID: "st-test", StartTime: time.Now(), Hub: e.hub,
	}
	var err error
	if e.detach, err = srv.Attach(e.st); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.hub.Close()
		e.detach()
		srv.Close()
		e.http.Close()
	})
	return e
}

// queued is the number of units the channel's muxers have yet to read.
func (e *env) queued() int {
	e.srv.mu.Lock()
	defer e.srv.mu.Unlock()
	n := 0
	if m := e.srv.muxers[testChannelID]; m != nil {
		n += m.reader.Len()
	}
	for _, m := range e.srv.renditions[testChannelID] {
		n += m.reader.Len()
	}
	return n
}

func videoCodec(v *streamtest.Video) stream.Codec {
	if v.VPS != nil {
		return &stream.H265{VPS: v.VPS, SPS: v.SPS, PPS: v.PPS}
	}
	return &stream.H264{SPS: v.SPS, PPS: v.PPS}
}

const aacFrameDur = time.Second * 1024 / 48000

// writeUntil writes video and audio units up to media time end, looping
// the clip with increasing timestamps.
func (e *env) writeUntil(end time.Duration) {
	vt, at := e.hub.Tracks()[0], e.hub.Tracks()[1]
	for {
		vts := time.Duration(e.frame) * time.Second / streamtest.FPS
		ats := time.Duration(e.aframe) * aacFrameDur
		if vts >= end && ats >= end {
			return
		}
		if vts <= ats {
			au := e.v.AUs[e.frame%len(e.v.AUs)]
			key := h264.IsRandomAccess(au)
			if e.v.VPS != nil {
				key = h265.IsRandomAccess(au)
			}
			e.hub.Write(&stream.Unit{Track: vt, PTS: vts, DTS: vts, NTP: e.ntpOf(vts), Payload: au, RandomAccess: key})
			e.frame++
			continue
		}
		e.hub.Write(&stream.Unit{Track: at, PTS: ats, DTS: ats, NTP: e.ntpOf(ats),
			Payload: [][]byte{{0x21, 0x10, 0x05, 0x00, 0xa0, 0x19, 0x33}}})
		e.aframe++
	}
}

func (e *env) ntpOf(pts time.Duration) time.Time {
	if e.ntp == nil {
		return time.Now()
	}
	return e.ntp(pts)
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) do(t *testing.T, method, path string) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return doCtx(t, ctx, method, e.http.URL+path)
}

func (e *env) get(t *testing.T, path string) response {
	t.Helper()
	return e.do(t, http.MethodGet, path)
}

// getAs is get with the Accept header a player sends.
func (e *env) getAs(t *testing.T, path, accept string) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return doCtx(t, ctx, http.MethodGet, e.http.URL+path, "Accept", accept)
}

// doCtx makes a request with the given header pairs (name, value, ...).
func doCtx(t *testing.T, ctx context.Context, method, url string, header ...string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: body}
}

// async runs a GET in the background; the result arrives on the channel.
func (e *env) async(t *testing.T, path string) <-chan response {
	ch := make(chan response, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.http.URL+path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			ch <- response{status: -1, body: []byte(err.Error())}
			return
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		ch <- response{status: res.StatusCode, header: res.Header, body: body}
	}()
	return ch
}

func await(t *testing.T, ch <-chan response, d time.Duration, what string) response {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(d):
		t.Fatalf("%s: no answer within %v", what, d)
		return response{}
	}
}

// settled returns the media playlist once the muxer has consumed what the
// test wrote: the feed runs behind hub.Write, so a playlist read right
// after writing may predate the last units. Two equal reads alone are not
// proof (a starved feed under -race can pause longer than the poll), so the
// muxers' hub queues must be empty too.
func (e *env) settled(t *testing.T, file string) []byte {
	t.Helper()
	var prev []byte
	streamtest.Eventually(t, 10*time.Second, "playlist settles", func() bool {
		if e.queued() > 0 {
			prev = nil
			return false
		}
		cur := e.get(t, channelDir+file).body
		same := prev != nil && bytes.Equal(prev, cur)
		prev = cur
		return same
	})
	return prev
}
