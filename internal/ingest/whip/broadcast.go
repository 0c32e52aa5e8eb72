package whip

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/onair-video/onair/internal/conns"
	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/rtc"
)

// The IVS Web Broadcast SDK's exchange (npm amazon-ivs-web-broadcast): the
// SDK does not speak WHIP. Given an ingest endpoint that starts with
// "https", it POSTs {endpoint}/v1/offer, the endpoint verbatim with the
// path appended (so "https://host:8443/" asks for //v1/offer, and a path
// prefix stays in front), with a JSON body (offerBody), and applies the
// base64 JSON answer it gets. It sends no trickle candidates and no DELETE:
// the answer carries every server candidate, and the broadcaster's stop is
// a message on its "stopStream" data channel. A refusal is JSON too: code
// 1007 is what the SDK reports as InvalidStreamKey (error 10003), any other
// {"message"} as its error 10000 with that message.

// offerPath ends every path the SDK may post its offer to.
const offerPath = "/v1/offer"

// stopStreamLabel is the data channel the SDK says it stopped on.
const stopStreamLabel = "stopStream"

// maxOfferBody bounds a /v1/offer body: the SDK's is about 8 KB (a 5.5 KB
// offer, base64 in JSON).
const maxOfferBody = 128 << 10

// codeInvalidStreamKey is the code the SDK maps to InvalidStreamKey.
const codeInvalidStreamKey = 1007

// WithOffer returns h serving the Web Broadcast SDK's offer too: any path
// that ends in /v1/offer goes to it, the rest to h. A ServeMux pattern
// cannot be used: the mux answers "//v1/offer" with a redirect, which a
// CORS request does not follow.
func (s *Server) WithOffer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, offerPath) {
			h.ServeHTTP(w, r)
			return
		}
		broadcastCORS(w)
		switch r.Method {
		case http.MethodOptions:
			w.WriteHeader(http.StatusNoContent)
		case http.MethodPost:
			s.offer(w, r)
		default:
			w.Header().Set("Allow", "POST, OPTIONS")
			failJSON(w, &rtc.HTTPError{Status: http.StatusMethodNotAllowed, Msg: "POST an offer to " + offerPath})
		}
	})
}

// broadcastCORS lets a page on any origin post an offer: the SDK's fetch
// carries no credentials (the stream key is in the body), so "*" serves.
func broadcastCORS(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	h.Set("Access-Control-Max-Age", "600")
}

// sdkError is a refusal as the SDK reads it.
type sdkError struct {
	Code    int    `json:"code,omitempty"`
	Message string `json:"message"`
}

// failJSON writes err as {"message"} with its status (500 for an error
// that is not an *rtc.HTTPError: its text may be internal).
func failJSON(w http.ResponseWriter, err error) {
	var he *rtc.HTTPError
	if !errors.As(err, &he) {
		he = &rtc.HTTPError{Status: http.StatusInternalServerError, Msg: "internal error"}
	}
	writeJSON(w, he.Status, sdkError{Message: he.Msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // a gone client's write error needs no handling
}

func (s *Server) offer(w http.ResponseWriter, r *http.Request) {
	remote := r.RemoteAddr
	log := s.log.With("protocol", ProtocolWebRTC, "remote", remote)
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		failJSON(w, &rtc.HTTPError{Status: http.StatusUnsupportedMediaType, Msg: "Content-Type must be application/json"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOfferBody))
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			failJSON(w, &rtc.HTTPError{Status: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("the body is over %d bytes", maxOfferBody)})
			return
		}
		failJSON(w, &rtc.HTTPError{Status: http.StatusBadRequest, Msg: "reading the body failed"})
		return
	}
	o, err := parseOffer(body)
	if err != nil {
		failJSON(w, err)
		return
	}
	m, err := offeredMedia(o.sdp)
	if err != nil {
		failJSON(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), claimTimeout)
	pub, err := s.reg.Claim(ctx, o.key, live.ConnInfo{Protocol: ProtocolWebRTC, Remote: remote, Secure: true})
	cancel()
	if err != nil {
		s.sessions.End(log, err)
		if errors.Is(err, live.ErrUnknownKey) {
			writeJSON(w, http.StatusUnauthorized, sdkError{Code: codeInvalidStreamKey, Message: "unknown stream key"})
			return
		}
		failJSON(w, refusal(err))
		return
	}
	log = log.With("channel", pub.Channel().ARN)
	kbps, err := declaredCap(pub.Channel().Type, o)
	if err != nil {
		pub.Close()
		s.sessions.End(log, conns.Refuse(err))
		failJSON(w, err)
		return
	}
	meta := live.Metadata{Encoder: encoder, VideoDataRate: float64(o.kbps), FrameRate: float64(o.fps),
		Width: float64(o.width), Height: float64(o.height)}
	x, answer, err := s.open(pub, o.sdp, opening{media: m, meta: meta, kbps: kbps, stopStream: true}, log)
	if err != nil {
		failJSON(w, err) // open reported it
		return
	}
	desc, err := json.Marshal(struct {
		Type string `json:"type"`
		SDP  string `json:"sdp"`
	}{"answer", answer})
	if err != nil {
		x.end(err)
		failJSON(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Answer    string `json:"answer"`
		SessionID string `json:"ingestSessionId"`
	}{base64.StdEncoding.EncodeToString(desc), x.id})
}

// declaredCap checks the offer's declared resolution and bit rate against
// the channel type's input limits, as IVS refuses a preset its channel
// type cannot take (the SDK shows the message as its error 10000), and
// returns the bit rate the answer caps the video at (kbit/s): the limit at
// the declared resolution, or the declared maxBitrate when lower.
func declaredCap(channelType string, o broadcastOffer) (int64, error) {
	refuse := func(format string, a ...any) error {
		return &rtc.HTTPError{Status: http.StatusUnprocessableEntity, Msg: fmt.Sprintf(format, a...)}
	}
	if !ivs.InputResolutionOK(o.width, o.height) {
		return 0, refuse("maxResolution %dx%d is over the input limit of every channel type (1080p: 1920 pixels on the long edge, 1920x1080 in all)",
			o.width, o.height)
	}
	limit := ivs.InputBitrateLimit(channelType, o.width, o.height) / 1000
	if o.kbps > limit {
		return 0, refuse("maxBitrate %d kbps at %dx%d is over the %s channel's input limit of %d kbps: use a stream configuration (preset) for a %s channel",
			o.kbps, o.width, o.height, channelType, limit, channelType)
	}
	if o.kbps > 0 {
		return o.kbps, nil
	}
	return limit, nil
}
