// Package cluster makes onair processes the nodes of one service
// (docs/cluster.md): they share the PostgreSQL store and talk over core
// NATS. The node that accepts a publisher is the stream's origin, held by
// a lease in the store that is valid while the node's heartbeat is fresh
// (by the database's clock) and fenced by an epoch; every node answers the
// API for every stream, and commands (StopStream, key deletions,
// PutMetadata) and cache invalidations reach the node they concern over
// NATS. Nothing durable travels on NATS: a lost message costs a retry or a
// cache entry's age, never state.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
)

// Store is what a node keeps in the shared store: the cluster's tables and
// the open sessions.
type Store interface {
	ivs.ClusterStore
}

// Service is what a node needs of the IVS service.
type Service interface {
	EndLostSessions(ctx context.Context, ended []ivs.StreamSession, reason string) error
	Invalidate(kind, id string)
	InvalidateAll()
}

// Registry is what a node needs of the live registry.
type Registry interface {
	Get(channelID string) (*live.Stream, bool)
	List() []*live.Stream
	Stop(channelID string) error
	Disconnect(channelID string, cause error)
	YieldTo(channelID string, keyHash []byte) (released <-chan struct{}, ok bool)
}

// Config holds a node's settings and dependencies.
type Config struct {
	NodeID  string
	Addr    string // base URL of this node's HTTP listener, for the others
	Version string
	NATSURL string
	// LeaseTTL is how long a node that stopped heartbeating keeps its
	// channels; Heartbeat how often it heartbeats.
	LeaseTTL  time.Duration
	Heartbeat time.Duration
	Store     Store
	Service   Service
	Registry  Registry
	// LocalViewers counts the players this node serves, by channel.
	LocalViewers func() map[string]int
	// Webhooks identifies this node's webhook settings (a hash, no
	// secret): each webhook is delivered by one node at a time, so nodes
	// with other settings are warned about.
	Webhooks string
	// ViewerRevoked applies a revocation made on another node (WHEP closes
	// the viewer's sessions); nil: none.
	ViewerRevoked func(ivs.ViewerRevocation)
	Log           *slog.Logger
}

// Node is this process as a node of the cluster.
type Node struct {
	cfg    Config
	log    *slog.Logger
	bootID string
	start  time.Time
	nc     *nats.Conn
	subs   []*nats.Subscription

	mu sync.Mutex
	// held are the channels this node publishes, by id.
	held map[string]*held
	// claiming counts the claims in progress, by channel id: their leases
	// may be in the store before they are held.
	claiming map[string]int
	// nodes is what the last heartbeat read of the nodes.
	nodes []ivs.Node
	// warned is the webhook settings of other nodes already warned about,
	// by node id.
	warned map[string]string
	// origins caches Origin's answers, by channel id.
	origins map[string]originEntry
	// loads are the nodes' decoded loads, by node id (live nodes only).
	loads map[string]Load
	// healthySince is when heartbeats last began to succeed after a
	// failure (zero while they fail): a sweep waits a TTL after it, so
	// that after a store outage the other nodes have heartbeated before
	// any is judged dead.
	healthySince time.Time

	// takeovers and hbFailures are counters for /metrics.
	takeovers, hbFailures atomic.Uint64
}

// held is a lease this node holds.
type held struct {
	epoch int64
	// since is when the claim was made: a heartbeat that began before it
	// may not list it yet.
	since time.Time
	subs  []*nats.Subscription
}

// Load is what a node reports with its heartbeat.
type Load struct {
	V int `json:"v"`
	// Streams are the streams it publishes, by channel id.
	Streams map[string]StreamLoad `json:"streams,omitempty"`
	// Viewers are the players it serves, by channel id.
	Viewers map[string]int `json:"viewers,omitempty"`
	// Webhooks identifies the node's webhook settings (Config.Webhooks).
	Webhooks string `json:"webhooks,omitempty"`
}

// StreamLoad is a published stream in a Load.
type StreamLoad struct {
	StreamID string `json:"streamId"`
	Health   string `json:"health"`
}

// NATS subjects (docs/cluster.md).
const (
	subjectInvalidate = "onair.cache.invalidate"
	subjectRevoked    = "onair.viewer.revoked"
	subjectClaimed    = "onair.live.*.claimed"
)

func liveSubject(channelID, verb string) string { return "onair.live." + channelID + "." + verb }

