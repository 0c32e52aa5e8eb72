package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/onair-video/onair/internal/live"
)

type noStreams struct{}

func (noStreams) List() []*live.Stream { return nil }

type readers []live.ResyncCount

func (r readers) Resyncs() []live.ResyncCount { return r }

// The resyncs of the server-side readers are counters by consumer.
func TestReaderResyncMetrics(t *testing.T) {
	t.Parallel()
	h := New(Config{Streams: noStreams{}, Readers: readers{
		{Consumer: "hls", Resyncs: 2, SkippedUnits: 300},
		{Consumer: "record", Resyncs: 1, SkippedUnits: 40},
	}})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(w.Result().Body)
	for _, want := range []string{
		`onair_stream_reader_resyncs_total{consumer="hls"} 2`,
		`onair_stream_reader_resyncs_total{consumer="record"} 1`,
		`onair_stream_reader_skipped_units_total{consumer="hls"} 300`,
		`onair_stream_reader_skipped_units_total{consumer="record"} 40`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("no %s in\n%s", want, body)
		}
	}
}
