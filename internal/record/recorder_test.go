package record

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/stream"
	"github.com/onair-video/onair/internal/stream/streamtest"
)

type oneConfig struct{ rc ivs.RecordingConfiguration }

func (o oneConfig) GetRecordingConfiguration(context.Context, string) (ivs.RecordingConfiguration, error) {
	return o.rc, nil
}

type eventLog struct {
	mu  sync.Mutex
	got []ivs.Event
}

func (e *eventLog) Emit(_ context.Context, ev ivs.Event) (ivs.Event, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, ev)
	return ev, nil
}

func (e *eventLog) names() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.got {
		out = append(out, ev.Name())
	}
	return out
}

// With the store down and the spool too small to hold the recording, the
// loss is not silent: a Recording End Failure event says so at the first
// loss (one, however many objects are lost), and the recording's end is a
// Recording End Failure too.
func TestSpoolFullIsAnEvent(t *testing.T) {
	t.Parallel()
	v := streamtest.H264(t)
	down := &flaky{body: map[string]string{}}
	sp, err := OpenSpool(filepath.Join(t.TempDir(), "spool"), down, 40_000, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := &eventLog{}
	rc := ivs.RecordingConfiguration{ARN: "arn:aws:ivs:us-east-1:123456789012:recording-configuration/abcdABCDefgh",
		State: ivs.RecordingStateActive, DestinationConfiguration: ivs.DestinationConfiguration{S3: &ivs.S3Destination{BucketName: "b"}},
		ThumbnailConfiguration: ivs.ThumbnailConfiguration{RecordingMode: "DISABLED"}}
	r := New(Config{Configs: oneConfig{rc}, Spool: sp, Events: ev, Account: "123456789012", SegmentDuration: time.Second})
	tr := &stream.Track{Codec: &stream.H264{SPS: v.SPS, PPS: v.PPS}, ClockRate: 90000}
	hub := stream.NewHub([]*stream.Track{tr})
	st := &live.Stream{Channel: ivs.Channel{ID: "AbCdEfGhIjKl", ARN: "arn:aws:ivs:us-east-1:123456789012:channel/AbCdEfGhIjKl",
		RecordingConfigurationARN: rc.ARN}, StreamID: "st-1", Hub: hub}
	detach, err := r.Attach(st)
	if err != nil {
		t.Fatal(err)
	}
	for i, au := range v.AUs {
		d := time.Duration(i) * time.Second / streamtest.FPS
		hub.Write(&stream.Unit{Track: tr, PTS: d, DTS: d, NTP: time.Now(), Payload: au, RandomAccess: h264.IsRandomAccess(au)})
	}
	hub.Close()
	detach()
	r.Close()
	want := []string{ivs.RecordingStart, ivs.RecordingEndFailure, ivs.RecordingEndFailure}
	if got := ev.names(); !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
}
