package rtmp

import (
	"fmt"
	"slices"
	"testing"

	"github.com/bluenviron/gortmplib"
	rtmpcodecs "github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
)

func TestMapTracks(t *testing.T) {
	t.Parallel()
	aac := &rtmpcodecs.MPEG4Audio{Config: &mpeg4audio.AudioSpecificConfig{
		Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 44100, ChannelConfig: 2}}
	cases := []struct {
		name      string
		in        []rtmpcodecs.Codec
		want      []string // %T of the kept stream codecs, "" for skipped
		wantVideo bool
		rates     []int
	}{
		{"h264 aac", []rtmpcodecs.Codec{&rtmpcodecs.H264{}, aac},
			[]string{"*stream.H264", "*stream.AAC"}, true, []int{90000, 44100}},
		{"h265 opus", []rtmpcodecs.Codec{&rtmpcodecs.H265{}, &rtmpcodecs.Opus{IDHeader: &opus.IDHeader{ChannelCount: 1}}},
			[]string{"*stream.H265", "*stream.Opus"}, true, []int{90000, 48000}},
		{"audio only", []rtmpcodecs.Codec{aac}, []string{"*stream.AAC"}, false, []int{44100}},
		{"unsupported skipped", []rtmpcodecs.Codec{&rtmpcodecs.AV1{}, &rtmpcodecs.H264{}, &rtmpcodecs.MPEG1Audio{}},
			[]string{"", "*stream.H264", ""}, true, []int{0, 90000, 0}},
		{"second video skipped", []rtmpcodecs.Codec{&rtmpcodecs.H264{}, &rtmpcodecs.H265{}},
			[]string{"*stream.H264", ""}, true, []int{90000, 0}},
		{"aac without config", []rtmpcodecs.Codec{&rtmpcodecs.H264{}, &rtmpcodecs.MPEG4Audio{}},
			[]string{"*stream.H264", ""}, true, []int{90000, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var in []*gortmplib.Track
			for _, c := range tc.in {
				in = append(in, &gortmplib.Track{Codec: c})
			}
			m := mapTracks(in)
			for i, st := range m.out {
				got, rate := "", 0
				if st != nil {
					got, rate = fmt.Sprintf("%T", st.Codec), st.ClockRate
				}
				if got != tc.want[i] || rate != tc.rates[i] {
					t.Fatalf("track %d: %s@%d, want %s@%d", i, got, rate, tc.want[i], tc.rates[i])
				}
			}
			if m.hasVideo() != tc.wantVideo {
				t.Fatalf("hasVideo %v", m.hasVideo())
			}
			// Published: the kept tracks, in order.
			var got, want []string
			for _, st := range m.published() {
				got = append(got, fmt.Sprintf("%T", st.Codec))
			}
			for _, w := range tc.want {
				if w != "" {
					want = append(want, w)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("published %v, want %v", got, want)
			}
		})
	}
}
