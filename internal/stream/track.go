// Package stream is the data path of a live channel: a Hub takes access units
// from one publisher and hands the same immutable units to many readers, each
// through its own bounded queue. It imports nothing internal.
package stream

import (
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// Codec describes the parameters a consumer needs to decode a track.
type Codec interface {
	// IsVideo tells video tracks from audio tracks.
	IsVideo() bool
}

// H264 is an H.264 video track.
type H264 struct {
	SPS []byte
	PPS []byte
}

// IsVideo implements Codec.
func (*H264) IsVideo() bool { return true }

// H265 is an H.265 video track.
type H265 struct {
	VPS []byte
	SPS []byte
	PPS []byte
}

// IsVideo implements Codec.
func (*H265) IsVideo() bool { return true }

// VP8 is a VP8 video track (from a WebRTC publisher that offers no H.264;
// an H.264 track transcoded from it goes beside it for HLS and WHEP).
type VP8 struct {
	Width, Height int
}

// IsVideo implements Codec.
func (*VP8) IsVideo() bool { return true }

// AAC is an MPEG-4 audio track.
type AAC struct {
	Config *mpeg4audio.AudioSpecificConfig
}

// IsVideo implements Codec.
func (*AAC) IsVideo() bool { return false }

// Channels is the track's channel count by its MPEG-4 channel
// configuration (ISO 14496-3 1.6.3.4: 1 to 6 are the count, 7 is 7.1);
// 0 when the configuration leaves the layout to the bitstream (0), is
// reserved, or is missing.
func (a *AAC) Channels() int {
	if a.Config == nil {
		return 0
	}
	switch c := a.Config.ChannelConfig; {
	case c >= 1 && c <= 6:
		return int(c)
	case c == 7:
		return 8
	}
	return 0
}

// Opus is an Opus audio track.
type Opus struct {
	ChannelCount int
}

// IsVideo implements Codec.
func (*Opus) IsVideo() bool { return false }

// Track is one elementary stream of a publication.
type Track struct {
	// Index is the position of the track in the hub's track list.
	Index int
	Codec Codec
	// ClockRate is the time base consumers use for this track: 90000 for video,
	// the sample rate for audio.
	ClockRate int
	// Derived marks a track onair made from another one (AAC converted from
	// a WebRTC publisher's Opus, for HLS): consumers that want the encoder's
	// own media (stats, ingest configuration) skip it.
	Derived bool
}
