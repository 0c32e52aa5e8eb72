package stagerecord

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/onair-video/onair/internal/ffmpeg"
	"github.com/onair-video/onair/internal/ivsrealtime"
	"github.com/onair-video/onair/internal/record"
	"github.com/onair-video/onair/internal/rtc"
	"github.com/onair-video/onair/internal/sfu"
	"github.com/onair-video/onair/internal/stage"
	"github.com/onair-video/onair/test/e2e/harness"
)

const stageARN = "arn:aws:ivs:us-east-1:123456789012:stage/AbCdEfGhIjKl"

// fakeMedia is one stage: its watch's fn, and taps on a real SFU room.
type fakeMedia struct {
	room *sfu.Room
	mu   sync.Mutex
	fn   func([]stage.Publishing)
	// calls serializes fn's calls, as Watch's one goroutine does.
	calls sync.Mutex
}

func (m *fakeMedia) Watch(_ string, fn func([]stage.Publishing)) func() {
	m.calls.Lock()
	defer m.calls.Unlock()
	m.mu.Lock()
	m.fn = fn
	m.mu.Unlock()
	fn(nil)
	return func() {}
}

func (m *fakeMedia) Tap(_, publisherID, tapID string, opts sfu.TapOptions) (*sfu.Subscription, error) {
	return m.room.Tap(tapID, publisherID, opts)
}

// set tells the watch who publishes (id → publisher session).
func (m *fakeMedia) set(t *testing.T, pubs map[string]string) {
	t.Helper()
	m.mu.Lock()
	fn := m.fn
	m.mu.Unlock()
	if fn == nil {
		t.Fatal("no watch")
	}
	var ps []stage.Publishing
	for id, s := range pubs {
		p := stage.Publishing{Participant: stage.Participant{ID: id}, Session: s}
		if strings.HasPrefix(id, "replica") {
			p.Participant.ReplicaOf = "arn:aws:ivs:us-east-1:123456789012:stage/SourceStage1"
		}
		ps = append(ps, p)
	}
	m.calls.Lock()
	defer m.calls.Unlock()
	fn(ps)
}

// fakeControl answers one configuration and keeps the reports.
type fakeControl struct {
	cfg     ivsrealtime.AutoParticipantRecordingConfiguration
	err     error // of the target
	mu      sync.Mutex
	reports []ivsrealtime.ParticipantRecording
}

func (c *fakeControl) ParticipantRecordingTarget(_ context.Context, _, participantID string) (ivsrealtime.RecordingTarget, error) {
	return ivsrealtime.RecordingTarget{StageID: "AbCdEfGhIjKl", StageARN: stageARN, SessionID: "st-1234567890abc",
		UserID: "user-" + participantID, Config: c.cfg, Bucket: "vod"}, c.err
}

func (c *fakeControl) SetParticipantRecording(_ context.Context, _ string, r ivsrealtime.ParticipantRecording) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reports = append(c.reports, r)
	return nil
}

// states lists a participant's reports as "STATE/event".
func (c *fakeControl) states(id string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, r := range c.reports {
		if r.ParticipantID == id {
			out = append(out, strings.TrimSuffix(r.State+"/"+r.Event, "/"))
		}
	}
	return out
}

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// publisher sends clip into the room as participant id, at real time,
// until stop.
type publisher struct {
	frames   atomic.Int64 // video frames sent
	keyframe atomic.Bool  // one was asked for
	p        *sfu.Publisher
	cancel   context.CancelFunc
	done     chan struct{}
}

