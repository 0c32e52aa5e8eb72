package ivs

import (
	"context"
	"errors"
	"time"
)

// ErrChannelLeased is a claim's answer when another live node publishes
// the channel.
var ErrChannelLeased = errors.New("ivs: the channel is live on another node")

// Node is a cluster node as the shared store knows it.
type Node struct {
	ID      string
	BootID  string
	Addr    string // base URL of its HTTP listener, for the other nodes
	Version string
	State   string // serving, or stopped after a clean stop
	Started time.Time
	// HeartbeatAge is how long ago its last heartbeat was, by the
	// database's clock; Live is whether that is within the lease TTL (and
	// the node serving).
	HeartbeatAge time.Duration
	Live         bool
	// Load is the JSON the node reports with its heartbeat.
	Load []byte
}

// Status is the node's state as the cluster sees it: serving while its
// heartbeat is fresh, stopped after a clean stop, else lost.
func (n Node) Status() string {
	switch {
	case n.Live:
		return "serving"
	case n.State == "stopped":
		return "stopped"
	default:
		return "lost"
	}
}

// Lease says which node publishes a channel. Epoch grows with every claim.
type Lease struct {
	ChannelID string
	NodeID    string
	BootID    string
	Epoch     int64
	Claimed   time.Time
	// PrevNodeID is, on a claim's answer, the node that held the lease
	// before ("" when it was free).
	PrevNodeID string
}

// LiveStream is a session open on a live node.
type LiveStream struct {
	Session StreamSession
	NodeID  string
}

// ClusterStore is what the cluster keeps in the shared store: the nodes,
// their heartbeats and the channel leases. Liveness is judged by the
// store's clock against ttl.
type ClusterStore interface {
	// Heartbeat records n as alive now and returns the leases n (its
	// boot) holds.
	Heartbeat(ctx context.Context, n Node) ([]Lease, error)
	// LeaveCluster marks a node as stopped and releases its leases.
	LeaveCluster(ctx context.Context, nodeID, bootID string) error
	// Nodes lists every node, judged against ttl.
	Nodes(ctx context.Context, ttl time.Duration) ([]Node, error)
	// ClaimChannel gives channelID's lease to the node (boot) unless a live
	// node other than it holds it: then ErrChannelLeased.
	ClaimChannel(ctx context.Context, channelID, nodeID, bootID string, ttl time.Duration) (Lease, error)
	// ReleaseChannel frees a lease, if it is still the one of that epoch.
	ReleaseChannel(ctx context.Context, channelID string, epoch int64) error
	// LiveLeases lists the leases held by live nodes.
	LiveLeases(ctx context.Context, ttl time.Duration) ([]Lease, error)
	// LiveStreams lists the open sessions of live nodes, of channelID or of
	// every channel ("").
	LiveStreams(ctx context.Context, ttl time.Duration, channelID string) ([]LiveStream, error)
	// EndChannelSessions ends the channel's open sessions (left by a node
	// that died or lost the channel), each at its last recorded second.
	EndChannelSessions(ctx context.Context, channelID string, end time.Time) ([]StreamSession, error)
	// ForgetNodes deletes the rows of nodes whose last heartbeat is older
	// than age (their sessions, leases and recordings were taken care of
	// long before) and returns how many.
	ForgetNodes(ctx context.Context, age time.Duration) (int, error)
	// EndDeadNodeSessions ends the open sessions of nodes that are not
	// live (ttl), each at its last recorded second.
	EndDeadNodeSessions(ctx context.Context, ttl time.Duration, end time.Time) ([]StreamSession, error)
}

// Failure reasons of sessions that a node did not end itself.
const (
	// NodeLostReason ends the sessions of a node that stopped heartbeating.
	NodeLostReason = "the onair node that had the stream stopped (crash, kill or lost connection); the session ended at its last recorded second"
)

// EndLostSessions emits Stream Failure (reason), Stream End and Session
// Ended for sessions another process ended in the store on behalf of a
// node that did not (ClusterStore's EndChannelSessions and
// EndDeadNodeSessions). Only the caller that ended them emits, once.
func (s *Service) EndLostSessions(ctx context.Context, ended []StreamSession, reason string) error {
	for _, ss := range ended {
		if err := s.emitEnd(ctx, ss.Channel, ss.StreamID, ss.EndTime, reason); err != nil {
			return err
		}
	}
	return nil
}
