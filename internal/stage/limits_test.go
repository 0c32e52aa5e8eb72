package stage

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// watcher reads a client in the background and keeps its latest
// STAGE_STATE.
type watcher struct {
	states chan stageState // every state, in order, until the socket ends
}

func watch(t *testing.T, c *client) *watcher {
	w := &watcher{states: make(chan stageState, 1<<12)}
	go func() {
		defer close(w.states)
		for {
			_, b, err := c.ws.Read(context.Background())
			if err != nil {
				return
			}
			var m message
			var st stageState
			if json.Unmarshal(b, &m) == nil && m.Type == typeStageState && json.Unmarshal(m.Payload, &st) == nil {
				w.states <- st
			}
		}
	}()
	t.Cleanup(func() { _ = c.ws.CloseNow() })
	return w
}

// until waits for a state that satisfies ok.
func (w *watcher) until(t *testing.T, ok func(stageState) bool) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case st, open := <-w.states:
			if !open {
				t.Fatal("the watched client was disconnected")
			}
			if ok(st) {
				return
			}
		case <-timeout:
			t.Fatal("no such state within 15 s")
		}
	}
}

// A client that never reads and a client flooding SET_STATE are cut off,
// while another participant keeps getting its STAGE_STATEs on time.
func TestFloodAndSlowReader(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Limits{Rate: 20, Burst: 20, WriteTimeout: 500 * time.Millisecond})
	// Large attributes make each STAGE_STATE ~192 KB, so the socket
	// buffers of the client that never reads fill within a few dozen
	// states.
	big := map[string]string{"blob": strings.Repeat("x", 64<<10)}
	goodC, _ := e.join(e.auth.add("good", big))
	good := watch(t, goodC)
	pubC, _ := e.join(e.auth.add("pub", nil))
	watch(t, pubC)
	slow := e.dial(e.sdkURL(), e.auth.add("slow", big)) // never read
	good.until(t, func(st stageState) bool { return len(st.Participants) == 3 })

	// The media side toggles pub's isPublishing; good must see each
	// change soon, whatever slow does.
	measure := func(n int, stop func() bool) []time.Duration {
		var lat []time.Duration
		for i := 0; i < n && !stop(); i++ {
			on := i%2 == 0
			start := time.Now()
			if err := e.s.SetPublishing(testARN, "pub", on); err != nil {
				t.Fatal(err)
			}
			good.until(t, func(st stageState) bool { p, _ := find(st, "pub"); return p.IsPublishing == on })
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		return lat
	}
	lat := measure(1000, func() bool { return !slices.Contains(e.s.Participants(testARN), "slow") })
	if slices.Contains(e.s.Participants(testARN), "slow") {
		t.Fatal("the client that never reads is still connected")
	}
	eventually(t, 10*time.Second, "slow cut off", func() bool { return e.life.has("left slow cut off last=false") })
	for {
		if _, _, err := slow.ws.Read(context.Background()); err != nil {
			break // whatever it had buffered, its connection ends
		}
	}
	p50, p90 := lat[len(lat)/2], lat[len(lat)*9/10]
	t.Logf("with a client not reading: %d states of ~192 KB to the reading client: p50 %v, p90 %v, max %v", len(lat), p50, p90, lat[len(lat)-1])
	if p90 > 2*time.Second {
		t.Fatalf("the reading client's states were late: p90 %v", p90)
	}

	// The flooder toggles its mute state as fast as it can; good keeps
	// getting states meanwhile.
	flood, _ := e.join(e.auth.add("flood", nil))
	floodDone := make(chan websocket.StatusCode, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() {
		for i := 0; ctx.Err() == nil; i++ {
			b, _ := json.Marshal(map[string]any{"type": "SET_STATE", "version": "0", "audioMuted": i%2 == 0, "videoStopped": false})
			if flood.ws.Write(ctx, websocket.MessageText, b) != nil {
				return
			}
		}
	}()
	go func() {
		for {
			if _, _, err := flood.ws.Read(ctx); err != nil {
				floodDone <- websocket.CloseStatus(err)
				return
			}
		}
	}()
	lat = measure(20, func() bool { return false })
	select {
	case code := <-floodDone:
		if code != websocket.StatusPolicyViolation {
			t.Fatalf("flooder closed with %v, want %v", code, websocket.StatusPolicyViolation)
		}
	case <-ctx.Done():
		t.Fatal("the flooder was not cut off")
	}
	eventually(t, 10*time.Second, "flooder gone", func() bool { return e.life.has("left flood cut off last=false") })
	p50, p90 = lat[len(lat)/2], lat[len(lat)*9/10]
	t.Logf("with a client flooding: %d states to the reading client: p50 %v, p90 %v, max %v", len(lat), p50, p90, lat[len(lat)-1])
	if p90 > 2*time.Second {
		t.Fatalf("the reading client's states were late: p90 %v", p90)
	}
}

// A message over the read limit ends the connection (1009); an idle
// client is cut off.
func TestReadLimitAndIdle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Limits{ReadLimit: 1024, IdleTimeout: 300 * time.Millisecond})
	c, _ := e.join(e.auth.add("big", nil))
	c.send(map[string]any{"type": "PING", "pad": strings.Repeat("x", 2048)})
	if code := c.closed(); code != websocket.StatusMessageTooBig {
		t.Fatalf("close %v", code)
	}
	idle, _ := e.join(e.auth.add("idle", nil))
	start := time.Now()
	idle.closed()
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("idle client cut off after %v", d)
	}
	eventually(t, 10*time.Second, "idle left", func() bool { return e.life.has("left idle cut off last=true") })
}

// Close ends every socket (1001), makes the last Lifecycle calls and
// leaves no goroutine behind. Not parallel: it counts goroutines.
func TestCloseNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	e := newEnv(t, Limits{})
	var cs []*client
	for _, id := range []string{"a", "b", "c"} {
		c, _ := e.join(e.auth.add(id, nil))
		cs = append(cs, c)
	}
	refused := e.dial(e.sdkURL(), "")
	refused.next(typeJoinError)
	refused.closed()
	done := make(chan struct{})
	go func() { e.s.Close(); close(done) }()
	for _, c := range cs {
		if code := c.closed(); code != websocket.StatusGoingAway {
			t.Fatalf("close %v", code)
		}
	}
	<-done
	if !e.life.has("left c shutdown last=true") && !e.life.has("left a shutdown last=true") && !e.life.has("left b shutdown last=true") {
		t.Fatalf("no last leave at shutdown: %q", e.life.snapshot())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, res, err := websocket.Dial(ctx, e.sdkURL(), &websocket.DialOptions{Subprotocols: []string{e.auth.add("late", nil)}}); err == nil || res == nil || res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a join after Close: %v %v", res, err)
	}
	for _, c := range cs {
		_ = c.ws.CloseNow()
	}
	e.hs.CloseClientConnections()
	e.hs.Close()
	eventually(t, 10*time.Second, "goroutines back", func() bool { return runtime.NumGoroutine() <= before })
}
