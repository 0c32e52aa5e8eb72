package live

import (
	"encoding/hex"
	"fmt"
	"math"
	"strings"

	"github.com/bluenviron/gohlslib/v2/pkg/codecparams"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/stream"
)

// Metadata is what an encoder declares about its stream, e.g. RTMP's
// onMetaData. Zero fields are unknown. It is untrusted: it only fills what
// the bitstream itself does not say (the encoder's name, target rates).
type Metadata struct {
	Encoder         string  // "obs-output module (libobs version 30.1.2)", "Lavf59.27.100"
	VideoDataRate   float64 // kbit/s
	FrameRate       float64
	Width, Height   float64
	AudioDataRate   float64 // kbit/s
	AudioSampleRate float64
	AudioChannels   float64
}

// IngestConfigurations describes tracks as IVS's ingestConfigurations: the
// codec, profile, level and size from each video track's SPS, the sample
// rate and channels from each audio track's configuration, and the target
// rates and encoder name from meta. The bitstream wins over meta where
// both say something.
func IngestConfigurations(tracks []*stream.Track, meta Metadata) ivs.IngestConfigurations {
	out := ivs.IngestConfigurations{Video: []ivs.VideoConfiguration{}, Audio: []ivs.AudioConfiguration{}}
	for _, t := range tracks {
		if t.Derived {
			continue
		}
		if t.Codec.IsVideo() {
			v := videoConfiguration(t.Codec, meta)
			v.Track = fmt.Sprintf("Track%d", len(out.Video))
			out.Video = append(out.Video, v)
			continue
		}
		a := audioConfiguration(t.Codec, meta)
		a.Track = fmt.Sprintf("Track%d", len(out.Audio))
		out.Audio = append(out.Audio, a)
	}
	return out
}

func videoConfiguration(c stream.Codec, meta Metadata) ivs.VideoConfiguration {
	v := ivs.VideoConfiguration{
		Encoder:         meta.Encoder,
		TargetBitrate:   dataRate(meta.VideoDataRate, meta.Encoder),
		TargetFramerate: round(meta.FrameRate),
		VideoWidth:      round(meta.Width),
		VideoHeight:     round(meta.Height),
	}
	var fps float64
	switch c := c.(type) {
	case *stream.H264:
		var sps h264.SPS
		if err := sps.Unmarshal(c.SPS); err != nil || len(c.SPS) < 4 {
			return v
		}
		// IVS writes the RFC 6381 string with upper-case hex (avc1.42C02A).
		v.Codec = "avc1." + strings.ToUpper(hex.EncodeToString(c.SPS[1:4]))
		v.Profile, v.Level = h264Profile(&sps), h264Level(&sps)
		v.VideoWidth, v.VideoHeight, fps = int64(sps.Width()), int64(sps.Height()), sps.FPS()
	case *stream.H265:
		var sps h265.SPS
		if err := sps.Unmarshal(c.SPS); err != nil {
			return v
		}
		v.Codec = codecparams.Marshal(&codecs.H265{VPS: c.VPS, SPS: c.SPS, PPS: c.PPS})
		v.Profile = h265Profile(sps.ProfileTierLevel.GeneralProfileIdc)
		v.Level = trimLevel(float64(sps.ProfileTierLevel.GeneralLevelIdc) / 30)
		v.VideoWidth, v.VideoHeight, fps = int64(sps.Width()), int64(sps.Height()), sps.FPS()
	case *stream.VP8:
		v.Codec, v.VideoWidth, v.VideoHeight = "vp8", int64(c.Width), int64(c.Height)
	}
	// An encoder's declared frame rate is the target; the SPS's timing
	// information, optional and often a maximum, is the fallback only.
	if v.TargetFramerate == 0 && fps > 0 && fps <= 240 {
		v.TargetFramerate = int64(math.Round(fps))
	}
	return v
}

func audioConfiguration(c stream.Codec, meta Metadata) ivs.AudioConfiguration {
	a := ivs.AudioConfiguration{
		TargetBitrate: dataRate(meta.AudioDataRate, meta.Encoder),
		SampleRate:    round(meta.AudioSampleRate),
		Channels:      round(meta.AudioChannels),
	}
	switch c := c.(type) {
	case *stream.AAC:
		if c.Config == nil {
			return a
		}
		a.Codec = fmt.Sprintf("mp4a.40.%d", c.Config.Type)
		a.SampleRate = int64(c.Config.SampleRate)
		if c.Config.ExtensionSampleRate > 0 { // HE-AAC: the output rate
			a.SampleRate = int64(c.Config.ExtensionSampleRate)
		}
		if n := c.Channels(); n > 0 {
			a.Channels = int64(n)
		}
	case *stream.Opus:
		a.Codec, a.SampleRate, a.Channels = "opus", 48000, int64(c.ChannelCount)
	}
	return a
}

// h264Profile names profile_idc as the H.264 specification (Annex A) does.
func h264Profile(s *h264.SPS) string {
	switch s.ProfileIdc {
	case 66:
		if s.ConstraintSet1Flag {
			return "Constrained Baseline"
		}
		return "Baseline"
	case 77:
		return "Main"
	case 88:
		return "Extended"
	case 100:
		return "High"
	case 110:
		return "High 10"
	case 122:
		return "High 4:2:2"
	case 244:
		return "High 4:4:4 Predictive"
	case 44:
		return "CAVLC 4:4:4 Intra"
	}
	return fmt.Sprintf("profile_idc %d", s.ProfileIdc)
}

// h264Level is the level as a number ("3.1"); level_idc 11 with
// constraint_set3 in Baseline/Main/Extended is level 1b.
func h264Level(s *h264.SPS) string {
	if s.LevelIdc == 9 || (s.LevelIdc == 11 && s.ConstraintSet3Flag && (s.ProfileIdc == 66 || s.ProfileIdc == 77 || s.ProfileIdc == 88)) {
		return "1b"
	}
	return trimLevel(float64(s.LevelIdc) / 10)
}

func h265Profile(idc uint8) string {
	switch idc {
	case 1:
		return "Main"
	case 2:
		return "Main 10"
	case 3:
		return "Main Still Picture"
	case 4:
		return "Format Range Extensions"
	}
	return fmt.Sprintf("general_profile_idc %d", idc)
}

// trimLevel writes 3.1 as "3.1" and 4.0 as "4".
func trimLevel(l float64) string {
	return strings.TrimSuffix(fmt.Sprintf("%.1f", l), ".0")
}

// dataRate converts an onMetaData data rate to bits per second. The FLV
// spec says kbit/s and OBS writes kbit/s, but libavformat (ffmpeg, and the
// tools built on it, whose encoder name is "Lavf…") writes bit_rate/1024:
// 2000k is announced as 1953.125.
func dataRate(v float64, encoder string) int64 {
	if strings.HasPrefix(encoder, "Lavf") {
		return round(v * 1024)
	}
	return round(v * 1000)
}

// round makes an untrusted number a sane non-negative integer.
func round(v float64) int64 {
	if math.IsNaN(v) || v <= 0 || v > 1e12 {
		return 0
	}
	return int64(math.Round(v))
}
