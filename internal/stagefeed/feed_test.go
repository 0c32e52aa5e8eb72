package stagefeed

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/sfu"
	"github.com/onair-video/onair/internal/stage"
	"github.com/onair-video/onair/internal/stream"
)

const (
	testStage = "arn:aws:ivs:us-east-1:123456789012:stage/abcdABCDefgh"
	testKey   = "rt_123456789012_us-east-1_AbCdEfGh1234_secret"
)

// domain is a control plane of one ingest configuration.
type domain struct {
	mu      sync.Mutex
	refused []string
	gone    bool
}

func (d *domain) Resolve(context.Context, string) (Ingest, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.gone {
		return Ingest{}, live.ErrUnknownKey
	}
	return Ingest{ConfigID: "AbCdEfGh1234", ConfigARN: "arn:aws:ivs:us-east-1:123456789012:ingest-configuration/AbCdEfGh1234",
		StageARN: testStage, StageID: "abcdABCDefgh", ParticipantID: "encoder", UserID: "cam",
		Attributes: map[string]string{"role": "camera"}}, nil
}

func (d *domain) Refused(_ context.Context, _ Ingest, code, protocol string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.refused = append(d.refused, code+"/"+protocol)
	return nil
}

func (d *domain) codes() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.refused)
}

// cuts records the causes a feed ended its encoder with.
type cuts struct {
	mu     sync.Mutex
	causes []error
}

func (c *cuts) cut(err error) {
	c.mu.Lock()
	c.causes = append(c.causes, err)
	c.mu.Unlock()
}

func (c *cuts) has(target error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.ContainsFunc(c.causes, func(e error) bool { return errors.Is(e, target) })
}

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// env is a roster with its stage's feeds.
type env struct {
	roster *stage.Stages
	feeds  *Feeds
	domain *domain
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{roster: stage.New(stage.Config{}), domain: &domain{}}
	e.feeds = New(Config{Domain: e.domain, Roster: e.roster})
	t.Cleanup(func() {
		e.feeds.Close()
		e.roster.Close()
	})
	return e
}

// publishing lists the stage's publishing participants.
func (e *env) publishing() []string {
	var (
		mu  sync.Mutex
		ids []string
		got = make(chan struct{})
	)
	var once sync.Once
	stop := e.roster.Watch(testStage, func(set []stage.Publishing) {
		mu.Lock()
		ids = ids[:0]
		for _, p := range set {
			ids = append(ids, p.Participant.ID+"/"+p.Participant.UserID+"/"+p.Participant.Client.Protocol)
		}
		mu.Unlock()
		once.Do(func() { close(got) })
	})
	<-got
	stop()
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(ids)
}

func videoTrack() *stream.Track {
	return &stream.Track{Index: 0, Codec: &stream.H264{SPS: spsMain, PPS: pps}, ClockRate: 90000}
}

// unit is an access unit of the main-profile parameter sets: an IDR, or
// a P (or B) picture with a slice header that says so.
func unit(tr *stream.Track, i int, kind byte) *stream.Unit {
	pts := time.Duration(i) * time.Second / 30
	var au [][]byte
	switch kind {
	case 'I':
		au = [][]byte{spsMain, pps, {0x65, 0x88, byte(i), 0x11, 0x22}}
	case 'P':
		au = [][]byte{{0x41, 0x9a, byte(i), 0x33}}
	case 'B':
		au = [][]byte{{0x01, 0x9e, byte(i), 0x44}}
	}
	return &stream.Unit{Track: tr, PTS: pts, DTS: pts, NTP: time.Now(), Payload: au, RandomAccess: kind == 'I'}
}

