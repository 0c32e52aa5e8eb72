package harness

import (
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// NATS is a NATS server embedded in the test process (core NATS, no
// JetStream: the cluster needs none, scale-out.md §4.4), on a free
// loopback port that it keeps across Shutdown and Restart, for outage
// tests. No Docker, no shared server; the version is go.mod's.
type NATS struct {
	t    PostgresTB
	Port int

	mu  sync.Mutex
	srv *server.Server
}

// StartNATS starts an embedded NATS server, shut down when the test ends
// (t is a testing.TB, or a program's stand-in: bench's).
func StartNATS(t PostgresTB) *NATS {
	t.Helper()
	n := &NATS{t: t, Port: freePort(t)}
	n.Restart()
	t.Cleanup(n.Shutdown)
	return n
}

// URL is the server's client URL.
func (n *NATS) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.Port) }

// Restart starts the server again on its port (after Shutdown) and waits
// until it accepts clients.
func (n *NATS) Restart() {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv != nil {
		return
	}
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: n.Port, NoLog: true, NoSigs: true})
	if err != nil {
		n.t.Fatalf("nats: %v", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		n.t.Fatalf("nats: not ready on port %d in 10 s", n.Port)
	}
	n.srv = srv
}

// Shutdown stops the server and waits until it has; its clients see the
// connection drop and reconnect after Restart.
func (n *NATS) Shutdown() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv == nil {
		return
	}
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
	n.srv = nil
}
