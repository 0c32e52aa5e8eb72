package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ivs"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"
	"github.com/aws/aws-sdk-go-v2/service/ivschat"
	chattypes "github.com/aws/aws-sdk-go-v2/service/ivschat/types"
	"github.com/coder/websocket"

	"github.com/onair-video/onair/internal/chat/chattest"

	"github.com/onair-video/onair/test/e2e/harness"
)

// clusterInfo is what GET /v1/cluster answers.
type clusterInfo struct {
	NodeID string `json:"nodeId"`
	Nodes  []struct {
		NodeID     string   `json:"nodeId"`
		Addr       string   `json:"addr"`
		State      string   `json:"state"`
		Publishers int      `json:"publishers"`
		Channels   []string `json:"channels"`
	} `json:"nodes"`
}

// Three nodes on one PostgreSQL and NATS: a channel made on one is read on
// the others, and an update on one reaches the others' caches; a stream
// published to A is LIVE with A's stream id on B and C; a second publisher
// of the same key on B is refused while A's stream goes on; /v1/cluster on
// C shows the nodes and which one publishes; StopStream on C cuts A's
// publisher, and every node then says the channel is not broadcasting.
func TestClusterControlPlane(t *testing.T) {
	t.Parallel()
	harness.Heavy(t)
	c := harness.StartCluster(t, 3, harness.ClusterOptions{})
	a, b, cc := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	ctx := harness.Context(t, 2*time.Minute)

	ch, key := createChannel(t, a.IVS(), "cluster", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	for _, s := range []*harness.Server{a, b, cc} {
		got, err := s.IVS().GetChannel(ctx, &ivs.GetChannelInput{Arn: ch.Arn})
		if err != nil || aws.ToString(got.Channel.Name) != "cluster" {
			t.Fatalf("GetChannel on %s: %+v, %v", s.Addrs["http"], got, err)
		}
	}
	// Every node now has the channel cached; an update on C must reach
	// A's and B's caches through the bus, well before the 30 s backstop.
	if _, err := cc.IVS().UpdateChannel(ctx, &ivs.UpdateChannelInput{Arn: ch.Arn, Name: aws.String("renamed")}); err != nil {
		t.Fatal(err)
	}
	updated := time.Now()
	for _, s := range []*harness.Server{a, b} {
		harness.Eventually(t, 10*time.Second, func() error {
			got, err := s.IVS().GetChannel(ctx, &ivs.GetChannelInput{Arn: ch.Arn})
			if err != nil {
				return err
			}
			if n := aws.ToString(got.Channel.Name); n != "renamed" {
				return fmt.Errorf("name %q", n)
			}
			return nil
		})
	}
	if d := time.Since(updated); d > 5*time.Second {
		t.Errorf("the update took %s to reach the other nodes' caches", d)
	}

	pub := harness.StartFFmpeg(t, harness.Publish{URL: a.RTMPURL(aws.ToString(key.Value))})
	st := waitLive(t, a.IVS(), aws.ToString(ch.Arn))
	for _, s := range []*harness.Server{b, cc} {
		got := waitLive(t, s.IVS(), aws.ToString(ch.Arn))
		if aws.ToString(got.StreamId) != aws.ToString(st.StreamId) {
			t.Fatalf("GetStream on another node: stream %s, want A's %s", aws.ToString(got.StreamId), aws.ToString(st.StreamId))
		}
	}
	list, err := b.IVS().ListStreams(ctx, &ivs.ListStreamsInput{})
	if err != nil || len(list.Streams) != 1 || aws.ToString(list.Streams[0].StreamId) != aws.ToString(st.StreamId) {
		t.Fatalf("ListStreams on B: %+v, %v", list, err)
	}

	// The thumbnail, taken on A, from C.
	harness.Eventually(t, 20*time.Second, func() error {
		res, err := harness.Fetch(ctx, cc.Endpoint()+"/api/video/v1/"+idOf(ch)+"/thumb.jpg")
		if err != nil {
			return err
		}
		if res.Status != http.StatusOK || len(res.Body) < 1000 || string(res.Body[:2]) != "\xff\xd8" {
			return fmt.Errorf("thumbnail from C: %d, %d bytes", res.Status, len(res.Body))
		}
		return nil
	})

	// A second publisher of the key on B is refused; A's goes on.
	second := harness.StartFFmpeg(t, harness.Publish{URL: b.RTMPURL(aws.ToString(key.Value))})
	if err := second.Wait(30 * time.Second); err == nil {
		t.Fatal("the second publisher on another node was let in")
	}
	if out := second.Output(); !strings.Contains(out, "Error") && !strings.Contains(out, "error") {
		t.Logf("second publisher's output: %s", out)
	}
	b.WaitLog(t, "live on another node", 10*time.Second)
	if got := waitLive(t, cc.IVS(), aws.ToString(ch.Arn)); aws.ToString(got.StreamId) != aws.ToString(st.StreamId) {
		t.Fatalf("after the refused publisher: stream %s, want %s", aws.ToString(got.StreamId), aws.ToString(st.StreamId))
	}
	select {
	case <-pub.Done():
		t.Fatalf("A's publisher ended when another node refused a second one: %s", pub.Output())
	default:
	}

	var info clusterInfo
	if err := cc.GetJSON(ctx, "/v1/cluster", &info); err != nil {
		t.Fatal(err)
	}
	if info.NodeID != "n3" || len(info.Nodes) != 3 {
		t.Fatalf("/v1/cluster: %+v", info)
	}
	for _, n := range info.Nodes {
		want := []string{}
		if n.NodeID == "n1" {
			want = []string{aws.ToString(ch.Arn)[strings.LastIndexByte(aws.ToString(ch.Arn), '/')+1:]}
		}
		if n.State != "serving" || !slices.Equal(n.Channels, want) || !strings.HasPrefix(n.Addr, "http://127.0.0.1:") {
			t.Errorf("/v1/cluster node %+v, want serving with channels %v", n, want)
		}
	}

	// WHEP on B: the signalling is relayed to A, the media comes from A,
	// and the viewer counts on every node (A reports it with its load).
	v := watchWHEP(t, ctx, b, ch, 30, 0)
	if !strings.HasPrefix(v.Location, "/whep/"+idOf(ch)+"/") {
		t.Errorf("relayed WHEP Location %q", v.Location)
	}
	for _, s := range []*harness.Server{b, cc} {
		harness.Eventually(t, 10*time.Second, func() error {
			out, err := s.IVS().GetStream(ctx, &ivs.GetStreamInput{ChannelArn: ch.Arn})
			if err != nil {
				return err
			}
			if out.Stream.ViewerCount != 1 {
				return fmt.Errorf("viewerCount %d, want the WHEP viewer", out.Stream.ViewerCount)
			}
			return nil
		})
	}
	v.Close()

	// StopStream on C reaches A's publisher.
	if _, err := cc.IVS().StopStream(ctx, &ivs.StopStreamInput{ChannelArn: ch.Arn}); err != nil {
		t.Fatalf("StopStream on C: %v", err)
	}
	select {
	case <-pub.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("StopStream on C did not cut the publisher on A")
	}
	for _, s := range []*harness.Server{a, b, cc} {
		waitOffline(t, s.IVS(), aws.ToString(ch.Arn), 10*time.Second)
	}
	_, err = b.IVS().StopStream(ctx, &ivs.StopStreamInput{ChannelArn: ch.Arn})
	var cnb *types.ChannelNotBroadcasting
	if !errors.As(err, &cnb) {
		t.Fatalf("StopStream of an offline channel: %v, want ChannelNotBroadcasting", err)
	}
	sessions, err := b.IVS().ListStreamSessions(context.Background(), &ivs.ListStreamSessionsInput{ChannelArn: ch.Arn})
	if err != nil || len(sessions.StreamSessions) != 1 || sessions.StreamSessions[0].EndTime == nil {
		t.Fatalf("ListStreamSessions: %+v, %v", sessions, err)
	}
}

// republish publishes key to s again and again (an encoder that
// reconnects) until s has the channel live with a stream other than
// old; it returns that stream, the publisher and when it went live.
func republish(t *testing.T, s *harness.Server, ch *types.Channel, key, old string, d time.Duration) (*types.Stream, *harness.Process, time.Time) {
	t.Helper()
	deadline := time.Now().Add(d)
	var refused int
	for time.Now().Before(deadline) {
		p := harness.StartFFmpeg(t, harness.Publish{URL: s.RTMPURL(key)})
		for {
			out, err := s.IVS().GetStream(context.Background(), &ivs.GetStreamInput{ChannelArn: ch.Arn})
			if err == nil && out.Stream.State == types.StreamStateStreamLive && aws.ToString(out.Stream.StreamId) != old {
				t.Logf("live on the new node after %d refused attempts", refused)
				return out.Stream, p, time.Now()
			}
			select {
			case <-p.Done():
				refused++
			case <-time.After(100 * time.Millisecond):
				continue
			}
			break
		}
	}
	t.Fatalf("not live on the new node within %s (%d refused attempts)", d, refused)
	return nil, nil, time.Time{}
}

// openSessions counts the channel's open sessions in the shared store.
func openSessions(t *testing.T, c *harness.Cluster, ch *types.Channel) string {
	t.Helper()
	n, err := c.Query("SELECT count(*) FROM stream_sessions WHERE end_time IS NULL AND channel_id = '" + idOf(ch) + "'")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The origin is killed mid-stream: the encoder's reconnect to B is
// refused until A's lease runs out (3 s here), then B publishes with a new
// stream id; the old session ends with Stream Failure, at its last second,
// and every node answers the new stream.
func TestClusterOriginKilled(t *testing.T) {
	t.Parallel()
	harness.Heavy(t)
	c := harness.StartCluster(t, 3, harness.ClusterOptions{})
	a, b, cc := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	ctx := harness.Context(t, 2*time.Minute)
	ch, key := createChannel(t, a.IVS(), "killed", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	harness.StartFFmpeg(t, harness.Publish{URL: a.RTMPURL(aws.ToString(key.Value))})
	old := waitLive(t, cc.IVS(), aws.ToString(ch.Arn))
	// A few seconds of metrics, so the old session has a last second.
	harness.Eventually(t, 20*time.Second, func() error {
		var m sessionMetrics
		if err := cc.GetJSON(ctx, "/v1/channels/"+idOf(ch)+"/sessions/latest/metrics", &m); err != nil {
			return err
		}
		if len(m.Points) < 2 {
			return fmt.Errorf("%d points", len(m.Points))
		}
		return nil
	})

	a.Kill()
	killed := time.Now()
	st, _, liveAt := republish(t, b, ch, aws.ToString(key.Value), aws.ToString(old.StreamId), 30*time.Second)
	took := liveAt.Sub(killed)
	t.Logf("live on B %v after A was killed (lease TTL 3s)", took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("the stream took %v to go live on another node; want within 10 s", took)
	}
	for _, s := range []*harness.Server{b, cc} {
		got := waitLive(t, s.IVS(), aws.ToString(ch.Arn))
		if aws.ToString(got.StreamId) != aws.ToString(st.StreamId) {
			t.Fatalf("GetStream: %s, want B's %s", aws.ToString(got.StreamId), aws.ToString(st.StreamId))
		}
	}
	if n := openSessions(t, c, ch); n != "1" {
		t.Fatalf("%s open sessions of the channel", n)
	}
	ss, err := cc.IVS().GetStreamSession(ctx, &ivs.GetStreamSessionInput{ChannelArn: ch.Arn, StreamId: old.StreamId})
	if err != nil || ss.StreamSession.EndTime == nil {
		t.Fatalf("the killed node's session: %+v, %v", ss, err)
	}
	if end := *ss.StreamSession.EndTime; end.After(killed) || end.Before(aws.ToTime(old.StartTime)) {
		t.Errorf("the killed node's session ended at %v; killed at %v", end, killed)
	}
	var failure bool
	for _, e := range ss.StreamSession.TruncatedEvents {
		failure = failure || aws.ToString(e.Name) == "Stream Failure"
	}
	if !failure {
		t.Errorf("the killed node's session has no Stream Failure event: %+v", ss.StreamSession.TruncatedEvents)
	}
	var info clusterInfo
	if err := cc.GetJSON(ctx, "/v1/cluster", &info); err != nil {
		t.Fatal(err)
	}
	for _, n := range info.Nodes {
		if n.NodeID == "n1" && n.State != "lost" {
			t.Errorf("/v1/cluster says the killed node is %q", n.State)
		}
	}
}

// The origin is frozen (SIGSTOP) past its lease: the encoder goes live on
// B; when A wakes it finds its lease taken and cuts its stale publisher at
// once. At no moment has the channel two open sessions.
func TestClusterOriginFrozen(t *testing.T) {
	t.Parallel()
	harness.Heavy(t)
	c := harness.StartCluster(t, 3, harness.ClusterOptions{})
	a, b, cc := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	ch, key := createChannel(t, a.IVS(), "frozen", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	stale := harness.StartFFmpeg(t, harness.Publish{URL: a.RTMPURL(aws.ToString(key.Value))})
	old := waitLive(t, cc.IVS(), aws.ToString(ch.Arn))

	// Watch the open sessions the whole time.
	watch, stop := context.WithCancel(context.Background())
	watched := make(chan string, 1)
	go func() {
		most := "0"
		for watch.Err() == nil {
			if n, err := c.Query("SELECT count(*) FROM stream_sessions WHERE end_time IS NULL AND channel_id = '" + idOf(ch) + "'"); err == nil && n > most {
				most = n
			}
			time.Sleep(50 * time.Millisecond)
		}
		watched <- most
	}()

	a.Pause()
	_, _, _ = republish(t, b, ch, aws.ToString(key.Value), aws.ToString(old.StreamId), 30*time.Second)
	a.Resume()
	woke := time.Now()
	select {
	case <-stale.Done():
		t.Logf("A cut its stale publisher %v after waking", time.Since(woke).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatal("A did not cut its stale publisher after waking")
	}
	a.WaitLog(t, "cutting the publisher", 5*time.Second)
	got := waitLive(t, a.IVS(), aws.ToString(ch.Arn))
	if aws.ToString(got.StreamId) == aws.ToString(old.StreamId) {
		t.Fatal("A still answers its old stream")
	}
	stop()
	if most := <-watched; most != "1" {
		t.Fatalf("the channel had %s open sessions at once", most)
	}
}

// NATS stops and comes back: the stream plays on, GetStream answers on
// every node (from the store), StopStream from another node fails with an
// error to retry while NATS is down and works once it is back, without
// restarting anything. PostgreSQL stops and comes back: the publisher is
// not cut, no node takes the channel over, the API fails and recovers.
func TestClusterOutages(t *testing.T) {
	t.Parallel()
	harness.Heavy(t)
	c := harness.StartCluster(t, 2, harness.ClusterOptions{})
	a, b := c.Nodes[0], c.Nodes[1]
	ctx := harness.Context(t, 3*time.Minute)
	ch, key := createChannel(t, a.IVS(), "outages", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	pub := harness.StartFFmpeg(t, harness.Publish{URL: a.RTMPURL(aws.ToString(key.Value))})
	st := waitLive(t, b.IVS(), aws.ToString(ch.Arn))

	c.NATS.Shutdown()
	harness.Eventually(t, 10*time.Second, func() error {
		_, err := b.IVS().StopStream(ctx, &ivs.StopStreamInput{ChannelArn: ch.Arn})
		var su *types.StreamUnavailable
		if !errors.As(err, &su) || !strings.Contains(aws.ToString(su.ExceptionMessage), "node n1") {
			return fmt.Errorf("StopStream from B with NATS down: %w, want StreamUnavailable naming n1", err)
		}
		return nil
	})
	if got := waitLive(t, b.IVS(), aws.ToString(ch.Arn)); aws.ToString(got.StreamId) != aws.ToString(st.StreamId) {
		t.Fatalf("GetStream on B with NATS down: %s", aws.ToString(got.StreamId))
	}
	c.NATS.Restart()
	harness.Eventually(t, 20*time.Second, func() error {
		if _, err := b.IVS().GetStream(ctx, &ivs.GetStreamInput{ChannelArn: ch.Arn}); err != nil {
			return err
		}
		select {
		case <-pub.Done():
			t.Fatalf("the publisher ended during the NATS outage: %s", pub.Output())
		default:
		}
		return nil
	})

	c.PG.Stop()
	down := time.Now()
	harness.Eventually(t, 20*time.Second, func() error {
		_, err := b.IVS().ListChannels(ctx, &ivs.ListChannelsInput{})
		if err == nil {
			return errors.New("ListChannels answered with PostgreSQL down")
		}
		return nil
	})
	for time.Since(down) < 6*time.Second { // two lease TTLs
		select {
		case <-pub.Done():
			t.Fatalf("the publisher was cut while PostgreSQL was down: %s", pub.Output())
		case <-time.After(200 * time.Millisecond):
		}
	}
	c.PG.Start()
	harness.Eventually(t, 30*time.Second, func() error {
		_, err := b.IVS().ListChannels(ctx, &ivs.ListChannelsInput{})
		return err
	})
	// For two lease TTLs after A heartbeats again, nothing moves.
	a.WaitLog(t, "heartbeat back", 20*time.Second)
	for back := time.Now(); time.Since(back) < 6*time.Second; {
		got := waitLive(t, b.IVS(), aws.ToString(ch.Arn))
		if aws.ToString(got.StreamId) != aws.ToString(st.StreamId) {
			t.Fatalf("after the PostgreSQL outage the stream is %s, want %s", aws.ToString(got.StreamId), aws.ToString(st.StreamId))
		}
		select {
		case <-pub.Done():
			t.Fatalf("the publisher was cut after the PostgreSQL outage: %s", pub.Output())
		case <-time.After(250 * time.Millisecond):
		}
	}
	if n := openSessions(t, c, ch); n != "1" {
		t.Fatalf("%s open sessions after the outage", n)
	}

	// NATS is back: StopStream from B reaches A.
	if _, err := b.IVS().StopStream(ctx, &ivs.StopStreamInput{ChannelArn: ch.Arn}); err != nil {
		t.Fatalf("StopStream from B after the outages: %v", err)
	}
	select {
	case <-pub.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("StopStream after the outages did not cut the publisher")
	}
}

// The console's Cluster page on n2 lists both nodes and the channel n1
// publishes, and the channel's page on n2 shows it live
// (web/e2e/cluster.mjs in Chromium).
func TestClusterConsoleInBrowser(t *testing.T) {
	t.Parallel()
	browserTest(t)
	c := harness.StartCluster(t, 2, harness.ClusterOptions{})
	a, b := c.Nodes[0], c.Nodes[1]
	ch, key := createChannel(t, a.IVS(), "cluster-console", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	harness.StartFFmpeg(t, harness.Publish{URL: a.RTMPURL(aws.ToString(key.Value))})
	waitLive(t, b.IVS(), aws.ToString(ch.Arn))
	browserScript(t, b, "e2e/cluster.mjs", 2*time.Minute, []string{"40", "41"},
		"ONAIR_URL="+b.Endpoint(), "ONAIR_AKID="+b.AccessKeyID, "ONAIR_SECRET="+b.SecretAccessKey, "CHANNEL="+idOf(ch))
}

// An encoder whose old connection to A still looks open (it went silent:
// here, ffmpeg frozen) reconnects through the load balancer to B: B asks A,
// A sees the publisher has sent nothing for 3 s with the same key and lets
// it go, and B goes live, as a reconnect to the same node would.
func TestClusterReconnectElsewhere(t *testing.T) {
	t.Parallel()
	harness.Heavy(t)
	c := harness.StartCluster(t, 2, harness.ClusterOptions{})
	a, b := c.Nodes[0], c.Nodes[1]
	ch, key := createChannel(t, a.IVS(), "reconnect", types.ChannelTypeBasicChannelType, types.ChannelLatencyModeLowLatency)
	old := harness.StartFFmpeg(t, harness.Publish{URL: a.RTMPURL(aws.ToString(key.Value))})
	st := waitLive(t, b.IVS(), aws.ToString(ch.Arn))
	if err := old.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	_, _, liveAt := republish(t, b, ch, aws.ToString(key.Value), aws.ToString(st.StreamId), 30*time.Second)
	t.Logf("live on B %v after the old encoder went silent on A", liveAt.Sub(frozen).Round(time.Millisecond))
	a.WaitLog(t, "yielding a publisher that looks gone to a reconnect on another node", 5*time.Second)
	if n := openSessions(t, c, ch); n != "1" {
		t.Fatalf("%s open sessions", n)
	}
}

// Chat across nodes: ana on A and bob on B in one room, with a rate of 2
// messages a second: ana's message reaches bob once with one id; the
// control plane's SendEvent and DisconnectUser on C reach them; the rate
// holds for the two together; a token used on A is refused on B.
func TestClusterChat(t *testing.T) {
	t.Parallel()
	c := harness.StartCluster(t, 3, harness.ClusterOptions{})
	a, b, cc := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	ctx := harness.Context(t, 2*time.Minute)
	chatA, chatC := chatClient(a), chatClient(cc)
	room, err := chatA.CreateRoom(ctx, &ivschat.CreateRoomInput{Name: aws.String("across"), MaximumMessageRatePerSecond: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	token := func(user string) string {
		tok, err := chatA.CreateChatToken(ctx, &ivschat.CreateChatTokenInput{RoomIdentifier: room.Arn, UserId: aws.String(user),
			Capabilities: []chattypes.ChatTokenCapability{chattypes.ChatTokenCapabilitySendMessage}})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(tok.Token)
	}
	anaToken := token("ana")
	ana := joinChat(t, a, anaToken)
	bob := joinChat(t, b, token("bob"))
	// The token ana used on A is spent on every node.
	if _, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(b.Endpoint(), "http")+"/chat",
		&websocket.DialOptions{Subprotocols: []string{anaToken}}); err == nil || res == nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a token used on A, again on B: %v %+v", err, res)
	}

	ana.Send(map[string]string{"Action": "SEND_MESSAGE", "RequestId": "r1", "Content": "hello from A"})
	ma, mb := ana.Next(), bob.Next()
	if mb["Type"] != "MESSAGE" || mb["Content"] != "hello from A" || mb["Id"] != ma["Id"] {
		t.Fatalf("bob on B got %v; ana on A got %v", mb, ma)
	}

	// Ten messages at once, five from each node: the room's 2 a second
	// hold for both together.
	for i := range 5 {
		ana.Send(map[string]string{"Action": "SEND_MESSAGE", "RequestId": fmt.Sprintf("a%d", i), "Content": "burst"})
		bob.Send(map[string]string{"Action": "SEND_MESSAGE", "RequestId": fmt.Sprintf("b%d", i), "Content": "burst"})
	}
	// Each sender hears of each of its own requests: its MESSAGE, or an
	// ERROR (throttled).
	accepted, throttled := 0, 0
	for _, p := range []struct {
		peer   *chattest.Peer
		prefix string
	}{{ana, "a"}, {bob, "b"}} {
		for outcomes := 0; outcomes < 5; {
			m := p.peer.Next()
			if id, _ := m["RequestId"].(string); !strings.HasPrefix(id, p.prefix) {
				continue // the other's message
			}
			outcomes++
			if m["Type"] == "ERROR" {
				throttled++
			} else {
				accepted++
			}
		}
	}
	if accepted > 3 {
		t.Fatalf("%d of 10 messages sent at once from two nodes were accepted; the room allows 2 a second", accepted)
	}
	t.Logf("burst of 10 from two nodes: %d accepted, %d throttled", accepted, throttled)

	if _, err := chatC.SendEvent(ctx, &ivschat.SendEventInput{RoomIdentifier: room.Arn, EventName: aws.String("poll")}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*chattest.Peer{ana, bob} {
		harness.Eventually(t, 5*time.Second, func() error {
			if m := p.Next(); m["EventName"] != "poll" {
				return fmt.Errorf("frame %v", m)
			}
			return nil
		})
	}
	if _, err := chatC.DisconnectUser(ctx, &ivschat.DisconnectUserInput{RoomIdentifier: room.Arn, UserId: aws.String("bob")}); err != nil {
		t.Fatal(err)
	}
	if code := bob.Closed(); code != websocket.StatusNormalClosure {
		t.Fatalf("bob on B closed with %v after DisconnectUser on C", code)
	}
}
