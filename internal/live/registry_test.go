package live

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/stream"
)

// fakeSessions is a hand-written ivs fake: keys map to channels; sessions
// are recorded.
type fakeSessions struct {
	mu      sync.Mutex
	keys    map[string]ivs.Channel
	started []string
	ended   []string
	events  []ivs.Event
}

func (f *fakeSessions) ResolveStreamKey(_ context.Context, v string) (ivs.Channel, error) {
	c, ok := f.keys[v]
	if !ok {
		return ivs.Channel{}, ivs.ErrUnknownStreamKey
	}
	return c, nil
}

func (f *fakeSessions) StartStreamSession(_ context.Context, c ivs.Channel, start time.Time, _ ivs.IngestConfigurations) (ivs.StreamSession, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := ivs.NewStreamID()
	f.started = append(f.started, id)
	return ivs.StreamSession{StreamID: id, ChannelID: c.ID, Channel: c, StartTime: start}, nil
}

func (f *fakeSessions) EndStreamSession(_ context.Context, _ ivs.Channel, id string, _ time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ended = append(f.ended, id)
	return nil
}

func (f *fakeSessions) Emit(_ context.Context, e ivs.Event) (ivs.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, e)
	return e, nil
}

// emitted returns the names and codes of the events emitted so far.
func (f *fakeSessions) emitted() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.events {
		out = append(out, e.Name()+"/"+e.Detail.Code)
	}
	return out
}

type fakeConsumer struct {
	attached, detached int
	err                error // returned by Attach
	none               bool  // Attach returns no detach func
}

func (c *fakeConsumer) Attach(*Stream) (func(), error) {
	c.attached++
	if c.none {
		return nil, c.err
	}
	return func() { c.detached++ }, c.err
}

func newRegistry() (*Registry, *fakeSessions, *fakeConsumer) {
	f := &fakeSessions{keys: map[string]ivs.Channel{
		"key-a": {ID: "a", ARN: "arn:a", InsecureIngest: true},
		"key-b": {ID: "b", ARN: "arn:b", InsecureIngest: true},
		"key-s": {ID: "s", ARN: "arn:s"}, // secure ingest only
	}}
	r := New(f, slog.New(slog.NewTextHandler(io.Discard, nil)))
	c := &fakeConsumer{}
	r.AddConsumer(c)
	return r, f, c
}

var tracks = func() []*stream.Track { return []*stream.Track{{Codec: &stream.H264{}, ClockRate: 90000}} }

func TestClaimRules(t *testing.T) {
	t.Parallel()
	r, _, _ := newRegistry()
	ctx := context.Background()
	if _, err := r.Claim(ctx, "nope", ConnInfo{}); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown key: %v", err)
	}
	p, err := r.Claim(ctx, "key-a", ConnInfo{Protocol: "rtmp"})
	if err != nil {
		t.Fatal(err)
	}
	// A second publisher is refused even before the first has started.
	if _, err := r.Claim(ctx, "key-a", ConnInfo{}); !errors.Is(err, ErrChannelBusy) {
		t.Fatalf("second publisher: %v", err)
	}
	// Another channel is not affected.
	pb, err := r.Claim(ctx, "key-b", ConnInfo{})
	if err != nil {
		t.Fatal(err)
	}
	pb.Close()
	// Claimed but not started is not live.
	if _, ok := r.Get("a"); ok {
		t.Fatalf("a claimed channel shows as live")
	}
	if err := r.Stop("a"); !errors.Is(err, ErrNotLive) {
		t.Fatalf("Stop before start: %v", err)
	}
	p.Close()
	p.Close() // idempotent
	if _, err := r.Claim(ctx, "key-a", ConnInfo{}); err != nil {
		t.Fatalf("claim after close: %v", err)
	}
}

