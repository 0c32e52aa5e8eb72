package record

import (
	"bytes"
	"context"
	"os"
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

// A recording whose server died (its journal is all that is left, the
// last line torn) is finished by the next run's Recover: closed playlist,
// master playlist, recording-ended.json and a Recording End Failure event.
func TestRecoverAfterCrash(t *testing.T) {
	t.Parallel()
	v := streamtest.H264(t)
	store := &flaky{up: true, body: map[string]string{}}
	sp, err := OpenSpool(filepath.Join(t.TempDir(), "spool"), store, 1<<30, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	spoolDone := make(chan struct{})
	go func() { defer close(spoolDone); sp.Run(ctx) }()
	rc := ivs.RecordingConfiguration{ARN: "arn:aws:ivs:us-east-1:123456789012:recording-configuration/abcdABCDefgh",
		State: ivs.RecordingStateActive, DestinationConfiguration: ivs.DestinationConfiguration{S3: &ivs.S3Destination{BucketName: "b"}},
		ThumbnailConfiguration: ivs.ThumbnailConfiguration{RecordingMode: "DISABLED"}}
	live1 := t.TempDir()
	r := New(Config{Configs: oneConfig{rc}, Spool: sp, Events: &eventLog{}, Account: "123456789012", SegmentDuration: time.Second,
		JournalDir: live1})
	tr := &stream.Track{Codec: &stream.H264{SPS: v.SPS, PPS: v.PPS}, ClockRate: 90000}
	hub := stream.NewHub([]*stream.Track{tr})
	// Cleanups run before the temp dirs go: the abandoned recorder's
	// writer and the spool must be done with them.
	t.Cleanup(func() {
		hub.Close()
		r.wg.Wait()
		cancel()
		<-spoolDone
	})
	st := &live.Stream{Channel: ivs.Channel{ID: "AbCdEfGhIjKl", ARN: "arn:aws:ivs:us-east-1:123456789012:channel/AbCdEfGhIjKl",
		Name: "crashy", RecordingConfigurationARN: rc.ARN}, StreamID: "st-1", Hub: hub}
	if _, err := r.Attach(st); err != nil { // never detached: the process "dies" while recording
		t.Fatal(err)
	}
	for i, au := range v.AUs {
		d := time.Duration(i) * time.Second / streamtest.FPS
		hub.Write(&stream.Unit{Track: tr, PTS: d, DTS: d, NTP: time.Now(), Payload: au, RandomAccess: h264.IsRandomAccess(au)})
	}
	var journal string
	streamtest.Eventually(t, 10*time.Second, "two segments journaled", func() bool {
		paths, _ := filepath.Glob(filepath.Join(live1, "*.jsonl"))
		if len(paths) != 1 {
			return false
		}
		b, _ := os.ReadFile(paths[0])
		journal = string(b[:bytes.LastIndexByte(b, '\n')+1]) // whole lines: a write may be under way
		return strings.Count(journal, `"segment"`) >= 2
	})
	// The recorder, which lives on in this test, is done writing what the
	// journal names (its playlist follows the journal line), so that the
	// final playlist is not overwritten by an earlier one.
	segs := strings.Count(journal, `"segment"`)
	streamtest.Eventually(t, 10*time.Second, "the live playlist stored", func() bool {
		store.mu.Lock()
		defer store.mu.Unlock()
		for k, b := range store.body {
			if strings.HasSuffix(k, "/playlist.m3u8") && strings.Count(b, "#EXTINF") == segs {
				return true
			}
		}
		return false
	})
	// What the crash left: the journal up to now, its last line torn.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x.jsonl"), []byte(journal+`{"segment":{"track":"240p30","fi`), 0o600); err != nil {
		t.Fatal(err)
	}
	ev := &eventLog{}
	r2 := New(Config{Configs: oneConfig{rc}, Spool: sp, Events: ev, Account: "123456789012", JournalDir: dir})
	n, err := r2.Recover()
	if err != nil || n != 1 {
		t.Fatalf("Recover: %d, %v", n, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Errorf("journal left behind: %v", left)
	}
	if names := ev.names(); len(names) != 1 || names[0] != ivs.RecordingEndFailure {
		t.Fatalf("events %v, want one Recording End Failure", names)
	} else if d := ev.got[0].Detail.RecordingDurationMs; d == nil || *d < 1900 {
		t.Errorf("recording_duration_ms %v, want the two segments' 2 s", d)
	}
	streamtest.Eventually(t, 10*time.Second, "final objects stored", func() bool {
		store.mu.Lock()
		defer store.mu.Unlock()
		var ended, master, playlist string
		for k, b := range store.body {
			switch {
			case strings.HasSuffix(k, "events/recording-ended.json"):
				ended = b
			case strings.HasSuffix(k, "media/hls/master.m3u8"):
				master = b
			case strings.HasSuffix(k, "/playlist.m3u8"):
				playlist = b
			}
		}
		return strings.Contains(ended, `"recording_status": "RECORDING_ENDED_WITH_FAILURE"`) &&
			strings.Contains(ended, "the server stopped while recording") && strings.Contains(master, "playlist.m3u8") &&
			strings.HasSuffix(playlist, "#EXT-X-ENDLIST\n") && strings.Count(playlist, "#EXTINF") == segs
	})
}
