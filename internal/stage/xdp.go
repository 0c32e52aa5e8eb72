package stage

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/onair-video/onair/internal/sfu"
)

// SDP over the events socket ("xdp", listed in STAGE_STATE's
// serverFeatures): the SDK sends aws:ivs:SDP_OFFER with the WHIP URL it
// would have POSTed to, and onair answers aws:ivs:SDP_ANSWER with what
// HTTP WHIP answers (status, SDP, Location, the Links), the same refusals
// with the same codes. Teardown stays HTTP DELETE on the Location.

// sdpOffer answers an SDP offer sent over c, off the read loop (an answer
// waits for the ICE gathering; the client's pings go on meanwhile).
func (c *conn) sdpOffer(m clientMessage) {
	if !c.s.enter() {
		c.send(encode(typeSDPAnswer, sdpAnswerPayload{RequestID: m.RequestID, HTTPStatusCode: http.StatusServiceUnavailable,
			ErrorCode: whipInternal, ErrorMessage: "the server is stopping"}))
		return
	}
	go func() {
		defer c.s.conns.Done()
		c.send(encode(typeSDPAnswer, c.s.answerOffer(c.ctx, c, m)))
	}()
}

// answerOffer does what the WHIP POST to m.WHIPURL would, as c's
// participant.
func (s *Stages) answerOffer(ctx context.Context, c *conn, m clientMessage) sdpAnswerPayload {
	out := sdpAnswerPayload{RequestID: m.RequestID}
	fail := func(err error) sdpAnswerPayload {
		var we *whipError
		if !errors.As(err, &we) {
			if !errors.Is(err, ErrClosed) && !errors.Is(err, sfu.ErrClosed) && ctx.Err() == nil {
				s.log.Error("stage sdp over the socket", "err", err)
			}
			we = &whipError{http.StatusInternalServerError, whipInternal, "internal error"}
		}
		out.HTTPStatusCode, out.ErrorCode, out.ErrorMessage = we.status, we.code, we.msg
		return out
	}
	if s.cfg.Media == nil {
		return fail(&whipError{http.StatusServiceUnavailable, whipInternal, "stage media is off (WebRTC is disabled)"})
	}
	action, id, err := s.whipTarget(m.WHIPURL)
	if err != nil {
		return fail(err)
	}
	s.mu.Lock()
	p := c.p
	s.mu.Unlock()
	c.log.Debug("stage sdp offer over the socket", "action", action, "id", id, "initialLayerPref", m.InitialLayerPref)
	p.Client = Client{SDKVersion: sdkVersion(m.SDK), Protocol: ProtocolWHIP}
	switch {
	case m.Content == "":
		return fail(&whipError{http.StatusBadRequest, whipUnspecified, "no offer (content)"})
	case len(m.Content) > maxOffer:
		return fail(&whipError{http.StatusRequestEntityTooLarge, whipUnspecified, "the offer is too large"})
	}
	var answer, sid string
	switch action {
	case "publish":
		if id != "" && id != p.ID {
			return fail(&whipError{http.StatusForbidden, whipNoPermissions, "the path names another participant than the token"})
		}
		answer, sid, err = s.publish(ctx, p, m.Content)
	case "subscribe":
		answer, sid, err = s.subscribe(ctx, p, id, m.Content, sfu.SubscribeOptions{InitialLayer: layerPref(m.InitialLayerPref)})
	}
	if err != nil {
		return fail(err)
	}
	out.HTTPStatusCode, out.Content, out.ContentType = http.StatusCreated, answer, "application/sdp"
	base := c.origin + s.whipPath + whipSessionPathSegment + sid
	out.Location = base
	out.SessionDeleteLink = c.origin + s.whipPath + "/beacon/" + c.beacon
	if action == "subscribe" {
		out.SubscriberControlLink, out.VideoLayersLink = base+"/playback", base+"/layer"
	}
	return out
}

// maxOffer bounds an SDP offer, as rtc.ReadOffer does HTTP's.
const maxOffer = 64 << 10

// whipTarget reads the WHIP URL of an offer sent over the socket: publish
// (its participant id, "" for the bare URL) or subscribe (the publisher).
// Only the path counts: the host is the token's whip_url, which the SDK
// took from it.
func (s *Stages) whipTarget(raw string) (action, id string, err error) {
	bad := &whipError{http.StatusBadRequest, whipUnspecified, "whipUrl is not one of the stage's WHIP URLs"}
	u, perr := url.Parse(raw)
	if perr != nil || s.whipPath == "" {
		return "", "", bad
	}
	rest, ok := strings.CutPrefix(u.Path, s.whipPath)
	switch {
	case !ok:
		return "", "", bad
	case rest == "" || rest == "/":
		return "publish", "", nil
	}
	action, id, ok = strings.Cut(strings.TrimPrefix(rest, "/"), "/")
	if !ok || id == "" || strings.Contains(id, "/") || (action != "publish" && action != "subscribe") {
		return "", "", bad
	}
	return action, id, nil
}
