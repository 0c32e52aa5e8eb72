package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ivs"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"

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
