package record

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/onair-video/onair/internal/stream"
	"github.com/onair-video/onair/internal/stream/streamtest"
)

// hlsStore is a running spool over a store that is up.
func hlsStore(t *testing.T) (*Spool, *flaky) {
	t.Helper()
	store := &flaky{up: true, body: map[string]string{}}
	sp, err := OpenSpool(filepath.Join(t.TempDir(), "spool"), store, 1<<30, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sp.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return sp, store
}

func drained(t *testing.T, sp *Spool) {
	t.Helper()
	select {
	case <-sp.Drained():
	case <-time.After(20 * time.Second):
		t.Fatal("spool not drained")
	}
}

// runClip records the 3 s clip (and 3 s of AAC frames) as one run from a
// hub, starting at media time 0.
func runClip(t *testing.T, h *HLS, v *streamtest.Video, withVideo bool) {
	t.Helper()
	vt := &stream.Track{Codec: &stream.H264{SPS: v.SPS, PPS: v.PPS}, ClockRate: 90000}
	at := &stream.Track{Codec: &stream.AAC{Config: &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC,
		SampleRate: 48000, ChannelConfig: 2}}, ClockRate: 48000}
	tracks := []*stream.Track{at}
	if withVideo {
		tracks = []*stream.Track{vt, at}
	}
	hub := stream.NewHub(tracks)
	reader := hub.NewReader(4096, stream.Resync)
	done := make(chan error, 1)
	go func() { done <- h.Record(context.Background(), reader, tracks) }()
	frame := time.Duration(1024 * int64(time.Second) / 48000)
	ai := 0
	for i, au := range v.AUs {
		d := time.Duration(i) * time.Second / streamtest.FPS
		for ; time.Duration(ai)*frame <= d; ai++ {
			hub.Write(&stream.Unit{Track: at, PTS: time.Duration(ai) * frame, Payload: [][]byte{{0x21, 0x10, 0x04}}})
		}
		if withVideo {
			hub.Write(&stream.Unit{Track: vt, PTS: d, DTS: d, Payload: au, RandomAccess: h264.IsRandomAccess(au)})
		}
	}
	hub.Close()
	if err := <-done; !errors.Is(err, stream.ErrClosed) {
		t.Fatalf("Record: %v", err)
	}
}

// An HLS recording of a unit stream under a prefix: IVS's layout, a
// segment per second (the clip's keyframes) at a 1 s target, a
// discontinuity where a second run (a reconnect) begins, thumbnails per
// interval, event files naming the recording; audio only cuts by time.
func TestHLS(t *testing.T) {
	t.Parallel()
	v := streamtest.H264(t)
	for _, tc := range []struct {
		name       string
		media      Media
		runs       int
		wantSegs   int
		wantKeys   []string
		wantCodecs string
	}{
		{"audio and video, two runs", AudioVideo, 2, 6, []string{"media/hls/high/5.ts", "media/thumbnails/high/thumb1.jpg",
			"media/latest_thumbnail/high/thumb.jpg"}, `CODECS="avc1.`},
		{"audio only", AudioOnly, 1, 3, []string{"media/hls/high/2.ts"}, `CODECS="mp4a.40.2"`},
		{"thumbnails only", NoMedia, 1, 0, []string{"media/thumbnails/high/thumb2.jpg"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sp, store := hlsStore(t)
			thumbs := 0
			h := NewHLS(HLSConfig{Spool: sp, Bucket: "b", Prefix: "stage/st-1/part/1234", Rendition: "high",
				SegmentDuration: time.Second, Media: tc.media, Metadata: map[string]string{"participant_id": "part"},
				Thumbnails: Thumbnails{Interval: time.Second, Sequential: true, Latest: true,
					Make: func(context.Context, [][]byte, int) ([]byte, error) { thumbs++; return []byte("jpeg"), nil }}})
			for range tc.runs {
				runClip(t, h, v, tc.media != AudioOnly)
			}
			s := h.Close("")
			drained(t, sp)
			if s.Segments != tc.wantSegs || s.Failure != "" {
				t.Fatalf("summary %+v, want %d segments", s, tc.wantSegs)
			}
			if tc.wantSegs > 0 && (s.Duration < time.Duration(tc.runs)*2900*time.Millisecond || s.Duration > time.Duration(tc.runs)*3100*time.Millisecond) {
				t.Errorf("duration %v for %d runs of 3 s", s.Duration, tc.runs)
			}
			keys := store.got()
			for _, k := range append(tc.wantKeys, "events/recording-started.json", "events/recording-ended.json") {
				if !slices.Contains(keys, "b/stage/st-1/part/1234/"+k) {
					t.Errorf("no %s in %v", k, keys)
				}
			}
			body := func(k string) string {
				store.mu.Lock()
				defer store.mu.Unlock()
				return store.body["b/stage/st-1/part/1234/"+k]
			}
			if tc.wantSegs == 0 {
				if slices.ContainsFunc(keys, func(k string) bool { return strings.Contains(k, "/media/hls/") }) {
					t.Errorf("HLS written without media: %v", keys)
				}
			} else {
				pl := body("media/hls/high/playlist.m3u8")
				if !strings.HasSuffix(pl, "#EXT-X-ENDLIST\n") || strings.Count(pl, "#EXTINF:") != tc.wantSegs ||
					strings.Count(pl, "#EXT-X-DISCONTINUITY") != tc.runs-1 {
					t.Errorf("playlist:\n%s", pl)
				}
				if mv := body("media/hls/multivariant.m3u8"); !strings.Contains(mv, tc.wantCodecs) || !strings.Contains(mv, "\nhigh/playlist.m3u8\n") {
					t.Errorf("multivariant:\n%s", mv)
				}
			}
			var ended map[string]any
			if err := json.Unmarshal([]byte(body("events/recording-ended.json")), &ended); err != nil ||
				ended["recording_status"] != "RECORDING_ENDED" || ended["participant_id"] != "part" {
				t.Errorf("recording-ended.json %v:\n%s", err, body("events/recording-ended.json"))
			}
			if tc.media != AudioOnly && thumbs < 3*tc.runs {
				t.Errorf("%d thumbnails for %d runs of 3 s at 1 s", thumbs, tc.runs)
			}
		})
	}
}

