package events

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/ivs"
)

// fakeLock is one leadership shared by fake processes (fakeLeaders): one
// holds it at a time, and the test takes it from its holder as a lost
// lock would be.
type fakeLock struct {
	mu     sync.Mutex
	holder *fakeLeader
	cancel context.CancelFunc // the holder's run's
	names  []string           // of the Leads, for the test
	checks int
}

// fakeLeader is one process's Leader of a fakeLock.
type fakeLeader struct{ lock *fakeLock }

func (f *fakeLeader) Lead(ctx context.Context, name string, run func(ctx context.Context)) {
	l := f.lock
	l.mu.Lock()
	l.names = append(l.names, name)
	l.mu.Unlock()
	for ctx.Err() == nil {
		rctx, cancel := context.WithCancel(ctx)
		l.mu.Lock()
		took := l.holder == nil
		if took {
			l.holder, l.cancel = f, cancel
		}
		l.mu.Unlock()
		if took {
			run(rctx)
			l.mu.Lock()
			if l.holder == f {
				l.holder = nil
			}
			l.mu.Unlock()
		}
		cancel()
		if !sleep(ctx, time.Millisecond) {
			return
		}
	}
}

func (f *fakeLeader) Check(ctx context.Context, _ string) error {
	l := f.lock
	l.mu.Lock()
	defer l.mu.Unlock()
	l.checks++
	if l.holder != f {
		return ErrNotLeader
	}
	return ctx.Err()
}

// lose takes the leadership from its holder. noticed says whether the
// holder hears of it at once (its run's ctx is cancelled, as when its lock
// connection's ping fails) or only from its next Check (the connection
// broke between two pings).
func (l *fakeLock) lose(noticed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.holder == nil {
		return
	}
	l.holder = nil
	if noticed {
		l.cancel()
	}
}

// handoverHook is a receiver that takes the leadership from the sending
// process while it receives chosen events.
type handoverHook struct {
	lock   *fakeLock
	loseAt map[int]bool // the nth request (from 1)
	mu     sync.Mutex
	n      int
	got    []string
}

func (h *handoverHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get(HeaderEventID)
	h.mu.Lock()
	h.n++
	h.got = append(h.got, id)
	if h.loseAt[h.n] {
		// Alternately noticed at once (the POST is cut off: the sender
		// does not know it went through) and noticed at the next Check.
		h.lock.lose(h.n%2 == 0)
	}
	h.mu.Unlock()
}

func (h *handoverHook) ids() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got)
}

// Two processes' dispatchers on one store and one webhook, the leadership
// taken from the sender while it delivers, six times: every event arrives
// in order, none is lost, and at most the one in flight at each handover
// is delivered twice (right after itself). A process that lost the
// leadership without noticing sends nothing more (Check before each POST).
func TestWebhookLeaderHandover(t *testing.T) {
	t.Parallel()
	f := newFixture(t, t.TempDir())
	lock := &fakeLock{}
	h := &handoverHook{lock: lock, loseAt: map[int]bool{3: true, 4: true, 9: true, 10: true, 17: true, 24: true}}
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for range 2 {
		cfg := fast(f, Webhook{Name: "ops", URL: srv.URL, Secret: "k"})
		cfg.Leader = &fakeLeader{lock: lock}
		d := NewDispatcher(cfg)
		wg.Go(func() { d.Run(ctx) })
	}
	eventually(t, 10*time.Second, "the cursor", func() bool { _, ok, _ := f.store.Cursor(ctx, "webhook:ops"); return ok })
	var want []string
	for i := range 30 {
		want = append(want, f.emit(t, fmt.Sprintf("e%d", i)).ID)
	}
	eventually(t, 20*time.Second, "every event", func() bool {
		got := h.ids()
		return len(got) > 0 && got[len(got)-1] == want[len(want)-1]
	})
	cancel()
	wg.Wait()
	got := h.ids()
	deduped := slices.Compact(slices.Clone(got))
	if !slices.Equal(deduped, want) {
		t.Fatalf("delivered %v\nwant (duplicates aside) %v", got, want)
	}
	// Each handover may send the event in flight again: the successor
	// read the cursor before the sender saved it (or the sender was cut
	// off before it could).
	dups := len(got) - len(deduped)
	if dups > len(h.loseAt) {
		t.Fatalf("%d duplicates over %d handovers: %v", dups, len(h.loseAt), got)
	}
	lock.mu.Lock()
	defer lock.mu.Unlock()
	if !slices.Equal(lock.names, []string{"webhook:ops", "webhook:ops"}) {
		t.Fatalf("leaderships asked for: %v", lock.names)
	}
	if lock.checks < len(got) {
		t.Fatalf("%d Checks for %d POSTs", lock.checks, len(got))
	}
	t.Logf("%d events, %d deliveries, %d duplicates, %d Checks", len(want), len(got), dups, lock.checks)
}

// A process that never leads sends nothing, and sets no cursor.
func TestWebhookNotLeader(t *testing.T) {
	t.Parallel()
	f := newFixture(t, t.TempDir())
	lock := &fakeLock{}
	lock.holder = &fakeLeader{lock: lock} // another process's, for ever
	h := &hook{secret: "k"}
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cfg := fast(f, Webhook{Name: "idle", URL: srv.URL, Secret: "k"})
	cfg.Leader = &fakeLeader{lock: lock}
	done := make(chan struct{})
	go func() { NewDispatcher(cfg).Run(ctx); close(done) }()
	f.emit(t, ivs.EventStreamStart)
	eventually(t, 10*time.Second, "the dispatcher asking to lead", func() bool {
		lock.mu.Lock()
		defer lock.mu.Unlock()
		return len(lock.names) == 1
	})
	cancel()
	<-done
	if _, ok, _ := f.store.Cursor(context.Background(), "webhook:idle"); ok || len(h.ids()) != 0 {
		t.Fatalf("a process that does not lead: cursor set %v, delivered %v", ok, h.ids())
	}
}

// Observed reports the leaderships asked for and whether each is held.
func TestObserved(t *testing.T) {
	t.Parallel()
	o := Observe(Solo{}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	running := make(chan map[string]bool, 1)
	done := make(chan struct{})
	go func() {
		o.Lead(ctx, "downsample", func(ctx context.Context) {
			running <- o.Leading()
			<-ctx.Done()
		})
		close(done)
	}()
	if got := <-running; !got["downsample"] {
		t.Fatalf("Leading while running: %v", got)
	}
	if err := o.Check(ctx, "downsample"); err != nil {
		t.Fatalf("Check of Solo: %v", err)
	}
	cancel()
	<-done
	if got, ok := o.Leading()["downsample"]; got || !ok {
		t.Fatalf("Leading after the end: %v %v", got, ok)
	}
}

// SSE reads the log on its poll even without a wake-up: an event that
// another process appended while its wake-ups did not arrive still
// reaches the stream.
func TestSSEPollBackstop(t *testing.T) {
	t.Parallel()
	f := newFixture(t, t.TempDir())
	sse := NewSSE(context.Background(), f.store, NewBus(), slog.New(slog.DiscardHandler)) // a bus no one publishes on
	sse.poll = 20 * time.Millisecond
	srv := httptest.NewServer(sse)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	if line, err := r.ReadString('\n'); err != nil || line[0] != ':' { // the stream has begun
		t.Fatalf("first line %q %v", line, err)
	}
	e := f.emit(t, ivs.EventStreamStart)
	if got := readSSE(t, r, 1); got[0].id != fmt.Sprint(e.Seq) {
		t.Fatalf("polled %+v, want %d", got, e.Seq)
	}
}
