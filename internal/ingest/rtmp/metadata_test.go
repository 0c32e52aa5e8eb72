package rtmp

import (
	"strings"
	"testing"

	"github.com/bluenviron/gortmplib/pkg/amf0"

	"github.com/onair-video/onair/internal/live"
)

// ffmpegMeta is what ffmpeg 5.1's FLV muxer sends (keys and types).
func ffmpegMeta() amf0.ECMAArray {
	return amf0.ECMAArray{
		{Key: "duration", Value: float64(0)}, {Key: "width", Value: float64(1280)}, {Key: "height", Value: float64(720)},
		{Key: "videodatarate", Value: float64(1953.125)}, {Key: "framerate", Value: float64(30)},
		{Key: "videocodecid", Value: float64(7)}, {Key: "audiodatarate", Value: float64(125)},
		{Key: "audiosamplerate", Value: float64(48000)}, {Key: "audiosamplesize", Value: float64(16)},
		{Key: "stereo", Value: true}, {Key: "audiocodecid", Value: float64(10)},
		{Key: "encoder", Value: "Lavf59.27.100"}, {Key: "filesize", Value: float64(0)},
	}
}

func TestParseMetadata(t *testing.T) {
	t.Parallel()
	obs := amf0.Object{
		{Key: "width", Value: float64(1920)}, {Key: "height", Value: float64(1080)},
		{Key: "videodatarate", Value: float64(6000)}, {Key: "framerate", Value: float64(60)},
		{Key: "audiodatarate", Value: float64(160)}, {Key: "audiosamplerate", Value: float64(48000)},
		{Key: "audiochannels", Value: float64(2)},
		{Key: "encoder", Value: "obs-output module (libobs version 30.1.2)"},
	}
	tests := []struct {
		name    string
		payload amf0.Data
		want    live.Metadata
		ok      bool
	}{
		{"ffmpeg", amf0.Data{"@setDataFrame", "onMetaData", ffmpegMeta()}, live.Metadata{
			Encoder: "Lavf59.27.100", Width: 1280, Height: 720, VideoDataRate: 1953.125, FrameRate: 30,
			AudioDataRate: 125, AudioSampleRate: 48000, AudioChannels: 2}, true},
		{"OBS, without @setDataFrame", amf0.Data{"onMetaData", obs}, live.Metadata{
			Encoder: "obs-output module (libobs version 30.1.2)", Width: 1920, Height: 1080, VideoDataRate: 6000,
			FrameRate: 60, AudioDataRate: 160, AudioSampleRate: 48000, AudioChannels: 2}, true},
		{"mono", amf0.Data{"onMetaData", amf0.Object{{Key: "stereo", Value: false}}}, live.Metadata{AudioChannels: 1}, true},
		{"wrong types are skipped", amf0.Data{"onMetaData", amf0.Object{{Key: "width", Value: "wide"}, {Key: "encoder", Value: float64(3)}}},
			live.Metadata{}, true},
		{"control characters and length", amf0.Data{"onMetaData", amf0.Object{{Key: "encoder", Value: "x\x00\x1b[31m" + strings.Repeat("é", 300)}}},
			live.Metadata{Encoder: "x[31m" + strings.Repeat("é", 125)}, true},
		{"other data message", amf0.Data{"onTextData", amf0.Object{}}, live.Metadata{}, false},
		{"no object", amf0.Data{"@setDataFrame", "onMetaData"}, live.Metadata{}, false},
		{"not an object", amf0.Data{"onMetaData", float64(1)}, live.Metadata{}, false},
		{"empty", amf0.Data{}, live.Metadata{}, false},
	}
	for _, tc := range tests {
		got, ok := parseMetadata(tc.payload)
		if ok != tc.ok || got != tc.want {
			t.Errorf("%s: got %+v %v, want %+v %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzMetadata feeds arbitrary AMF0 bodies through the library's decoder
// and our parser: nothing may panic, and what is kept stays bounded.
func FuzzMetadata(f *testing.F) {
	for _, d := range []amf0.Data{
		{"@setDataFrame", "onMetaData", ffmpegMeta()},
		{"onMetaData", amf0.Object{{Key: "encoder", Value: "obs"}, {Key: "stereo", Value: true}}},
		{"onMetaData", amf0.StrictArray{float64(1)}},
	} {
		b, err := d.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := amf0.Unmarshal(body)
		if err != nil {
			return
		}
		m, _ := parseMetadata(d)
		if len(m.Encoder) > maxEncoderLen {
			t.Fatalf("encoder of %d bytes kept", len(m.Encoder))
		}
	})
}
