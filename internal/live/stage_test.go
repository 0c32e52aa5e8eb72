package live

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/onair-video/onair/internal/stream"
)

// fakeStageIngest knows one ingest configuration key ("rt_good") of a
// configuration without insecureIngest, and "rt_insecure" of one with.
type fakeStageIngest struct {
	mu      sync.Mutex
	refused []string
	started []*stream.Hub
	stopped int
	cut     func(error)
}

func (f *fakeStageIngest) ResolveStageKey(_ context.Context, key string) (StageTarget, error) {
	switch key {
	case "rt_good":
		return &fakeTarget{f: f, insecure: false}, nil
	case "rt_insecure":
		return &fakeTarget{f: f, insecure: true}, nil
	}
	return nil, ErrUnknownKey
}

type fakeTarget struct {
	f        *fakeStageIngest
	insecure bool
}

func (t *fakeTarget) Slot() string { return "cfg/p" }
func (t *fakeTarget) Name() string {
	return "arn:aws:ivs:us-east-1:123456789012:ingest-configuration/cfg"
}
func (t *fakeTarget) InsecureIngest() bool { return t.insecure }
func (t *fakeTarget) Refused(code string, conn ConnInfo) {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	t.f.refused = append(t.f.refused, code+"/"+StageProtocol(conn))
}

func (t *fakeTarget) Publish(hub *stream.Hub, _ ConnInfo, cut func(error)) (func(), error) {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	t.f.started = append(t.f.started, hub)
	t.f.cut = cut
	return func() {
		t.f.mu.Lock()
		t.f.stopped++
		t.f.mu.Unlock()
	}, nil
}

// An ingest configuration's key publishes into its stage target, not a
// channel: no stream session, no consumers; one encoder at a time
// (REUSE_OF_STREAM_KEY), plain RTMP only with insecureIngest
// (INVALID_PROTOCOL), WHIP not at all; the target's cut ends the
// publisher.
func TestClaimStage(t *testing.T) {
	t.Parallel()
	r, sessions, consumer := newRegistry()
	si := &fakeStageIngest{}
	r.SetStageIngest(si)
	ctx := context.Background()
	rtmps := ConnInfo{Protocol: "rtmps", Remote: "192.0.2.1:1", Secure: true}
	rtmp := ConnInfo{Protocol: "rtmp", Remote: "192.0.2.1:2"}

	for _, tc := range []struct {
		key  string
		conn ConnInfo
		want error
	}{
		{"rt_unknown", rtmps, ErrUnknownKey},
		{"rt_good", rtmp, ErrInsecure},
		{"rt_good", ConnInfo{Protocol: "srt", Remote: "192.0.2.1:3"}, ErrInsecure},
		{"rt_good", ConnInfo{Protocol: "whip", Remote: "192.0.2.1:4", Secure: true}, ErrUnknownKey},
	} {
		if _, err := r.Claim(ctx, tc.key, tc.conn); !errors.Is(err, tc.want) {
			t.Errorf("%s over %s: %v, want %v", tc.key, tc.conn.Protocol, err, tc.want)
		}
	}
	p, err := r.Claim(ctx, "rt_good", rtmps)
	if err != nil {
		t.Fatal(err)
	}
	if p.Target() != "arn:aws:ivs:us-east-1:123456789012:ingest-configuration/cfg" || p.Channel().ID != "" {
		t.Fatalf("publisher of %s, channel %+v", p.Target(), p.Channel())
	}
	if _, err := r.Claim(ctx, "rt_insecure", rtmp); !errors.Is(err, ErrChannelBusy) {
		t.Fatalf("a second encoder on the slot: %v", err)
	}
	tr := &stream.Track{Codec: &stream.H264{}, ClockRate: 90000}
	hub, err := p.Start(ctx, []*stream.Track{tr}, Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	si.mu.Lock()
	if len(si.started) != 1 || si.started[0] != hub || !slices.Equal(si.refused, []string{"INVALID_PROTOCOL/RTMP", "INVALID_PROTOCOL/SRT",
		"REUSE_OF_STREAM_KEY/RTMP"}) {
		t.Fatalf("started %d, refused %v", len(si.started), si.refused)
	}
	cut := si.cut
	si.mu.Unlock()
	if len(sessions.started) != 0 || len(r.List()) != 0 || consumer.attached != 0 {
		t.Fatalf("a stage publish made a channel live: sessions %v, live %d", sessions.started, len(r.List()))
	}

	cause := errors.New("deleted")
	cut(cause)
	<-p.Done()
	if !errors.Is(p.Cause(), cause) {
		t.Fatalf("cause %v", p.Cause())
	}
	p.Close()
	si.mu.Lock()
	stopped := si.stopped
	si.mu.Unlock()
	if stopped != 1 {
		t.Fatalf("stopped %d times", stopped)
	}
	// The slot is free again; a channel's key is as before.
	p, err = r.Claim(ctx, "rt_insecure", rtmp)
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
}