// An encoder's H.264 reaches the stage as its ingest configuration's
// participant (user id, protocol): a tap of it rebuilds the pictures from
// the first keyframe; a B-frame later cuts it off with B_FRAME_PRESENT and
// it leaves the stage.
func TestFeedPublishes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	target, err := e.feeds.ResolveStageKey(context.Background(), testKey)
	if err != nil {
		t.Fatal(err)
	}
	if target.Slot() != "AbCdEfGh1234/encoder" || target.InsecureIngest() {
		t.Fatalf("target %s", target.Slot())
	}
	tr := videoTrack()
	hub := stream.NewHub([]*stream.Track{tr})
	var c cuts
	stop, err := target.Publish(hub, live.ConnInfo{Protocol: "rtmps", Secure: true}, c.cut)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if !e.feeds.Active("AbCdEfGh1234") {
		t.Fatal("not active while publishing")
	}
	// Before its keyframe and the frames after it, nobody sees it.
	hub.Write(unit(tr, 0, 'P'))
	hub.Write(unit(tr, 1, 'I'))
	for i := 2; i < 5; i++ {
		hub.Write(unit(tr, i, 'P'))
	}
	eventually(t, 5*time.Second, "the encoder publishing", func() bool {
		return slices.Equal(e.publishing(), []string{"encoder/cam/RTMPS"})
	})

	var mu sync.Mutex
	var frames [][]byte
	sb := samplebuilder.New(64, &codecs.H264Packet{}, 90000)
	sub, err := e.roster.Tap(testStage, "encoder", "tap", sfu.TapOptions{Video: func(h *rtp.Header, payload []byte) {
		mu.Lock()
		defer mu.Unlock()
		sb.Push(&rtp.Packet{Header: *h, Payload: slices.Clone(payload)})
		for s := sb.Pop(); s != nil; s = sb.Pop() {
			frames = append(frames, s.Data)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for i := 5; i < 40; i++ {
		kind := byte('P')
		if i%10 == 0 {
			kind = 'I'
		}
		hub.Write(unit(tr, i, kind))
	}
	eventually(t, 10*time.Second, "pictures through the tap", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(frames) >= 10
	})
	if len(c.causes) != 0 {
		t.Fatalf("cut off: %v", c.causes)
	}

	hub.Write(unit(tr, 40, 'B'))
	eventually(t, 5*time.Second, "the B-frame's cut-off", func() bool { return c.has(ErrBFrames) })
	if got := e.domain.codes(); !slices.Equal(got, []string{"B_FRAME_PRESENT/RTMPS"}) {
		t.Fatalf("refusals %v", got)
	}
	stop()
	if e.feeds.Active("AbCdEfGh1234") {
		t.Fatal("active after its stop")
	}
	eventually(t, 5*time.Second, "the encoder leaving", func() bool { return len(e.publishing()) == 0 })
}

// What a stage cannot carry is refused before anyone sees it: other
// codecs at once, B-frames in the first pictures (reordered, or B slices),
// a configuration deleted while the encoder's tracks were read.
func TestFeedRefuses(t *testing.T) {
	t.Parallel()
	aac := &stream.Track{Index: 1, Codec: &stream.AAC{Config: &mpeg4audio.AudioSpecificConfig{Type: 2, SampleRate: 48000, ChannelConfig: 2}},
		ClockRate: 48000}
	for _, tc := range []struct {
		name   string
		tracks []*stream.Track
		code   string
		err    error
	}{
		{"H.265", []*stream.Track{{Codec: &stream.H265{}, ClockRate: 90000}}, CodeInvalidVideoCodec, ErrVideoCodec},
		{"VP8", []*stream.Track{{Codec: &stream.VP8{}, ClockRate: 90000}}, CodeInvalidVideoCodec, ErrVideoCodec},
		{"High 10", []*stream.Track{{Codec: &stream.H264{SPS: spsHigh10, PPS: pps}, ClockRate: 90000}}, CodeInvalidVideoCodec, ErrVideoCodec},
		{"Opus", []*stream.Track{videoTrack(), {Index: 1, Codec: &stream.Opus{ChannelCount: 2}, ClockRate: 48000}}, CodeInvalidAudioCodec, ErrAudioCodec},
		{"audio only", []*stream.Track{aac}, CodeInvalidVideoCodec, ErrVideoCodec},
	} {
		e := newEnv(t)
		target, err := e.feeds.ResolveStageKey(context.Background(), testKey)
		if err != nil {
			t.Fatal(err)
		}
		var c cuts
		hub := stream.NewHub(tc.tracks)
		if _, err := target.Publish(hub, live.ConnInfo{Protocol: "srt"}, c.cut); !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
		}
		if got := e.domain.codes(); !slices.Equal(got, []string{tc.code + "/SRT"}) {
			t.Errorf("%s: refusals %v", tc.name, got)
		}
		if e.feeds.Active("AbCdEfGh1234") {
			t.Errorf("%s: active", tc.name)
		}
	}

	for _, tc := range []struct {
		name string
		b    func(tr *stream.Track) *stream.Unit
	}{
		{"reordered", func(tr *stream.Track) *stream.Unit {
			u := unit(tr, 2, 'P')
			u.PTS += time.Second / 15
			return u
		}},
		{"a B slice", func(tr *stream.Track) *stream.Unit { return unit(tr, 2, 'B') }},
	} {
		e := newEnv(t)
		target, err := e.feeds.ResolveStageKey(context.Background(), testKey)
		if err != nil {
			t.Fatal(err)
		}
		tr := videoTrack()
		hub := stream.NewHub([]*stream.Track{tr})
		var c cuts
		stop, err := target.Publish(hub, live.ConnInfo{Protocol: "rtmp"}, c.cut)
		if err != nil {
			t.Fatal(err)
		}
		hub.Write(unit(tr, 0, 'I'))
		hub.Write(unit(tr, 1, 'P'))
		hub.Write(tc.b(tr))
		eventually(t, 5*time.Second, tc.name+": cut off", func() bool { return c.has(ErrBFrames) })
		stop()
		if got := e.domain.codes(); !slices.Equal(got, []string{"B_FRAME_PRESENT/RTMP"}) {
			t.Errorf("%s: refusals %v", tc.name, got)
		}
		if got := e.publishing(); len(got) != 0 {
			t.Errorf("%s: published %v", tc.name, got)
		}
	}

	e := newEnv(t)
	target, err := e.feeds.ResolveStageKey(context.Background(), testKey)
	if err != nil {
		t.Fatal(err)
	}
	e.domain.mu.Lock()
	e.domain.gone = true
	e.domain.mu.Unlock()
	if _, err := target.Publish(stream.NewHub([]*stream.Track{videoTrack()}), live.ConnInfo{Protocol: "rtmps", Secure: true},
		func(error) {}); !errors.Is(err, live.ErrUnknownKey) {
		t.Errorf("a configuration deleted meanwhile: %v", err)
	}
}

// The encoder is cut off when its configuration is deleted (Cut), when
// the participant is disconnected, and when the feeds close.
func TestFeedCutOff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		end  func(e *env)
		want error
	}{
		{"deleted", func(e *env) { e.feeds.Cut("AbCdEfGh1234", ErrDeleted) }, ErrDeleted},
		{"disconnected", func(e *env) {
			if err := e.roster.Disconnect(testStage, "encoder", "", time.Time{}); err != nil {
				panic(err)
			}
		}, ErrLeft},
		{"closed", func(e *env) { e.feeds.Close() }, ErrClosed},
	} {
		e := newEnv(t)
		target, err := e.feeds.ResolveStageKey(context.Background(), testKey)
		if err != nil {
			t.Fatal(err)
		}
		tr := videoTrack()
		hub := stream.NewHub([]*stream.Track{tr})
		var c cuts
		stop, err := target.Publish(hub, live.ConnInfo{Protocol: "rtmps", Secure: true}, c.cut)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			kind := byte('P')
			if i == 0 {
				kind = 'I'
			}
			hub.Write(unit(tr, i, kind))
		}
		eventually(t, 5*time.Second, tc.name+": publishing", func() bool { return len(e.publishing()) == 1 })
		tc.end(e)
		eventually(t, 5*time.Second, tc.name+": cut off", func() bool { return c.has(tc.want) })
		stop()
		eventually(t, 5*time.Second, tc.name+": gone from the stage", func() bool { return len(e.publishing()) == 0 })
	}
}
