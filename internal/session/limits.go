package session

import (
	"fmt"

	"github.com/onair-video/onair/internal/ivs"
)

// IVS's input limits per channel type (channel-types documentation):
// BASIC takes up to 1.5 Mbps at 480p and below and 3.5 Mbps above;
// STANDARD and the ADVANCED types take up to 8.5 Mbps; every type takes
// up to 1080p (1920 pixels on the long edge, 1920×1080 in total).
const (
	basicSDBitrate   = 1_500_000
	basicHDBitrate   = 3_500_000
	standardBitrate  = 8_500_000
	maxEdge          = 1920
	maxPixels        = 1920 * 1080
	sdMaxShortEdge   = 480
	bitrateWindow    = 10  // seconds averaged before a bitrate breach
	bitrateTolerance = 1.1 // encoders overshoot their target briefly
)

// Breach is a limit the input went over.
type Breach struct {
	Name       string // ivs.LimitIngestBitrate, ivs.LimitIngestResolution
	Unit       string
	Limit      int64
	ExceededBy int64
}

func (b Breach) Error() string {
	switch b.Name {
	case ivs.LimitIngestBitrate:
		return fmt.Sprintf("ingest bitrate %.2f Mbps is over the channel type's limit of %.2f Mbps",
			float64(b.Limit+b.ExceededBy)/1e6, float64(b.Limit)/1e6)
	default:
		return fmt.Sprintf("ingest resolution is over the limit of %d %s by %d", b.Limit, b.Unit, b.ExceededBy)
	}
}

// bitrateLimit is the input bit rate allowed on a channel of type typ for
// video of width×height.
func bitrateLimit(typ string, width, height int64) int64 {
	if typ != ivs.TypeBasic {
		return standardBitrate
	}
	if min(width, height) > sdMaxShortEdge {
		return basicHDBitrate
	}
	return basicSDBitrate
}

// resolutionBreach checks a video track's size against the 1080p limit.
func resolutionBreach(width, height int64) (Breach, bool) {
	if edge := max(width, height); edge > maxEdge {
		return Breach{Name: ivs.LimitIngestResolution, Unit: ivs.UnitPixelsPerEdge, Limit: maxEdge, ExceededBy: edge - maxEdge}, true
	}
	if px := width * height; px > maxPixels {
		return Breach{Name: ivs.LimitIngestResolution, Unit: ivs.UnitTotalPixels, Limit: maxPixels, ExceededBy: px - maxPixels}, true
	}
	return Breach{}, false
}

// bitrateBreach checks the average input over the last bitrateWindow ticks.
func (m *meter) bitrateBreach(limit int64) (Breach, bool) {
	bps, ok := m.bitrate(bitrateWindow)
	if !ok || float64(bps) <= float64(limit)*bitrateTolerance {
		return Breach{}, false
	}
	return Breach{Name: ivs.LimitIngestBitrate, Unit: ivs.UnitBitsPerSecond, Limit: limit, ExceededBy: bps - limit}, true
}
