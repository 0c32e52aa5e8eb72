package rtc

import (
	"fmt"

	"github.com/pion/sdp/v3"
)

// CapVideoBitrate writes b=AS (kbit/s, RFC 4566) and b=TIAS (bit/s, RFC
// 3890) into every video section of answer. A browser sets its encoder's
// maximum bit rate from the answer it applies (Chromium's target follows
// b=AS exactly); without it a sender ramps up to whatever the network
// allows, past a channel type's input limit. kbps ≤ 0 leaves answer as it is.
func CapVideoBitrate(answer string, kbps int64) (string, error) {
	if kbps <= 0 {
		return answer, nil
	}
	var d sdp.SessionDescription
	if err := d.UnmarshalString(answer); err != nil {
		return "", fmt.Errorf("rtc: cap bitrate: %w", err)
	}
	for _, md := range d.MediaDescriptions {
		if md.MediaName.Media != "video" {
			continue
		}
		md.Bandwidth = []sdp.Bandwidth{{Type: "AS", Bandwidth: uint64(kbps)}, {Type: "TIAS", Bandwidth: uint64(kbps) * 1000}}
	}
	b, err := d.Marshal()
	if err != nil {
		return "", fmt.Errorf("rtc: cap bitrate: %w", err)
	}
	return string(b), nil
}