func publish(t *testing.T, room *sfu.Room, id string, clip *harness.Clip) *publisher {
	t.Helper()
	video, audio := rtc.SFUCodecs()
	var h264 webrtc.RTPCodecParameters
	for _, c := range video {
		if c.MimeType == webrtc.MimeTypeH264 && strings.Contains(c.SDPFmtpLine, "42e01f") && strings.Contains(c.SDPFmtpLine, "packetization-mode=1") {
			h264 = c
		}
	}
	pub := &publisher{done: make(chan struct{})}
	// An encoder asked for a keyframe makes one: the clip skips to its
	// next (one a second).
	p, err := room.PublishLocal(id, sfu.LocalOptions{Video: &h264, Audio: &audio[0], Keyframe: func() { pub.keyframe.Store(true) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pub.p, pub.cancel = p, cancel
	go func() {
		defer close(pub.done)
		vp := rtp.NewPacketizer(1200, 0, 0x1234, &codecs.H264Payloader{}, rtp.NewRandomSequencer(), 90000)
		ap := rtp.NewPacketizer(1200, 0, 0x5678, &codecs.OpusPayloader{}, rtp.NewRandomSequencer(), 48000)
		start := time.Now()
		vi, ai, clipAt := 0, 0, 0
		for ctx.Err() == nil {
			nv, na := start.Add(time.Duration(vi)*time.Second/30), start.Add(time.Duration(ai)*20*time.Millisecond)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(earliest(nv, na))):
			}
			if !nv.After(na) {
				if pub.keyframe.Swap(false) {
					clipAt += clip.FPS - (vi+clipAt)%clip.FPS
				}
				for _, pkt := range vp.Packetize(clip.AUs[(vi+clipAt)%len(clip.AUs)], 3000) {
					_ = p.WriteRTP(webrtc.RTPCodecTypeVideo, &pkt.Header, pkt.Payload)
				}
				vi++
				pub.frames.Add(1)
			} else {
				for _, pkt := range ap.Packetize(clip.Opus[ai%len(clip.Opus)], 960) {
					_ = p.WriteRTP(webrtc.RTPCodecTypeAudio, &pkt.Header, pkt.Payload)
				}
				ai++
			}
		}
	}()
	t.Cleanup(pub.stop)
	return pub
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// sent waits until n more frames are sent than at the call.
func (p *publisher) sent(t *testing.T, n int64) {
	t.Helper()
	want := p.frames.Load() + n
	eventually(t, time.Duration(n)*time.Second, fmt.Sprintf("%d frames sent", n), func() bool { return p.frames.Load() >= want })
}

func (p *publisher) stop() {
	p.cancel()
	<-p.done
	p.p.Close()
}

// A publisher is recorded from its first keyframe; it stops and comes back
// within the reconnect window: one recording, one prefix, a discontinuity;
// the window passes and the recording ends: STOPPED with Recording End, a
// closed playlist of both publishes that ffprobe plays, thumbnails. A
// second participant with the same configuration has a prefix of its own.
func TestParticipantRecording(t *testing.T) {
	t.Parallel()
	ffprobe, err := exec.LookPath("ffprobe")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("ffprobe is required")
		}
		t.Skip("no ffprobe")
	}
	clip := harness.MakeClip(t, "320x180", 30, 2*time.Second)
	dir := t.TempDir()
	spool, err := record.OpenSpool(filepath.Join(dir, "spool"), record.Local{Root: filepath.Join(dir, "s3")}, 1<<30, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	spoolDone := make(chan struct{})
	go func() { defer close(spoolDone); spool.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-spoolDone })
	room := sfu.NewRoom(sfu.Config{})
	t.Cleanup(room.Close)
	media := &fakeMedia{room: room}
	control := &fakeControl{cfg: ivsrealtime.AutoParticipantRecordingConfiguration{StorageConfigurationArn: "arn:sc",
		MediaTypes: []string{"AUDIO_VIDEO"}, RecordingReconnectWindowSeconds: 3,
		ThumbnailConfiguration: ivsrealtime.ParticipantThumbnailConfiguration{TargetIntervalSeconds: 1,
			Storage: []string{"SEQUENTIAL", "LATEST"}, RecordingMode: "INTERVAL"},
		HLSConfiguration: ivsrealtime.ParticipantRecordingHLS{TargetSegmentDurationSeconds: 2}}}
	r := New(Config{Media: media, Control: control, Spool: spool, JournalDir: filepath.Join(dir, "journal"),
		Thumbnail: ffmpeg.KeyframeJPEG})
	t.Cleanup(r.Close)
	r.StageActive(stageARN)
	eventually(t, 5*time.Second, "the watch", func() bool { media.mu.Lock(); defer media.mu.Unlock(); return media.fn != nil })

	active := func(id string, n int) func() bool {
		return func() bool {
			return len(slices.DeleteFunc(control.states(id), func(s string) bool { return !strings.HasPrefix(s, "ACTIVE") })) >= n
		}
	}
	alice := publish(t, room, "alice", clip)
	bob := publish(t, room, "bob", clip)
	media.set(t, map[string]string{"alice": "a1", "bob": "b1"})
	eventually(t, 20*time.Second, "both recordings active", func() bool { return active("alice", 1)() && active("bob", 1)() })
	alice.sent(t, 4*30)
	alice.stop()
	media.set(t, map[string]string{"bob": "b1"})
	// Back within the window (3 s): the same recording.
	alice = publish(t, room, "alice", clip)
	media.set(t, map[string]string{"alice": "a2", "bob": "b1"})
	eventually(t, 20*time.Second, "alice active again", active("alice", 2))
	alice.sent(t, 3*30)
	alice.stop()
	bob.stop()
	bobSent := float64(bob.frames.Load()) / 30
	media.set(t, nil)
	eventually(t, 30*time.Second, "both recordings ended", func() bool {
		return slices.Contains(control.states("alice"), "STOPPED/Recording End") && slices.Contains(control.states("bob"), "STOPPED/Recording End")
	})
	if got := strings.Join(control.states("alice"), " "); got != "STARTING ACTIVE/Recording Start ACTIVE STOPPING STOPPED/Recording End" {
		t.Errorf("alice's states: %s", got)
	}
	select {
	case <-spool.Drained():
	case <-time.After(30 * time.Second):
		t.Fatal("spool not drained")
	}
	prefixes := map[string]string{}
	control.mu.Lock()
	for _, rep := range control.reports {
		if prefixes[rep.ParticipantID] == "" {
			prefixes[rep.ParticipantID] = rep.Prefix
		} else if prefixes[rep.ParticipantID] != rep.Prefix {
			t.Errorf("%s: prefix %s, then %s", rep.ParticipantID, prefixes[rep.ParticipantID], rep.Prefix)
		}
	}
	control.mu.Unlock()
	for id, want := range map[string]float64{"alice": 7, "bob": 0} {
		p := prefixes[id]
		parts := strings.Split(p, "/")
		if len(parts) != 4 || parts[0] != "AbCdEfGhIjKl" || parts[1] != "st-1234567890abc" || parts[2] != id {
			t.Fatalf("%s: prefix %q", id, p)
		}
		if _, err := strconv.ParseInt(parts[3], 10, 64); err != nil {
			t.Fatalf("%s: recording id %q", id, parts[3])
		}
		root := filepath.Join(dir, "s3", "vod", p)
		for _, f := range []string{"events/recording-started.json", "events/recording-ended.json", "media/hls/multivariant.m3u8",
			"media/thumbnails/high/thumb0.jpg", "media/thumbnails/high/thumb3.jpg", "media/latest_thumbnail/high/thumb.jpg"} {
			if _, err := os.Stat(filepath.Join(root, f)); err != nil {
				t.Errorf("%s: %v", id, err)
			}
		}
		pl, _ := os.ReadFile(filepath.Join(root, "media", "hls", "high", "playlist.m3u8"))
		if !strings.HasSuffix(string(pl), "#EXT-X-ENDLIST\n") || (id == "alice") != strings.Contains(string(pl), "#EXT-X-DISCONTINUITY") {
			t.Errorf("%s: playlist\n%s", id, pl)
		}
		out, err := exec.Command(ffprobe, "-v", "error", "-show_entries", "format=duration:stream=codec_name", "-of", "csv=p=0",
			filepath.Join(root, "media", "hls", "multivariant.m3u8")).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: ffprobe: %v\n%s", id, err, out)
		}
		lines := strings.Fields(string(out))
		d, _ := strconv.ParseFloat(lines[len(lines)-1], 64)
		if !strings.Contains(string(out), "h264") || !strings.Contains(string(out), "aac") {
			t.Errorf("%s: streams %q", id, out)
		}
		if id == "alice" && (d < want-0.7 || d > want+0.7) {
			t.Errorf("alice: %.2f s recorded of about %v s published", d, want)
		}
		// Bob was recorded from his first keyframe after the watch saw him.
		if id == "bob" && (d < bobSent-1.5 || d > bobSent+0.5) {
			t.Errorf("bob: %.2f s recorded of %.2f s sent", d, bobSent)
		}
		t.Logf("%s: %.2f s recorded", id, d)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "journal")); len(entries) != 0 {
		t.Errorf("journals left: %v", entries)
	}
}