// requestTimeout bounds a command sent to another node.
const requestTimeout = 2 * time.Second

// forgetNodesAfter is how long a node that stopped heartbeating stays
// listed (lost or stopped) before its row is deleted.
const forgetNodesAfter = 24 * time.Hour

// cacheMaxAge is how often every cache is dropped, a backstop for
// invalidations lost while NATS was unreachable.
const cacheMaxAge = 30 * time.Second

// New joins the cluster: it connects to NATS (in the background when NATS
// is not up yet) and writes the first heartbeat. Run keeps it alive.
func New(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	n := &Node{cfg: cfg, log: cfg.Log.With("component", "cluster", "node", cfg.NodeID), bootID: hex.EncodeToString(b),
		start: time.Now(), held: make(map[string]*held), claiming: make(map[string]int), loads: make(map[string]Load),
		origins: make(map[string]originEntry), warned: make(map[string]string)}
	nc, err := nats.Connect(cfg.NATSURL, nats.Name("onair "+cfg.NodeID), nats.MaxReconnects(-1),
		nats.ReconnectWait(500*time.Millisecond), nats.RetryOnFailedConnect(true),
		// Nothing is buffered while disconnected: a command (StopStream)
		// sent then would reach its node long after its caller was told it
		// failed. Such sends fail at once instead.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			n.log.Warn("NATS connection lost; commands to other nodes fail until it is back", "err", err)
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			// Invalidations sent meanwhile are lost: drop every cache.
			n.cfg.Service.InvalidateAll()
			n.log.Info("NATS connection back")
		}),
		nats.ConnectHandler(func(*nats.Conn) { n.log.Info("NATS connected") }))
	if err != nil {
		return nil, fmt.Errorf("cluster: --nats-url: %w", err)
	}
	n.nc = nc
	for subject, fn := range map[string]nats.MsgHandler{
		subjectInvalidate: n.onInvalidate,
		subjectRevoked:    n.onRevoked,
		subjectClaimed:    n.onClaimed,
	} {
		sub, err := nc.Subscribe(subject, fn)
		if err != nil {
			n.Close()
			return nil, fmt.Errorf("cluster: subscribe %s: %w", subject, err)
		}
		n.subs = append(n.subs, sub)
	}
	if err := n.heartbeat(ctx); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// ID is this node's id.
func (n *Node) ID() string { return n.cfg.NodeID }

// Run heartbeats, fences lost leases and sweeps dead nodes' sessions
// until ctx ends.
func (n *Node) Run(ctx context.Context) {
	t := time.NewTicker(n.cfg.Heartbeat)
	defer t.Stop()
	flush := time.NewTicker(cacheMaxAge)
	defer flush.Stop()
	var failing bool
	for {
		select {
		case <-ctx.Done():
			return
		case <-flush.C:
			n.cfg.Service.InvalidateAll()
		case <-t.C:
			err := n.heartbeat(ctx)
			switch {
			case err != nil && ctx.Err() != nil:
				return
			case err != nil:
				if !failing {
					n.log.Error("heartbeat failed; live streams go on, new publishers are refused until the store is back", "err", err)
				}
				failing = true
				continue
			case failing:
				n.log.Info("heartbeat back")
				failing = false
			}
			n.sweep(ctx)
		}
	}
}

// heartbeat renews this node's row, cuts the publishers whose lease
// another node took, and reads the other nodes.
func (n *Node) heartbeat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.LeaseTTL)
	defer cancel()
	began := time.Now()
	load, err := json.Marshal(n.load())
	if err != nil {
		return fmt.Errorf("cluster: encode load: %w", err)
	}
	leases, err := n.cfg.Store.Heartbeat(ctx, ivs.Node{ID: n.cfg.NodeID, BootID: n.bootID, Addr: n.cfg.Addr,
		Version: n.cfg.Version, Started: n.start, Load: load})
	if err != nil {
		n.hbFailures.Add(1)
		n.mu.Lock()
		n.healthySince = time.Time{}
		n.mu.Unlock()
		return fmt.Errorf("cluster: heartbeat: %w", err)
	}
	n.fence(ctx, leases, began)
	nodes, err := n.cfg.Store.Nodes(ctx, n.cfg.LeaseTTL)
	if err != nil {
		return fmt.Errorf("cluster: read nodes: %w", err)
	}
	loads := make(map[string]Load, len(nodes))
	for _, o := range nodes {
		var l Load
		if o.Live && json.Unmarshal(o.Load, &l) == nil {
			loads[o.ID] = l
		}
	}
	n.mu.Lock()
	for id, l := range loads {
		if id != n.cfg.NodeID && l.Webhooks != n.cfg.Webhooks && n.warned[id] != l.Webhooks {
			n.warned[id] = l.Webhooks
			n.log.Warn("another node has other webhook settings: each webhook is delivered by one node at a time, so give every node the same",
				"other", id)
		}
	}
	if n.healthySince.IsZero() {
		n.healthySince = began
	}
	n.nodes, n.loads = nodes, loads
	n.mu.Unlock()
	return nil
}

