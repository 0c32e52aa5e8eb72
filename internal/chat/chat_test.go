package chat_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/onair-video/onair/internal/chat"
	"github.com/onair-video/onair/internal/chat/chattest"
	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/ivschat"
	"github.com/onair-video/onair/internal/store/sqlite"
)

type env struct {
	t   *testing.T
	svc *ivschat.Service
	srv *chat.Server
	url string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, chat.Config{})
}

// newEnvWith is newEnv with a config (Rooms is set here).
func newEnvWith(t *testing.T, cfg chat.Config) *env {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc := ivschat.New(ivschat.Config{Region: "us-east-1", AccountID: "123456789012", Docs: st})
	cfg.Rooms = svc
	srv := chat.New(cfg)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Close(); hs.Close() })
	return &env{t: t, svc: svc, srv: srv, url: "ws" + strings.TrimPrefix(hs.URL, "http")}
}

func (e *env) room(in ivschat.CreateRoomInput) ivschat.Room {
	e.t.Helper()
	r, err := e.svc.CreateRoom(context.Background(), in)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) token(r ivschat.Room, user string, caps ...string) string {
	e.t.Helper()
	tok, err := e.svc.CreateChatToken(context.Background(), ivschat.CreateChatTokenInput{RoomIdentifier: r.ARN, UserID: user,
		Capabilities: caps, Attributes: map[string]string{"display": strings.ToUpper(user)}})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok.Token
}

// peer is a test client of the messaging WebSocket.
type peer = chattest.Peer

func (e *env) join(token string) *peer {
	e.t.Helper()
	return chattest.Join(e.t, e.url, token)
}

var str = chattest.Str

// alone makes a room with one user in it, connected.
func (e *env) alone(user string) (ivschat.Room, *peer) {
	e.t.Helper()
	r := e.room(ivschat.CreateRoomInput{})
	p := e.join(e.token(r, user))
	waitClients(e.t, e.srv, r.ID, 1)
	return r, p
}

// Two users join; a message goes to both with its sender and request id;
// a moderator deletes it and disconnects a user, who is closed cleanly.
func TestMessaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.room(ivschat.CreateRoomInput{})
	ana := e.join(e.token(r, "ana", ivschat.CapSendMessage))
	mod := e.join(e.token(r, "mod", ivschat.CapSendMessage, ivschat.CapDeleteMessage, ivschat.CapDisconnectUser))
	waitClients(t, e.srv, r.ID, 2)

	ana.Send(map[string]any{"Action": "SEND_MESSAGE", "RequestId": "req-1", "Content": "hello", "Attributes": map[string]string{"k": "v"}})
	var id string
	for _, p := range []*peer{ana, mod} {
		m := p.Next()
		if str(m, "Type") != "MESSAGE" || str(m, "Content") != "hello" || str(m, "RequestId") != "req-1" || str(m, "Sender", "UserId") != "ana" ||
			str(m, "Sender", "Attributes", "display") != "ANA" || str(m, "Attributes", "k") != "v" || len(str(m, "Id")) != 12 {
			t.Fatalf("MESSAGE %v", m)
		}
		if _, err := time.Parse(time.RFC3339, str(m, "SendTime")); err != nil {
			t.Fatalf("SendTime %q", str(m, "SendTime"))
		}
		id = str(m, "Id")
	}

	// ana may not delete; the moderator may.
	ana.Send(map[string]any{"Action": "DELETE_MESSAGE", "RequestId": "req-2", "Id": id})
	if m := ana.Next(); str(m, "Type") != "ERROR" || m["ErrorCode"] != float64(403) || str(m, "RequestId") != "req-2" {
		t.Fatalf("ERROR %v", m)
	}
	mod.Send(map[string]any{"Action": "DELETE_MESSAGE", "RequestId": "req-3", "Id": id, "Reason": "spam"})
	for _, p := range []*peer{ana, mod} {
		m := p.Next()
		if str(m, "EventName") != "aws:DELETE_MESSAGE" || str(m, "Attributes", "MessageID") != id || str(m, "Attributes", "MessageId") != id ||
			str(m, "Attributes", "Reason") != "spam" || str(m, "RequestId") != "req-3" {
			t.Fatalf("delete EVENT %v", m)
		}
	}

	mod.Send(map[string]any{"Action": "DISCONNECT_USER", "RequestId": "req-4", "UserId": "ana", "Reason": "bye"})
	for _, p := range []*peer{ana, mod} {
		if m := p.Next(); str(m, "EventName") != "aws:DISCONNECT_USER" || str(m, "Attributes", "UserId") != "ana" {
			t.Fatalf("disconnect EVENT %v", m)
		}
	}
	if code := ana.Closed(); code != websocket.StatusNormalClosure {
		t.Fatalf("ana's connection closed with %v, want a normal closure", code)
	}
	waitClients(t, e.srv, r.ID, 1)

	// The control plane's SendEvent reaches the room.
	e.srv.SendEvent(context.Background(), r.ID, "poll", map[string]string{"q": "A or B?"})
	if m := mod.Next(); str(m, "Type") != "EVENT" || str(m, "EventName") != "poll" || str(m, "Attributes", "q") != "A or B?" {
		t.Fatalf("custom EVENT %v", m)
	}
}

