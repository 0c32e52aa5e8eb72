package chat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/onair-video/onair/internal/chat"
	"github.com/onair-video/onair/internal/ivschat"
)

// eventReader reads a peer's EVENT frames in the background and checks
// that their attribute i counts up from 0: every frame arrives, whole and
// in order. seen is how many did.
type eventReader struct {
	seen atomic.Int64
	err  chan error
}

func readEvents(conn *websocket.Conn) *eventReader {
	r := &eventReader{err: make(chan error, 1)}
	go func() {
		for {
			_, b, err := conn.Read(context.Background())
			if err != nil {
				r.err <- err
				return
			}
			var f struct {
				Type       string
				Attributes map[string]string
			}
			if err := json.Unmarshal(b, &f); err != nil {
				r.err <- fmt.Errorf("a frame that is not JSON: %w", err)
				return
			}
			if f.Type != "EVENT" {
				continue
			}
			if i, _ := strconv.Atoi(f.Attributes["i"]); int64(i) != r.seen.Load() {
				r.err <- fmt.Errorf("event %s arrived as number %d", f.Attributes["i"], r.seen.Load())
				return
			}
			r.seen.Add(1)
		}
	}()
	return r
}

// upTo waits (30 s: the package tests run beside others under -race) until
// n events arrived.
func (r *eventReader) upTo(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for r.seen.Load() < n {
		select {
		case err := <-r.err:
			t.Fatalf("after %d events: %v", r.seen.Load(), err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events arrived, want %d", r.seen.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func sendEvents(e *env, r ivschat.Room, from, n int, pad string) {
	for i := from; i < from+n; i++ {
		e.srv.SendEvent(context.Background(), r.ID, "tick", map[string]string{"i": strconv.Itoa(i), "pad": pad})
	}
}

// A client that stops reading fills its socket's buffers, then its queue,
// and is disconnected; a client beside it gets every frame, in order.
func TestSlowClientDropped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.room(ivschat.CreateRoomInput{})
	slow := e.join(e.token(r, "slow"))
	fast := e.join(e.token(r, "fast"))
	waitClients(t, e.srv, r.ID, 2)
	got := readEvents(fast.Conn)
	pad := strings.Repeat("x", 900)
	sent := 0
	// The kernel holds some megabytes for the slow client: up to 100,000
	// events of 1 KB, in steps the fast client keeps up with.
	for e.srv.Clients(r.ID) == 2 {
		if sent >= 100_000 {
			t.Fatalf("%d events sent and the client that does not read is still connected", sent)
		}
		sendEvents(e, r, sent, 100, pad)
		sent += 100
		got.upTo(t, int64(sent))
	}
	sendEvents(e, r, sent, 10, pad)
	got.upTo(t, int64(sent+10))
	slow.Closed() // cut off: its socket would not take a close frame
	t.Logf("the client that did not read was dropped after %d events of 1 KB", sent)
}

// A client that stops reading for a while, until its socket is full and
// frames wait in its queue (the socket took the last it was given in
// part), then reads again, gets every frame whole and in order.
func TestPausedClientCatchesUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r, p := e.alone("paused")
	pad := strings.Repeat("p", 900)
	sent := 0
	for e.srv.Queued(r.ID, "paused") < 50 {
		if sent >= 100_000 {
			t.Fatalf("%d events sent and none waits in the queue", sent)
		}
		sendEvents(e, r, sent, 1, pad)
		sent++
	}
	got := readEvents(p.Conn)
	got.upTo(t, int64(sent))
	if n := e.srv.Queued(r.ID, "paused"); n != 0 {
		t.Fatalf("%d frames still queued", n)
	}
	sendEvents(e, r, sent, 10, pad) // written at once again
	got.upTo(t, int64(sent+10))
}

// The room's frames, written beside the library, and the library's control
// frames (pongs to the client's pings) never cut into each other.
func TestFramesBesideControlFrames(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r, p := e.alone("u")
	got := readEvents(p.Conn)
	const n = 5000
	done := make(chan struct{})
	go func() { defer close(done); sendEvents(e, r, 0, n, strings.Repeat("y", 200)) }()
	pings := 0
	for ; pings < 1000; pings++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := p.Conn.Ping(ctx)
		cancel()
		if err != nil {
			select {
			case rerr := <-got.err:
				t.Fatalf("ping %d: %v; the reader: %v", pings, err, rerr)
			default:
				t.Fatalf("ping %d: %v", pings, err)
			}
		}
		select {
		case <-done:
			pings = 1 << 30
		default:
		}
	}
	<-done
	got.upTo(t, n)
}

// A broadcast to hundreds of clients, spread over goroutines, with frames
// the sockets take whole and frames they take in parts: every client gets
// every frame, whole and in order.
//
// Not parallel: its 520 readers take the machine's cores for some seconds,
// and the other tests here wait for sockets to fill and empty.
func TestFanOutManyClients(t *testing.T) {
	e := newEnvWith(t, chat.Config{})
	r := e.room(ivschat.CreateRoomInput{})
	const clients, events = 520, 20 // two goroutines of 260
	readers := make([]*eventReader, clients)
	for i := range readers {
		p := e.join(e.token(r, fmt.Sprintf("u%d", i)))
		p.Conn.SetReadLimit(1 << 20)
		readers[i] = readEvents(p.Conn)
	}
	waitClients(t, e.srv, r.ID, clients)
	sendEvents(e, r, 0, events-2, "small")
	sendEvents(e, r, events-2, 2, strings.Repeat("z", 128<<10)) // more than a new socket takes at once
	for _, rd := range readers {
		rd.upTo(t, events)
	}
}
