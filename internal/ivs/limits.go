package ivs

// IVS's input limits per channel type (channel-types documentation):
// BASIC takes up to 1.5 Mbps at 480p and below and 3.5 Mbps above;
// STANDARD and the ADVANCED types take up to 8.5 Mbps; every type takes
// up to 1080p (1920 pixels on the long edge, 1920×1080 in total). The
// session tracker holds a live input to them; an ingest whose client
// declares its settings up front (the Web Broadcast SDK's /v1/offer)
// checks the declaration against them too.
const (
	BasicSDInputBitrate = 1_500_000
	BasicHDInputBitrate = 3_500_000
	MaxInputBitrate     = 8_500_000
	MaxInputEdge        = 1920
	MaxInputPixels      = 1920 * 1080
	// SDMaxShortEdge is the short edge up to which a BASIC input is SD.
	SDMaxShortEdge = 480
)

// InputBitrateLimit is the input bit rate (bits per second) allowed on a
// channel of type typ for video of width×height; an unknown size (0)
// counts as SD.
func InputBitrateLimit(typ string, width, height int64) int64 {
	if typ != TypeBasic {
		return MaxInputBitrate
	}
	if min(width, height) > SDMaxShortEdge {
		return BasicHDInputBitrate
	}
	return BasicSDInputBitrate
}

// InputResolutionOK says whether width×height is within every channel
// type's 1080p limit.
func InputResolutionOK(width, height int64) bool {
	return max(width, height) <= MaxInputEdge && width*height <= MaxInputPixels
}
