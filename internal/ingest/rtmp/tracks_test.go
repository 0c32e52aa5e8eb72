package rtmp

import (
	"fmt"
	"testing"

	"github.com/bluenviron/gortmplib"
	rtmpcodecs "github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"

	"github.com/onair-video/onair/internal/stream"
)

// NALUs by H.264 type, one byte each is enough for the fixer.
var (
	nSPS = []byte{0x67, 1}
	nPPS = []byte{0x68, 2}
	nAUD = []byte{0x09, 0xf0}
	nSEI = []byte{0x06, 3}
	nIDR = []byte{0x65, 4}
	nP   = []byte{0x41, 5}
)

func TestH264Fixer(t *testing.T) {
	t.Parallel()
	oldSPS, oldPPS := []byte{0x67, 9}, []byte{0x68, 9}
	cases := []struct {
		name    string
		in      [][]byte
		want    [][]byte
		wantOK  bool
		wantSPS []byte // fixer state afterwards
	}{
		{"IDR gets stored params", [][]byte{nIDR}, [][]byte{oldSPS, oldPPS, nIDR}, true, oldSPS},
		{"IDR with its own params", [][]byte{nSPS, nPPS, nIDR}, [][]byte{nSPS, nPPS, nIDR}, true, nSPS},
		{"IDR with SPS only", [][]byte{nSPS, nIDR}, [][]byte{nSPS, oldPPS, nIDR}, true, nSPS},
		{"P frame untouched", [][]byte{nP}, [][]byte{nP}, true, oldSPS},
		{"AUD dropped", [][]byte{nAUD, nSEI, nP}, [][]byte{nSEI, nP}, true, oldSPS},
		{"AUD dropped and params added", [][]byte{nAUD, nIDR}, [][]byte{oldSPS, oldPPS, nIDR}, true, oldSPS},
		{"empty NALU dropped", [][]byte{{}, nP}, [][]byte{nP}, true, oldSPS},
		{"sequence header only", [][]byte{nSPS, nPPS}, nil, false, nSPS},
		{"SEI only", [][]byte{nSEI}, nil, false, oldSPS},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &h264Fixer{sps: oldSPS, pps: oldPPS}
			got, ok := f.fix(tc.in)
			if ok != tc.wantOK || fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v %v, want %v %v", got, ok, tc.want, tc.wantOK)
			}
			if fmt.Sprint(f.sps) != fmt.Sprint(tc.wantSPS) {
				t.Fatalf("stored SPS %v, want %v", f.sps, tc.wantSPS)
			}
		})
	}
}

func TestH265Fixer(t *testing.T) {
	t.Parallel()
	vps, sps, pps := []byte{32 << 1, 1}, []byte{33 << 1, 1}, []byte{34 << 1, 1}
	idr, trail, aud := []byte{19 << 1, 1}, []byte{1 << 1, 1}, []byte{35 << 1, 1}
	f := &h265Fixer{vps: vps, sps: sps, pps: pps}
	if got, ok := f.fix([][]byte{aud, idr}); !ok || fmt.Sprint(got) != fmt.Sprint([][]byte{vps, sps, pps, idr}) {
		t.Fatalf("IRAP: %v %v", got, ok)
	}
	if got, ok := f.fix([][]byte{trail}); !ok || len(got) != 1 {
		t.Fatalf("trail: %v %v", got, ok)
	}
	if _, ok := f.fix([][]byte{vps, sps, pps}); ok {
		t.Fatal("parameter sets alone were published")
	}
}

func TestMapTracks(t *testing.T) {
	t.Parallel()
	aac := &rtmpcodecs.MPEG4Audio{Config: &mpeg4audio.AudioSpecificConfig{
		Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 44100, ChannelCount: 2}}
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
			var _ []*stream.Track = m.published()
		})
	}
}
