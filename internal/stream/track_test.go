package stream

import (
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// AAC.Channels counts as mediacommon's decoder did in the field its
// ChannelConfig replaces: an AudioSpecificConfig of each channel
// configuration, decoded, gives the same count.
func TestAACChannels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		config uint8
		want   int
	}{
		{0, 0}, // a program config element says
		{1, 1},
		{2, 2},
		{6, 6},
		{7, 8},
	}
	for _, tc := range tests {
		b, err := mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000,
			ChannelConfig: tc.config}.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		var cfg mpeg4audio.AudioSpecificConfig
		if err := cfg.Unmarshal(b); err != nil {
			t.Fatal(err)
		}
		legacy := cfg.ChannelCount //nolint:staticcheck // the deprecated field Channels replaces, to compare with
		if got := (&AAC{Config: &cfg}).Channels(); got != tc.want || got != legacy {
			t.Errorf("channel configuration %d: %d channels, ChannelCount %d, want %d", tc.config, got, legacy, tc.want)
		}
	}
	if n := (&AAC{}).Channels(); n != 0 {
		t.Errorf("no config: %d channels", n)
	}
}
