package cluster

import (
	"context"
	"encoding/json"
	"time"
)

// Info is the answer of GET /v1/cluster: every node the store knows, with
// what it last reported, and the channels each publishes.
type Info struct {
	// Node is the node that answered.
	Node     string     `json:"nodeId"`
	LeaseTTL float64    `json:"leaseTtlSeconds"`
	Nodes    []NodeInfo `json:"nodes"`
}

// NodeInfo is one node in Info.
type NodeInfo struct {
	ID        string    `json:"nodeId"`
	Addr      string    `json:"addr"`
	Version   string    `json:"version"`
	State     string    `json:"state"` // serving, stopped, or lost (no heartbeat within the TTL)
	StartedAt time.Time `json:"startedAt"`
	// HeartbeatAge is the seconds since its last heartbeat, by the
	// store's clock.
	HeartbeatAge float64 `json:"heartbeatAgeSeconds"`
	Publishers   int     `json:"publishers"`
	Viewers      int     `json:"viewers"`
	// Channels are the ids of the channels it publishes (its leases).
	Channels []string `json:"channels"`
	// Webhooks identifies its webhook settings: nodes should agree.
	Webhooks string `json:"webhooksConfig"`
}

// Info reads the cluster's nodes and leases from the store.
func (n *Node) Info(ctx context.Context) (Info, error) {
	nodes, err := n.cfg.Store.Nodes(ctx, n.cfg.LeaseTTL)
	if err != nil {
		return Info{}, err
	}
	leases, err := n.cfg.Store.LiveLeases(ctx, n.cfg.LeaseTTL)
	if err != nil {
		return Info{}, err
	}
	byNode := map[string][]string{}
	for _, l := range leases {
		byNode[l.NodeID] = append(byNode[l.NodeID], l.ChannelID)
	}
	out := Info{Node: n.cfg.NodeID, LeaseTTL: n.cfg.LeaseTTL.Seconds(), Nodes: make([]NodeInfo, 0, len(nodes))}
	for _, o := range nodes {
		ni := NodeInfo{ID: o.ID, Addr: o.Addr, Version: o.Version, State: o.Status(), StartedAt: o.Started,
			HeartbeatAge: o.HeartbeatAge.Seconds(), Channels: byNode[o.ID]}
		if ni.Channels == nil {
			ni.Channels = []string{}
		}
		var l Load
		if o.Live && json.Unmarshal(o.Load, &l) == nil {
			ni.Publishers, ni.Webhooks = len(l.Streams), l.Webhooks
			for _, v := range l.Viewers {
				ni.Viewers += v
			}
		}
		out.Nodes = append(out.Nodes, ni)
	}
	return out, nil
}
