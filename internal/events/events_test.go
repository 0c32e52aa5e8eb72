package events

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/store/sqlite"
)

type fixture struct {
	store *sqlite.Store
	svc   *ivs.Service
	bus   *Bus
	ch    ivs.Channel
}

func newFixture(t *testing.T, dir string) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	acct, _, err := ivs.EnsureAccount(ctx, st, "", "")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: st, bus: NewBus()}
	f.svc = ivs.NewService(ivs.Config{Region: "us-east-1", AccountID: acct.ID, Stores: ivs.StoresOf(st), EventSink: f.bus.Publish})
	f.ch = ivs.Channel{ID: "abcdefghijkl", ARN: "arn:aws:ivs:us-east-1:" + acct.ID + ":channel/abcdefghijkl", Name: "c"}
	return f
}

func (f *fixture) emit(t *testing.T, name string) ivs.Event {
	t.Helper()
	e, err := f.svc.Emit(context.Background(), f.svc.StreamStateEvent(f.ch, "st-x", name, time.Time{}))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// hook is a webhook receiver that fails while down and checks signatures.
type hook struct {
	mu      sync.Mutex
	down    bool
	refused int      // requests answered 503 while down
	got     []string // event ids, in arrival order
	bad     int
	secret  string
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down {
		h.refused++
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if r.Header.Get(HeaderSignature) != Sign(h.secret, r.Header.Get(HeaderTimestamp), body) {
		h.bad++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var e ivs.Event
	if err := json.Unmarshal(body, &e); err != nil || e.ID != r.Header.Get(HeaderEventID) || e.Source != "aws.ivs" {
		h.bad++
	}
	h.got = append(h.got, e.ID)
}

func (h *hook) ids() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.got...)
}

func (h *hook) refusals() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.refused
}

// failures counts the dispatcher's failed deliveries from its log.
type failures struct {
	slog.Handler
	n *atomic.Int64
}

func newFailures() failures { return failures{Handler: slog.DiscardHandler, n: new(atomic.Int64)} }

func (f failures) Enabled(context.Context, slog.Level) bool { return true }

func (f failures) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "webhook delivery failed") {
		f.n.Add(1)
	}
	return nil
}

func (f failures) WithAttrs([]slog.Attr) slog.Handler { return f }
func (f failures) WithGroup(string) slog.Handler      { return f }

func eventually(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func fast(f *fixture, hooks ...Webhook) DispatcherConfig {
	return DispatcherConfig{Store: f.store, Bus: f.bus, Webhooks: hooks, Log: slog.New(slog.DiscardHandler),
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, Poll: time.Hour, Timeout: time.Second}
}

func TestWebhookDownThenUp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := newFixture(t, dir)
	before := f.emit(t, ivs.EventSessionCreated) // before the webhook existed: not sent
	h := &hook{down: true, secret: "s3cret"}
	srv := httptest.NewServer(h)
	defer srv.Close()
	base := runtime.NumGoroutine()

	ctx, cancel := context.WithCancel(context.Background())
	d := NewDispatcher(fast(f, Webhook{Name: "a", URL: srv.URL + "/hook?token=x", Secret: "s3cret"}))
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	// Wait for the cursor to be set at the end of the log, then emit.
	eventually(t, 10*time.Second, "the cursor", func() bool { _, ok, _ := f.store.Cursor(ctx, "webhook:a"); return ok })
	var want []string
	for _, n := range []string{ivs.EventStreamStart, ivs.EventStreamEnd, ivs.EventSessionEnded} {
		want = append(want, f.emit(t, n).ID)
	}
	eventually(t, 10*time.Second, "several failed attempts", func() bool { return h.refusals() >= 3 })
	h.mu.Lock()
	h.down = false
	h.mu.Unlock()
	eventually(t, 10*time.Second, "every event", func() bool { return len(h.ids()) >= 3 })
	if got := h.ids(); fmt.Sprint(got) != fmt.Sprint(want) || h.bad != 0 {
		t.Fatalf("delivered %v (bad %d), want %v", got, h.bad, want)
	}
	// Stop once the last delivery is recorded (a stop in the middle of one
	// may deliver it again: at least once).
	last, _ := f.store.LastEventSeq(ctx)
	eventually(t, 10*time.Second, "the cursor at the last event", func() bool {
		n, _, _ := f.store.Cursor(ctx, "webhook:a")
		return n == last
	})
	cancel()
	<-done

	// A restart resumes from the cursor: only the new event is sent.
	next := f.emit(t, ivs.EventSessionCreated)
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan struct{})
	go func() {
		NewDispatcher(fast(f, Webhook{Name: "a", URL: srv.URL, Secret: "s3cret"})).Run(ctx2)
		close(done2)
	}()
	eventually(t, 10*time.Second, "the event after the restart", func() bool { return len(h.ids()) == 4 })
	cancel2()
	<-done2
	if got := h.ids(); got[3] != next.ID || strings.Contains(fmt.Sprint(got), before.ID) {
		t.Fatalf("after restart: %v", got)
	}
	srv.CloseClientConnections()
	eventually(t, 10*time.Second, "goroutines to end", func() bool { return runtime.NumGoroutine() <= base+2 })
}

