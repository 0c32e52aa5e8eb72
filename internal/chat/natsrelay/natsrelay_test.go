package natsrelay

import (
	"context"
	"errors"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/onair-video/onair/test/e2e/harness"
)

// Ids become one subject token each, and come back whole.
func TestToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"AbC123xyz789", "AbC123xyz789"},
		{"node-1_a", "node-1_a"},
		{"n.1", "n%2E1"},
		{"a*b>c d", "a%2Ab%3Ec%20d"},
		{"100%", "100%25"},
		{"é", "%C3%A9"},
	} {
		got := token(tc.in)
		if got != tc.want {
			t.Errorf("token(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if back, err := url.PathUnescape(got); err != nil || back != tc.in {
			t.Errorf("unescape(%q) = %q, %v", got, back, err)
		}
	}
}

func connect(t *testing.T, n *harness.NATS) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(n.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Requests reach the addressed node only, and fail at once when nobody
// serves it; publications reach the room's subscribers in order; stop
// waits for the handlers running.
func TestRelay(t *testing.T) {
	t.Parallel()
	n := harness.StartNATS(t)
	nodes := func() []string { return []string{"a", "b.x"} }
	a, b := New(connect(t, n), "a", nodes, nil), New(connect(t, n), "b.x", nodes, nil)
	ctx := context.Background()

	var served atomic.Int32
	release := make(chan struct{})
	stop, err := b.Serve(func(_ context.Context, room string, req []byte) []byte {
		served.Add(1)
		if string(req) == "slow" {
			<-release
		}
		return []byte(room + ":" + string(req))
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := a.Request(ctx, "b.x", "room.1", []byte("hi")); err != nil || string(got) != "room.1:hi" {
		t.Fatalf("request: %q, %v", got, err)
	}
	if _, err := b.Request(ctx, "a", "r", []byte("hi")); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("a request to a node that does not serve: %v", err)
	}

	var got []string
	done := make(chan struct{})
	unsub, err := b.Subscribe("r1", func(m []byte) {
		got = append(got, string(m))
		if len(got) == 3 {
			close(done)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"1", "2", "3"} {
		if err := a.Publish("r1", []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("publications did not arrive")
	}
	if got[0] != "1" || got[2] != "3" {
		t.Fatalf("got %v", got)
	}
	unsub()

	// A slow handler: stop waits for it, and ends its context.
	answered := make(chan error, 1)
	go func() {
		_, err := a.Request(ctx, "b.x", "r", []byte("slow"))
		answered <- err
	}()
	for served.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("stop returned while a handler ran")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-stopped
	if err := <-answered; err != nil {
		t.Fatalf("the slow request: %v", err)
	}
	if _, err := a.Request(ctx, "b.x", "r", []byte("hi")); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("after stop: %v", err)
	}

	// NATS down: publish and request fail at once.
	n.Shutdown()
	deadline := time.Now().Add(10 * time.Second)
	for a.nc.IsConnected() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := a.Publish("r1", []byte("x")); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("publish while down: %v", err)
	}
	if _, err := a.Request(ctx, "b.x", "r", nil); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("request while down: %v", err)
	}
}
