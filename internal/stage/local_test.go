package stage

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/onair-video/onair/internal/rtc"
	"github.com/onair-video/onair/internal/sfu"
	"github.com/onair-video/onair/test/e2e/harness"
)

// watchLog keeps what a Watch reported.
type watchLog struct {
	mu   sync.Mutex
	sets [][]Publishing
}

func (w *watchLog) add(set []Publishing) {
	w.mu.Lock()
	w.sets = append(w.sets, set)
	w.mu.Unlock()
}

func (w *watchLog) last() []Publishing {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.sets) == 0 {
		return nil
	}
	return w.sets[len(w.sets)-1]
}

func publishers(set []Publishing) []string {
	var ids []string
	for _, p := range set {
		ids = append(ids, p.Participant.ID)
	}
	return ids
}

// A WHIP publisher is watched and tapped; its tapped packets, published
// again through PublishLocal as another participant (as a replica or an
// RTMP encoder is), reach a WHEP subscriber and everyone's roster; the
// local participant leaves when its publisher closes, and a Disconnect
// closes it.
func TestWatchTapPublishLocal(t *testing.T) {
	t.Parallel()
	m := newMediaEnv(t)
	alice, bob := m.auth.add("alice", map[string]string{"featured": "true"}), m.auth.add("bob", nil)
	ca, _ := m.join(alice)
	cb, _ := m.join(bob)
	var w watchLog
	stop := m.s.Watch(testARN, w.add)
	defer stop()
	eventually(t, 5*time.Second, "the first set", func() bool { return w.last() != nil && len(w.last()) == 0 })

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pub, err := harness.PublishWHIP(ctx, m.whip+"/publish/alice", alice, harness.MakeVP8Clip(t, "160x120", 15, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	eventually(t, 20*time.Second, "alice publishing in the watch", func() bool {
		set := w.last()
		return len(set) == 1 && set[0].Participant.ID == "alice" && set[0].Participant.Attributes["featured"] == "true" &&
			set[0].Session != "" && !set[0].Since.IsZero()
	})
	ca.send(map[string]any{"type": "aws:ivs:SET_STATE", "payload": map[string]any{"audioMuted": true}})
	eventually(t, 10*time.Second, "the mute in the watch", func() bool { s := w.last(); return len(s) == 1 && s[0].AudioMuted })

	if _, err := m.s.Tap(testARN, "bob", "tap", sfu.TapOptions{Video: func(*rtp.Header, []byte) {}}); !errors.Is(err, sfu.ErrPublisherNotFound) {
		t.Fatalf("tap of a participant that does not publish: %v", err)
	}
	// The relay: alice's tapped packets into a local publisher "relay".
	relay := Participant{StageARN: testARN, Topic: testTopic, ID: "relay", UserID: "relay-user", Publish: true,
		Client: Client{Protocol: "RTMPS"}}
	var lp *sfu.Publisher
	var lpMu sync.Mutex
	write := func(kind webrtc.RTPCodecType) func(*rtp.Header, []byte) {
		return func(h *rtp.Header, payload []byte) {
			lpMu.Lock()
			p := lp
			lpMu.Unlock()
			if p != nil {
				_ = p.WriteRTP(kind, h, payload)
			}
		}
	}
	tap, err := m.s.Tap(testARN, "alice", "relay-tap", sfu.TapOptions{Audio: write(webrtc.RTPCodecTypeAudio), Video: write(webrtc.RTPCodecTypeVideo)})
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	a, v := tap.Codecs()
	p, err := m.s.PublishLocal(relay, sfu.LocalOptions{Audio: a, Video: v, Keyframe: tap.RequestKeyframe})
	if err != nil {
		t.Fatal(err)
	}
	lpMu.Lock()
	lp = p
	lpMu.Unlock()
	if _, err := m.s.PublishLocal(relay, sfu.LocalOptions{Audio: a, Video: v}); !errors.Is(err, sfu.ErrPublisherExists) {
		t.Fatalf("a second local publish of one participant: %v", err)
	}
	cb.state(func(st stageState) bool { p, ok := find(st, "relay"); return ok && p.IsPublishing })
	eventually(t, 10*time.Second, "the relay in the watch", func() bool {
		return slices.Equal(publishers(w.last()), []string{"alice", "relay"})
	})
	view, err := harness.WatchWHEPWith(ctx, m.whip+"/subscribe/relay", harness.WatchOptions{Bearer: bob})
	if err != nil {
		t.Fatal(err)
	}
	defer view.Close()
	eventually(t, 20*time.Second, "the relay's frames at bob", func() bool { return len(view.Frames()) > 5 })
	eventually(t, 5*time.Second, "the relay's calls", func() bool {
		return m.life.has("joined relay first=false") && m.life.has("published relay true") &&
			m.life.client("relay").Protocol == "RTMPS"
	})

	// Disconnect closes the local publisher; the participant leaves.
	if err := m.s.Disconnect(testARN, "relay", "", time.Time{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Disconnect did not close the local publisher")
	}
	cb.state(func(st stageState) bool { _, ok := find(st, "relay"); return !ok })
	eventually(t, 10*time.Second, "the relay's leave", func() bool {
		return m.life.has("published relay false") && m.life.has("left relay disconnected last=false")
	})
	eventually(t, 10*time.Second, "the watch without the relay", func() bool {
		return slices.Equal(publishers(w.last()), []string{"alice"})
	})

	// A local publisher closed by its owner leaves too.
	again := relay
	again.ID = "relay2"
	p2, err := m.s.PublishLocal(again, sfu.LocalOptions{Audio: a, Video: v})
	if err != nil {
		t.Fatal(err)
	}
	cb.state(func(st stageState) bool { p, ok := find(st, "relay2"); return ok && p.IsPublishing })
	p2.Close()
	cb.state(func(st stageState) bool { _, ok := find(st, "relay2"); return !ok })
	eventually(t, 10*time.Second, "relay2's leave", func() bool { return m.life.has("left relay2 closed last=false") })

	// Alice stops: her tap ends, the watch empties.
	pub.Close()
	select {
	case <-tap.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the tap outlived its publisher")
	}
	eventually(t, 20*time.Second, "an empty watch", func() bool { s := w.last(); return s != nil && len(s) == 0 })
	_ = cb.ws.Close(1000, "")
	_ = ca.ws.Close(1000, "")
	eventually(t, 10*time.Second, "the stage to empty", func() bool { return len(m.s.Participants(testARN)) == 0 })
	eventually(t, 10*time.Second, "the SFU to be empty", func() bool {
		return m.metrics.Publishers.Load() == 0 && m.metrics.Subscriptions.Load() == 0
	})
}

// A participant without the PUBLISH capability may not publish locally,
// and a stage at its publisher limit refuses another.
func TestPublishLocalRefusals(t *testing.T) {
	t.Parallel()
	m := newMediaEnv(t)
	_, video := sfuCodecs()
	p := Participant{StageARN: testARN, Topic: testTopic, ID: "viewer"}
	if _, err := m.s.PublishLocal(p, sfu.LocalOptions{Video: video}); !errors.Is(err, ErrPublishNotAllowed) {
		t.Fatalf("without PUBLISH: %v", err)
	}
	var pubs []*sfu.Publisher
	for i := range MaxPublishers {
		q := Participant{StageARN: testARN, Topic: testTopic, ID: "p" + string(rune('a'+i)), Publish: true}
		x, err := m.s.PublishLocal(q, sfu.LocalOptions{Video: video})
		if err != nil {
			t.Fatal(err)
		}
		pubs = append(pubs, x)
	}
	over := Participant{StageARN: testARN, Topic: testTopic, ID: "over", Publish: true}
	if _, err := m.s.PublishLocal(over, sfu.LocalOptions{Video: video}); !errors.Is(err, ErrTooManyPublishers) {
		t.Fatalf("beyond the limit: %v", err)
	}
	eventually(t, 5*time.Second, "the refusals' events", func() bool {
		return m.life.has("publish failed viewer INSUFFICIENT_CAPABILITIES") && m.life.has("publish failed over QUOTA_EXCEEDED")
	})
	if got := len(m.s.Participants(testARN)); got != MaxPublishers {
		t.Fatalf("%d participants, want %d (the refused ones must not stay)", got, MaxPublishers)
	}
	for _, x := range pubs {
		x.Close()
	}
	eventually(t, 10*time.Second, "the stage to empty", func() bool { return len(m.s.Participants(testARN)) == 0 })
}

// sfuCodecs returns the SFU's Opus and its first video codec.
func sfuCodecs() (audio, video *webrtc.RTPCodecParameters) {
	v, a := rtc.SFUCodecs()
	return &a[0], &v[0]
}

// A replica publishes its source's media in another stage: a subscriber
// there decodes it, keeps its subscription across the source's
// republish within the window, and the replica leaves once the source
// stays away past the window.
func TestReplicate(t *testing.T) {
	t.Parallel()
	m := newMediaEnv(t)
	const arnB, topicB = "arn:aws:ivs:us-east-1:123456789012:stage/bbbbBBBBbbbb", "bbbbBBBBbbbb"
	alice := m.auth.add("alice", map[string]string{"a": "1"})
	m.auth.mu.Lock()
	m.auth.tokens["tok-bob-b"] = Participant{StageARN: arnB, Topic: topicB, ID: "bob", UserID: "user-bob", Subscribe: true,
		Expires: time.Now().Add(time.Hour)}
	m.auth.mu.Unlock()
	ca, _ := m.join(alice)
	defer func() { _ = ca.ws.Close(1000, "") }()
	cb := m.dial(m.url+"?topic="+topicB+"/publishers", "tok-bob-b")
	cb.state(func(stageState) bool { return true })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	clip := harness.MakeVP8Clip(t, "160x120", 15, time.Second)
	replica := Participant{StageARN: arnB, Topic: topicB, ID: "alice", UserID: "user-alice", Publish: true,
		Attributes: map[string]string{"a": "1", "b": "2"}, Client: Client{Protocol: ProtocolWHIP}}
	stopped := make(chan error, 1)
	cfg := ReplicaConfig{SourceStageARN: testARN, Replica: replica, ReconnectWindow: 20 * time.Second,
		Stopped: func(err error) { stopped <- err }}
	if _, err := m.s.Replicate(cfg); !errors.Is(err, sfu.ErrPublisherNotFound) {
		t.Fatalf("replicating a participant that does not publish: %v", err)
	}
	pub, err := harness.PublishWHIP(ctx, m.whip+"/publish/alice", alice, clip)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "alice publishing", func() bool {
		m.s.mu.Lock()
		defer m.s.mu.Unlock()
		st := m.s.stages[testARN]
		return st != nil && st.members["alice"] != nil && st.members["alice"].publishing
	})
	rep, err := m.s.Replicate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Stop()
	cb.state(func(st stageState) bool {
		p, ok := find(st, "alice")
		return ok && p.IsPublishing && p.Attributes["b"] == "2"
	})
	view, err := harness.WatchWHEPWith(ctx, m.whip+"/subscribe/alice", harness.WatchOptions{Bearer: "tok-bob-b"})
	if err != nil {
		t.Fatal(err)
	}
	defer view.Close()
	eventually(t, 20*time.Second, "the replica's frames at bob", func() bool { return len(view.Frames()) > 5 })

	// The source republishes within the window: bob's subscription goes
	// on, with frames of the new publish.
	pub.Close()
	pub2, err := harness.PublishWHIP(ctx, m.whip+"/publish/alice", alice, clip)
	if err != nil {
		t.Fatal(err)
	}
	n := len(view.Frames())
	eventually(t, 30*time.Second, "frames after the republish", func() bool { return len(view.Frames()) > n+10 })
	if view.PC.ConnectionState() != webrtc.PeerConnectionStateConnected {
		t.Fatal("bob's subscription ended with the source's republish")
	}
	select {
	case err := <-stopped:
		t.Fatalf("the replica stopped: %v", err)
	default:
	}

	// The source stops for good: the replica stays for the window, then
	// leaves.
	pub2.Close()
	left := time.Now()
	select {
	case err := <-stopped:
		if !errors.Is(err, ErrSourceGone) {
			t.Fatalf("stopped with %v", err)
		}
		if d := time.Since(left); d < 15*time.Second {
			t.Fatalf("the replica left %v after its source, within the window", d)
		}
	case <-time.After(time.Minute):
		t.Fatal("the replica outlived its window")
	}
	cb.state(func(st stageState) bool { _, ok := find(st, "alice"); return !ok })
	eventually(t, 10*time.Second, "the replica's leave", func() bool { return m.life.has("left alice closed last=false") })
}
