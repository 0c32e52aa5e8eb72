package rtmp

import (
	"fmt"

	"github.com/bluenviron/gortmplib"
	rtmpcodecs "github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"

	"github.com/onair-video/onair/internal/stream"
)

const (
	videoClockRate = 90000
	opusClockRate  = 48000
)

// trackMap pairs the tracks an encoder announced with the stream tracks they
// become. in[i] maps to out[i] when out[i] != nil.
type trackMap struct {
	in      []*gortmplib.Track
	out     []*stream.Track
	ignored []string // why each skipped track was skipped, for the log
}

// published returns the stream tracks to start the hub with, in order.
func (m *trackMap) published() []*stream.Track {
	var ts []*stream.Track
	for _, t := range m.out {
		if t != nil {
			ts = append(ts, t)
		}
	}
	return ts
}

// hasVideo reports whether a video track is published; IVS refuses
// audio-only streams and so do we.
func (m *trackMap) hasVideo() bool {
	for _, t := range m.out {
		if t != nil && t.Codec.IsVideo() {
			return true
		}
	}
	return false
}

// mapTracks converts gortmplib tracks into stream tracks. It keeps the first
// supported video track and the first supported audio track: a single
// rendition is all the hub's consumers play, and Enhanced RTMP multitrack is
// a separate feature.
func mapTracks(in []*gortmplib.Track) *trackMap {
	m := &trackMap{in: in, out: make([]*stream.Track, len(in))}
	var haveVideo, haveAudio bool
	for i, t := range in {
		st, err := streamTrack(t.Codec)
		if err != nil {
			m.ignored = append(m.ignored, err.Error())
			continue
		}
		if st.Codec.IsVideo() {
			if haveVideo {
				m.ignored = append(m.ignored, fmt.Sprintf("extra video track %d", i))
				continue
			}
			haveVideo = true
		} else {
			if haveAudio {
				m.ignored = append(m.ignored, fmt.Sprintf("extra audio track %d", i))
				continue
			}
			haveAudio = true
		}
		m.out[i] = st
	}
	return m
}

func streamTrack(c rtmpcodecs.Codec) (*stream.Track, error) {
	switch c := c.(type) {
	case *rtmpcodecs.H264:
		return &stream.Track{Codec: &stream.H264{SPS: c.SPS, PPS: c.PPS}, ClockRate: videoClockRate}, nil
	case *rtmpcodecs.H265:
		return &stream.Track{Codec: &stream.H265{VPS: c.VPS, SPS: c.SPS, PPS: c.PPS}, ClockRate: videoClockRate}, nil
	case *rtmpcodecs.MPEG4Audio:
		if c.Config == nil || c.Config.SampleRate <= 0 {
			return nil, fmt.Errorf("MPEG-4 audio track without a usable config")
		}
		cfg := *c.Config
		return &stream.Track{Codec: &stream.AAC{Config: &cfg}, ClockRate: cfg.SampleRate}, nil
	case *rtmpcodecs.Opus:
		channels := 2
		if c.IDHeader != nil && c.IDHeader.ChannelCount > 0 {
			channels = int(c.IDHeader.ChannelCount)
		}
		return &stream.Track{Codec: &stream.Opus{ChannelCount: channels}, ClockRate: opusClockRate}, nil
	default:
		return nil, fmt.Errorf("unsupported codec %T", c)
	}
}

// h264Fixer keeps the latest SPS and PPS of an H.264 track and makes every
// IDR access unit self-contained. RTMP carries parameter sets out of band
// (the AVC sequence header), so without this an MPEG-TS segment, or a
// WebRTC viewer joining at an IDR, would have nothing to decode with.
type h264Fixer struct{ sps, pps []byte }

// fix returns the access unit to publish, or ok=false for one that holds no
// picture (a sequence header mid-stream, or SEI alone): those only update
// the parameter sets. The NALU bytes are never copied; a new slice header
// is built only when the unit needs changing.
func (f *h264Fixer) fix(au [][]byte) (out [][]byte, ok bool) {
	var hasSPS, hasPPS, idr, vcl, rebuild bool
	for _, n := range au {
		if len(n) == 0 {
			rebuild = true
			continue
		}
		switch typ := h264.NALUType(n[0] & 0x1F); typ {
		case h264.NALUTypeSPS:
			f.sps, hasSPS = n, true
		case h264.NALUTypePPS:
			f.pps, hasPPS = n, true
		case h264.NALUTypeAccessUnitDelimiter:
			// Muxers add their own where the format wants one.
			rebuild = true
		case h264.NALUTypeIDR:
			idr, vcl = true, true
		case h264.NALUTypeNonIDR, h264.NALUTypeDataPartitionA, h264.NALUTypeDataPartitionB,
			h264.NALUTypeDataPartitionC:
			vcl = true
		}
	}
	if !vcl {
		return nil, false
	}
	addParams := idr && !(hasSPS && hasPPS) && f.sps != nil && f.pps != nil
	if !rebuild && !addParams {
		return au, true
	}
	out = make([][]byte, 0, len(au)+2)
	if addParams {
		out = append(out, f.sps, f.pps)
	}
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		switch h264.NALUType(n[0] & 0x1F) {
		case h264.NALUTypeAccessUnitDelimiter:
			continue
		case h264.NALUTypeSPS, h264.NALUTypePPS:
			if addParams {
				continue // replaced by the pair in front
			}
		}
		out = append(out, n)
	}
	return out, true
}

// h265Fixer is h264Fixer for H.265: VPS, SPS and PPS go in front of every
// IRAP picture that lacks them.
type h265Fixer struct{ vps, sps, pps []byte }

func (f *h265Fixer) fix(au [][]byte) (out [][]byte, ok bool) {
	var hasVPS, hasSPS, hasPPS, irap, vcl, rebuild bool
	for _, n := range au {
		if len(n) == 0 {
			rebuild = true
			continue
		}
		typ := h265.NALUType((n[0] >> 1) & 0b111111)
		switch {
		case typ == h265.NALUType_VPS_NUT:
			f.vps, hasVPS = n, true
		case typ == h265.NALUType_SPS_NUT:
			f.sps, hasSPS = n, true
		case typ == h265.NALUType_PPS_NUT:
			f.pps, hasPPS = n, true
		case typ == h265.NALUType_AUD_NUT:
			rebuild = true
		case typ == h265.NALUType_IDR_W_RADL || typ == h265.NALUType_IDR_N_LP || typ == h265.NALUType_CRA_NUT:
			irap, vcl = true, true
		case typ < 32:
			vcl = true
		}
	}
	if !vcl {
		return nil, false
	}
	addParams := irap && !(hasVPS && hasSPS && hasPPS) && f.vps != nil && f.sps != nil && f.pps != nil
	if !rebuild && !addParams {
		return au, true
	}
	out = make([][]byte, 0, len(au)+3)
	if addParams {
		out = append(out, f.vps, f.sps, f.pps)
	}
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		switch h265.NALUType((n[0] >> 1) & 0b111111) {
		case h265.NALUType_AUD_NUT:
			continue
		case h265.NALUType_VPS_NUT, h265.NALUType_SPS_NUT, h265.NALUType_PPS_NUT:
			if addParams {
				continue
			}
		}
		out = append(out, n)
	}
	return out, true
}