func TestStartStopClose(t *testing.T) {
	t.Parallel()
	r, f, c := newRegistry()
	ctx := context.Background()
	p, err := r.Claim(ctx, "key-a", ConnInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Start(ctx, nil, Metadata{}); err == nil {
		t.Fatalf("start without tracks succeeded")
	}
	hub, err := p.Start(ctx, tracks(), Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	st, ok := r.Get("a")
	if !ok || st.Hub != hub || st.StreamID != f.started[0] || c.attached != 1 {
		t.Fatalf("live stream = %+v %v", st, ok)
	}
	if st.Health(time.Now()) != ivs.HealthUnknown {
		t.Fatalf("health before data = %s", st.Health(time.Now()))
	}
	hub.Write(&stream.Unit{Track: hub.Tracks()[0], NTP: time.Now()})
	if h := st.Health(time.Now()); h != ivs.HealthHealthy {
		t.Fatalf("health with data = %s", h)
	}
	if h := st.Health(time.Now().Add(10 * time.Second)); h != ivs.HealthStarving {
		t.Fatalf("health without data = %s", h)
	}
	if l := r.List(); len(l) != 1 {
		t.Fatalf("List = %d streams", len(l))
	}
	if err := r.Stop("a"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	default:
		t.Fatalf("Stop did not signal the publisher")
	}
	p.Close()
	if _, ok := r.Get("a"); ok || c.detached != 1 || len(f.ended) != 1 || f.ended[0] != st.StreamID {
		t.Fatalf("after close: live=%v detached=%d ended=%v", ok, c.detached, f.ended)
	}
}

func TestRegistryClose(t *testing.T) {
	t.Parallel()
	r, _, _ := newRegistry()
	ctx := context.Background()
	p, err := r.Claim(ctx, "key-a", ConnInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Start(ctx, tracks(), Metadata{}); err != nil {
		t.Fatal(err)
	}
	// The publisher's owner closes it when told to stop, as an ingest does.
	go func() {
		<-p.Done()
		p.Close()
	}()
	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	r.Close(closeCtx)
	if closeCtx.Err() != nil {
		t.Fatalf("Close did not wait for the publisher")
	}
	if _, err := r.Claim(ctx, "key-b", ConnInfo{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("claim after close: %v", err)
	}
}

func TestSecureIngestOnly(t *testing.T) {
	t.Parallel()
	r, _, _ := newRegistry()
	ctx := context.Background()
	for _, tc := range []struct {
		conn ConnInfo
		want error
	}{
		{ConnInfo{Protocol: "rtmp", Remote: "192.0.2.1:1"}, ErrInsecure},
		{ConnInfo{Protocol: "srt", Remote: "192.0.2.1:1"}, ErrInsecure},
		{ConnInfo{Protocol: "rtmps", Remote: "192.0.2.1:1", Secure: true}, nil},
	} {
		p, err := r.Claim(ctx, "key-s", tc.conn)
		if !errors.Is(err, tc.want) {
			t.Fatalf("%s: %v, want %v", tc.conn.Protocol, err, tc.want)
		}
		if p != nil {
			p.Close()
		}
	}
}

func TestUnknownKeysThrottledPerAddress(t *testing.T) {
	t.Parallel()
	r, _, _ := newRegistry()
	now := time.Unix(1e9, 0)
	r.failures.Now = func() time.Time { return now }
	ctx := context.Background()
	scanner := ConnInfo{Protocol: "rtmp", Remote: "198.51.100.7:4000"}
	for i := range keyFailureBurst {
		if _, err := r.Claim(ctx, "guess", scanner); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	// Over budget: refused without a lookup, even with a good key.
	if _, err := r.Claim(ctx, "key-a", scanner); !errors.Is(err, ErrThrottled) {
		t.Fatalf("over budget: %v", err)
	}
	// Another address is not affected.
	p, err := r.Claim(ctx, "key-a", ConnInfo{Protocol: "rtmp", Remote: "198.51.100.8:4000"})
	if err != nil {
		t.Fatalf("other address: %v", err)
	}
	p.Close()
	// The budget refills.
	now = now.Add(keyFailureEvery)
	if _, err := r.Claim(ctx, "guess", scanner); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("after refill: %v", err)
	}
}

func TestDisconnect(t *testing.T) {
	t.Parallel()
	r, _, _ := newRegistry()
	p, err := r.Claim(context.Background(), "key-a", ConnInfo{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	r.Disconnect("b", ErrKeyDeleted) // not claimed: nothing happens
	r.Disconnect("a", ErrKeyDeleted)
	select {
	case <-p.Done():
	default:
		t.Fatal("not cut off")
	}
	if !errors.Is(p.Cause(), ErrKeyDeleted) {
		t.Fatalf("cause %v", p.Cause())
	}
}

// TestClaimTakeover: a claim with the channel's key takes over a publisher
// that looks gone, once its owner has closed it; a healthy one, or another
// key, still gets ErrChannelBusy.
func TestClaimTakeover(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		key     string // the second claim's
		gone    bool   // the first publisher's report
		start   bool   // the first publisher is live
		owner   bool   // the first publisher's owner closes it when cut off
		wantErr error
	}{
		{"reported gone", "key-a", true, true, true, nil},
		{"reported gone before it started", "key-a", true, false, true, nil},
		{"healthy and live", "key-a", false, true, true, ErrChannelBusy},
		{"still starting", "key-a", false, false, true, ErrChannelBusy},
		{"another key of the channel", "key-a2", true, true, true, ErrChannelBusy},
		{"its owner does not let go", "key-a", true, true, false, ErrChannelBusy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, f, _ := newRegistry()
			f.keys["key-a2"] = f.keys["key-a"]
			old, err := r.Claim(context.Background(), "key-a", ConnInfo{Protocol: "webrtc"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(old.Close)
			if tc.start {
				hub, err := old.Start(context.Background(), tracks(), Metadata{})
				if err != nil {
					t.Fatal(err)
				}
				hub.Write(&stream.Unit{Track: hub.Tracks()[0], NTP: time.Now(), Payload: [][]byte{{5}}, RandomAccess: true})
			}
			old.SetGone(tc.gone)
			ownerDone := make(chan struct{})
			go func() {
				defer close(ownerDone)
				if !tc.owner {
					return
				}
				<-old.Done()
				old.Close()
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			p, err := r.Claim(ctx, tc.key, ConnInfo{Protocol: "webrtc"})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Claim = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				select {
				case <-old.Done():
					if !tc.gone || tc.owner {
						t.Fatalf("a refused claim cut the publisher off: %v", old.Cause())
					}
				default:
				}
				return
			}
			defer p.Close()
			if !errors.Is(old.Cause(), ErrTakenOver) {
				t.Fatalf("the old publisher's cause: %v", old.Cause())
			}
			<-ownerDone
			if _, err := p.Start(context.Background(), tracks(), Metadata{}); err != nil {
				t.Fatal(err)
			}
			if st, ok := r.Get("a"); !ok || st.pub != p {
				t.Fatalf("the new publisher is not the channel's live one")
			}
		})
	}
}

// TestReplaceableWhenIdle: a live publisher that sent nothing for
// takeoverIdle may be taken over by its own key.
func TestReplaceableWhenIdle(t *testing.T) {
	t.Parallel()
	r, _, _ := newRegistry()
	p, err := r.Claim(context.Background(), "key-a", ConnInfo{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	hub, err := p.Start(context.Background(), tracks(), Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	hub.Write(&stream.Unit{Track: hub.Tracks()[0], NTP: time.Now(), Payload: [][]byte{{5}}, RandomAccess: true})
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, tc := range []struct {
		key  string
		at   time.Time
		want bool
	}{
		{"key-a", now, false},
		{"key-a", now.Add(takeoverIdle + time.Second), true},
		{"key-b", now.Add(takeoverIdle + time.Second), false},
	} {
		if got := p.replaceableBy(tc.key, tc.at); got != tc.want {
			t.Errorf("replaceableBy(%s, +%s) = %v", tc.key, tc.at.Sub(now), got)
		}
	}
}

// ClaimChannel: a keyless claim is busy against any publisher, refuses a
// second, passes admission, and no stream key takes it over even when it
// reports itself gone.
func TestClaimChannel(t *testing.T) {
	t.Parallel()
	r, f, _ := newRegistry()
	ctx := context.Background()
	a := f.keys["key-a"]
	p, err := r.ClaimChannel(ctx, a, ConnInfo{Protocol: "composition"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ClaimChannel(ctx, a, ConnInfo{}); !errors.Is(err, ErrChannelBusy) {
		t.Fatalf("second keyless claim: %v", err)
	}
	p.SetGone(true)
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := r.Claim(short, "key-a", ConnInfo{}); !errors.Is(err, ErrChannelBusy) {
		t.Fatalf("a stream key took a keyless claim over: %v", err)
	}
	p.Close()
	// A channel with a keyed publisher is busy for ClaimChannel.
	k, err := r.Claim(ctx, "key-a", ConnInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ClaimChannel(ctx, a, ConnInfo{}); !errors.Is(err, ErrChannelBusy) {
		t.Fatalf("keyless claim of a busy channel: %v", err)
	}
	k.Close()
	r.SetAdmission(func(context.Context, ivs.Channel) error { return errors.New("quota used up") })
	if _, err := r.ClaimChannel(ctx, a, ConnInfo{}); !errors.Is(err, ErrRefused) {
		t.Fatalf("admission: %v", err)
	}
	r.Close(ctx)
	r.SetAdmission(nil)
	if _, err := r.ClaimChannel(ctx, a, ConnInfo{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// blockingConsumer's detach waits for release: a teardown that takes a
// while (a recorder finishing its segment).
type blockingConsumer struct{ release chan struct{} }

func (c blockingConsumer) Attach(*Stream) (func(), error) { return func() { <-c.release }, nil }

// TestClaimDuringTeardown: an encoder that stops and reconnects at once
// with its key waits for the old publication's teardown (GetStream already
// says offline) instead of being refused as a second publisher; another
// key of the channel is refused.
func TestClaimDuringTeardown(t *testing.T) {
	t.Parallel()
	r, f, _ := newRegistry()
	f.keys["key-a2"] = f.keys["key-a"]
	slow := blockingConsumer{release: make(chan struct{})}
	r.AddConsumer(slow)
	old, err := r.Claim(context.Background(), "key-a", ConnInfo{Protocol: "webrtc"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Start(context.Background(), tracks(), Metadata{}); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() { old.Close(); close(closed) }()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, live := r.Get("a"); !live {
			break // hidden: the teardown runs
		}
		if time.Now().After(deadline) {
			t.Fatal("the closing stream stayed visible")
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := r.Claim(ctx, "key-a2", ConnInfo{Protocol: "webrtc"}); !errors.Is(err, ErrChannelBusy) {
		t.Fatalf("another key during the teardown: %v", err)
	}
	got := make(chan error, 1)
	go func() {
		p, err := r.Claim(context.Background(), "key-a", ConnInfo{Protocol: "webrtc"})
		if err == nil {
			defer p.Close()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("the reconnect did not wait for the teardown: %v", err)
	case <-time.After(50 * time.Millisecond): // it waits (a refusal would come at once)
	}
	close(slow.release)
	<-closed
	if err := <-got; err != nil {
		t.Fatalf("the reconnect after the teardown: %v", err)
	}
}