// rig is a recorder on a real SFU room with a store on disk, for one
// configuration.
type rig struct {
	dir     string
	room    *sfu.Room
	media   *fakeMedia
	control *fakeControl
	spool   *record.Spool
	r       *Recorder
}

func newRig(t *testing.T, cfg ivsrealtime.AutoParticipantRecordingConfiguration, targetErr error) *rig {
	t.Helper()
	x := &rig{dir: t.TempDir()}
	var err error
	x.spool, err = record.OpenSpool(filepath.Join(x.dir, "spool"), record.Local{Root: filepath.Join(x.dir, "s3")}, 1<<30, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	spoolDone := make(chan struct{})
	go func() { defer close(spoolDone); x.spool.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-spoolDone })
	x.room = sfu.NewRoom(sfu.Config{})
	t.Cleanup(x.room.Close)
	x.media = &fakeMedia{room: x.room}
	x.control = &fakeControl{cfg: cfg, err: targetErr}
	x.r = New(Config{Media: x.media, Control: x.control, Spool: x.spool, JournalDir: filepath.Join(x.dir, "journal"),
		Thumbnail: ffmpeg.KeyframeJPEG})
	t.Cleanup(x.r.Close)
	x.r.StageActive(stageARN)
	eventually(t, 5*time.Second, "the watch", func() bool { x.media.mu.Lock(); defer x.media.mu.Unlock(); return x.media.fn != nil })
	return x
}

