package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/session"
	"github.com/onair-video/onair/internal/sfu"
	"github.com/onair-video/onair/internal/stream"
)

// Fakes of the sources the collector pulls from: fixed answers, since the
// collector only reads them at scrape time.
type fakeStreams []*live.Stream

func (f fakeStreams) List() []*live.Stream { return f }

type fakeSessions []session.Status

func (f fakeSessions) Snapshot() []session.Status { return f }

type fakePlayback struct {
	viewers  map[string]int
	bytesOut map[string]uint64
	slow     uint64
}

func (f *fakePlayback) Viewers(id string) int      { return f.viewers[id] }
func (f *fakePlayback) BytesOut(id string) uint64  { return f.bytesOut[id] }
func (f *fakePlayback) SlowViewersDropped() uint64 { return f.slow }

type fakeLeaders map[string]bool

func (f fakeLeaders) Leading() map[string]bool { return f }

// liveStream is a live channel whose hub took units of the given sizes
// and has readers attached, dropped of them having fallen behind.
func liveStream(t *testing.T, id, name string, start time.Time, sizes []int, readers, dropped int) *live.Stream {
	t.Helper()
	video := &stream.Track{Codec: &stream.H264{}, ClockRate: 90000}
	hub := stream.NewHub([]*stream.Track{video})
	t.Cleanup(hub.Close)
	for range readers {
		hub.NewReader(len(sizes) + 1) // room for every unit: kept
	}
	for range dropped {
		hub.NewReader(1) // full after one unit: dropped at the second
	}
	for i, n := range sizes {
		hub.Write(&stream.Unit{Track: video, DTS: time.Duration(i) * time.Second / 30, NTP: start, Payload: [][]byte{make([]byte, n)}})
	}
	return &live.Stream{
		Channel:   ivs.Channel{ID: id, ARN: "arn:aws:ivs:us-east-1:123456789012:channel/" + id, Name: name},
		StreamID:  "st-" + id,
		StartTime: start,
		Hub:       hub,
	}
}

// channelMetrics are every name the collector exports but the uptime,
// which moves with the clock and is checked on its own.
var channelMetrics = []string{
	"onair_live_channels", "onair_channel_live", "onair_ingest_units_total", "onair_ingest_bytes_total",
	"onair_hub_readers", "onair_hub_dropped_readers_total", "onair_ingest_video_bitrate_bps",
	"onair_ingest_audio_bitrate_bps", "onair_ingest_framerate", "onair_ingest_keyframe_interval_seconds",
	"onair_stream_health", "onair_channel_viewers", "onair_playback_bytes_total", "onair_hls_slow_viewers_dropped_total",
}

