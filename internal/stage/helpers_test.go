package stage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

const (
	testARN   = "arn:aws:ivs:us-east-1:123456789012:stage/abcdABCDefgh"
	testTopic = "abcdABCDefgh"
)

// fakeAuth maps tokens to participants or errors.
type fakeAuth struct {
	mu     sync.Mutex
	tokens map[string]Participant
	errs   map[string]error
}

func (a *fakeAuth) Authenticate(_ context.Context, token string) (Participant, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err, ok := a.errs[token]; ok {
		return Participant{}, fmt.Errorf("auth: %w", err)
	}
	p, ok := a.tokens[token]
	if !ok {
		return Participant{}, fmt.Errorf("auth: unknown token: %w", ErrTokenSignature)
	}
	return p, nil
}

// add makes a token for a participant of the test stage with both
// capabilities.
func (a *fakeAuth) add(id string, attrs map[string]string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	tok := "tok-" + id + fmt.Sprint(len(a.tokens))
	a.tokens[tok] = Participant{StageARN: testARN, Topic: testTopic, ID: id, UserID: "user-" + id, Attributes: attrs,
		Publish: true, Subscribe: true, Expires: time.Now().Add(time.Hour)}
	return tok
}

// recorder is a Lifecycle that records its calls as strings.
type recorder struct {
	mu    sync.Mutex
	calls []string
	// clients: the Client each participant's latest Joined or
	// ClientUpdated carried.
	clients map[string]Client
}

func (r *recorder) client(id string) Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.clients[id]
}

func (r *recorder) setClient(p Participant) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.clients == nil {
		r.clients = map[string]Client{}
	}
	r.clients[p.ID] = p.Client
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
}

func (r *recorder) Joined(p Participant, first bool) {
	r.setClient(p)
	r.add(fmt.Sprintf("joined %s first=%v", p.ID, first))
}
func (r *recorder) Left(p Participant, why LeaveReason, last bool) {
	r.add(fmt.Sprintf("left %s %s last=%v", p.ID, why, last))
}
func (r *recorder) Published(p Participant, on bool) { r.add(fmt.Sprintf("published %s %v", p.ID, on)) }
func (r *recorder) Subscribed(p Participant, pub string, on bool) {
	r.add(fmt.Sprintf("subscribed %s to %s %v", p.ID, pub, on))
}
func (r *recorder) TokenExchanged(prev, p Participant) {
	r.add(fmt.Sprintf("exchanged %s %v→%v", p.ID, prev.Attributes, p.Attributes))
}

func (r *recorder) PublishFailed(p Participant, code string) {
	r.add(fmt.Sprintf("publish failed %s %s", p.ID, code))
}
func (r *recorder) SubscribeFailed(p Participant, pub, code string) {
	r.add(fmt.Sprintf("subscribe failed %s to %s %s", p.ID, pub, code))
}

func (r *recorder) ClientUpdated(p Participant) {
	r.setClient(p)
	r.add(fmt.Sprintf("client %s %+v", p.ID, p.Client))
}

func (r *recorder) has(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.calls {
		if c == s {
			return true
		}
	}
	return false
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

type env struct {
	t    *testing.T
	auth *fakeAuth
	life *recorder
	s    *Stages
	hs   *httptest.Server
	url  string // ws://…/events
}

func newEnv(t *testing.T, lim Limits) *env {
	t.Helper()
	e := &env{t: t, auth: &fakeAuth{tokens: map[string]Participant{}, errs: map[string]error{}}, life: &recorder{}}
	e.s = New(Config{Auth: e.auth, Lifecycle: e.life, Limits: lim})
	mux := http.NewServeMux()
	mux.Handle("GET /events", e.s)
	mux.Handle("GET /events/{topic}", e.s)
	hs := httptest.NewServer(mux)
	e.hs = hs
	t.Cleanup(func() { e.s.Close(); hs.Close() })
	e.url = "ws" + strings.TrimPrefix(hs.URL, "http") + "/events"
	return e
}

// sdkURL is the URL the web SDK opens.
func (e *env) sdkURL() string {
	return e.url + "?error_over_ws=1&topic=" + testTopic + "/publishers&traceid=1-test"
}

// client is a test's events WebSocket.
type client struct {
	t  *testing.T
	ws *websocket.Conn
}

func (e *env) dial(url, token string) *client {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var protos []string
	if token != "" {
		protos = []string{token}
	}
	ws, res, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: protos})
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	if token != "" && ws.Subprotocol() != token {
		e.t.Fatalf("subprotocol %q not echoed: %q", token, res.Header.Get("Sec-WebSocket-Protocol"))
	}
	ws.SetReadLimit(16 << 20)
	e.t.Cleanup(func() { _ = ws.CloseNow() })
	return &client{t: e.t, ws: ws}
}

// join dials as the SDK does and waits for the first STAGE_STATE.
func (e *env) join(token string) (*client, stageState) {
	e.t.Helper()
	c := e.dial(e.sdkURL(), token)
	return c, c.state(func(stageState) bool { return true })
}

type message struct {
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

func (c *client) read() (message, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		return message{}, err
	}
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatalf("server message %s: %v", b, err)
	}
	return m, nil
}

// next reads the next message of a type, skipping others.
func (c *client) next(typ string) message {
	c.t.Helper()
	for {
		m, err := c.read()
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", typ, err)
		}
		if m.Type == typ {
			return m
		}
	}
}

// state reads STAGE_STATEs until one satisfies ok; sequence numbers must
// increase.
func (c *client) state(ok func(stageState) bool) stageState {
	c.t.Helper()
	var last int64
	for {
		var st stageState
		if err := json.Unmarshal(c.next(typeStageState).Payload, &st); err != nil {
			c.t.Fatal(err)
		}
		if st.SequenceNumber <= last {
			c.t.Fatalf("sequenceNumber %d after %d", st.SequenceNumber, last)
		}
		last = st.SequenceNumber
		if ok(st) {
			return st
		}
	}
}

func (c *client) send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.t.Fatal(err)
	}
}

// closed reads until the connection ends and returns its close status.
func (c *client) closed() websocket.StatusCode {
	c.t.Helper()
	for {
		_, err := c.read()
		if err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

func ids(st stageState) []string {
	var out []string
	for _, p := range st.Participants {
		out = append(out, p.ID)
	}
	return out
}

func find(st stageState, id string) (stateParticipant, bool) {
	for _, p := range st.Participants {
		if p.ID == id {
			return p, true
		}
	}
	return stateParticipant{}, false
}

// eventually polls ok until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var errTest = errors.New("test: store down")

// statusOf sends a request with body (of contentType; "" for none) and
// returns its status.
func statusOf(t testing.TB, method, url, contentType, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}