// prefixes are the distinct prefixes reported for a participant.
func (c *fakeControl) prefixes(id string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, r := range c.reports {
		if r.ParticipantID == id && r.Prefix != "" && !slices.Contains(out, r.Prefix) {
			out = append(out, r.Prefix)
		}
	}
	return out
}

// The other paths of a recording: without a reconnect window a republish
// is a new recording; a deleted stage ends its recordings at once, window
// or not; AUDIO_ONLY keeps AAC alone; a storage configuration that is gone
// is a Recording Start Failure.
func TestParticipantRecordingCases(t *testing.T) {
	t.Parallel()
	clip := harness.MakeClip(t, "320x180", 30, 2*time.Second)
	base := ivsrealtime.AutoParticipantRecordingConfiguration{StorageConfigurationArn: "arn:sc", MediaTypes: []string{"AUDIO_VIDEO"},
		HLSConfiguration:       ivsrealtime.ParticipantRecordingHLS{TargetSegmentDurationSeconds: 2},
		ThumbnailConfiguration: ivsrealtime.ParticipantThumbnailConfiguration{RecordingMode: "DISABLED"}}
	t.Run("no window: a republish is a new recording", func(t *testing.T) {
		t.Parallel()
		x := newRig(t, base, nil)
		for i, session := range []string{"s1", "s2"} {
			p := publish(t, x.room, "carol", clip)
			x.media.set(t, map[string]string{"carol": session})
			eventually(t, 20*time.Second, "recording", func() bool {
				return len(slices.DeleteFunc(x.control.states("carol"), func(s string) bool { return s != "ACTIVE/Recording Start" })) == i+1
			})
			p.sent(t, 30)
			p.stop()
			x.media.set(t, nil)
			eventually(t, 20*time.Second, "the end", func() bool {
				return len(slices.DeleteFunc(x.control.states("carol"), func(s string) bool { return s != "STOPPED/Recording End" })) == i+1
			})
		}
		if ps := x.control.prefixes("carol"); len(ps) != 2 || ps[0] == ps[1] {
			t.Fatalf("prefixes %q", ps)
		}
	})
	t.Run("a deleted stage ends its recordings at once", func(t *testing.T) {
		t.Parallel()
		cfg := base
		cfg.RecordingReconnectWindowSeconds = 300
		x := newRig(t, cfg, nil)
		p := publish(t, x.room, "dave", clip)
		x.media.set(t, map[string]string{"dave": "d1"})
		eventually(t, 20*time.Second, "recording", func() bool { return slices.Contains(x.control.states("dave"), "ACTIVE/Recording Start") })
		p.sent(t, 30)
		x.r.StageDeleted(stageARN)
		if got := x.control.states("dave"); got[len(got)-1] != "STOPPED/Recording End" {
			t.Fatalf("after StageDeleted: %q", got)
		}
	})
	t.Run("audio only", func(t *testing.T) {
		t.Parallel()
		cfg := base
		cfg.MediaTypes = []string{"AUDIO_ONLY"}
		x := newRig(t, cfg, nil)
		p := publish(t, x.room, "erin", clip)
		x.media.set(t, map[string]string{"erin": "e1"})
		eventually(t, 20*time.Second, "recording", func() bool { return slices.Contains(x.control.states("erin"), "ACTIVE/Recording Start") })
		p.sent(t, 3*30)
		p.stop()
		x.media.set(t, nil)
		eventually(t, 20*time.Second, "the end", func() bool { return slices.Contains(x.control.states("erin"), "STOPPED/Recording End") })
		select {
		case <-x.spool.Drained():
		case <-time.After(20 * time.Second):
			t.Fatal("spool not drained")
		}
		mv, err := os.ReadFile(filepath.Join(x.dir, "s3", "vod", x.control.prefixes("erin")[0], "media", "hls", "multivariant.m3u8"))
		if err != nil || !strings.Contains(string(mv), `CODECS="mp4a.40.2"`) || strings.Contains(string(mv), "RESOLUTION") {
			t.Fatalf("multivariant %v:\n%s", err, mv)
		}
	})
	t.Run("replicas not recorded", func(t *testing.T) {
		t.Parallel()
		cfg := base
		cfg.RecordParticipantReplicas = false
		x := newRig(t, cfg, nil)
		rp := publish(t, x.room, "replica1", clip)
		x.media.set(t, map[string]string{"replica1": "r1"})
		own := publish(t, x.room, "hank", clip)
		x.media.set(t, map[string]string{"replica1": "r1", "hank": "h1"})
		eventually(t, 20*time.Second, "hank recorded", func() bool { return slices.Contains(x.control.states("hank"), "ACTIVE/Recording Start") })
		if got := x.control.states("replica1"); len(got) != 0 {
			t.Fatalf("the replica was recorded: %q", got)
		}
		rp.stop()
		own.stop()
	})
	t.Run("storage configuration gone", func(t *testing.T) {
		t.Parallel()
		x := newRig(t, base, fmt.Errorf("ivsrealtime: the stage's storage configuration: %w", errors.New("not found")))
		p := publish(t, x.room, "frank", clip)
		x.media.set(t, map[string]string{"frank": "f1"})
		eventually(t, 20*time.Second, "the failure", func() bool {
			return slices.Equal(x.control.states("frank"), []string{"FAILED/Recording Start Failure"})
		})
		p.stop()
	})
}