func TestWebhookReceiverUnreachable(t *testing.T) {
	t.Parallel()
	f := newFixture(t, t.TempDir())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // connection refused until the receiver starts
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	cfg := fast(f, Webhook{Name: "b", URL: "http://" + addr + "/", Secret: "k"})
	failed := newFailures()
	cfg.Log = slog.New(failed)
	go func() {
		NewDispatcher(cfg).Run(ctx)
		close(done)
	}()
	eventually(t, 10*time.Second, "the cursor", func() bool { _, ok, _ := f.store.Cursor(ctx, "webhook:b"); return ok })
	want := f.emit(t, ivs.EventStreamStart).ID
	eventually(t, 10*time.Second, "failed attempts on the refused connection", func() bool { return failed.n.Load() >= 2 })
	h := &hook{secret: "k"}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port taken meanwhile: %v", err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	eventually(t, 10*time.Second, "delivery after the receiver came up", func() bool { return len(h.ids()) == 1 })
	if h.ids()[0] != want {
		t.Fatalf("got %v", h.ids())
	}
	cancel()
	<-done
}

func TestSign(t *testing.T) {
	t.Parallel()
	// Computed with: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
	const want = "sha256=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"
	if got := Sign("secret", "1700000000", []byte(`{"a":1}`)); got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
	if redactURL("https://user:pw@hooks.example/x?token=1#f") != "https://hooks.example/x" {
		t.Fatalf("redacted %s", redactURL("https://user:pw@hooks.example/x?token=1#f"))
	}
}

// sseEvent is one message of the stream.
type sseEvent struct{ id, event, data string }

func readSSE(t *testing.T, r *bufio.Reader, n int) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	for len(out) < n {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %d events: %v", len(out), err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if cur.id != "" {
				out = append(out, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			cur.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			cur.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			cur.data = line[6:]
		}
	}
	return out
}

func TestSSEReplayAndLive(t *testing.T) {
	t.Parallel()
	f := newFixture(t, t.TempDir())
	first := f.emit(t, ivs.EventSessionCreated)
	second := f.emit(t, ivs.EventStreamStart)
	srvCtx, stopServer := context.WithCancel(context.Background())
	srv := httptest.NewServer(NewSSE(srvCtx, f.store, f.bus, slog.New(slog.DiscardHandler)))
	defer srv.Close()

	// Resuming after the first event replays the second, then goes live.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/events?channelArn="+f.ch.ARN, nil)
	req.Header.Set("Last-Event-ID", fmt.Sprint(first.Seq))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("SSE: %v %+v", err, resp)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	got := readSSE(t, r, 1)
	if got[0].id != fmt.Sprint(second.Seq) || got[0].event != ivs.EventTypeStreamState || !strings.Contains(got[0].data, second.ID) {
		t.Fatalf("replayed %+v", got)
	}
	// Another channel's event is filtered out; this channel's comes live.
	other := f.svc.StreamStateEvent(ivs.Channel{ID: "zzz", ARN: "arn:aws:ivs:us-east-1:1:channel/zzz"}, "st-y", ivs.EventStreamStart, time.Time{})
	if _, err := f.svc.Emit(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	third := f.emit(t, ivs.EventStreamEnd)
	got = readSSE(t, r, 1)
	if got[0].id != fmt.Sprint(third.Seq) {
		t.Fatalf("live %+v, want %d", got, third.Seq)
	}
	var e ivs.Event
	if err := json.Unmarshal([]byte(got[0].data), &e); err != nil || e.Detail.EventName != ivs.EventStreamEnd || e.ID != third.ID {
		t.Fatalf("live event %s: %v", got[0].data, err)
	}

	// A bad Last-Event-ID is refused in the API's error shape.
	bad, err := http.Get(srv.URL + "/v1/events?lastEventId=-3")
	if err != nil || bad.StatusCode != http.StatusBadRequest || bad.Header.Get("x-amzn-ErrorType") != "ValidationException" {
		t.Fatalf("bad id: %v %+v", err, bad)
	}
	bad.Body.Close()

	// The server stopping ends the stream.
	stopServer()
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatalf("stream did not end cleanly: %v", err)
	}
}

func TestBusNeverBlocks(t *testing.T) {
	t.Parallel()
	b := NewBus()
	wake, cancel := b.Notify()
	for range 1000 { // nobody reads: Publish must not block
		b.Publish(ivs.Event{})
	}
	<-wake
	cancel()
	b.Publish(ivs.Event{})
	select {
	case <-wake:
		t.Fatal("woken after cancel")
	default:
	}
}
