package whip

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"

	"github.com/onair-video/onair/internal/rtc"
)

// broadcastOffer is the body of the IVS Web Broadcast SDK's POST
// {endpoint}/v1/offer, checked: its SDP offer and stream key, and the
// stream configuration it declares (0: not declared).
type broadcastOffer struct {
	sdp           string
	key           string
	width, height int64
	fps           int64
	kbps          int64 // maxBitrate, kbit/s
}

// offerBody is the wire shape: the SDK posts
// {"offer": base64(JSON {type, sdp}), "streamKey", "maxResolution":
// {width, height}, "maxFramerate", "maxBitrate"} (older versions add the
// rest of their stream configuration, which is ignored).
type offerBody struct {
	Offer         string `json:"offer"`
	StreamKey     string `json:"streamKey"`
	MaxResolution *struct {
		Width  float64 `json:"width"`
		Height float64 `json:"height"`
	} `json:"maxResolution"`
	MaxFramerate float64 `json:"maxFramerate"`
	MaxBitrate   float64 `json:"maxBitrate"`
}

// Bounds of the declared settings: far above what the SDK allows (1920
// pixels, 60 fps, 8500 kbit/s), only to keep nonsense out of the session.
const (
	maxDeclaredEdge = 1 << 14
	maxDeclaredFPS  = 1000
	maxDeclaredKbps = 1 << 20
)

// parseOffer reads a /v1/offer body. Whatever is wrong with it is an
// *rtc.HTTPError of status 400 that says what.
func parseOffer(body []byte) (broadcastOffer, error) {
	bad := func(format string, a ...any) error {
		return &rtc.HTTPError{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, a...)}
	}
	var b offerBody
	if err := json.Unmarshal(body, &b); err != nil {
		return broadcastOffer{}, bad("the body is not the JSON of an offer: %v", err)
	}
	if b.Offer == "" {
		return broadcastOffer{}, bad(`"offer" is required`)
	}
	if !validKey(b.StreamKey) {
		return broadcastOffer{}, bad(`"streamKey" is required: printable ASCII without spaces, at most 256 characters`)
	}
	raw, err := base64.StdEncoding.DecodeString(b.Offer)
	if err != nil {
		return broadcastOffer{}, bad(`"offer" is not base64: %v`, err)
	}
	var desc struct {
		Type string `json:"type"`
		SDP  string `json:"sdp"`
	}
	if err := json.Unmarshal(raw, &desc); err != nil {
		return broadcastOffer{}, bad(`"offer" is not base64 of JSON {"type","sdp"}: %v`, err)
	}
	if desc.Type != "offer" || desc.SDP == "" {
		return broadcastOffer{}, bad(`"offer" must hold {"type":"offer","sdp":...}, not type %q`, desc.Type)
	}
	o := broadcastOffer{sdp: desc.SDP, key: b.StreamKey}
	num := func(name string, v float64, limit int64) (int64, error) {
		if math.IsNaN(v) || v < 0 || v > float64(limit) {
			return 0, bad("%s %v is out of range (0 to %d)", name, v, limit)
		}
		return int64(math.Round(v)), nil
	}
	if r := b.MaxResolution; r != nil {
		if o.width, err = num("maxResolution.width", r.Width, maxDeclaredEdge); err != nil {
			return broadcastOffer{}, err
		}
		if o.height, err = num("maxResolution.height", r.Height, maxDeclaredEdge); err != nil {
			return broadcastOffer{}, err
		}
	}
	if o.fps, err = num("maxFramerate", b.MaxFramerate, maxDeclaredFPS); err != nil {
		return broadcastOffer{}, err
	}
	if o.kbps, err = num("maxBitrate", b.MaxBitrate, maxDeclaredKbps); err != nil {
		return broadcastOffer{}, err
	}
	return o, nil
}

// validKey is the shape of a stream key a client may send: printable
// ASCII, no spaces, at most 256 bytes (WHIP's bearer token the same).
func validKey(k string) bool {
	if k == "" || len(k) > 256 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}
