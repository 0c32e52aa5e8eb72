// Package chattest is a test client of the chat messaging WebSocket, for
// the chat package's tests and the end-to-end tests.
package chattest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Peer is one connection to the messaging WebSocket.
type Peer struct {
	t    testing.TB
	Conn *websocket.Conn
}

// Join connects to url with token as the subprotocol and checks that the
// server echoed it. The connection is closed with the test.
func Join(t testing.TB, url, token string) *Peer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, res, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{token}})
	if err != nil {
		t.Fatalf("join %s: %v", url, err)
	}
	if res.Header.Get("Sec-WebSocket-Protocol") != token {
		t.Fatalf("the token was not echoed as the subprotocol")
	}
	t.Cleanup(func() { _ = conn.CloseNow() }) // closed already by the test, or gone: nothing to report
	return &Peer{t: t, Conn: conn}
}

// Send sends v as a JSON text frame.
func (p *Peer) Send(v any) {
	p.t.Helper()
	b, _ := json.Marshal(v)
	if err := p.Conn.Write(context.Background(), websocket.MessageText, b); err != nil {
		p.t.Fatal(err)
	}
}

// Next reads the next frame, within 5 s.
func (p *Peer) Next() map[string]any {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := p.Conn.Read(ctx)
	if err != nil {
		p.t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		p.t.Fatal(err)
	}
	return m
}

// Closed waits (15 s) for the server to close the connection and returns
// the close status.
func (p *Peer) Closed() websocket.StatusCode {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		if _, _, err := p.Conn.Read(ctx); err != nil {
			if ctx.Err() != nil {
				p.t.Fatal("the connection is still open")
			}
			return websocket.CloseStatus(err)
		}
	}
}

// Str reads a string at a path of keys in a decoded frame ("" if absent).
func Str(m map[string]any, path ...string) string {
	var v any = m
	for _, k := range path {
		mm, _ := v.(map[string]any)
		v = mm[k]
	}
	s, _ := v.(string)
	return s
}
