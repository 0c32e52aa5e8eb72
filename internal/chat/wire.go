package chat

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"sync"
	"syscall"
)

// A room sends each frame to thousands of clients. Through the WebSocket
// library that is one framing, two locks, a buffered copy and a flush per
// client; here the frame is encoded once (textFrame) and the same bytes are
// written to every client's connection. The library still does everything
// else (the handshake, reading, ping and pong, the close handshake): it
// writes its control frames through frameConn, which serializes them with
// the room's frames.

// textFrame encodes payload as one unmasked, final WebSocket text frame
// (RFC 6455 §5.2), as a server sends it.
func textFrame(payload []byte) []byte {
	n := len(payload)
	var b []byte
	switch {
	case n < 126:
		b = append(make([]byte, 0, 2+n), 0x81, byte(n))
	case n <= 0xffff:
		b = append(make([]byte, 0, 4+n), 0x81, 126, 0, 0)
		binary.BigEndian.PutUint16(b[2:], uint16(n))
	default:
		b = append(make([]byte, 0, 10+n), 0x81, 127, 0, 0, 0, 0, 0, 0, 0, 0)
		binary.BigEndian.PutUint64(b[2:], uint64(n))
	}
	return append(b, payload...)
}

// opClose is the opcode of a close frame.
const opClose = 0x8

// controlBuffer holds the largest control frame: 125 bytes of payload, a
// header of up to 6 (a client's, with its mask).
const controlBuffer = 256

// errClosing: a close frame has gone out.
var errClosing = fmt.Errorf("chat: connection closing: %w", net.ErrClosed)

// frameConn is the TCP connection under one client's WebSocket.
type frameConn struct {
	net.Conn
	raw syscall.RawConn // nil if the connection has no file descriptor
	mu  sync.Mutex
	// closed: a close frame has gone out, so no data frame may follow.
	closed bool

	// rest is open while a frame the socket took in part (tryWrite) waits
	// for its rest, which the client's writer sends next (writeFrame):
	// nothing may go out between the two. Set under mu; its own lock, so
	// that Close, which ends the wait, never waits for mu.
	restMu  sync.Mutex
	rest    chan struct{}
	waiting int // Writes waiting for a rest
}

// Write is the library's: it flushes its buffer after every frame, and
// writes only control frames (at most 131 bytes, less than its buffer,
// controlBuffer), so each Write holds whole frames and starts with one.
// That is why this package never writes a data frame through the library
// (websocket.Conn.Write): it would reach here in pieces. A control frame
// waits for the rest of a frame written in part, rather than land inside
// it (a test run on a loaded machine saw a pong do so: the client read
// it as payload, misread the rest and never saw its ping answered).
func (f *frameConn) Write(p []byte) (int, error) {
	f.mu.Lock()
	for {
		f.restMu.Lock()
		wait := f.rest
		if wait != nil {
			f.waiting++
		}
		f.restMu.Unlock()
		if wait == nil {
			break
		}
		f.mu.Unlock()
		<-wait
		f.restMu.Lock()
		f.waiting--
		f.restMu.Unlock()
		f.mu.Lock()
	}
	defer f.mu.Unlock()
	if len(p) > 0 && p[0]&0x0f == opClose {
		f.closed = true
	}
	return f.Conn.Write(p)
}

// writeFrame writes a frame encoded by textFrame (or the rest of one that
// tryWrite wrote in part), unless the connection is closing.
func (f *frameConn) writeFrame(frame []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.restWritten()
	if f.closed {
		return errClosing
	}
	_, err := f.Conn.Write(frame)
	return err
}

// partWritten notes, under mu, that a frame went out in part.
func (f *frameConn) partWritten() {
	f.restMu.Lock()
	f.rest = make(chan struct{})
	f.restMu.Unlock()
}

// restWritten ends the wait for a frame's rest: it went out, or never
// will.
func (f *frameConn) restWritten() {
	f.restMu.Lock()
	if f.rest != nil {
		close(f.rest)
		f.rest = nil
	}
	f.restMu.Unlock()
}

// Close closes the connection; a control frame that waited for a frame's
// rest goes on, and fails.
func (f *frameConn) Close() error {
	f.restWritten()
	return f.Conn.Close()
}

// hijackWriter hands the library a frameConn when it hijacks the HTTP
// connection.
type hijackWriter struct {
	http.ResponseWriter
	conn *frameConn
}

func (h *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = &frameConn{Conn: nc}
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			h.conn.raw = raw
		}
	}
	// net/http flushed the 101 response into nc; the library's writes go
	// to the frameConn, through a buffer that fits its largest frame
	// rather than the 4 KB net/http's holds (per client, for control
	// frames alone).
	brw.Writer = bufio.NewWriterSize(h.conn, controlBuffer)
	return h.conn, brw, nil
}

// Unwrap lets http.ResponseController reach the server's writer.
func (h *hijackWriter) Unwrap() http.ResponseWriter { return h.ResponseWriter }
