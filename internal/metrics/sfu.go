package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/onair-video/onair/internal/sfu"
)

// sfuCollector reads the stage SFU's counters at scrape time.
type sfuCollector struct{ m *sfu.Metrics }

// sfuDesc pairs each counter with its reader.
var sfuDescs = []struct {
	desc *prometheus.Desc
	kind prometheus.ValueType
	get  func(*sfu.Metrics) float64
}{
	{prometheus.NewDesc("onair_sfu_packets_in_total", "RTP packets received from stage publishers.", nil, nil),
		prometheus.CounterValue, func(m *sfu.Metrics) float64 { return float64(m.PacketsIn.Load()) }},
	{prometheus.NewDesc("onair_sfu_packets_forwarded_total", "RTP packets forwarded to stage subscribers.", nil, nil),
		prometheus.CounterValue, func(m *sfu.Metrics) float64 { return float64(m.PacketsForwarded.Load()) }},
	{prometheus.NewDesc("onair_sfu_bytes_forwarded_total", "RTP payload bytes forwarded to stage subscribers.", nil, nil),
		prometheus.CounterValue, func(m *sfu.Metrics) float64 { return float64(m.BytesForwarded.Load()) }},
	{prometheus.NewDesc("onair_sfu_packets_dropped_total", "Packets dropped because a subscriber's queue was full.", nil, nil),
		prometheus.CounterValue, func(m *sfu.Metrics) float64 { return float64(m.PacketsDropped.Load()) }},
	{prometheus.NewDesc("onair_sfu_packets_retransmitted_total", "Packets resent in answer to NACKs.", nil, nil),
		prometheus.CounterValue, func(m *sfu.Metrics) float64 { return float64(m.PacketsRetransmitted.Load()) }},
	{prometheus.NewDesc("onair_sfu_rtx_retransmitted_total", "Packets resent to subscribers on their RTX streams (RFC 4588).", nil, nil),
		prometheus.CounterValue, func(m *sfu.Metrics) float64 { return float64(m.RTXRetransmitted.Load()) }},
	{prometheus.NewDesc("onair_sfu_packets_repaired_total", "Lost packets stage publishers resent on their RTX streams.", nil, nil),
		prometheus.CounterValue, func(m *sfu.Metrics) float64 { return float64(m.PacketsRepaired.Load()) }},
	{prometheus.NewDesc("onair_sfu_keyframe_requests_total", "PLIs sent to stage publishers.", nil, nil),
		prometheus.CounterValue, func(m *sfu.Metrics) float64 { return float64(m.KeyframeRequests.Load()) }},
	{prometheus.NewDesc("onair_sfu_layer_switches_total", "Simulcast layer switches of subscribers.", nil, nil),
		prometheus.CounterValue, func(m *sfu.Metrics) float64 { return float64(m.LayerSwitches.Load()) }},
	{prometheus.NewDesc("onair_sfu_bandwidth_layer_switches_total", "Subscribers' layer changes made by their bandwidth estimates (REMB).", nil, nil),
		prometheus.CounterValue, func(m *sfu.Metrics) float64 { return float64(m.BandwidthSwitches.Load()) }},
	{prometheus.NewDesc("onair_sfu_slow_subscribers_dropped_total", "Subscriptions ended for not keeping up.", nil, nil),
		prometheus.CounterValue, func(m *sfu.Metrics) float64 { return float64(m.SlowSubscribersDropped.Load()) }},
	{prometheus.NewDesc("onair_sfu_reader_busy_seconds_total", "Time the stage publishers' readers spent forwarding, from a packet read to its fan-out done.", nil, nil),
		prometheus.CounterValue, func(m *sfu.Metrics) float64 { return float64(m.ReaderBusyNs.Load()) / 1e9 }},
	{prometheus.NewDesc("onair_sfu_publishers", "Stage publishers in the SFU.", nil, nil),
		prometheus.GaugeValue, func(m *sfu.Metrics) float64 { return float64(m.Publishers.Load()) }},
	{prometheus.NewDesc("onair_sfu_subscriptions", "Stage subscriptions in the SFU.", nil, nil),
		prometheus.GaugeValue, func(m *sfu.Metrics) float64 { return float64(m.Subscriptions.Load()) }},
}

var sfuDelayDesc = prometheus.NewDesc("onair_sfu_forward_delay_seconds",
	"Time from a stage publisher's packet being read to its write to a subscriber returning, one packet in 16 of each subscriber.",
	nil, nil)

var sfuLagDesc = prometheus.NewDesc("onair_sfu_read_lag_seconds",
	"How late stage publishers' packets are read: arrival minus RTP timestamp above its least of the last 5-10 s, one packet in 16 of each layer.",
	nil, nil)

func (c sfuCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range sfuDescs {
		ch <- d.desc
	}
	ch <- sfuDelayDesc
	ch <- sfuLagDesc
}

func (c sfuCollector) Collect(ch chan<- prometheus.Metric) {
	for _, d := range sfuDescs {
		ch <- prometheus.MustNewConstMetric(d.desc, d.kind, d.get(c.m))
	}
	buckets, count, sum := c.m.ForwardDelay.Snapshot()
	ch <- prometheus.MustNewConstHistogram(sfuDelayDesc, count, sum, buckets)
	buckets, count, sum = c.m.ReadLag.Snapshot()
	ch <- prometheus.MustNewConstHistogram(sfuLagDesc, count, sum, buckets)
}
