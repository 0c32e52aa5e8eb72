package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/store/postgres"
	"github.com/onair-video/onair/internal/stream"
	"github.com/onair-video/onair/test/e2e/harness"
)

// registry is a node's live registry as the cluster sees it: the
// channels it publishes and what was done to them.
type registry struct {
	mu      sync.Mutex
	live    map[string]*live.Stream
	cut     map[string]error
	yield   map[string]chan struct{} // channels whose publisher looks gone
	stopped []string
}

func newRegistry() *registry {
	return &registry{live: map[string]*live.Stream{}, cut: map[string]error{}, yield: map[string]chan struct{}{}}
}

func (r *registry) Get(id string) (*live.Stream, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.live[id]
	return st, ok
}

func (r *registry) List() []*live.Stream {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*live.Stream
	for _, st := range r.live {
		out = append(out, st)
	}
	return out
}

func (r *registry) Stop(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.live[id]; !ok {
		return live.ErrNotLive
	}
	r.stopped = append(r.stopped, id)
	delete(r.live, id)
	return nil
}

func (r *registry) Disconnect(id string, cause error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cut[id] = cause
}

func (r *registry) YieldTo(id string, keyHash []byte) (<-chan struct{}, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.yield[id]
	if !ok || string(keyHash) != string(live.KeyHash("sk-1")) {
		return nil, false
	}
	delete(r.yield, id)
	return c, true
}

func (r *registry) cause(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cut[id]
}

// service counts what the cluster asks of the IVS service.
type service struct {
	invalidated atomic.Value // "kind/id" of the last Invalidate
	flushes     atomic.Int64
	ended       atomic.Int64
}

func (s *service) EndLostSessions(_ context.Context, ended []ivs.StreamSession, _ string) error {
	s.ended.Add(int64(len(ended)))
	return nil
}
func (s *service) Invalidate(kind, id string) { s.invalidated.Store(kind + "/" + id) }
func (s *service) InvalidateAll()             { s.flushes.Add(1) }

type testNode struct {
	*Node
	// stop ends the node's Run (its heartbeats) and waits for it.
	stop func()
	reg  *registry
	svc  *service
	st   *postgres.Store
}

type env struct {
	pg   *harness.Postgres
	nats *harness.NATS
	db   string
	// hooks are the nodes' webhook settings' hashes, by node id.
	hooks map[string]string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	pg := harness.StartPostgres(t)
	return &env{pg: pg, nats: harness.StartNATS(t), db: pg.CreateDatabase("cluster")}
}

// node starts a node named id, with a lease TTL of ttl; it runs until
// the test ends.
func (e *env) node(t *testing.T, id string, ttl time.Duration) *testNode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := postgres.Open(ctx, e.db)
	if err != nil {
		t.Fatal(err)
	}
	st.SetNode(id)
	tn := &testNode{reg: newRegistry(), svc: &service{}, st: st}
	tn.Node, err = New(ctx, Config{NodeID: id, Addr: "http://" + id, Version: "test", NATSURL: e.nats.URL(), LeaseTTL: ttl,
		Heartbeat: ttl / 4, Store: st, Service: tn.svc, Registry: tn.reg, Webhooks: e.hooks[id], Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); tn.Run(runCtx) }()
	tn.stop = func() { stop(); <-done }
	t.Cleanup(func() {
		tn.stop()
		tn.Close()
		_ = st.Close()
	})
	return tn
}

// publish makes n publish channel id: its lease, its open session and its
// stream in the registry.
func (n *testNode) publish(t *testing.T, id, key string) (release func()) {
	t.Helper()
	ctx := context.Background()
	c := ivs.Channel{ID: id, ARN: "arn:aws:ivs:us-east-1:1:channel/" + id}
	release, err := n.Claim(ctx, c, key)
	if err != nil {
		t.Fatal(err)
	}
	ss := ivs.StreamSession{StreamID: "st-" + id + n.ID(), ChannelID: id, Channel: c, StartTime: time.Now()}
	if err := n.st.CreateStreamSession(ctx, ss); err != nil {
		t.Fatal(err)
	}
	n.reg.mu.Lock()
	n.reg.live[id] = &live.Stream{Channel: c, StreamID: ss.StreamID, StartTime: ss.StartTime,
		Hub: stream.NewHub([]*stream.Track{{ClockRate: 90000}})}
	n.reg.mu.Unlock()
	return release
}

func eventually(t *testing.T, d time.Duration, fn func() error) {
	t.Helper()
	harness.Eventually(t, d, fn)
}

