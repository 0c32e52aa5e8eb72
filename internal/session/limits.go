package session

import (
	"fmt"

	"github.com/onair-video/onair/internal/ivs"
)

// The channel types' input limits (ivs.InputBitrateLimit), and how the
// tracker judges a breach of the bit rate.
const (
	basicSDBitrate   = ivs.BasicSDInputBitrate
	basicHDBitrate   = ivs.BasicHDInputBitrate
	standardBitrate  = ivs.MaxInputBitrate
	maxEdge          = ivs.MaxInputEdge
	maxPixels        = ivs.MaxInputPixels
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
	return ivs.InputBitrateLimit(typ, width, height)
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
