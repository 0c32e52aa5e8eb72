package e2e

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/onair-video/onair/test/e2e/harness"
)

// The harness's embedded NATS (the cluster tests' bus): a client's
// publish reaches a subscriber, request/reply works, a request nobody
// serves fails at once with ErrNoResponders, and a client survives a
// Shutdown and Restart on the same port by reconnecting.
func TestNATSHarness(t *testing.T) {
	t.Parallel()
	n := harness.StartNATS(t)
	reconnected := make(chan struct{}, 1)
	nc, err := nats.Connect(n.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
		nats.ReconnectHandler(func(*nats.Conn) { reconnected <- struct{}{} }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("onair.test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Subscribe("onair.echo", func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		if err := nc.Publish("onair.test", []byte(when)); err != nil {
			t.Fatalf("%s: publish: %v", when, err)
		}
		if m, err := sub.NextMsg(10 * time.Second); err != nil || string(m.Data) != when {
			t.Fatalf("%s: got %v, %v", when, m, err)
		}
		if m, err := nc.Request("onair.echo", []byte(when), 10*time.Second); err != nil || string(m.Data) != when {
			t.Fatalf("%s: request: %v, %v", when, m, err)
		}
	}
	check("before")
	if _, err := nc.Request("onair.nobody", nil, 10*time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("request without a responder: %v, want ErrNoResponders", err)
	}
	n.Shutdown()
	n.Restart()
	select {
	case <-reconnected:
	case <-time.After(30 * time.Second):
		t.Fatal("the client did not reconnect after the restart")
	}
	check("after a restart")
}
