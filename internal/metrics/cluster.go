package metrics

import "github.com/prometheus/client_golang/prometheus"

// ClusterStats is what a cluster node tells of itself and the cluster.
type ClusterStats struct {
	// Nodes counts the cluster's nodes by state (serving, lost, stopped).
	Nodes map[string]int
	// BusConnected is whether the node's NATS connection is up.
	BusConnected bool
	// Leases is the channels this node publishes.
	Leases int
	// Takeovers counts the claims of this node that took a channel from a
	// node that had stopped heartbeating.
	Takeovers uint64
	// HeartbeatFailures counts heartbeats that could not be written.
	HeartbeatFailures uint64
	// The edge's figures: requests to origins, viewers' requests answered
	// by another's fetch, origin requests that failed, the cache's bytes.
	EdgeOriginRequests, EdgeShared, EdgeOriginFailures uint64
	EdgeCacheBytes                                     int64
}

var (
	clusterNodesDesc = prometheus.NewDesc("onair_cluster_nodes", "Nodes of the cluster by state, as this node last read them.", []string{"state"}, nil)
	busDesc          = prometheus.NewDesc("onair_bus_connected", "1 while this node's NATS connection is up.", nil, nil)
	leasesDesc       = prometheus.NewDesc("onair_cluster_leases", "Channels this node publishes (holds the lease of).", nil, nil)
	takeoverDesc     = prometheus.NewDesc("onair_cluster_lease_takeovers_total", "Channels this node took over from a node that had stopped heartbeating.", nil, nil)
	hbFailDesc       = prometheus.NewDesc("onair_cluster_heartbeat_failures_total", "Heartbeats this node could not write to the store.", nil, nil)
	edgeReqDesc      = prometheus.NewDesc("onair_edge_origin_requests_total", "Requests this node made to origins for other nodes' streams (LL-HLS/HLS edge).", nil, nil)
	edgeSharedDesc   = prometheus.NewDesc("onair_edge_shared_responses_total", "Players' requests this node answered from another player's origin request (in flight or cached).", nil, nil)
	edgeFailDesc     = prometheus.NewDesc("onair_edge_origin_failures_total", "Origin requests that got no answer or a cut-off one.", nil, nil)
	edgeCacheDesc    = prometheus.NewDesc("onair_edge_cache_bytes", "Bytes the edge cache holds.", nil, nil)
)

// clusterCollector reports ClusterStats.
type clusterCollector struct{ stats func() ClusterStats }

func (c clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{clusterNodesDesc, busDesc, leasesDesc, takeoverDesc, hbFailDesc, edgeReqDesc, edgeSharedDesc,
		edgeFailDesc, edgeCacheDesc} {
		ch <- d
	}
}

func (c clusterCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	for _, state := range []string{"serving", "lost", "stopped"} {
		ch <- prometheus.MustNewConstMetric(clusterNodesDesc, prometheus.GaugeValue, float64(s.Nodes[state]), state)
	}
	bus := 0.0
	if s.BusConnected {
		bus = 1
	}
	ch <- prometheus.MustNewConstMetric(busDesc, prometheus.GaugeValue, bus)
	ch <- prometheus.MustNewConstMetric(leasesDesc, prometheus.GaugeValue, float64(s.Leases))
	ch <- prometheus.MustNewConstMetric(takeoverDesc, prometheus.CounterValue, float64(s.Takeovers))
	ch <- prometheus.MustNewConstMetric(hbFailDesc, prometheus.CounterValue, float64(s.HeartbeatFailures))
	ch <- prometheus.MustNewConstMetric(edgeReqDesc, prometheus.CounterValue, float64(s.EdgeOriginRequests))
	ch <- prometheus.MustNewConstMetric(edgeSharedDesc, prometheus.CounterValue, float64(s.EdgeShared))
	ch <- prometheus.MustNewConstMetric(edgeFailDesc, prometheus.CounterValue, float64(s.EdgeOriginFailures))
	ch <- prometheus.MustNewConstMetric(edgeCacheDesc, prometheus.GaugeValue, float64(s.EdgeCacheBytes))
}
