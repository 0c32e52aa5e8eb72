//go:build unix

package chat

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// A frame the socket took in part is finished before any control frame
// of the library's: a pong written meanwhile waits for the frame's rest,
// and does not land inside it (which the client would read as payload,
// and then misread the rest: its ping never answered).
func TestControlFrameWaitsForPartialFrame(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	raw, err := nc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	f := &frameConn{Conn: nc, raw: raw}

	frame := textFrame(bytes.Repeat([]byte("x"), 8<<20)) // more than the sockets hold
	n, err := f.tryWrite(frame)
	if err != nil || n == 0 || n >= len(frame) {
		t.Fatalf("tryWrite took %d of %d bytes (%v), want a part", n, len(frame), err)
	}
	pong := []byte{0x8a, 0x00}
	pongDone := make(chan error, 1)
	go func() { _, err := f.Write(pong); pongDone <- err }()
	// The pong's Write goes first, as the library's reader may: it waits
	// for the frame's rest.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(time.Millisecond) {
		f.restMu.Lock()
		waiting := f.waiting
		f.restMu.Unlock()
		if waiting == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the pong's Write did not wait for the frame's rest")
		}
	}
	restDone := make(chan error, 1)
	go func() { restDone <- f.writeFrame(frame[n:]) }()

	got, err := io.ReadAll(io.LimitReader(client, int64(len(frame)+len(pong))))
	if err != nil {
		t.Fatal(err)
	}
	if err := <-restDone; err != nil {
		t.Fatal(err)
	}
	if err := <-pongDone; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, append(frame, pong...)) {
		at := bytes.Index(got, pong)
		t.Fatalf("the pong went out at byte %d of %d, inside the frame that was written in part (%d bytes of it first)", at, len(got), n)
	}
}