// A recording the process stopped in the middle of is finished at the
// next start: FAILED with a Recording End Failure about the participant.
func TestRecover(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	spool, err := record.OpenSpool(filepath.Join(dir, "spool"), record.Local{Root: filepath.Join(dir, "s3")}, 1<<30, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := record.NewHLS(record.HLSConfig{Spool: spool, Bucket: "vod", Prefix: "AbCdEfGhIjKl/st-1234567890abc/gina/1700000000",
		Rendition: "high", JournalDir: filepath.Join(dir, "journal"),
		Metadata: map[string]string{"stage_arn": stageARN, "session_id": "st-1234567890abc", "participant_id": "gina", "user_id": "g"}})
	_ = h // never closed: the process "died"
	control := &fakeControl{}
	r := New(Config{Control: control, Spool: spool, JournalDir: filepath.Join(dir, "journal")})
	n, err := r.Recover(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("Recover: %d %v", n, err)
	}
	control.mu.Lock()
	defer control.mu.Unlock()
	if len(control.reports) != 1 {
		t.Fatalf("reports %+v", control.reports)
	}
	if rep := control.reports[0]; rep.State != ivsrealtime.RecordingFailed || rep.Event != ivsrealtime.EventRecordingEndFailure ||
		rep.ParticipantID != "gina" || rep.SessionID != "st-1234567890abc" || rep.Prefix != "AbCdEfGhIjKl/st-1234567890abc/gina/1700000000" ||
		rep.Reason == "" {
		t.Fatalf("report %+v", rep)
	}
}
