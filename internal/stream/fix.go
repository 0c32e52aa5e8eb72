package stream

import (
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
)

// H264Fixer keeps the latest SPS and PPS of an H.264 track and makes every
// IDR access unit self-contained. RTMP carries parameter sets out of band
// (the AVC sequence header) and WebRTC encoders send them only now and then,
// so without this an MPEG-TS segment, or a WebRTC viewer joining at an IDR,
// would have nothing to decode with. Every ingest passes its video through one.
type H264Fixer struct{ sps, pps []byte }

// NewH264Fixer starts from the parameter sets known out of band, if any.
func NewH264Fixer(sps, pps []byte) *H264Fixer { return &H264Fixer{sps: sps, pps: pps} }

// Params returns the latest SPS and PPS seen (nil before any).
func (f *H264Fixer) Params() (sps, pps []byte) { return f.sps, f.pps }

// Fix returns the access unit to publish, or ok=false for one that holds no
// picture (a sequence header mid-stream, or SEI alone): those only update
// the parameter sets. The NALU bytes are never copied; a new slice header
// is built only when the unit needs changing.
func (f *H264Fixer) Fix(au [][]byte) (out [][]byte, ok bool) {
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

// H265Fixer is H264Fixer for H.265: VPS, SPS and PPS go in front of every
// IRAP picture that lacks them.
type H265Fixer struct{ vps, sps, pps []byte }

// NewH265Fixer starts from the parameter sets known out of band, if any.
func NewH265Fixer(vps, sps, pps []byte) *H265Fixer { return &H265Fixer{vps: vps, sps: sps, pps: pps} }

// Params returns the latest VPS, SPS and PPS seen (nil before any).
func (f *H265Fixer) Params() (vps, sps, pps []byte) { return f.vps, f.sps, f.pps }

// Fix is H264Fixer.Fix for H.265.
func (f *H265Fixer) Fix(au [][]byte) (out [][]byte, ok bool) {
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