func TestChannelCollector(t *testing.T) {
	t.Parallel()
	start := time.Now().Add(-90 * time.Second)
	a := liveStream(t, "aaaaaaaaaaaa", "alpha", start, []int{1000, 200, 300}, 2, 1)
	b := liveStream(t, "bbbbbbbbbbbb", "beta", start, []int{50}, 0, 0)
	point := ivs.MetricPoint{VideoBitrate: 2_000_000, AudioBitrate: 128_000, Framerate: 29.97, KeyframeInterval: 2}
	playback := &fakePlayback{
		viewers:  map[string]int{"aaaaaaaaaaaa": 3},
		bytesOut: map[string]uint64{"aaaaaaaaaaaa": 123456, "bbbbbbbbbbbb": 7},
		slow:     4,
	}
	const (
		lblA = `channel_arn="arn:aws:ivs:us-east-1:123456789012:channel/aaaaaaaaaaaa",channel_name="alpha"`
		lblB = `channel_arn="arn:aws:ivs:us-east-1:123456789012:channel/bbbbbbbbbbbb",channel_name="beta"`
	)
	tests := []struct {
		name string
		cfg  Config
		// uptimes is how many onair_channel_uptime_seconds samples to expect.
		uptimes int
		want    string
	}{
		{
			name: "nothing live",
			cfg:  Config{Streams: fakeStreams{}, Sessions: fakeSessions{}, Playback: &fakePlayback{}},
			want: `
# HELP onair_hls_slow_viewers_dropped_total HLS responses cut off because the viewer read them too slowly.
# TYPE onair_hls_slow_viewers_dropped_total counter
onair_hls_slow_viewers_dropped_total 0
# HELP onair_live_channels Channels with a live publisher.
# TYPE onair_live_channels gauge
onair_live_channels 0
`,
		},
		{
			name:    "hub counters only, no tracker or playback",
			cfg:     Config{Streams: fakeStreams{a}},
			uptimes: 1,
			want: `
# HELP onair_channel_live 1 while the channel has a live publisher.
# TYPE onair_channel_live gauge
onair_channel_live{` + lblA + `} 1
# HELP onair_hub_dropped_readers_total Readers dropped for falling behind.
# TYPE onair_hub_dropped_readers_total counter
onair_hub_dropped_readers_total{` + lblA + `} 1
# HELP onair_hub_readers Readers attached to the channel's hub.
# TYPE onair_hub_readers gauge
onair_hub_readers{` + lblA + `} 2
# HELP onair_ingest_bytes_total Payload bytes received from the publisher.
# TYPE onair_ingest_bytes_total counter
onair_ingest_bytes_total{` + lblA + `} 1500
# HELP onair_ingest_units_total Access units received from the publisher.
# TYPE onair_ingest_units_total counter
onair_ingest_units_total{` + lblA + `} 3
# HELP onair_live_channels Channels with a live publisher.
# TYPE onair_live_channels gauge
onair_live_channels 1
`,
		},
		{
			name: "two channels with sessions and playback",
			cfg: Config{
				Streams: fakeStreams{a, b},
				// b has no whole second yet: zero values, health unknown.
				Sessions: fakeSessions{{Stream: a, Last: point, Health: ivs.HealthStarving}, {Stream: b, Health: ivs.HealthUnknown}},
				Playback: playback,
			},
			uptimes: 2,
			want: `
# HELP onair_channel_live 1 while the channel has a live publisher.
# TYPE onair_channel_live gauge
onair_channel_live{` + lblA + `} 1
onair_channel_live{` + lblB + `} 1
# HELP onair_channel_viewers Concurrent viewers (HLS playback sessions).
# TYPE onair_channel_viewers gauge
onair_channel_viewers{` + lblA + `} 3
onair_channel_viewers{` + lblB + `} 0
# HELP onair_hls_slow_viewers_dropped_total HLS responses cut off because the viewer read them too slowly.
# TYPE onair_hls_slow_viewers_dropped_total counter
onair_hls_slow_viewers_dropped_total 4
# HELP onair_hub_dropped_readers_total Readers dropped for falling behind.
# TYPE onair_hub_dropped_readers_total counter
onair_hub_dropped_readers_total{` + lblA + `} 1
onair_hub_dropped_readers_total{` + lblB + `} 0
# HELP onair_hub_readers Readers attached to the channel's hub.
# TYPE onair_hub_readers gauge
onair_hub_readers{` + lblA + `} 2
onair_hub_readers{` + lblB + `} 0
# HELP onair_ingest_audio_bitrate_bps Ingest audio bit rate over the last second.
# TYPE onair_ingest_audio_bitrate_bps gauge
onair_ingest_audio_bitrate_bps{` + lblA + `} 128000
onair_ingest_audio_bitrate_bps{` + lblB + `} 0
# HELP onair_ingest_bytes_total Payload bytes received from the publisher.
# TYPE onair_ingest_bytes_total counter
onair_ingest_bytes_total{` + lblA + `} 1500
onair_ingest_bytes_total{` + lblB + `} 50
# HELP onair_ingest_framerate Ingest video frames over the last second.
# TYPE onair_ingest_framerate gauge
onair_ingest_framerate{` + lblA + `} 29.97
onair_ingest_framerate{` + lblB + `} 0
# HELP onair_ingest_keyframe_interval_seconds Latest interval between keyframes.
# TYPE onair_ingest_keyframe_interval_seconds gauge
onair_ingest_keyframe_interval_seconds{` + lblA + `} 2
onair_ingest_keyframe_interval_seconds{` + lblB + `} 0
# HELP onair_ingest_units_total Access units received from the publisher.
# TYPE onair_ingest_units_total counter
onair_ingest_units_total{` + lblA + `} 3
onair_ingest_units_total{` + lblB + `} 1
# HELP onair_ingest_video_bitrate_bps Ingest video bit rate over the last second.
# TYPE onair_ingest_video_bitrate_bps gauge
onair_ingest_video_bitrate_bps{` + lblA + `} 2e+06
onair_ingest_video_bitrate_bps{` + lblB + `} 0
# HELP onair_live_channels Channels with a live publisher.
# TYPE onair_live_channels gauge
onair_live_channels 2
# HELP onair_playback_bytes_total Bytes served to viewers since the process started.
# TYPE onair_playback_bytes_total counter
onair_playback_bytes_total{` + lblA + `} 123456
onair_playback_bytes_total{` + lblB + `} 7
# HELP onair_stream_health 1 for the stream's current health (HEALTHY, STARVING, UNKNOWN).
# TYPE onair_stream_health gauge
onair_stream_health{` + lblA + `,health="HEALTHY"} 0
onair_stream_health{` + lblA + `,health="STARVING"} 1
onair_stream_health{` + lblA + `,health="UNKNOWN"} 0
onair_stream_health{` + lblB + `,health="HEALTHY"} 0
onair_stream_health{` + lblB + `,health="STARVING"} 0
onair_stream_health{` + lblB + `,health="UNKNOWN"} 1
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// The pedantic registry also checks that every metric collected
			// matches a description the collector gave.
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(&channelCollector{cfg: tt.cfg})
			if err := testutil.GatherAndCompare(reg, strings.NewReader(tt.want), channelMetrics...); err != nil {
				t.Error(err)
			}
			problems, err := testutil.GatherAndLint(reg)
			if err != nil || len(problems) > 0 {
				t.Errorf("lint: %v %+v", err, problems)
			}
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, mf := range mfs {
				if mf.GetName() != "onair_channel_uptime_seconds" {
					continue
				}
				for _, m := range mf.GetMetric() {
					n++
					// The streams started 90 s ago; allow a slow machine a minute.
					if up := m.GetGauge().GetValue(); up < 90 || up > 150 {
						t.Errorf("uptime %v s, want 90 s and a little", up)
					}
				}
			}
			if n != tt.uptimes {
				t.Errorf("%d uptime samples, want %d", n, tt.uptimes)
			}
		})
	}
}

// The handler serves the channel metrics beside the process and Go
// runtime collectors, in Prometheus' text format.
func TestHandler(t *testing.T) {
	t.Parallel()
	st := liveStream(t, "cccccccccccc", "gamma", time.Now(), []int{10}, 1, 0)
	sm := &sfu.Metrics{}
	sm.PacketsForwarded.Add(42)
	sm.Publishers.Add(3)
	sm.RTXRetransmitted.Add(5)
	sm.PacketsRepaired.Add(6)
	sm.BandwidthSwitches.Add(7)
	sm.ReaderBusyNs.Add(1500_000_000)
	sm.ForwardDelay.Observe(1200 * time.Microsecond)
	sm.ForwardDelay.Observe(4 * time.Millisecond)
	sm.ForwardDelay.Observe(2 * time.Second)
	leaders := fakeLeaders{"webhook:ops": true, "downsample": false}
	srv := httptest.NewServer(New(Config{Streams: fakeStreams{st}, Playback: &fakePlayback{slow: 2}, SFU: sm, Leaders: leaders}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %q %v", resp.StatusCode, resp.Header.Get("Content-Type"), err)
	}
	for _, want := range []string{
		"\ngo_goroutines ", "\nprocess_open_fds ", "\nonair_live_channels 1\n",
		`onair_channel_live{channel_arn="arn:aws:ivs:us-east-1:123456789012:channel/cccccccccccc",channel_name="gamma"} 1`,
		"\nonair_hls_slow_viewers_dropped_total 2\n",
		"\nonair_sfu_packets_forwarded_total 42\n", "\nonair_sfu_publishers 3\n", "\nonair_sfu_slow_subscribers_dropped_total 0\n",
		"\nonair_sfu_rtx_retransmitted_total 5\n", "\nonair_sfu_packets_repaired_total 6\n", "\nonair_sfu_bandwidth_layer_switches_total 7\n",
		"\nonair_sfu_reader_busy_seconds_total 1.5\n",
		"\nonair_sfu_forward_delay_seconds_bucket{le=\"0.001\"} 0\n", "\nonair_sfu_forward_delay_seconds_bucket{le=\"0.0015\"} 1\n",
		"\nonair_sfu_forward_delay_seconds_bucket{le=\"0.005\"} 2\n", "\nonair_sfu_forward_delay_seconds_bucket{le=\"1\"} 2\n",
		"\nonair_sfu_forward_delay_seconds_bucket{le=\"+Inf\"} 3\n", "\nonair_sfu_forward_delay_seconds_count 3\n",
		"\nonair_leader{name=\"webhook:ops\"} 1\n", "\nonair_leader{name=\"downsample\"} 0\n",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
}
