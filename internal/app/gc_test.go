package app

import "testing"

func TestGCPercentFor(t *testing.T) {
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, 100},
		{1 << 20, 1000}, // tiny heap: capped
		{16 << 20, 200}, // 32 MB of headroom
		{64 << 20, 50},  // half the live heap
		{1 << 30, 50},   // a busy server: never below 50
		{40 << 20, 80},
	} {
		if got := gcPercentFor(tc.live); got != tc.want {
			t.Errorf("gcPercentFor(%d MB) = %d, want %d", tc.live>>20, got, tc.want)
		}
	}
}