// A recording the process left open (its journal) is finished by
// RecoverHLS: the segments it spooled are listed in a closed playlist and
// recording-ended.json says it ended with a failure.
func TestRecoverHLS(t *testing.T) {
	t.Parallel()
	v := streamtest.H264(t)
	sp, store := hlsStore(t)
	dir := t.TempDir()
	h := NewHLS(HLSConfig{Spool: sp, Bucket: "b", Prefix: "s/st-1/p/1", Rendition: "high", SegmentDuration: time.Second,
		JournalDir: dir, Metadata: map[string]string{"stage_arn": "arn"}})
	runClip(t, h, v, true) // never closed: the process "dies"
	drained(t, sp)
	if pl := store.body["b/s/st-1/p/1/media/hls/high/playlist.m3u8"]; strings.Contains(pl, "ENDLIST") {
		t.Fatalf("open playlist ended:\n%s", pl)
	}
	got, err := RecoverHLS(dir, sp, nil)
	if err != nil || len(got) != 1 {
		t.Fatalf("RecoverHLS: %v %+v", err, got)
	}
	if r := got[0]; r.Prefix != "s/st-1/p/1" || r.Metadata["stage_arn"] != "arn" || r.Summary.Segments != 3 || r.Summary.Failure == "" {
		t.Fatalf("recovered %+v", r)
	}
	drained(t, sp)
	store.mu.Lock()
	pl, ended := store.body["b/s/st-1/p/1/media/hls/high/playlist.m3u8"], store.body["b/s/st-1/p/1/events/recording-ended.json"]
	store.mu.Unlock()
	if !strings.HasSuffix(pl, "#EXT-X-ENDLIST\n") || strings.Count(pl, "#EXTINF") != 3 || !strings.Contains(ended, "RECORDING_ENDED_WITH_FAILURE") {
		t.Fatalf("after recovery:\n%s\n%s", pl, ended)
	}
	if again, err := RecoverHLS(dir, sp, nil); err != nil || len(again) != 0 {
		t.Fatalf("second RecoverHLS: %v %v", err, again)
	}
}

// A keyframe with a new picture size (a WebRTC encoder adapting) begins a
// segment after a discontinuity; the multivariant playlist and the event
// file name the latest size.
func TestHLSResize(t *testing.T) {
	t.Parallel()
	v := streamtest.H264(t)
	var sps640 []byte
	for _, n := range streamtest.SplitAnnexB(streamtest.FFmpeg(t, "-f", "lavfi", "-i", "testsrc=size=640x360:rate=30", "-frames:v", "1",
		"-c:v", "libx264", "-f", "h264", "pipe:1")) {
		if len(n) > 0 && h264.NALUType(n[0]&0x1f) == h264.NALUTypeSPS {
			sps640 = n
		}
	}
	if sps640 == nil {
		t.Fatal("no SPS")
	}
	sp, store := hlsStore(t)
	h := NewHLS(HLSConfig{Spool: sp, Bucket: "b", Prefix: "p", Rendition: "high", SegmentDuration: 10 * time.Second})
	vt := &stream.Track{Codec: &stream.H264{SPS: v.SPS, PPS: v.PPS}, ClockRate: 90000}
	h.Begin([]*stream.Track{vt})
	for i, au := range v.AUs {
		d := time.Duration(i) * time.Second / streamtest.FPS
		key := h264.IsRandomAccess(au)
		if key && i >= 2*streamtest.FPS { // the last second is "640x360"
			au = append([][]byte{sps640}, au...)
		}
		h.Write(context.Background(), &stream.Unit{Track: vt, PTS: d, DTS: d, Payload: au, RandomAccess: key})
	}
	h.EndRun()
	s := h.Close("")
	drained(t, sp)
	store.mu.Lock()
	pl, mv, ended := store.body["b/p/media/hls/high/playlist.m3u8"], store.body["b/p/media/hls/multivariant.m3u8"], store.body["b/p/events/recording-ended.json"]
	store.mu.Unlock()
	if s.Segments != 2 || strings.Count(pl, "#EXT-X-DISCONTINUITY") != 1 || !strings.Contains(pl, "#EXTINF:2.000,\n0.ts\n#EXT-X-DISCONTINUITY\n") {
		t.Errorf("%+v, playlist:\n%s", s, pl)
	}
	if !strings.Contains(mv, "RESOLUTION=640x360") || !strings.Contains(ended, `"resolution_width": 640`) {
		t.Errorf("multivariant:\n%s\nended:\n%s", mv, ended)
	}
}
