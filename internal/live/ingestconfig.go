package live

import (
	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/stream"
)

// Metadata is what an encoder declares about its stream, e.g. RTMP's
// onMetaData. Zero fields are unknown.
type Metadata struct {
	Encoder         string  // "obs-output module (libobs version 30.1.2)", "Lavf59.27.100"
	VideoDataRate   float64 // kbit/s
	FrameRate       float64
	Width, Height   float64
	AudioDataRate   float64 // kbit/s
	AudioSampleRate float64
	AudioChannels   float64
}

// IngestConfigurations describes tracks as IVS's ingestConfigurations.
// TODO(helper A): fill from SPS, AAC config and meta.
func IngestConfigurations(tracks []*stream.Track, meta Metadata) ivs.IngestConfigurations {
	return ivs.IngestConfigurations{}
}
