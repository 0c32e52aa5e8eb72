package stream

import (
	"bytes"
	"fmt"
	"testing"
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
			f := NewH264Fixer(oldSPS, oldPPS)
			got, ok := f.Fix(tc.in)
			if ok != tc.wantOK || fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v %v, want %v %v", got, ok, tc.want, tc.wantOK)
			}
			if sps, _ := f.Params(); !bytes.Equal(sps, tc.wantSPS) {
				t.Fatalf("stored SPS %v, want %v", sps, tc.wantSPS)
			}
		})
	}
}

func TestH265Fixer(t *testing.T) {
	t.Parallel()
	vps, sps, pps := []byte{32 << 1, 1}, []byte{33 << 1, 1}, []byte{34 << 1, 1}
	idr, trail, aud := []byte{19 << 1, 1}, []byte{1 << 1, 1}, []byte{35 << 1, 1}
	f := NewH265Fixer(vps, sps, pps)
	if got, ok := f.Fix([][]byte{aud, idr}); !ok || fmt.Sprint(got) != fmt.Sprint([][]byte{vps, sps, pps, idr}) {
		t.Fatalf("IRAP: %v %v", got, ok)
	}
	if got, ok := f.Fix([][]byte{trail}); !ok || len(got) != 1 {
		t.Fatalf("trail: %v %v", got, ok)
	}
	if _, ok := f.Fix([][]byte{vps, sps, pps}); ok {
		t.Fatal("parameter sets alone were published")
	}
}
