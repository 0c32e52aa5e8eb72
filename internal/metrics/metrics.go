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

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/session"
	"github.com/onair-video/onair/internal/sfu"
)

// Streams is what the collector needs of the live registry.
type Streams interface {
	List() []*live.Stream
}

// Sessions gives the latest per-second point of every live stream;
// *session.Tracker implements it.
type Sessions interface {
	Snapshot() []session.Status
}

// Playback gives the audience of a channel; *hls.Server implements it.
type Playback interface {
	Viewers(channelID string) int
	BytesOut(channelID string) uint64
	SlowViewersDropped() uint64
}

// Readers gives the resyncs of the server-side consumers' hub readers;
// *live.Registry implements it.
type Readers interface {
	Resyncs() []live.ResyncCount
}

// Config holds the sources of the metrics; nil ones are left out.
type Config struct {
	Streams  Streams
	Sessions Sessions
	Playback Playback
	Readers  Readers
	// SFU are the stage SFU's counters.
	SFU *sfu.Metrics
	// Cluster tells of the cluster; nil: not a cluster.
	Cluster func() ClusterStats
	// Leaders are the process's leaderships.
	Leaders Leaders
}

// New returns the /metrics handler.
func New(cfg Config) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
		&channelCollector{cfg: cfg},
	)
	if cfg.SFU != nil {
		reg.MustRegister(sfuCollector{cfg.SFU})
	}
	if cfg.Cluster != nil {
		reg.MustRegister(clusterCollector{cfg.Cluster})
	}
	if cfg.Leaders != nil {
		reg.MustRegister(leaderCollector{cfg.Leaders})
	}
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

	// From the session tracker's latest whole second.
	videoDesc  = prometheus.NewDesc("onair_ingest_video_bitrate_bps", "Ingest video bit rate over the last second.", labels, nil)
	audioDesc  = prometheus.NewDesc("onair_ingest_audio_bitrate_bps", "Ingest audio bit rate over the last second.", labels, nil)
	fpsDesc    = prometheus.NewDesc("onair_ingest_framerate", "Ingest video frames over the last second.", labels, nil)
	keyDesc    = prometheus.NewDesc("onair_ingest_keyframe_interval_seconds", "Latest interval between keyframes.", labels, nil)
	healthDesc = prometheus.NewDesc("onair_stream_health", "1 for the stream's current health (HEALTHY, STARVING, UNKNOWN).",
		append(labels, "health"), nil)

	// From playback.
	viewersDesc  = prometheus.NewDesc("onair_channel_viewers", "Concurrent viewers (HLS playback sessions).", labels, nil)
	bytesOutDesc = prometheus.NewDesc("onair_playback_bytes_total", "Bytes served to viewers since the process started.", labels, nil)
	slowDesc     = prometheus.NewDesc("onair_hls_slow_viewers_dropped_total",
		"HLS responses cut off because the viewer read them too slowly.", nil, nil)

	// From the live registry: server-side readers that fell behind.
	resyncDesc = prometheus.NewDesc("onair_stream_reader_resyncs_total",
		"Times a server-side consumer's hub reader fell a queue behind its stream and resumed at the next keyframe.",
		[]string{"consumer"}, nil)
	skippedDesc = prometheus.NewDesc("onair_stream_reader_skipped_units_total",
		"Access units server-side consumers' hub readers skipped to resume at a keyframe.", []string{"consumer"}, nil)
)

var healths = []string{ivs.HealthHealthy, ivs.HealthStarving, ivs.HealthUnknown}

type channelCollector struct{ cfg Config }

func (c *channelCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{liveDesc, upDesc, unitsDesc, bytesDesc, readDesc, dropDesc, liveCount,
		videoDesc, audioDesc, fpsDesc, keyDesc, healthDesc, viewersDesc, bytesOutDesc, slowDesc, resyncDesc, skippedDesc} {
		ch <- d
	}
}

func (c *channelCollector) Collect(ch chan<- prometheus.Metric) {
	c.collectStreams(ch)
	c.collectSessions(ch)
	if p := c.cfg.Playback; p != nil {
		ch <- prometheus.MustNewConstMetric(slowDesc, prometheus.CounterValue, float64(p.SlowViewersDropped()))
	}
	if r := c.cfg.Readers; r != nil {
		for _, n := range r.Resyncs() {
			ch <- prometheus.MustNewConstMetric(resyncDesc, prometheus.CounterValue, float64(n.Resyncs), n.Consumer)
			ch <- prometheus.MustNewConstMetric(skippedDesc, prometheus.CounterValue, float64(n.SkippedUnits), n.Consumer)
		}
	}
}

func (c *channelCollector) collectSessions(ch chan<- prometheus.Metric) {
	if c.cfg.Sessions == nil {
		return
	}
	for _, s := range c.cfg.Sessions.Snapshot() {
		l := []string{s.Stream.Channel.ARN, s.Stream.Channel.Name}
		p := s.Last
		ch <- prometheus.MustNewConstMetric(videoDesc, prometheus.GaugeValue, float64(p.VideoBitrate), l...)
		ch <- prometheus.MustNewConstMetric(audioDesc, prometheus.GaugeValue, float64(p.AudioBitrate), l...)
		ch <- prometheus.MustNewConstMetric(fpsDesc, prometheus.GaugeValue, p.Framerate, l...)
		ch <- prometheus.MustNewConstMetric(keyDesc, prometheus.GaugeValue, p.KeyframeInterval, l...)
		for _, h := range healths {
			v := 0.0
			if h == s.Health {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(healthDesc, prometheus.GaugeValue, v, append(l, h)...)
		}
	}
}

func (c *channelCollector) collectStreams(ch chan<- prometheus.Metric) {
	sts := c.cfg.Streams.List()
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
		if p := c.cfg.Playback; p != nil {
			ch <- prometheus.MustNewConstMetric(viewersDesc, prometheus.GaugeValue, float64(p.Viewers(st.Channel.ID)), l...)
			ch <- prometheus.MustNewConstMetric(bytesOutDesc, prometheus.CounterValue, float64(p.BytesOut(st.Channel.ID)), l...)
		}
	}
}
