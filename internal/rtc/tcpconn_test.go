package rtc

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// pair returns a queuedConn accepted through queuedListener and the
// client end of the same TCP connection.
func pair(t *testing.T) (*queuedConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := queuedListener{ln}.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return server.(*queuedConn), client
}

// A peer that reads gets every byte, in order.
func TestQueuedConnDelivers(t *testing.T) {
	t.Parallel()
	server, client := pair(t)
	var want bytes.Buffer
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		buf := make([]byte, 1200)
		for i := range 2000 {
			for j := range buf {
				buf[j] = byte(i + j)
			}
			want.Write(buf)
			if _, err := server.Write(buf); err != nil { // buf is reused, as pion does
				t.Error(err)
				return
			}
			if i%100 == 0 {
				time.Sleep(time.Millisecond) // let the peer drain: it is not slow
			}
		}
		for { // Close drops what is queued: wait for the queue to drain
			server.mu.Lock()
			n := server.queued
			server.mu.Unlock()
			if n == 0 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		server.Close()
	}()
	got, _ := io.ReadAll(client)
	<-wrote
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("got %d bytes, want %d, or they differ", len(got), want.Len())
	}
}

// A peer that stops reading never blocks the writer: past the queue bound
// writes fail and the connection is closed.
func TestQueuedConnDropsStuckPeer(t *testing.T) {
	t.Parallel()
	server, client := pair(t)
	_ = client.(*net.TCPConn).SetReadBuffer(4096)
	buf := make([]byte, 1200)
	var err error
	sent := 0
	for sent < 64*maxQueuedBytes && err == nil {
		_, err = server.Write(buf)
		sent += len(buf)
	}
	if !errors.Is(err, errSlowPeer) {
		t.Fatalf("after %d bytes: %v, want errSlowPeer", sent, err)
	}
	if _, err := server.Write(buf); !errors.Is(err, errSlowPeer) {
		t.Fatalf("write after the drop: %v", err)
	}
	// The socket is closed (pion's reader then ends the ICE candidate
	// pair) and the queue's goroutine ends.
	if _, err := server.Conn.Write(buf); !errors.Is(err, net.ErrClosed) {
		t.Errorf("the connection is still open: %v", err)
	}
	select {
	case <-server.done:
	default:
		t.Fatal("the queue's goroutine was not told to end")
	}
}
