package session

import (
	"time"

	"github.com/onair-video/onair/internal/ivs"
)

// Health rule. IVS documents Starvation Start/End but not its thresholds;
// these follow its description ("the encoder is not delivering data fast
// enough") with hysteresis so that a stream does not flap:
//   - STARVING when nothing arrived for starveGap, or when over the last
//     slowWindow seconds less than slowRatio of real time arrived;
//   - HEALTHY again once data arrives (within recoverGap) and the last
//     recoverWindow seconds kept up to recoverRatio of real time.
const (
	starveGap     = 2 * time.Second
	slowWindow    = 5
	slowRatio     = 0.8
	recoverGap    = time.Second
	recoverWindow = 2
	recoverRatio  = 0.9
)

// judge returns the health after a tick at now, given the previous one.
func (m *meter) judge(prev string, now time.Time) string {
	if m.lastUnit.IsZero() {
		return ivs.HealthUnknown
	}
	gap := now.Sub(m.lastUnit)
	if gap > starveGap {
		return ivs.HealthStarving
	}
	if r, ok := m.speed(slowWindow); ok && r < slowRatio {
		return ivs.HealthStarving
	}
	if prev != ivs.HealthStarving {
		return ivs.HealthHealthy
	}
	if gap > recoverGap {
		return ivs.HealthStarving
	}
	if r, ok := m.speed(recoverWindow); ok && r < recoverRatio {
		return ivs.HealthStarving
	}
	return ivs.HealthHealthy
}
