package metrics

import "github.com/prometheus/client_golang/prometheus"

// Leaders tells which cluster-wide singletons (a webhook's delivery, the
// downsampler) this process runs; *events.Observed implements it.
type Leaders interface {
	// Leading maps each leadership the process asked for to whether it
	// holds it now.
	Leading() map[string]bool
}

var leaderDesc = prometheus.NewDesc("onair_leader",
	"1 while this process holds the leadership (it runs the singleton: webhook:<name>, downsample), else 0.", []string{"name"}, nil)

type leaderCollector struct{ l Leaders }

func (c leaderCollector) Describe(ch chan<- *prometheus.Desc) { ch <- leaderDesc }

func (c leaderCollector) Collect(ch chan<- prometheus.Metric) {
	for name, leading := range c.l.Leading() {
		v := 0.0
		if leading {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(leaderDesc, prometheus.GaugeValue, v, name)
	}
}
