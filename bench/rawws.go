package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
)

// wsReader is a bare WebSocket client that only reads, for the clients of
// the chat phase. Why not coder/websocket, which the sender and the tests
// use: with 5,000 clients on the machine they measure, its per-message
// locks, buffers and context hooks cost the load generator more CPU than
// the server it measured, and the latency it reported was the
// generator's. This reads each frame from its buffer without a copy.
type wsReader struct {
	conn net.Conn
	br   *bufio.Reader
	buf  []byte // for frames longer than br's buffer
}

// dialWS opens a WebSocket to u (ws://) offering protocol as its
// subprotocol, which the server must echo.
func dialWS(ctx context.Context, u, protocol string) (*wsReader, error) {
	pu, err := url.Parse(u)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", pu.Host)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n\r\n", pu.RequestURI(), pu.Host, key, protocol)
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(conn, 4<<10)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	res.Body.Close()
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	switch {
	case res.StatusCode != http.StatusSwitchingProtocols:
		err = fmt.Errorf("websocket handshake: %s", res.Status)
	case res.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]):
		err = errors.New("websocket handshake: wrong Sec-WebSocket-Accept")
	case res.Header.Get("Sec-WebSocket-Protocol") != protocol:
		err = errors.New("websocket handshake: the subprotocol was not echoed")
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &wsReader{conn: conn, br: br}, nil
}

// errWSClosed is a close frame from the server.
var errWSClosed = errors.New("websocket closed by the server")

// next returns the payload of the next data frame, valid until the next
// call. Control frames other than close are skipped (the server sends
// no ping); fragmented messages are not expected from the chat server.
func (w *wsReader) next() ([]byte, error) {
	for {
		h, err := w.br.Peek(2)
		if err != nil {
			return nil, err
		}
		op, n, hl := h[0]&0x0f, uint64(h[1]&0x7f), 2
		if h[1]&0x80 != 0 {
			return nil, errors.New("websocket: the server masked a frame")
		}
		switch n {
		case 126:
			if h, err = w.br.Peek(4); err != nil {
				return nil, err
			}
			n, hl = uint64(binary.BigEndian.Uint16(h[2:])), 4
		case 127:
			if h, err = w.br.Peek(10); err != nil {
				return nil, err
			}
			n, hl = binary.BigEndian.Uint64(h[2:]), 10
		}
		if n > 1<<20 {
			return nil, fmt.Errorf("websocket: a frame of %d bytes", n)
		}
		_, _ = w.br.Discard(hl)
		var p []byte
		if int(n) <= w.br.Size() {
			if p, err = w.br.Peek(int(n)); err != nil {
				return nil, err
			}
			_, _ = w.br.Discard(int(n))
		} else {
			if cap(w.buf) < int(n) {
				w.buf = make([]byte, n)
			}
			p = w.buf[:n]
			if _, err := io.ReadFull(w.br, p); err != nil {
				return nil, err
			}
		}
		switch op {
		case 0x8:
			return nil, errWSClosed
		case 0x1, 0x2:
			return p, nil
		}
	}
}

func (w *wsReader) close() error { return w.conn.Close() }