func waitClients(t *testing.T, s *chat.Server, roomID string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for s.Clients(roomID) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d clients, want %d", s.Clients(roomID), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The room's limits and the token's capabilities, with IVS's error codes.
func TestMessagingLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.room(ivschat.CreateRoomInput{RoomInput: ivschat.RoomInput{MaximumMessageLength: ptr(int32(5)), MaximumMessageRatePerSecond: ptr(int32(1))}})
	reader := e.join(e.token(r, "reader"))
	writer := e.join(e.token(r, "writer", ivschat.CapSendMessage))
	for _, tc := range []struct {
		name string
		p    *peer
		req  map[string]any
		code float64
	}{
		{"no capability", reader, map[string]any{"Action": "SEND_MESSAGE", "RequestId": "a", "Content": "hi"}, 403},
		{"too long (code points)", writer, map[string]any{"Action": "SEND_MESSAGE", "RequestId": "b", "Content": "éééééé"}, 413},
		{"unknown action", writer, map[string]any{"Action": "SHOUT", "RequestId": "c"}, 400},
		{"no content", writer, map[string]any{"Action": "SEND_MESSAGE", "RequestId": "d"}, 400},
	} {
		tc.p.Send(tc.req)
		if m := tc.p.Next(); str(m, "Type") != "ERROR" || m["ErrorCode"] != tc.code || str(m, "RequestId") != tc.req["RequestId"] {
			t.Errorf("%s: %v, want ERROR %v", tc.name, m, tc.code)
		}
	}
	// Five code points pass; the room allows one message a second.
	writer.Send(map[string]any{"Action": "SEND_MESSAGE", "RequestId": "e", "Content": "ééééé"})
	writer.Send(map[string]any{"Action": "SEND_MESSAGE", "RequestId": "f", "Content": "again"})
	if m := writer.Next(); str(m, "Type") != "MESSAGE" || str(m, "RequestId") != "e" {
		t.Fatalf("first message: %v", m)
	}
	if m := writer.Next(); str(m, "Type") != "ERROR" || m["ErrorCode"] != float64(429) || str(m, "RequestId") != "f" {
		t.Fatalf("second message within the second: %v", m)
	}
	if m := reader.Next(); str(m, "RequestId") != "e" {
		t.Fatalf("reader: %v", m)
	}
	// Garbage is answered, the connection stays.
	if err := writer.Conn.Write(context.Background(), websocket.MessageText, []byte("not json")); err != nil {
		t.Fatal(err)
	}
	if m := writer.Next(); m["ErrorCode"] != float64(400) {
		t.Fatalf("garbage: %v", m)
	}
}

// Tokens: once only, signed, for a room that exists, as the subprotocol.
func TestHandshake(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.room(ivschat.CreateRoomInput{})
	tok := e.token(r, "u")
	e.join(tok)
	gone := e.room(ivschat.CreateRoomInput{})
	goneTok := e.token(gone, "u")
	if err := e.svc.DeleteRoom(context.Background(), gone.ARN); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		protocols []string
		status    int
	}{
		"used twice":   {[]string{tok}, http.StatusUnauthorized},
		"forged":       {[]string{tok[:len(tok)-2] + "xx"}, http.StatusUnauthorized},
		"none":         {nil, http.StatusUnauthorized},
		"deleted room": {[]string{goneTok}, http.StatusNotFound},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, res, err := websocket.Dial(ctx, e.url, &websocket.DialOptions{Subprotocols: tc.protocols})
		cancel()
		if err == nil || res == nil || res.StatusCode != tc.status {
			status := 0
			if res != nil {
				status = res.StatusCode
			}
			t.Errorf("%s: %v, status %d, want %d", name, err, status, tc.status)
		}
	}
}

