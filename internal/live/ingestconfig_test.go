package live

import (
	"strings"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/stream"
	"github.com/onair-video/onair/internal/stream/streamtest"
)

func TestIngestConfigurations(t *testing.T) {
	t.Parallel()
	h264 := streamtest.H264(t) // 320x240, 30 fps, RGB input: x264 High 4:4:4, x265 RExt
	h265 := streamtest.H265(t)
	aac := &stream.Track{Codec: &stream.AAC{Config: &mpeg4audio.AudioSpecificConfig{
		Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 44100, ChannelConfig: 1}}}
	// ffmpeg announces 2000k and 128k as bit_rate/1024.
	ffmpeg := Metadata{Encoder: "Lavf59.27.100", VideoDataRate: 1953.125, FrameRate: 29.97, Width: 1, Height: 1,
		AudioDataRate: 125, AudioSampleRate: 48000, AudioChannels: 2}
	obs := Metadata{Encoder: "obs-output module (libobs version 30.1.2)", VideoDataRate: 6000, AudioDataRate: 160}

	tests := []struct {
		name      string
		tracks    []*stream.Track
		meta      Metadata
		wantVideo ivs.VideoConfiguration
		wantAudio []ivs.AudioConfiguration
		codec     string // prefix of the video codec string
	}{
		{
			name:   "H.264 and AAC with ffmpeg's metadata: the bitstream wins",
			tracks: []*stream.Track{{Codec: &stream.H264{SPS: h264.SPS, PPS: h264.PPS}}, aac},
			meta:   ffmpeg,
			wantVideo: ivs.VideoConfiguration{Encoder: "Lavf59.27.100", TargetBitrate: 2_000_000, TargetFramerate: 30,
				VideoWidth: 320, VideoHeight: 240, Profile: "High 4:4:4 Predictive", Track: "Track0"},
			wantAudio: []ivs.AudioConfiguration{{Codec: "mp4a.40.2", SampleRate: 44100, Channels: 1, TargetBitrate: 128_000, Track: "Track0"}},
			codec:     "avc1.F4",
		},
		{
			name:   "OBS writes kbit/s",
			tracks: []*stream.Track{{Codec: &stream.H264{SPS: h264.SPS, PPS: h264.PPS}}, aac},
			meta:   obs,
			wantVideo: ivs.VideoConfiguration{Encoder: obs.Encoder, TargetBitrate: 6_000_000, TargetFramerate: 30,
				VideoWidth: 320, VideoHeight: 240, Profile: "High 4:4:4 Predictive", Track: "Track0"},
			wantAudio: []ivs.AudioConfiguration{{Codec: "mp4a.40.2", SampleRate: 44100, Channels: 1, TargetBitrate: 160_000, Track: "Track0"}},
			codec:     "avc1.F4",
		},
		{
			name:      "H.264 without metadata: frame rate from the SPS timing",
			tracks:    []*stream.Track{{Codec: &stream.H264{SPS: h264.SPS, PPS: h264.PPS}}},
			wantVideo: ivs.VideoConfiguration{TargetFramerate: 30, VideoWidth: 320, VideoHeight: 240, Profile: "High 4:4:4 Predictive", Track: "Track0"},
			wantAudio: []ivs.AudioConfiguration{},
			codec:     "avc1.F4",
		},
		{
			name:      "H.265 and Opus",
			tracks:    []*stream.Track{{Codec: &stream.H265{VPS: h265.VPS, SPS: h265.SPS, PPS: h265.PPS}}, {Codec: &stream.Opus{ChannelCount: 2}}},
			wantVideo: ivs.VideoConfiguration{VideoWidth: 320, VideoHeight: 240, Profile: "Format Range Extensions", Track: "Track0", TargetFramerate: 30},
			wantAudio: []ivs.AudioConfiguration{{Codec: "opus", SampleRate: 48000, Channels: 2, Track: "Track0"}},
			codec:     "hvc1.4.",
		},
		{
			name:      "garbage SPS: what the metadata says, nothing made up",
			tracks:    []*stream.Track{{Codec: &stream.H264{SPS: []byte{0x67}}}},
			meta:      Metadata{Width: 1280, Height: 720, FrameRate: -5, VideoDataRate: 1e300},
			wantVideo: ivs.VideoConfiguration{VideoWidth: 1280, VideoHeight: 720, Track: "Track0"},
			wantAudio: []ivs.AudioConfiguration{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := IngestConfigurations(tc.tracks, tc.meta)
			if len(got.Video) != 1 {
				t.Fatalf("video %+v", got.Video)
			}
			v := got.Video[0]
			if !strings.HasPrefix(v.Codec, tc.codec) || (tc.codec == "") != (v.Codec == "") {
				t.Errorf("codec %q, want prefix %q", v.Codec, tc.codec)
			}
			if tc.codec != "" && v.Level == "" {
				t.Errorf("no level")
			}
			v.Codec, v.Level = "", ""
			if v != tc.wantVideo {
				t.Errorf("video\n got %+v\nwant %+v", v, tc.wantVideo)
			}
			if len(got.Audio) != len(tc.wantAudio) || (len(got.Audio) > 0 && got.Audio[0] != tc.wantAudio[0]) {
				t.Errorf("audio\n got %+v\nwant %+v", got.Audio, tc.wantAudio)
			}
		})
	}
}

func TestLevelsAndProfiles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   float64
		want string
	}{{3.1, "3.1"}, {4, "4"}, {5.2, "5.2"}, {6.1, "6.1"}} {
		if got := trimLevel(tc.in); got != tc.want {
			t.Errorf("trimLevel(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct {
		idc  uint8
		want string
	}{{1, "Main"}, {2, "Main 10"}, {9, "general_profile_idc 9"}} {
		if got := h265Profile(tc.idc); got != tc.want {
			t.Errorf("h265Profile(%d) = %q", tc.idc, got)
		}
	}
}

// An encoder's SPS, PPS and AAC config are untrusted bytes; describing the
// ingest from them must not fail on any.
func FuzzIngestConfigurations(f *testing.F) {
	f.Add([]byte{0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10}, []byte{0x40, 0x01, 0x0c})
	f.Add([]byte{0x67}, []byte{})
	f.Fuzz(func(t *testing.T, sps, vps []byte) {
		_ = IngestConfigurations([]*stream.Track{
			{Codec: &stream.H264{SPS: sps, PPS: []byte{0x68}}, ClockRate: 90000},
			{Codec: &stream.H265{VPS: vps, SPS: sps, PPS: []byte{0x44}}, ClockRate: 90000},
		}, Metadata{})
	})
}
