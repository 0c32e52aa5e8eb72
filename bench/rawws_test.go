package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

// The bare reader against coder/websocket's server: the subprotocol,
// frames of each length encoding, then the server's close.
func TestWSReader(t *testing.T) {
	t.Parallel()
	sizes := []int{0, 5, 125, 126, 4000, 5000, 70000}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"tok-1"}})
		if err != nil {
			return
		}
		for i, n := range sizes {
			if err := c.Write(r.Context(), websocket.MessageText, bytes.Repeat([]byte{byte('a' + i)}, n)); err != nil {
				return
			}
		}
		_ = c.Close(websocket.StatusNormalClosure, "bye")
	}))
	defer srv.Close()
	ws, err := dialWS(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http")+"/chat", "tok-1")
	if err != nil {
		t.Fatal(err)
	}
	defer ws.close()
	for i, n := range sizes {
		p, err := ws.next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(p, bytes.Repeat([]byte{byte('a' + i)}, n)) {
			t.Fatalf("frame %d: %d bytes, want %d", i, len(p), n)
		}
	}
	if _, err := ws.next(); !errors.Is(err, errWSClosed) {
		t.Fatalf("after the frames: %v, want the close", err)
	}
	if _, err := dialWS(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http")+"/chat", "tok-2"); err == nil {
		t.Fatal("a handshake whose subprotocol was not echoed succeeded")
	}
}
