package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/onair-video/onair/internal/api"
	"github.com/onair-video/onair/internal/chat"
	"github.com/onair-video/onair/internal/chat/natsrelay"
	"github.com/onair-video/onair/internal/cluster"
	"github.com/onair-video/onair/internal/config"
	"github.com/onair-video/onair/internal/hls"
	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/metrics"
	"github.com/onair-video/onair/internal/record"
	"github.com/onair-video/onair/internal/store/postgres"
)

// clustered says whether this process is a node of a cluster.
func (n *node) clustered() bool { return n.cfg.NATSURL != "" }

// nodeID is --node-id, else the id generated at the first start and kept
// in DATA_DIR/node-id.
func nodeID(configured, dataDir string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	path := filepath.Join(dataDir, "node-id")
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("app: read %s: %w", path, err)
	}
	id := "node-" + strings.ToLower(rand.Text()[:10])
	if err := writeFileAtomic(path, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("app: write %s: %w", path, err)
	}
	return id, nil
}

// nodeAddr is --node-addr, else the HTTP listener's address when it names
// a host that other machines can reach.
func nodeAddr(configured, httpAddr string) (string, error) {
	if configured != "" {
		return strings.TrimSuffix(configured, "/"), nil
	}
	host, port, err := net.SplitHostPort(httpAddr)
	if err != nil {
		return "", fmt.Errorf("app: HTTP listener address %q: %w", httpAddr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return "", errors.New("--node-addr is required in a cluster when --http-addr listens on every address: give the URL other nodes reach this one at, e.g. http://10.0.0.5:8080")
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// buildCluster joins the cluster when --nats-url is set: the registry's
// claims take leases, and the API sees and commands every node's streams.
func (n *node) buildCluster(ctx context.Context) error {
	if !n.clustered() {
		return nil
	}
	cs, ok := n.store.(ivs.ClusterStore)
	if !ok {
		return errors.New("app: a cluster needs --store postgres")
	}
	addr, err := nodeAddr(n.cfg.NodeAddr, n.lns.addrs()["http"])
	if err != nil {
		return err
	}
	node, err := cluster.New(ctx, cluster.Config{NodeID: n.nodeID, Addr: addr, Version: n.opt.Version, NATSURL: n.cfg.NATSURL,
		LeaseTTL: n.cfg.ClusterLeaseTTL, Heartbeat: n.cfg.Heartbeat(), Store: cs, Service: n.svc, Registry: n.registry,
		LocalViewers: n.localViewers, ViewerRevoked: n.revokeLocally, Webhooks: webhooksHash(n.cfg.Webhooks), Log: n.log})
	if err != nil {
		return err
	}
	n.cluster = node
	n.onCleanup(node.Close) // after the registry closed: its leases are released by then
	n.registry.SetClaimer(node)
	n.bgRuns = append(n.bgRuns, node.Run)
	n.log.Info("joined the cluster", "node", n.nodeID, "addr", addr, "lease_ttl", n.cfg.ClusterLeaseTTL)
	return nil
}

// openNode makes the store a cluster node's before anything reads it: the
// sessions it ends at start are this node's only.
func (n *node) openNode() error {
	if !n.clustered() {
		return nil
	}
	id, err := nodeID(n.cfg.NodeID, n.cfg.DataDir)
	if err != nil {
		return err
	}
	n.nodeID = id
	pg, ok := n.store.(*postgres.Store)
	if !ok {
		return errors.New("app: a cluster needs --store postgres")
	}
	pg.SetNode(id)
	return nil
}

// recordingRows is where a cluster node keeps its recordings for the
// others to finish if it dies; nil outside a cluster.
func (n *node) recordingRows() record.Rows {
	if pg, ok := n.store.(*postgres.Store); ok && n.clustered() {
		return pg
	}
	return nil
}

// hlsOrigins tells the HLS server where the channels it has no muxer of
// are live.
type hlsOrigins struct{ n *node }

func (o hlsOrigins) Origin(ctx context.Context, channelID string) (hls.Origin, bool) {
	if o.n.cluster == nil {
		return hls.Origin{}, false
	}
	c, ok := o.n.cluster.Origin(ctx, channelID)
	return hls.Origin(c), ok
}

// localViewers counts the players this node serves, by channel: of its
// own streams, and as an edge of the other nodes'.
func (n *node) localViewers() map[string]int {
	out := n.hls.RemoteViewers()
	for _, st := range n.registry.List() {
		if c := n.viewers(st.Channel.ID); c > 0 {
			out[st.Channel.ID] = c
		}
	}
	return out
}

// revokeLocally closes a revoked viewer's WHEP sessions on this node.
func (n *node) revokeLocally(r ivs.ViewerRevocation) {
	if n.whep != nil {
		n.whep.Revoke(r.ChannelID, r.ViewerID, r.Version)
	}
}

// apiLive is the API's view of the live streams: this process's, or the
// cluster's.
func (n *node) apiLive() api.Live {
	if n.cluster != nil {
		return n.cluster.Streams()
	}
	return live.Local{Registry: n.registry}
}

// allViewers counts a channel's viewers: this node's, plus the other
// nodes' in a cluster.
func (n *node) allViewers(channelID string) int {
	c := n.viewers(channelID)
	if n.cluster != nil {
		c = n.cluster.Viewers(channelID, c)
	}
	return c
}

// clusterInfo answers GET /v1/cluster; nil outside a cluster.
func (n *node) clusterInfo() func(ctx context.Context) (any, error) {
	if n.cluster == nil {
		return nil
	}
	return func(ctx context.Context) (any, error) { return n.cluster.Info(ctx) }
}

// registerWHEP mounts WHEP playback; in a cluster, the signalling of a
// channel another node publishes is relayed to that node.
func (n *node) registerWHEP(mux *http.ServeMux) {
	if n.cluster == nil {
		n.whep.Register(mux)
		return
	}
	local := http.NewServeMux()
	n.whep.Register(local)
	relay := n.cluster.RelayToOrigin(local)
	for _, p := range []string{"OPTIONS /whep/{channelId}", "OPTIONS /whep/{channelId}/{session}", "POST /whep/{channelId}",
		"PATCH /whep/{channelId}/{session}", "DELETE /whep/{channelId}/{session}"} {
		mux.Handle(p, relay)
	}
}

// clusterStats feeds /metrics the cluster's figures; nil outside a cluster.
func (n *node) clusterStats() func() metrics.ClusterStats {
	if n.cluster == nil {
		return nil
	}
	return func() metrics.ClusterStats {
		s, e := n.cluster.Stats(), n.hls.EdgeStats()
		return metrics.ClusterStats{Nodes: s.Nodes, BusConnected: s.BusConnected, Leases: s.Leases, Takeovers: s.Takeovers,
			HeartbeatFailures: s.HeartbeatFailures, EdgeOriginRequests: e.OriginRequests, EdgeShared: e.Shared,
			EdgeOriginFailures: e.OriginFailures, EdgeCacheBytes: e.CacheBytes}
	}
}

// aloneInCluster says whether no other cluster node is live: true outside
// a cluster.
func (n *node) aloneInCluster(ctx context.Context) (bool, error) {
	cs, ok := n.store.(ivs.ClusterStore)
	if !n.clustered() || !ok {
		return true, nil
	}
	nodes, err := cs.Nodes(ctx, n.cfg.ClusterLeaseTTL)
	if err != nil {
		return false, fmt.Errorf("app: read the cluster's nodes: %w", err)
	}
	for _, o := range nodes {
		if o.Live && o.ID != n.nodeID {
			return false, nil
		}
	}
	return true, nil
}

// chatConfig joins chat to the cluster: a room's clients on every node,
// and chat tokens spent once in the shared store (on PostgreSQL also
// without a cluster: a token stays spent across restarts).
func (n *node) chatConfig(c chat.Config) chat.Config {
	if pg, ok := n.store.(*postgres.Store); ok {
		c.Spent = pg.ChatNonces()
	}
	if n.cluster != nil {
		c.Relay = natsrelay.New(n.cluster.Conn(), n.nodeID, n.cluster.ServingNodes, n.log)
	}
	return c
}

// thumbnails serves channels' thumbnails: this node's streams', and in a
// cluster the other nodes' through their origin (which authorizes the
// viewer's token again).
func (n *node) thumbnails() http.Handler {
	h := n.auth.Guard(n.thumbs)
	if n.cluster == nil {
		return h
	}
	return n.cluster.RelayToOrigin(h)
}

// webhooksHash identifies webhook settings without showing them (URLs may
// hold tokens) or their secrets: the first 12 hex digits of a SHA-256.
func webhooksHash(hooks []config.Webhook) string {
	if len(hooks) == 0 {
		return "none"
	}
	h := sha256.New()
	for _, w := range hooks {
		secret := sha256.Sum256([]byte(w.Secret))
		fmt.Fprintf(h, "%s\x00%s\x00%x\x00", w.Name, w.URL, secret)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}
