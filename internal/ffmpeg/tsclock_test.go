package ffmpeg

import (
	"testing"
	"time"
)

func TestTSClock(t *testing.T) {
	t.Parallel()
	const hour = 90000 * 3600
	tests := []struct {
		name     string
		pts, dts []int64
		want     []time.Duration // presentation times
	}{
		{"steady", []int64{0, 3000, 6000}, []int64{0, 3000, 6000},
			[]time.Duration{0, time.Second / 30, 2 * time.Second / 30}},
		{"copyts start", []int64{90000 * 5}, []int64{90000 * 5}, []time.Duration{5 * time.Second}},
		{"wrap", []int64{tsWrap - 3000, 0, 3000}, []int64{tsWrap - 3000, 0, 3000},
			[]time.Duration{ticksToTime(tsWrap - 3000), ticksToTime(tsWrap), ticksToTime(tsWrap + 3000)}},
		{"pts wrapped before its dts", []int64{1500}, []int64{tsWrap - 1500}, []time.Duration{ticksToTime(tsWrap + 1500)}},
		{"two wraps", []int64{tsWrap - 1, 10 * hour, tsWrap - 1, 10 * hour}, []int64{tsWrap - 1, 10 * hour, tsWrap - 1, 10 * hour},
			[]time.Duration{ticksToTime(tsWrap - 1), ticksToTime(tsWrap + 10*hour), ticksToTime(2*tsWrap - 1), ticksToTime(2*tsWrap + 10*hour)}},
		{"small step back is no wrap", []int64{6000, 3000}, []int64{6000, 3000}, []time.Duration{ticksToTime(6000), ticksToTime(3000)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var c TSClock
			for i := range tc.pts {
				p, d := c.Times(tc.pts[i], tc.dts[i])
				if p != tc.want[i] || d > p {
					t.Fatalf("frame %d: pts %v dts %v, want pts %v", i, p, d, tc.want[i])
				}
			}
		})
	}
}
