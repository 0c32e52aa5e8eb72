package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"

	"github.com/onair-video/onair/test/e2e/harness"
)

// leaders returns which of servers hold leadership name, from their
// /metrics (onair_leader{name=...} 1).
func leaders(servers []*harness.Server, name string) ([]int, error) {
	var out []int
	for i, s := range servers {
		select {
		case <-s.Exited():
			continue
		default:
		}
		resp, err := http.Get(s.Endpoint() + "/metrics")
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		found := false
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), `onair_leader{name="`+name+`"} `); ok {
				found = true
				if v == "1" {
					out = append(out, i)
				}
			}
		}
		resp.Body.Close()
		if !found {
			return nil, fmt.Errorf("server %d has no onair_leader for %s", i, name)
		}
	}
	return out, nil
}

// oneLeader waits until exactly one of servers holds name, and returns it.
func oneLeader(t *testing.T, servers []*harness.Server, name string, d time.Duration) int {
	t.Helper()
	var holder int
	harness.Eventually(t, d, func() error {
		l, err := leaders(servers, name)
		if err != nil {
			return err
		}
		if len(l) != 1 {
			return fmt.Errorf("%s held by %v", name, l)
		}
		holder = l[0]
		return nil
	})
	return holder
}

// sseArrivals follows GET /v1/events on s from now on, and records when
// each event (by id) arrived.
type sseArrivals struct {
	mu sync.Mutex
	at map[string]time.Time
}

func followEvents(ctx context.Context, t *testing.T, s *harness.Server) *sseArrivals {
	t.Helper()
	req, err := s.SignedRequest(ctx, "/v1/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req) //nolint:bodyclose // closed by the reader below, which outlives this call
	if err != nil {
		t.Fatalf("events SSE: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("events SSE: %s", resp.Status)
	}
	a := &sseArrivals{at: map[string]time.Time{}}
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
				now := time.Now()
				a.mu.Lock()
				a.at[id] = now
				a.mu.Unlock()
			}
		}
	}()
	return a
}

func (a *sseArrivals) get(id string) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.at[id]
	return t, ok
}

// storedEvents returns the ids (EventBridge ids) and seqs of the stored
// events, in seq order.
func storedEvents(t *testing.T, pg *harness.Postgres, db string) (ids, seqs []string) {
	t.Helper()
	out, err := pg.Query(db, "SELECT id || ' ' || seq FROM events ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(out) {
		id, seq, _ := strings.Cut(strings.TrimSpace(line), " ")
		ids, seqs = append(ids, id), append(seqs, seq)
	}
	return ids, seqs
}

func (rc *receiver) ids() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make([]string, len(rc.events))
	for i, e := range rc.events {
		out[i] = e.ID
	}
	return out
}