// Two nodes on one store and NATS: a claim on one refuses the other; the
// other sees the stream and commands it over NATS; a cache write on one
// invalidates the other's; viewers add up; a release frees the channel.
func TestNodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.node(t, "a", 3*time.Second), e.node(t, "b", 3*time.Second)
	ctx := context.Background()
	release := a.publish(t, "ch1", "sk-1")
	if _, err := b.Claim(ctx, ivs.Channel{ID: "ch1"}, ""); !errors.Is(err, live.ErrChannelBusy) {
		t.Fatalf("a claim of a channel live on another node: %v", err)
	}
	info, ok, err := b.Streams().Get(ctx, "ch1")
	if err != nil || !ok || info.NodeID != "a" || info.StreamID != "st-ch1a" {
		t.Fatalf("B's view of A's stream: %+v %v %v", info, ok, err)
	}
	list, err := b.Streams().List(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("B's list: %+v %v", list, err)
	}
	if err := b.Streams().PutMetadata(ctx, "ch1", []byte("x")); !errors.Is(err, live.ErrNoMetadataReader) {
		// A's registry has a stream without metadata readers.
		t.Fatalf("PutMetadata through B: %v", err)
	}
	if err := b.Streams().Stop(ctx, "ch1"); err != nil {
		t.Fatalf("StopStream through B: %v", err)
	}
	if a.reg.stopped[0] != "ch1" {
		t.Fatalf("A stopped %v", a.reg.stopped)
	}
	if err := b.Streams().Stop(ctx, "ch1"); !errors.Is(err, live.ErrNotLive) {
		t.Fatalf("a second StopStream: %v", err)
	}

	a.CacheChanged(ivs.CacheChannel, "ch1")
	eventually(t, 5*time.Second, func() error {
		if v, _ := b.svc.invalidated.Load().(string); v != "channel/ch1" {
			return fmt.Errorf("B invalidated %q", v)
		}
		return nil
	})
	if v, _ := a.svc.invalidated.Load().(string); v != "" {
		t.Fatalf("A invalidated its own write again: %q", v)
	}

	b.StreamKeyDeleted("ch1")
	eventually(t, 5*time.Second, func() error {
		if err := a.reg.cause("ch1"); !errors.Is(err, live.ErrKeyDeleted) {
			return fmt.Errorf("A's publisher cut with %w", err)
		}
		return nil
	})

	release()
	if _, err := a.st.EndChannelSessions(ctx, "ch1", time.Now()); err != nil {
		t.Fatal(err)
	}
	rb, err := b.Claim(ctx, ivs.Channel{ID: "ch1"}, "")
	if err != nil {
		t.Fatalf("a claim after the release: %v", err)
	}
	rb()
}

// A node that lost its lease while it could not heartbeat cuts its
// publisher: at once when the new holder's claim reaches it over NATS.
func TestFencing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.node(t, "a", 2*time.Second), e.node(t, "b", 2*time.Second)
	a.publish(t, "ch", "sk-1")
	// A looks dead to the store: its heartbeats are pushed into the past
	// until B has claimed.
	if _, err := e.pg.Query("cluster", "UPDATE nodes SET heartbeat_at = now() - interval '1 hour', boot_id = 'gone' WHERE id = 'a'"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Claim(context.Background(), ivs.Channel{ID: "ch"}, ""); err != nil {
		t.Fatalf("takeover: %v", err)
	}
	if b.takeovers.Load() != 1 || b.svc.ended.Load() != 1 {
		t.Fatalf("takeovers %d, sessions ended %d; want 1 and 1", b.takeovers.Load(), b.svc.ended.Load())
	}
	eventually(t, 5*time.Second, func() error {
		if err := a.reg.cause("ch"); !errors.Is(err, live.ErrLeaseLost) {
			return fmt.Errorf("A's publisher: %w", err)
		}
		return nil
	})
}

// A heartbeat that finds the lease moved cuts the publisher, without NATS.
func TestFencingByHeartbeat(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.node(t, "a", 2*time.Second)
	a.publish(t, "ch", "sk-1")
	e.nats.Shutdown()
	if _, err := e.pg.Query("cluster", "UPDATE channel_leases SET node_id = 'b', boot_id = 'b1', epoch = epoch + 1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		if err := a.reg.cause("ch"); !errors.Is(err, live.ErrLeaseLost) {
			return fmt.Errorf("A's publisher: %w", err)
		}
		return nil
	})
}

