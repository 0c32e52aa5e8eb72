package main

import (
	"math"
	"testing"
	"time"
)

// Quantiles of onair's delay histogram: linear within the bucket, as
// Prometheus's histogram_quantile.
func TestHistogramQuantile(t *testing.T) {
	before := histogram{0.001: 10, 0.002: 10, 0.005: 10, math.Inf(1): 10}
	after := histogram{0.001: 60, 0.002: 90, 0.005: 109, math.Inf(1): 110}
	h := after.sub(before) // 50 ≤ 1 ms, 30 in (1, 2], 19 in (2, 5], 1 above
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{
		{0.25, 500 * time.Microsecond},
		{0.5, time.Millisecond},
		{0.65, 1500 * time.Microsecond},
		{0.99, 5 * time.Millisecond},
		{1, 5 * time.Millisecond},
	} {
		if got := h.quantile(tc.q); (got - tc.want).Abs() > time.Microsecond {
			t.Errorf("q%v = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := (histogram{}).quantile(0.5); got != 0 {
		t.Errorf("empty: %v", got)
	}
}