// Three cluster nodes, the same webhook
// configured on each: one process delivers it (the holder of its
// leadership), and the receiver gets every event of a stream published to
// another process exactly once, in order. SIGKILL of the holder in the
// middle of a second stream: another takes the webhook over from the
// stored cursor, and every event still arrives, in order, with at most one
// duplicate. SSE on a third process hears of the events that the
// publishing process appends within a second (LISTEN), not at its 5 s poll.
func TestClusterWebhooks(t *testing.T) {
	t.Parallel()
	hookAddr := reservedAddr(t)
	const secret = "e2e-cluster-secret"
	rc := serveWebhook(t, hookAddr, secret)
	cl := harness.StartCluster(t, 3, harness.ClusterOptions{Args: []string{"--webhook-url", "http://" + hookAddr + "/hook"},
		Env: []string{"ONAIR_WEBHOOK_SECRET=" + secret}})
	servers, pg := cl.Nodes, cl.PG
	const db = "cluster"
	const lead = "webhook:default"
	holder := oneLeader(t, servers, lead, 30*time.Second)
	oneLeader(t, servers, "downsample", 30*time.Second)
	// pub publishes, sse follows the log; neither holds the webhook.
	var others []int
	for i := range servers {
		if i != holder {
			others = append(others, i)
		}
	}
	pubNode, sseNode := servers[others[0]], servers[others[1]]
	t.Logf("webhook leader: process %d; publishing to %d, SSE on %d", holder, others[0], others[1])
	ctx := harness.Context(t, 3*time.Minute)
	atPub, atOther := followEvents(ctx, t, pubNode), followEvents(ctx, t, sseNode)

	c := pubNode.IVS()
	ch, key := createChannel(t, servers[holder].IVS(), "cluster", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	arn := aws.ToString(ch.Arn)
	// session publishes to pubNode, runs during while live, stops, and
	// waits until the receiver has every stored event.
	session := func(during func(streamID string)) {
		pub := harness.StartFFmpeg(t, harness.Publish{URL: pubNode.RTMPURL(aws.ToString(key.Value)), Size: "320x240", Rate: 15})
		st := waitLive(t, c, arn)
		during(aws.ToString(st.StreamId))
		pub.Kill()
		waitOffline(t, c, arn, 30*time.Second)
		harness.Eventually(t, 60*time.Second, func() error {
			stored, _ := storedEvents(t, pg, db)
			got := slices.Compact(rc.ids())
			if !slices.Equal(got, stored) {
				return fmt.Errorf("receiver has %d events (%d distinct), the log %d", len(rc.ids()), len(got), len(stored))
			}
			return nil
		})
	}

	// One stream: every event once, in order.
	var first string
	session(func(id string) { first = id })
	stored, _ := storedEvents(t, pg, db)
	if got := rc.ids(); !slices.Equal(got, stored) {
		t.Fatalf("receiver got %v\nthe log has %v", got, stored)
	}
	if names := rc.names(first); !slices.Equal(names[:2], []string{"Session Created", "Stream Start"}) ||
		!slices.Equal(names[len(names)-2:], []string{"Stream End", "Session Ended"}) {
		t.Fatalf("events of the first stream: %v", names)
	}
	before := len(stored)

	// The webhook's holder is killed in the middle of the second stream.
	var takeover time.Duration
	session(func(id string) {
		harness.Eventually(t, 30*time.Second, func() error {
			if n := rc.names(id); !slices.Contains(n, "Stream Start") {
				return fmt.Errorf("second stream's events so far: %v", n)
			}
			return nil
		})
		start := time.Now()
		servers[holder].Kill()
		next := oneLeader(t, servers, lead, 30*time.Second)
		takeover = time.Since(start)
		t.Logf("process %d took the webhook over %v after the SIGKILL of %d", next, takeover.Round(time.Millisecond), holder)
	})
	stored, _ = storedEvents(t, pg, db)
	got := rc.ids()
	if !slices.Equal(slices.Compact(slices.Clone(got)), stored) {
		t.Fatalf("receiver got %v\nthe log has %v", got, stored)
	}
	dups := len(got) - len(stored)
	t.Logf("%d events delivered over the two streams, %d duplicates", len(stored), dups)
	if dups > 1 {
		t.Fatalf("%d duplicates after the handover: %v", dups, got[before:])
	}
	if takeover > 10*time.Second {
		t.Fatalf("webhook takeover took %v", takeover)
	}
	rc.mu.Lock()
	bad := rc.bad
	rc.mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("webhook: %q", bad)
	}

	// SSE on the process that appended and on another: how much later the
	// other's stream had each event.
	_, seqs := storedEvents(t, pg, db)
	var lag []time.Duration
	harness.Eventually(t, 20*time.Second, func() error {
		lag = lag[:0]
		for _, seq := range seqs {
			a, okA := atPub.get(seq)
			b, okB := atOther.get(seq)
			if !okA || !okB {
				return fmt.Errorf("event %s not on both SSE streams yet", seq)
			}
			lag = append(lag, b.Sub(a))
		}
		return nil
	})
	slices.Sort(lag)
	p50, p90 := lag[len(lag)/2], lag[len(lag)*9/10]
	t.Logf("SSE on another process than the appender's: %d events, lag p50 %v, p90 %v, max %v", len(lag),
		p50.Round(time.Millisecond), p90.Round(time.Millisecond), lag[len(lag)-1].Round(time.Millisecond))
	if len(lag) < 6 || p90 > time.Second {
		t.Fatalf("SSE lag over %d events: p90 %v, want under 1 s (lags %v)", len(lag), p90, lag)
	}
}
