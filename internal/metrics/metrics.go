// Package metrics exposes Prometheus metrics: process and Go runtime
// collectors, and per-channel gauges pulled from the live registry at scrape
// time (nothing on the data path updates a metric per frame).
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/onair-video/onair/internal/live"
)

// Streams is what the collector needs of the live registry.
type Streams interface {
	List() []*live.Stream
}

// New returns the /metrics handler.
func New(streams Streams) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
		&channelCollector{streams: streams},
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

var (
	labels    = []string{"channel_arn", "channel_name"}
	liveDesc  = prometheus.NewDesc("onair_channel_live", "1 while the channel has a live publisher.", labels, nil)
	upDesc    = prometheus.NewDesc("onair_channel_uptime_seconds", "Seconds since the live stream started.", labels, nil)
	unitsDesc = prometheus.NewDesc("onair_ingest_units_total", "Access units received from the publisher.", labels, nil)
	bytesDesc = prometheus.NewDesc("onair_ingest_bytes_total", "Payload bytes received from the publisher.", labels, nil)
	readDesc  = prometheus.NewDesc("onair_hub_readers", "Readers attached to the channel's hub.", labels, nil)
	dropDesc  = prometheus.NewDesc("onair_hub_dropped_readers_total", "Readers dropped for falling behind.", labels, nil)
	liveCount = prometheus.NewDesc("onair_live_channels", "Channels with a live publisher.", nil, nil)
)

type channelCollector struct{ streams Streams }

func (c *channelCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{liveDesc, upDesc, unitsDesc, bytesDesc, readDesc, dropDesc, liveCount} {
		ch <- d
	}
}

func (c *channelCollector) Collect(ch chan<- prometheus.Metric) {
	sts := c.streams.List()
	ch <- prometheus.MustNewConstMetric(liveCount, prometheus.GaugeValue, float64(len(sts)))
	now := time.Now()
	for _, st := range sts {
		l := []string{st.Channel.ARN, st.Channel.Name}
		s := st.Hub.Stats()
		ch <- prometheus.MustNewConstMetric(liveDesc, prometheus.GaugeValue, 1, l...)
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, now.Sub(st.StartTime).Seconds(), l...)
		ch <- prometheus.MustNewConstMetric(unitsDesc, prometheus.CounterValue, float64(s.UnitsIn), l...)
		ch <- prometheus.MustNewConstMetric(bytesDesc, prometheus.CounterValue, float64(s.BytesIn), l...)
		ch <- prometheus.MustNewConstMetric(readDesc, prometheus.GaugeValue, float64(s.Readers), l...)
		ch <- prometheus.MustNewConstMetric(dropDesc, prometheus.CounterValue, float64(s.DroppedReader), l...)
	}
}
