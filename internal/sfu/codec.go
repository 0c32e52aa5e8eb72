package sfu

import (
	"fmt"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// offeredCodecs lists the codecs of the first m-section of kind in an SDP
// offer, in the offer's order of preference.
func offeredCodecs(offer, kind string) ([]webrtc.RTPCodecParameters, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(offer); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	for _, md := range d.MediaDescriptions {
		if md.MediaName.Media != kind {
			continue
		}
		var out []webrtc.RTPCodecParameters
		for _, f := range md.MediaName.Formats {
			var pt uint8
			if _, err := fmt.Sscan(f, &pt); err != nil {
				continue
			}
			c, err := d.GetCodecForPayloadType(pt)
			if err != nil {
				continue
			}
			out = append(out, webrtc.RTPCodecParameters{PayloadType: webrtc.PayloadType(pt),
				RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: kind + "/" + c.Name, ClockRate: c.ClockRate, SDPFmtpLine: c.Fmtp}})
		}
		return out, nil
	}
	return nil, nil
}

// fmtpValue returns key's value in an fmtp line ("a=1;b=2").
func fmtpValue(fmtp, key string) string {
	for _, kv := range strings.Split(fmtp, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// sameCodec says whether a decoder of b can take a stream of a: the same
// codec and, for H.264, the same packetization mode and profile (profile_idc
// and constraint flags; the level may differ, with level-asymmetry-allowed).
func sameCodec(a, b webrtc.RTPCodecCapability) bool {
	if !strings.EqualFold(a.MimeType, b.MimeType) {
		return false
	}
	if !strings.EqualFold(a.MimeType, webrtc.MimeTypeH264) {
		return true
	}
	pm := func(f string) string {
		if v := fmtpValue(f, "packetization-mode"); v != "" {
			return v
		}
		return "0"
	}
	pa, pb := fmtpValue(a.SDPFmtpLine, "profile-level-id"), fmtpValue(b.SDPFmtpLine, "profile-level-id")
	if pa == "" {
		pa = "42001f" // RFC 6184's default
	}
	if pb == "" {
		pb = "42001f"
	}
	return pm(a.SDPFmtpLine) == pm(b.SDPFmtpLine) && len(pa) >= 4 && len(pb) >= 4 && strings.EqualFold(pa[:4], pb[:4])
}

// pickCodec returns the first codec of offered that one of ours matches,
// as ours (so pion finds it in its media engine) with the offer's payload
// type (an answer keeps the offerer's numbers).
func pickCodec(offered, ours []webrtc.RTPCodecParameters) (webrtc.RTPCodecParameters, bool) {
	for _, o := range offered {
		for _, c := range ours {
			if sameCodec(o.RTPCodecCapability, c.RTPCodecCapability) {
				c.PayloadType = o.PayloadType
				return c, true
			}
		}
	}
	return webrtc.RTPCodecParameters{}, false
}

// codecOf classifies a negotiated codec for the forwarder.
func codecOf(c webrtc.RTPCodecCapability) codec {
	switch {
	case strings.EqualFold(c.MimeType, webrtc.MimeTypeVP8):
		return codecVP8
	case strings.EqualFold(c.MimeType, webrtc.MimeTypeH264):
		return codecH264
	default:
		return codecOther
	}
}