// fence cuts every publisher whose lease is not among leases any more
// (another node took the channel while this one could not heartbeat).
// Claims made after the heartbeat began are left alone. A lease this node
// holds in the store without a publisher (its release failed: the store
// was unreachable then) is released, or no node could take the channel
// while this one lives.
func (n *Node) fence(ctx context.Context, leases []ivs.Lease, began time.Time) {
	have := make(map[string]int64, len(leases))
	for _, l := range leases {
		have[l.ChannelID] = l.Epoch
	}
	var lost []string
	var stray []ivs.Lease
	n.mu.Lock()
	for ch, h := range n.held {
		if e, ok := have[ch]; h.since.Before(began) && (!ok || e != h.epoch) {
			lost = append(lost, ch)
		}
	}
	for _, l := range leases {
		if _, ok := n.held[l.ChannelID]; !ok && n.claiming[l.ChannelID] == 0 {
			stray = append(stray, l)
		}
	}
	n.mu.Unlock()
	for _, ch := range lost {
		n.log.Warn("lease lost to another node; cutting the publisher", "channel", ch)
		n.cfg.Registry.Disconnect(ch, live.ErrLeaseLost)
	}
	for _, l := range stray {
		n.log.Info("releasing a lease this node holds without a publisher", "channel", l.ChannelID)
		if err := n.cfg.Store.ReleaseChannel(ctx, l.ChannelID, l.Epoch); err != nil {
			n.log.Warn("release a stray lease", "channel", l.ChannelID, "err", err)
		}
	}
}

// sweep ends the open sessions of nodes that stopped heartbeating.
func (n *Node) sweep(ctx context.Context) {
	n.mu.Lock()
	since := n.healthySince
	n.mu.Unlock()
	if since.IsZero() || time.Since(since) < n.cfg.LeaseTTL {
		return
	}
	// Nodes gone for a day leave /v1/cluster (and the table): their work
	// was finished by the survivors long before.
	if c, err := n.cfg.Store.ForgetNodes(ctx, forgetNodesAfter); err == nil && c > 0 {
		n.log.Info("forgot nodes that have not heartbeated for a day", "count", c)
	}
	ended, err := n.cfg.Store.EndDeadNodeSessions(ctx, n.cfg.LeaseTTL, time.Now())
	if err == nil && len(ended) > 0 {
		err = n.cfg.Service.EndLostSessions(ctx, ended, ivs.NodeLostReason)
		n.log.Info("ended the stream sessions of nodes that stopped", "count", len(ended))
	}
	if err != nil && ctx.Err() == nil {
		n.log.Error("end dead nodes' sessions", "err", err)
	}
}

// load is what this node reports: the streams it publishes and the
// players it serves.
func (n *Node) load() Load {
	l := Load{V: 1, Streams: map[string]StreamLoad{}, Webhooks: n.cfg.Webhooks}
	now := time.Now()
	for _, st := range n.cfg.Registry.List() {
		l.Streams[st.Channel.ID] = StreamLoad{StreamID: st.StreamID, Health: st.Health(now)}
	}
	if n.cfg.LocalViewers != nil {
		l.Viewers = n.cfg.LocalViewers()
	}
	return l
}