// A review handler may rewrite a message, deny it (nobody sees it), or
// fail, when the fallback result applies.
func TestMessageReview(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var mu sync.Mutex
	var got []map[string]any
	release := make(chan struct{})
	handler := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &in)
		mu.Lock()
		got = append(got, in)
		mu.Unlock()
		switch str(in, "Content") {
		case "rude":
			_, _ = io.WriteString(w, `{"ReviewResult":"DENY"}`)
		case "slow":
			// No answer until the server has given up on this review
			// (ReviewTimeout) and dropped the request.
			select {
			case <-r.Context().Done():
			case <-release:
			}
			_, _ = io.WriteString(w, `{"ReviewResult":"ALLOW"}`)
		default:
			_, _ = io.WriteString(w, `{"ReviewResult":"ALLOW","Content":"[reviewed] `+str(in, "Content")+`","Attributes":{"ok":"1"}}`)
		}
	}))
	t.Cleanup(handler.Close)
	t.Cleanup(func() { close(release) }) // before handler.Close, which waits for the slow review
	r := e.room(ivschat.CreateRoomInput{RoomInput: ivschat.RoomInput{MessageReviewHandler: &ivschat.MessageReviewHandler{URI: handler.URL, FallbackResult: ivschat.ReviewDeny}}})
	w := e.join(e.token(r, "w", ivschat.CapSendMessage))
	reader := e.join(e.token(r, "reader"))

	w.Send(map[string]any{"Action": "SEND_MESSAGE", "RequestId": "1", "Content": "hi"})
	if m := reader.Next(); str(m, "Content") != "[reviewed] hi" || str(m, "Attributes", "ok") != "1" {
		t.Fatalf("rewritten: %v", m)
	}
	w.Next()
	for _, content := range []string{"rude", "slow"} {
		w.Send(map[string]any{"Action": "SEND_MESSAGE", "RequestId": content, "Content": content})
		if m := w.Next(); m["ErrorCode"] != float64(406) || str(m, "RequestId") != content {
			t.Fatalf("%s: %v, want ERROR 406", content, m)
		}
	}
	// The reader saw neither.
	w.Send(map[string]any{"Action": "SEND_MESSAGE", "RequestId": "2", "Content": "last"})
	if m := reader.Next(); str(m, "Content") != "[reviewed] last" {
		t.Fatalf("the reader got %v", m)
	}
	mu.Lock()
	defer mu.Unlock()
	if in := got[0]; str(in, "RoomArn") != r.ARN || str(in, "Sender", "UserId") != "w" || len(str(in, "MessageId")) != 12 ||
		str(in, "Sender", "Ip") == "" {
		t.Errorf("review request %v", in)
	}
}

// Closing the server ends every session cleanly.
func TestClose(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, p := e.alone("u")
	go e.srv.Close()
	if code := p.Closed(); code != websocket.StatusNormalClosure {
		t.Fatalf("closed with %v", code)
	}
}

func ptr[T any](v T) *T { return &v }

// logBucket collects what chat logging puts.
type logBucket struct {
	mu   sync.Mutex
	objs map[string][]byte // bucket/key → body
}

func (b *logBucket) put(bucket, key string, body []byte, _ string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.objs[bucket+"/"+key] = body
	return nil
}

// A room with a logging configuration has its messages and events written
// to the configuration's bucket as IVS writes them: gzipped JSON lines
// under AWSLogs/{account}/IVSChatLogs/1.0/{region}/room_{id}/.
func TestChatLogging(t *testing.T) {
	t.Parallel()
	b := &logBucket{objs: map[string][]byte{}}
	e := newEnvWith(t, chat.Config{PutLog: b.put, LogFlush: 50 * time.Millisecond})
	ctx := context.Background()
	lc, err := e.svc.CreateLoggingConfiguration(ctx, ivschat.CreateLoggingConfigurationInput{
		DestinationConfiguration: &ivschat.LoggingDestination{S3: &ivs.S3Destination{BucketName: "chat-logs"}}})
	if err != nil {
		t.Fatal(err)
	}
	logged := e.room(ivschat.CreateRoomInput{RoomInput: ivschat.RoomInput{LoggingConfigurationIdentifiers: &[]string{lc.ARN}}})
	quiet := e.room(ivschat.CreateRoomInput{})
	for _, r := range []ivschat.Room{logged, quiet} {
		p := e.join(e.token(r, "ana", ivschat.CapSendMessage))
		p.Send(map[string]any{"Action": "SEND_MESSAGE", "RequestId": "1", "Content": "for the record"})
		p.Next()
		e.srv.SendEvent(ctx, r.ID, "poll", nil)
		p.Next()
	}
	a, _ := ivs.ParseARN("arn", logged.ARN)
	prefix := "chat-logs/AWSLogs/" + a.Account + "/IVSChatLogs/1.0/us-east-1/room_" + logged.ID + "/"
	var lines []map[string]any
	deadline := time.Now().Add(20 * time.Second)
	for len(lines) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("logged %d records: %v", len(lines), b.keys())
		}
		time.Sleep(20 * time.Millisecond)
		lines = lines[:0]
		b.mu.Lock()
		for k, body := range b.objs {
			if !strings.HasPrefix(k, prefix) || !strings.HasSuffix(k, ".log.gz") ||
				!strings.Contains(k, "/"+a.Account+"_IVSChatLogs_1.0_us-east-1_room_"+logged.ID+"_") {
				t.Errorf("object %s", k)
				continue
			}
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(zr)
			for _, l := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
				var m map[string]any
				if err := json.Unmarshal(l, &m); err != nil {
					t.Fatalf("line %q: %v", l, err)
				}
				lines = append(lines, m)
			}
		}
		b.mu.Unlock()
	}
	if len(lines) != 2 || lines[0]["version"] != "1.0" {
		t.Fatalf("records %v", lines)
	}
	types := map[string]string{}
	for _, l := range lines {
		payload, _ := l["payload"].(map[string]any)
		types[str(l, "type")] = str(payload, "Type")
		if _, err := time.Parse(time.RFC3339, str(l, "event_timestamp")); err != nil {
			t.Errorf("event_timestamp %v", l["event_timestamp"])
		}
	}
	if types["MESSAGE"] != "MESSAGE" || types["EVENT"] != "EVENT" {
		t.Errorf("record types %v", types)
	}
}

func (b *logBucket) keys() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for k := range b.objs {
		out = append(out, k)
	}
	return out
}
