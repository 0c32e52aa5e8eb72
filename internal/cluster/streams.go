package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
)

// Streams is the API's view of the live streams of the whole cluster
// (api.Live): this node's from memory, the others' from the store, and
// commands to them over NATS.
type Streams struct{ n *Node }

// Streams returns the cluster's view of the live streams.
func (n *Node) Streams() Streams { return Streams{n} }

// Get returns the live stream of a channel, wherever it is published.
func (s Streams) Get(ctx context.Context, channelID string) (live.StreamInfo, bool, error) {
	if st, ok := s.n.cfg.Registry.Get(channelID); ok {
		return st.Info(time.Now()), true, nil
	}
	ls, err := s.n.cfg.Store.LiveStreams(ctx, s.n.cfg.LeaseTTL, channelID)
	if err != nil {
		return live.StreamInfo{}, false, err
	}
	for _, l := range ls {
		if l.NodeID != s.n.cfg.NodeID { // this node's are in memory
			return s.n.remote(l), true, nil
		}
	}
	return live.StreamInfo{}, false, nil
}

// remote is the StreamInfo of a stream another node publishes, with the
// health that node last reported.
func (n *Node) remote(l ivs.LiveStream) live.StreamInfo {
	health := ivs.HealthHealthy
	n.mu.Lock()
	if st, ok := n.loads[l.NodeID].Streams[l.Session.ChannelID]; ok && st.StreamID == l.Session.StreamID && st.Health != "" {
		health = st.Health
	}
	n.mu.Unlock()
	return live.StreamInfo{Channel: l.Session.Channel, StreamID: l.Session.StreamID, StartTime: l.Session.StartTime,
		Health: health, NodeID: l.NodeID}
}

// List returns every live stream of the cluster, ordered by channel ARN.
func (s Streams) List(ctx context.Context) ([]live.StreamInfo, error) {
	ls, err := s.n.cfg.Store.LiveStreams(ctx, s.n.cfg.LeaseTTL, "")
	if err != nil {
		return nil, err
	}
	now := time.Now()
	local := s.n.cfg.Registry.List()
	out := make([]live.StreamInfo, 0, len(ls)+len(local))
	for _, st := range local {
		out = append(out, st.Info(now))
	}
	for _, l := range ls {
		if l.NodeID != s.n.cfg.NodeID {
			out = append(out, s.n.remote(l))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Channel.ARN < out[j].Channel.ARN })
	return out, nil
}

// Stop cuts a channel's publisher off on whichever node it is.
func (s Streams) Stop(ctx context.Context, channelID string) error {
	if _, ok := s.n.cfg.Registry.Get(channelID); ok {
		return s.n.cfg.Registry.Stop(channelID)
	}
	return s.n.command(ctx, channelID, "stop", nil)
}

// PutMetadata inserts timed metadata into a channel's live stream on
// whichever node it is.
func (s Streams) PutMetadata(ctx context.Context, channelID string, data []byte) error {
	if st, ok := s.n.cfg.Registry.Get(channelID); ok {
		return st.PutMetadata(data)
	}
	return s.n.command(ctx, channelID, "metadata", data)
}

// command sends verb to the node publishing channelID and maps its reply
// to the errors of one node. Nobody answering means the channel is not
// live, unless the store says a live node has it: then that node is out of
// reach (NATS down or partitioned), which is an error to retry.
func (n *Node) command(ctx context.Context, channelID, verb string, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	b, _ := json.Marshal(message{V: 1, Node: n.cfg.NodeID, Channel: channelID, Data: data})
	msg, err := n.nc.RequestWithContext(ctx, liveSubject(channelID, verb), b)
	if err == nil {
		m, ok := decode(msg.Data)
		switch {
		case !ok:
			return fmt.Errorf("%w: undecodable reply", errRemote)
		case m.Error == "":
			return nil
		case m.Error == replyNotLive:
			return live.ErrNotLive
		case m.Error == replyNoMetadata:
			return live.ErrNoMetadataReader
		default:
			return fmt.Errorf("%w (%s on node %s)", errRemote, m.Error, m.Node)
		}
	}
	ls, lerr := n.cfg.Store.LiveStreams(context.WithoutCancel(ctx), n.cfg.LeaseTTL, channelID)
	if lerr != nil {
		return fmt.Errorf("cluster: %s: %w", verb, errors.Join(err, lerr))
	}
	if len(ls) == 0 {
		return live.ErrNotLive // it ended meanwhile
	}
	why := "does not answer"
	if !n.nc.IsConnected() {
		why = "is out of reach: this node has no connection to NATS"
	} else if !errors.Is(err, nats.ErrNoResponders) {
		why = "did not answer in time"
	}
	n.log.Warn("command to another node failed", "verb", verb, "channel", channelID, "node", ls[0].NodeID, "err", err)
	// StreamUnavailable is IVS's StopStream answer for "try again".
	return &ivs.Error{Code: ivs.CodeStreamUnavailable, Message: fmt.Sprintf(
		"the stream is temporarily unavailable: node %s, which has it, %s; try again", ls[0].NodeID, why)}
}

// Viewers counts a channel's viewers across the cluster: this node's now,
// the others' as they last reported them.
func (n *Node) Viewers(channelID string, local int) int {
	c := local
	n.mu.Lock()
	for id, l := range n.loads {
		if id != n.cfg.NodeID {
			c += l.Viewers[channelID]
		}
	}
	n.mu.Unlock()
	return c
}
