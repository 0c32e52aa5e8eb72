package record

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/stream"
	"github.com/onair-video/onair/internal/stream/streamtest"
)

func testRecorder(t *testing.T, rc ivs.RecordingConfiguration, journalDir string) *Recorder {
	t.Helper()
	sp, err := OpenSpool(filepath.Join(t.TempDir(), "spool"), &flaky{up: true, body: map[string]string{}}, 1<<30, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := New(Config{Configs: oneConfig{rc}, Spool: sp, Events: &eventLog{}, Account: "123456789012",
		SegmentDuration: time.Second, JournalDir: journalDir})
	t.Cleanup(r.Close)
	return r
}

var activeConfig = ivs.RecordingConfiguration{ARN: "arn:aws:ivs:us-east-1:123456789012:recording-configuration/abcdABCDefgh",
	State: ivs.RecordingStateActive, DestinationConfiguration: ivs.DestinationConfiguration{S3: &ivs.S3Destination{BucketName: "b"}},
	ThumbnailConfiguration: ivs.ThumbnailConfiguration{RecordingMode: "DISABLED"}}

func testStream(hub *stream.Hub, recording string) *live.Stream {
	return &live.Stream{Channel: ivs.Channel{ID: "AbCdEfGhIjKl", ARN: "arn:aws:ivs:us-east-1:123456789012:channel/AbCdEfGhIjKl",
		RecordingConfigurationARN: recording}, StreamID: "st-1", Hub: hub}
}

// Attach's outcomes: nothing to record, a recording that cannot start (its
// IVS event comes with the error, for live to emit), and one that runs
// without its crash journal (running, and saying so).
func TestRecorderAttachErrors(t *testing.T) {
	t.Parallel()
	v := streamtest.H264(t)
	inactive := activeConfig
	inactive.State = "CREATING"
	cases := []struct {
		name       string
		rc         ivs.RecordingConfiguration
		arn        string
		journal    func(t *testing.T) string
		wantDetach bool
		wantErr    string
		wantEvent  string
	}{
		{"no recording configuration", activeConfig, "", nil, false, "", ""},
		{"configuration not ACTIVE", inactive, activeConfig.ARN, nil, false, "not ACTIVE", ivs.RecordingStartFailure},
		{"journal cannot be opened", activeConfig, activeConfig.ARN, func(t *testing.T) string {
			return filepath.Join(t.TempDir(), "missing") // not created: no journal can be opened in it
		}, true, "crash recovery disabled", ""},
		{"all well", activeConfig, activeConfig.ARN, func(t *testing.T) string { return t.TempDir() }, true, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := ""
			if tc.journal != nil {
				dir = tc.journal(t)
			}
			r := testRecorder(t, tc.rc, dir)
			hub := stream.NewHub([]*stream.Track{{Codec: &stream.H264{SPS: v.SPS, PPS: v.PPS}, ClockRate: 90000}})
			detach, err := r.Attach(testStream(hub, tc.arn))
			hub.Close()
			if detach != nil {
				detach()
			}
			if (detach != nil) != tc.wantDetach {
				t.Fatalf("detach = %v, want one: %v", detach != nil, tc.wantDetach)
			}
			if (err != nil) != (tc.wantErr != "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			var f *live.Failure
			if got := errors.As(err, &f); got != (tc.wantEvent != "") || (got && f.Event.Name() != tc.wantEvent) {
				t.Fatalf("err = %#v, want an event %q", err, tc.wantEvent)
			}
		})
	}
}

// A recording whose reader fell behind ends its segment where the media
// stopped and starts the next at the keyframe it resumed at, marked as a
// discontinuity: no segment claims media it lacks.
func TestRecordingGap(t *testing.T) {
	t.Parallel()
	v := streamtest.H264(t) // keyframes every 30 frames
	r := testRecorder(t, activeConfig, "")
	tr := &stream.Track{Codec: &stream.H264{SPS: v.SPS, PPS: v.PPS}, ClockRate: 90000}
	hub := stream.NewHub([]*stream.Track{tr})
	st := testStream(hub, activeConfig.ARN)
	rec, err := r.recordingFor(st, activeConfig)
	if err != nil {
		t.Fatal(err)
	}
	ts := &trackState{name: "source"}
	rec.tracks[ts.name] = ts
	w := &segmentWriter{rec: rec, t: ts, source: true}
	reader := st.NewReader("record", hub, 40)
	write := func(from, to int) {
		for i := from; i < to; i++ {
			au := v.AUs[i%len(v.AUs)]
			d := time.Duration(i) * time.Second / streamtest.FPS
			hub.Write(&stream.Unit{Track: tr, PTS: d, DTS: d, NTP: time.Now(), Payload: au, RandomAccess: h264.IsRandomAccess(au)})
		}
	}
	write(0, 50) // 40 queued, 10 lost
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.run(context.Background(), reader, hub.Tracks())
	}()
	for i := 50; i < 120; i += 10 { // resumes at frame 60; never a queue behind again
		streamtest.Eventually(t, 10*time.Second, "the writer takes its queue", func() bool { return reader.Len() == 0 })
		write(i, i+10)
	}
	hub.Close()
	<-done

	rec.mu.Lock()
	segs := append([]segment(nil), ts.segments...)
	rec.mu.Unlock()
	frame := time.Second / streamtest.FPS
	want := []segment{{"0.ts", time.Second, false}, {"1.ts", 10 * frame, false}, {"2.ts", time.Second, true}, {"3.ts", time.Second, false}}
	if len(segs) != len(want) {
		t.Fatalf("segments %+v, want %+v", segs, want)
	}
	for i := range want {
		if d := segs[i].dur - want[i].dur; segs[i].file != want[i].file || segs[i].disc != want[i].disc || d > time.Millisecond || d < -time.Millisecond {
			t.Fatalf("segment %d = %+v, want %+v (all: %+v)", i, segs[i], want[i], segs)
		}
	}
}
