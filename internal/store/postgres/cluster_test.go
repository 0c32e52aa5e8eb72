package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/test/e2e/harness"
)

func init() { suites["Cluster"] = testCluster }

const clusterTTL = 5 * time.Second

// age makes a node's heartbeat look d old.
func age(t *testing.T, pg *harness.Postgres, s *Store, node string, d time.Duration) {
	t.Helper()
	if _, err := pg.Query(sessionsDB(t, s), "UPDATE nodes SET heartbeat_at = now() - make_interval(secs => "+
		formatSeconds(d)+") WHERE id = '"+node+"'"); err != nil {
		t.Fatal(err)
	}
}

func formatSeconds(d time.Duration) string { return fmt.Sprintf("%f", d.Seconds()) }

// The cluster's tables: heartbeats, leases with takeover and fencing by
// epoch, the live streams of live nodes, and ending the sessions of nodes
// that died.
func testCluster(t *testing.T, pg *harness.Postgres) {
	ctx := context.Background()
	url := newDatabase(t, pg)
	a, b := openStore(t, url), openStore(t, url)
	a.SetNode("a")
	b.SetNode("b")
	na := ivs.Node{ID: "a", BootID: "a1", Addr: "http://a", Version: "v", Started: time.Now(), Load: []byte(`{"v":1}`)}
	nb := ivs.Node{ID: "b", BootID: "b1", Addr: "http://b", Version: "v", Started: time.Now()}
	for _, n := range []struct {
		s *Store
		n ivs.Node
	}{{a, na}, {b, nb}} {
		if held, err := n.s.Heartbeat(ctx, n.n); err != nil || len(held) != 0 {
			t.Fatalf("first heartbeat: %v %v", held, err)
		}
	}

	// A claims; B is refused while A is live; A claims again (its own).
	la, err := a.ClaimChannel(ctx, "ch", "a", "a1", clusterTTL)
	if err != nil || la.Epoch != 1 || la.NodeID != "a" {
		t.Fatalf("claim: %+v %v", la, err)
	}
	if _, err := b.ClaimChannel(ctx, "ch", "b", "b1", clusterTTL); !errors.Is(err, ivs.ErrChannelLeased) {
		t.Fatalf("claim of a live node's channel: %v", err)
	}
	if held, err := a.Heartbeat(ctx, na); err != nil || len(held) != 1 || held[0].Epoch != 1 {
		t.Fatalf("heartbeat's leases: %+v %v", held, err)
	}
	mustDo(t, a.CreateStreamSession(ctx, ivs.StreamSession{StreamID: "st-a", ChannelID: "ch", Channel: ivs.Channel{ID: "ch"}, StartTime: time.Now()}))
	if ls, err := b.LiveStreams(ctx, clusterTTL, ""); err != nil || len(ls) != 1 || ls[0].NodeID != "a" || ls[0].Session.StreamID != "st-a" {
		t.Fatalf("live streams: %+v %v", ls, err)
	}
	if ls, err := b.LiveStreams(ctx, clusterTTL, "other"); err != nil || len(ls) != 0 {
		t.Fatalf("live streams of another channel: %+v %v", ls, err)
	}
	// A restart of B ends B's own leftovers only.
	if ended, err := b.EndOpenStreamSessions(ctx, time.Now()); err != nil || len(ended) != 0 {
		t.Fatalf("B's start ended %+v %v", ended, err)
	}
	// A second open session of the channel is refused by the schema.
	if err := b.CreateStreamSession(ctx, ivs.StreamSession{StreamID: "st-b0", ChannelID: "ch", Channel: ivs.Channel{ID: "ch"}, StartTime: time.Now()}); err == nil {
		t.Fatal("two open sessions of one channel")
	}

	// A stops heartbeating past the TTL: it is not live, its stream is
	// not listed, B takes the channel over with a greater epoch, and A's
	// next heartbeat no longer lists the lease.
	age(t, pg, a, "a", 2*clusterTTL)
	nodes, err := b.Nodes(ctx, clusterTTL)
	if err != nil || len(nodes) != 2 || nodes[0].ID != "a" || nodes[0].Live || !nodes[1].Live || nodes[0].HeartbeatAge < clusterTTL ||
		string(nodes[0].Load) != `{"v":1}` {
		t.Fatalf("nodes: %+v %v", nodes, err)
	}
	if ls, err := b.LiveStreams(ctx, clusterTTL, "ch"); err != nil || len(ls) != 0 {
		t.Fatalf("a dead node's stream is listed: %+v %v", ls, err)
	}
	lb, err := b.ClaimChannel(ctx, "ch", "b", "b1", clusterTTL)
	if err != nil || lb.Epoch != 2 || lb.PrevNodeID != "a" {
		t.Fatalf("takeover: %+v %v", lb, err)
	}
	if held, err := a.Heartbeat(ctx, na); err != nil || len(held) != 0 {
		t.Fatalf("the old holder's heartbeat lists %+v %v", held, err)
	}
	// The dead node's session is ended once, by one of two sweepers.
	age(t, pg, a, "a", 2*clusterTTL)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ended []ivs.StreamSession
	for _, s := range []*Store{a, b} {
		wg.Go(func() {
			e, err := s.EndDeadNodeSessions(ctx, clusterTTL, time.Now())
			mustDo(t, err)
			mu.Lock()
			ended = append(ended, e...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(ended) != 1 || ended[0].StreamID != "st-a" {
		t.Fatalf("swept %+v", ended)
	}
	// The old holder's release does not free the new holder's lease.
	mustDo(t, a.ReleaseChannel(ctx, "ch", la.Epoch))
	if leases, err := b.LiveLeases(ctx, clusterTTL); err != nil || len(leases) != 1 || leases[0].NodeID != "b" {
		t.Fatalf("leases after a stale release: %+v %v", leases, err)
	}
	// B's release frees it; the next claim's epoch is still greater.
	mustDo(t, b.ReleaseChannel(ctx, "ch", lb.Epoch))
	if l, err := a.ClaimChannel(ctx, "ch", "a", "a1", clusterTTL); err != nil || l.Epoch != 3 {
		t.Fatalf("claim after release: %+v %v", l, err)
	}
	// EndChannelSessions ends whatever the channel has open.
	mustDo(t, a.CreateStreamSession(ctx, ivs.StreamSession{StreamID: "st-a2", ChannelID: "ch", Channel: ivs.Channel{ID: "ch"}, StartTime: time.Now()}))
	if e, err := b.EndChannelSessions(ctx, "ch", time.Now()); err != nil || len(e) != 1 || e[0].StreamID != "st-a2" {
		t.Fatalf("end channel sessions: %+v %v", e, err)
	}
	// Leaving releases the node's leases and marks it stopped.
	mustDo(t, a.LeaveCluster(ctx, "a", "a1"))
	if l, err := b.ClaimChannel(ctx, "ch", "b", "b1", clusterTTL); err != nil || l.Epoch != 4 {
		t.Fatalf("claim after the holder left: %+v %v", l, err)
	}
	nodes, err = b.Nodes(ctx, clusterTTL)
	if err != nil || nodes[0].State != "stopped" || nodes[0].Live {
		t.Fatalf("a node that left: %+v %v", nodes, err)
	}
	// A node gone for longer than the age is forgotten; live ones stay.
	age(t, pg, a, "a", 2*time.Hour)
	if c, err := b.ForgetNodes(ctx, time.Hour); err != nil || c != 1 {
		t.Fatalf("forget nodes: %d %v", c, err)
	}
	if nodes, err := b.Nodes(ctx, clusterTTL); err != nil || len(nodes) != 1 || nodes[0].ID != "b" {
		t.Fatalf("nodes after forgetting: %+v %v", nodes, err)
	}
	// Eight live nodes claim one channel at once: exactly one wins.
	var wins int
	for i := range 8 {
		id := fmt.Sprintf("r%d", i)
		_, err := b.Heartbeat(ctx, ivs.Node{ID: id, BootID: id, Addr: "http://" + id, Started: time.Now()})
		mustDo(t, err)
		wg.Go(func() {
			if _, err := b.ClaimChannel(ctx, "race", id, id, clusterTTL); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if !errors.Is(err, ivs.ErrChannelLeased) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d of 8 concurrent claims won", wins)
	}
}
