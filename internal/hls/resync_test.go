package hls

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/live/livetest"
	"github.com/onair-video/onair/internal/stream"
	"github.com/onair-video/onair/internal/stream/streamtest"
)

// eventLog is livetest.Sessions keeping the events live emits.
type eventLog struct {
	livetest.Sessions
	mu     sync.Mutex
	events []ivs.Event
}

func (l *eventLog) Emit(_ context.Context, e ivs.Event) (ivs.Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
	return e, nil
}

func (l *eventLog) has(name, code string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if e.Name() == name && e.Detail.Code == code {
			return true
		}
	}
	return false
}

// A muxer that falls a queue behind its stream skips to the next keyframe
// and goes on: the playlist keeps growing, the resync is counted and one
// session event reports it. (Until issue 19 the muxer was dropped and
// playback of the stream ended.)
func TestMuxerResyncKeepsServing(t *testing.T) {
	t.Parallel()
	srv := New(Config{Log: streamtest.Log(), QueueSize: 8})
	mux := http.NewServeMux()
	mux.Handle(pathPrefix, srv)
	events := &eventLog{}
	reg := live.New(events, streamtest.Log())
	reg.AddConsumer(srv)
	ctx := context.Background()
	pub, err := reg.Claim(ctx, livetest.Key, live.ConnInfo{Protocol: "rtmp", Remote: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	v := streamtest.H264(t)
	hub, err := pub.Start(ctx, []*stream.Track{
		{Codec: &stream.H264{SPS: v.SPS, PPS: v.PPS}, ClockRate: 90000},
		{Codec: &stream.AAC{Config: &mpeg4audio.AudioSpecificConfig{
			Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelConfig: 2}}, ClockRate: 48000},
	}, live.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := reg.Get(livetest.ChannelID)
	e := &env{srv: srv, http: httptest.NewServer(mux), hub: hub, st: st, v: v}
	t.Cleanup(func() {
		pub.Close()
		srv.Close()
		e.http.Close()
	})

	// steady writes up to media time end without ever filling the queue.
	var written time.Duration
	steady := func(end time.Duration) {
		for ; written < end; written += time.Second / streamtest.FPS {
			e.writeUntil(written)
			streamtest.Eventually(t, 10*time.Second, "muxer takes a frame", func() bool { return e.queued() == 0 })
		}
	}
	steady(3 * time.Second)
	before := mustMedia(t, e.settled(t, "video1_stream.m3u8"))
	last := before.MediaSequence + len(before.Segments)

	// A burst the muxer cannot keep up with: the hub writes faster than
	// gohlslib muxes, and 8 units are a sixth of a second.
	streamtest.Eventually(t, 20*time.Second, "the muxer resyncs", func() bool {
		written += 2 * time.Second
		e.writeUntil(written)
		for _, c := range reg.Resyncs() {
			if c.Consumer == "hls" && c.Resyncs > 0 && c.SkippedUnits > 0 {
				return true
			}
		}
		return false
	})
	steady(written + 4*time.Second)
	after := mustMedia(t, e.settled(t, "video1_stream.m3u8"))
	if end := after.MediaSequence + len(after.Segments); end < last+3 {
		t.Fatalf("the playlist stopped after the resync: ended at segment %d, was %d before", end, last)
	}
	if r := e.get(t, testPlayback); r.status != http.StatusOK {
		t.Fatalf("multivariant after the resync: %d", r.status)
	}
	streamtest.Eventually(t, 10*time.Second, "a Reader Resync event of hls", func() bool {
		return events.has(ivs.EventReaderResync, "hls")
	})
}