// Close leaves the cluster: the node's leases are released (its
// publishers are closed by then) and it is marked stopped.
func (n *Node) Close() {
	for _, s := range n.subs {
		_ = s.Unsubscribe()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := n.cfg.Store.LeaveCluster(ctx, n.cfg.NodeID, n.bootID); err != nil {
		n.log.Warn("leave the cluster", "err", err)
	}
	if n.nc != nil {
		_ = n.nc.Drain()
	}
}

// Connected reports whether NATS is connected.
func (n *Node) Connected() bool { return n.nc.IsConnected() }

// message is the envelope of every bus message: v lets a newer node's
// messages be told apart in a rolling upgrade.
type message struct {
	V       int    `json:"v"`
	Node    string `json:"node"`
	Kind    string `json:"kind,omitempty"`
	ID      string `json:"id,omitempty"`
	Epoch   int64  `json:"epoch,omitempty"`
	Channel string `json:"channel,omitempty"`
	// Revocation is a viewer revocation (subjectRevoked).
	Revocation *ivs.ViewerRevocation `json:"revocation,omitempty"`
	// Data is a command's payload (PutMetadata).
	Data []byte `json:"data,omitempty"`
	// Error is a reply's error code ("" for success).
	Error string `json:"error,omitempty"`
}

func (n *Node) publish(subject string, m message) {
	m.V, m.Node = 1, n.cfg.NodeID
	b, err := json.Marshal(m)
	if err == nil {
		err = n.nc.Publish(subject, b)
	}
	if err != nil {
		n.log.Warn("publish to the cluster", "subject", subject, "err", err)
	}
}

func decode(data []byte) (message, bool) {
	var m message
	return m, json.Unmarshal(data, &m) == nil && m.V >= 1
}

// CacheChanged tells the other nodes of a write that invalidated a cache
// (ivs.Config.CacheChanged).
func (n *Node) CacheChanged(kind, id string) {
	n.publish(subjectInvalidate, message{Kind: kind, ID: id})
}

func (n *Node) onInvalidate(msg *nats.Msg) {
	m, ok := decode(msg.Data)
	if !ok || m.Node == n.cfg.NodeID {
		return
	}
	n.cfg.Service.Invalidate(m.Kind, m.ID)
}

// ViewerRevoked tells the other nodes of a viewer revocation, which their
// WHEP sessions obey (ivs.Config.ViewerRevoked).
func (n *Node) ViewerRevoked(r ivs.ViewerRevocation) {
	n.publish(subjectRevoked, message{Revocation: &r})
}

func (n *Node) onRevoked(msg *nats.Msg) {
	m, ok := decode(msg.Data)
	if !ok || m.Node == n.cfg.NodeID || m.Revocation == nil {
		return
	}
	n.cfg.Service.Invalidate(ivs.CacheRevocations, "")
	if n.cfg.ViewerRevoked != nil {
		n.cfg.ViewerRevoked(*m.Revocation)
	}
}

// StreamKeyDeleted cuts the publisher of a channel whose stream key was
// deleted, on whichever node it is (ivs.Config.StreamKeyDeleted).
func (n *Node) StreamKeyDeleted(channelID string) {
	n.cfg.Registry.Disconnect(channelID, live.ErrKeyDeleted)
	n.publish(liveSubject(channelID, "disconnect"), message{Channel: channelID})
}

// errRemote is a failure of another node to carry out a command.
var errRemote = errors.New("cluster: the node publishing the channel did not carry out the command")

// Stats is what /metrics tells of the cluster.
type Stats struct {
	Nodes             map[string]int // by state: serving, lost, stopped
	BusConnected      bool
	Leases            int
	Takeovers         uint64
	HeartbeatFailures uint64
}

// Stats returns the node's view of the cluster as of its last heartbeat.
func (n *Node) Stats() Stats {
	s := Stats{Nodes: map[string]int{}, BusConnected: n.nc.IsConnected(), Takeovers: n.takeovers.Load(),
		HeartbeatFailures: n.hbFailures.Load()}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, o := range n.nodes {
		s.Nodes[o.Status()]++
	}
	s.Leases = len(n.held)
	return s
}

// Conn is the node's NATS connection, for the parts that talk over the
// bus themselves (chat's relay).
func (n *Node) Conn() *nats.Conn { return n.nc }

// ServingNodes are the ids of the live, serving nodes as of the last
// heartbeat (this one included), in order.
func (n *Node) ServingNodes() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]string, 0, len(n.nodes))
	for _, o := range n.nodes {
		if o.Live {
			out = append(out, o.ID)
		}
	}
	if !slices.Contains(out, n.cfg.NodeID) {
		out = append(out, n.cfg.NodeID) // not read back yet: still this node's to serve
		slices.Sort(out)
	}
	return out
}