// With NATS down, a command to another node's stream fails at once with
// StreamUnavailable naming the node, and nothing reaches it later.
func TestCommandsWithoutNATS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.node(t, "a", 3*time.Second), e.node(t, "b", 3*time.Second)
	a.publish(t, "ch", "sk-1")
	e.nats.Shutdown()
	eventually(t, 10*time.Second, func() error {
		if b.Connected() {
			return errors.New("B still connected")
		}
		return nil
	})
	start := time.Now()
	err := b.Streams().Stop(context.Background(), "ch")
	var ie *ivs.Error
	if !errors.As(err, &ie) || ie.Code != ivs.CodeStreamUnavailable {
		t.Fatalf("StopStream with NATS down: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("StopStream with NATS down took %v", d)
	}
	e.nats.Restart()
	eventually(t, 15*time.Second, func() error {
		if !a.Connected() || !b.Connected() {
			return errors.New("not reconnected")
		}
		return nil
	})
	if a.svc.flushes.Load() == 0 {
		t.Error("A did not drop its caches after reconnecting")
	}
	a.reg.mu.Lock()
	stopped := len(a.reg.stopped)
	a.reg.mu.Unlock()
	if stopped != 0 {
		t.Fatalf("the StopStream sent while NATS was down reached A: %v", a.reg.stopped)
	}
	if err := b.Streams().Stop(context.Background(), "ch"); err != nil {
		t.Fatalf("StopStream after NATS is back: %v", err)
	}
}

// A reconnect with the same key on another node takes over a publisher
// that looks gone; a different key does not.
func TestTakeover(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.node(t, "a", 3*time.Second), e.node(t, "b", 3*time.Second)
	releaseA := a.publish(t, "ch", "sk-1")
	ch := ivs.Channel{ID: "ch"}
	if _, err := b.Claim(context.Background(), ch, "sk-other"); !errors.Is(err, live.ErrChannelBusy) {
		t.Fatalf("another key: %v", err)
	}
	gone := make(chan struct{})
	a.reg.mu.Lock()
	a.reg.yield["ch"] = gone
	a.reg.mu.Unlock()
	go func() {
		// A's publisher ends: its session, then its lease.
		time.Sleep(100 * time.Millisecond)
		if _, err := a.st.EndChannelSessions(context.Background(), "ch", time.Now()); err != nil {
			t.Error(err)
		}
		releaseA()
		close(gone)
	}()
	rb, err := b.Claim(context.Background(), ch, "sk-1")
	if err != nil {
		t.Fatalf("the reconnect on B: %v", err)
	}
	rb()
}

// /v1/cluster's view: both nodes serving, the channel on its node; a
// node that stops heartbeating is lost, one that left is stopped.
func TestInfo(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.hooks = map[string]string{"a": "h1", "b": "h2"}
	a, b := e.node(t, "a", 2*time.Second), e.node(t, "b", 2*time.Second)
	a.publish(t, "ch", "sk-1")
	info, err := b.Info(context.Background())
	if err != nil || info.Node != "b" || len(info.Nodes) != 2 || info.Nodes[0].State != "serving" ||
		len(info.Nodes[0].Channels) != 1 || info.Nodes[0].Channels[0] != "ch" || len(info.Nodes[1].Channels) != 0 {
		t.Fatalf("info: %+v %v", info, err)
	}
	// Each node's webhook settings, so that a difference shows.
	if info.Nodes[0].Webhooks != "h1" || info.Nodes[1].Webhooks != "h2" {
		t.Fatalf("webhook settings: %q %q", info.Nodes[0].Webhooks, info.Nodes[1].Webhooks)
	}
	a.stop()
	if err := a.st.LeaveCluster(context.Background(), "a", a.bootID); err != nil {
		t.Fatal(err)
	}
	info, err = b.Info(context.Background())
	if err != nil || info.Nodes[0].State != "stopped" {
		t.Fatalf("after a left: %+v %v", info, err)
	}
	eventually(t, 10*time.Second, func() error {
		s := b.Stats()
		if s.Nodes["serving"] != 1 || !s.BusConnected {
			return fmt.Errorf("stats %+v", s)
		}
		return nil
	})
}

// A lease the store says this node holds, but no publisher of this node
// has (its release failed), is released by the next heartbeat, so that
// another node can take the channel.
func TestStrayLease(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.node(t, "a", 2*time.Second), e.node(t, "b", 2*time.Second)
	if _, err := a.st.ClaimChannel(context.Background(), "ch", "a", a.bootID, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		release, err := b.Claim(context.Background(), ivs.Channel{ID: "ch"}, "")
		if err != nil {
			return err
		}
		release()
		return nil
	})
}
