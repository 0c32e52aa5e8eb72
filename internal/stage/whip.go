package stage

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/onair-video/onair/internal/rtc"
	"github.com/onair-video/onair/internal/sfu"
)

// The stage's media is HTTP WHIP into the SFU (one sfu.Room per stage
// with participants connected, made on the first publish or subscribe and
// closed when the stage empties or is deleted). docs/stages.md lists the
// routes; the error codes are those the IVS Web Broadcast SDK reads.

// IVS's WHIP error codes (JSON body {"code":N,"message":…}).
const (
	whipUnspecified        = 2001
	whipTokenExpired       = 2002
	whipNoPermissions      = 2003
	whipRemoteNotFound     = 2004
	whipStageAtCapacity    = 2005
	whipInternal           = 2006
	whipNoMatchingCodec    = 2014
	whipInsufficientCaps   = "INSUFFICIENT_CAPABILITIES"
	whipQuotaExceeded      = "QUOTA_EXCEEDED"
	whipPublisherNotFound  = "PUBLISHER_NOT_FOUND"
	whipSessionPathSegment = "/session/"
)

// whipError is a refusal as the SDK reads it.
type whipError struct {
	status int
	code   int
	msg    string
}

func (e *whipError) Error() string { return e.msg }

// mediaRef is a participant's publish or subscribe session: its peer
// connection in the SFU and the id its Location names.
type mediaRef struct {
	sid string
	pub *sfu.Publisher
	sub *sfu.Subscription
}

// mediaSession is what a Location names.
type mediaSession struct {
	arn, participant string
	publisher        string // a subscription's publisher; "" for a publish
	ref              *mediaRef
	// conn is the participant's events socket when the session began
	// (nil: none), whose beacon URL its session-delete Link names.
	conn *conn
}

func (r *mediaRef) done() bool {
	var ch <-chan struct{}
	if r.pub != nil {
		ch = r.pub.Done()
	} else {
		ch = r.sub.Done()
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func (r *mediaRef) close() {
	if r.pub != nil {
		r.pub.Close()
	} else {
		r.sub.Close()
	}
}

// RegisterWHIP mounts the stage WHIP routes under path (the tokens'
// whip_url path): POST path/publish/{id}, POST path (publish as the
// token's participant, as OBS does), POST path/subscribe/{id}, DELETE of
// the Location a POST answered, OPTIONS preflights. Without a media
// engine (Config.Media nil) every POST answers 503.
func (s *Stages) RegisterWHIP(mux *http.ServeMux, path string) {
	s.whipPath = path
	mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) { s.servePublish(w, r, "") })
	mux.HandleFunc("POST "+path+"/publish/{id}", func(w http.ResponseWriter, r *http.Request) {
		s.servePublish(w, r, r.PathValue("id"))
	})
	mux.HandleFunc("POST "+path+"/subscribe/{id}", s.serveSubscribe)
	mux.HandleFunc("DELETE "+path+whipSessionPathSegment+"{sid}", s.serveDelete)
	mux.HandleFunc("GET "+path+whipSessionPathSegment+"{sid}/layer", s.serveLayers)
	mux.HandleFunc("POST "+path+whipSessionPathSegment+"{sid}/layer", s.serveSelectLayer)
	mux.HandleFunc("POST "+path+whipSessionPathSegment+"{sid}/playback", s.servePlayback)
	mux.HandleFunc("POST "+path+whipSessionPathSegment+"{sid}/delete", s.serveSessionDelete)
	mux.HandleFunc("POST "+path+"/beacon/{id}", s.serveSessionDelete)
	mux.HandleFunc("OPTIONS "+path, whipPreflight)
	mux.HandleFunc("OPTIONS "+path+"/", whipPreflight)
}

// whipCORS lets the SDK's page, on any origin, post with its token and
// read Location and Link (without Expose-Headers it cannot).
func whipCORS(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "POST, DELETE, GET, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Stages-Platform, X-Stages-SDK, "+
		"X-Stages-Request-ID, X-Stages-Session-ID, X-Stages-Trace-ID, X-Stages-WHIP-Version, X-Stages-Options, "+
		"X-Stages-Initial-Layer-Pref")
	h.Set("Access-Control-Expose-Headers", "Location, Link")
	h.Set("Access-Control-Max-Age", "86400")
}

func whipPreflight(w http.ResponseWriter, _ *http.Request) {
	whipCORS(w)
	w.Header().Set("Accept-Post", "application/sdp")
	w.WriteHeader(http.StatusNoContent)
}

// writeWHIPError answers a refusal; anything but a *whipError is internal.
func (s *Stages) writeWHIPError(w http.ResponseWriter, err error) {
	var we *whipError
	if !errors.As(err, &we) {
		if !errors.Is(err, ErrClosed) && !errors.Is(err, sfu.ErrClosed) {
			s.log.Error("stage whip", "err", err)
		}
		we = &whipError{http.StatusInternalServerError, whipInternal, "internal error"}
	}
	whipCORS(w)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(we.status)
	_ = json.NewEncoder(w).Encode(struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{we.code, we.msg})
}

// bearer returns the token of an Authorization header ("Bearer <token>",
// the scheme case-insensitive), or "".
func bearer(h string) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// layerPref reads X-Stages-Initial-Layer-Pref (lowest or highest; anything
// else is the default, highest).
func layerPref(h string) sfu.LayerPreference {
	if strings.EqualFold(strings.TrimSpace(h), "lowest") {
		return sfu.LayerLowest
	}
	return sfu.LayerHighest
}

// whipAuth verifies a request's Bearer token; the participant carries
// the client the request describes (User-Agent, X-Stages-SDK).
func (s *Stages) whipAuth(r *http.Request) (Participant, error) {
	token := bearer(r.Header.Get("Authorization"))
	if token == "" {
		return Participant{}, &whipError{http.StatusUnauthorized, whipUnspecified, "a participant token is required (Authorization: Bearer)"}
	}
	p, err := s.tokenAuth(r.Context(), token)
	if err == nil {
		p.Client = clientOf(r)
	}
	return p, err
}

// tokenAuth verifies a participant token for a media request.
func (s *Stages) tokenAuth(ctx context.Context, token string) (Participant, error) {
	ctx, cancel := context.WithTimeout(ctx, s.lim.AuthTimeout)
	defer cancel()
	p, err := s.cfg.Auth.Authenticate(ctx, token)
	switch {
	case err == nil:
		return p, nil
	case errors.Is(err, ErrTokenExpired):
		return p, &whipError{http.StatusUnauthorized, whipTokenExpired, err.Error()}
	case errors.Is(err, ErrParticipantDisconnected):
		return p, &whipError{http.StatusForbidden, whipNoPermissions, err.Error()}
	case errors.Is(err, ErrStageDeleted):
		return p, &whipError{http.StatusNotFound, whipUnspecified, err.Error()}
	case errors.Is(err, ErrTokenMalformed), errors.Is(err, ErrTokenSignature), errors.Is(err, ErrTokenMissing):
		return p, &whipError{http.StatusUnauthorized, whipUnspecified, err.Error()}
	}
	return p, err
}

// readOffer reads the SDP offer (application/sdp, bounded).
func readOffer(w http.ResponseWriter, r *http.Request) (string, error) {
	offer, err := rtc.ReadOffer(w, r)
	if err != nil {
		var he *rtc.HTTPError
		if errors.As(err, &he) {
			return "", &whipError{he.Status, whipUnspecified, he.Msg}
		}
		return "", err
	}
	return offer, nil
}

// mediaErr maps the SFU's refusals.
func mediaErr(err error) error {
	switch {
	case errors.Is(err, sfu.ErrNoMatchingCodec):
		return &whipError{http.StatusBadRequest, whipNoMatchingCodec, err.Error()}
	case errors.Is(err, sfu.ErrBadOffer):
		return &whipError{http.StatusBadRequest, whipUnspecified, err.Error()}
	case errors.Is(err, sfu.ErrPublisherNotFound):
		return &whipError{http.StatusNotFound, whipRemoteNotFound, err.Error()}
	case errors.Is(err, sfu.ErrPublisherExists):
		return &whipError{http.StatusConflict, whipUnspecified, err.Error()}
	}
	return err
}

// rosterErr maps the roster's refusals of a media request.
func rosterErr(err error) error {
	switch {
	case errors.Is(err, ErrParticipantDisconnected):
		return &whipError{http.StatusForbidden, whipNoPermissions, err.Error()}
	case errors.Is(err, ErrNotConnected):
		return &whipError{http.StatusConflict, whipUnspecified, err.Error() + " (open the events WebSocket first)"}
	case errors.Is(err, ErrPublishNotAllowed), errors.Is(err, ErrSubscribeNotAllowed):
		return &whipError{http.StatusForbidden, whipNoPermissions, err.Error()}
	case errors.Is(err, ErrTooManyPublishers):
		return &whipError{http.StatusForbidden, whipStageAtCapacity, err.Error()}
	case errors.Is(err, ErrClosed):
		return &whipError{http.StatusServiceUnavailable, whipInternal, "the server is stopping"}
	}
	return err
}

// whipEnter counts a WHIP request in (Close waits for it) and checks a
// media engine is there.
func (s *Stages) whipEnter(w http.ResponseWriter) bool {
	if s.cfg.Media == nil {
		s.writeWHIPError(w, &whipError{http.StatusServiceUnavailable, whipInternal, "stage media is off (WebRTC is disabled)"})
		return false
	}
	if !s.enter() {
		s.writeWHIPError(w, rosterErr(ErrClosed))
		return false
	}
	return true
}

// servePublish answers a publish offer. id is the participant id the path
// names ("" for the bare whip URL: the token's).
func (s *Stages) servePublish(w http.ResponseWriter, r *http.Request, id string) {
	if !s.whipEnter(w) {
		return
	}
	defer s.conns.Done()
	p, err := s.whipAuth(r)
	if err != nil {
		s.writeWHIPError(w, err)
		return
	}
	if id != "" && id != p.ID {
		s.writeWHIPError(w, &whipError{http.StatusForbidden, whipNoPermissions, "the path names another participant than the token"})
		return
	}
	offer, err := readOffer(w, r)
	if err != nil {
		s.writeWHIPError(w, err)
		return
	}
	answer, sid, err := s.publish(r.Context(), p, offer)
	if err != nil {
		s.writeWHIPError(w, err)
		return
	}
	w.Header().Set("Link", s.deleteLink(r, sid))
	s.writeAnswer(w, sid, answer)
}

// publish reserves a publisher's place, answers its offer in the stage's
// room and records the session; isPublishing follows once its peer
// connection connects (onMedia).
func (s *Stages) publish(ctx context.Context, p Participant, offer string) (answer, sid string, err error) {
	s.mu.Lock()
	if !p.Publish {
		err = ErrPublishNotAllowed
	}
	var st *stage
	var m *member
	if err == nil {
		st, m, err = s.whipMemberLocked(p)
	}
	if err == nil {
		s.clientSeenLocked(m, p.Client)
		err = s.reserveLocked(st, m)
	}
	if err != nil {
		s.publishRefusedLocked(st, m, p, err)
		s.mu.Unlock()
		return "", "", rosterErr(err)
	}
	room := s.roomLocked(st)
	m.pending++
	old := m.pub
	m.pub = nil
	if old != nil {
		delete(s.sessions, old.sid)
	}
	s.mu.Unlock()
	if old != nil {
		old.close() // a republish (the SDK retries) replaces the old one
	}
	answer, pub, err := room.Publish(ctx, p.ID, offer)
	if err != nil {
		s.unreserve(p)
		return "", "", mediaErr(err)
	}
	ref := &mediaRef{sid: rtc.NewSessionID(), pub: pub}
	s.mu.Lock()
	st, m, err = s.memberLocked(p.StageARN, p.ID)
	if err == nil {
		m.pending = max(0, m.pending-1)
	}
	if err != nil || st.room != room || m.pub != nil {
		s.mu.Unlock()
		pub.Close()
		if err == nil {
			err = &whipError{http.StatusConflict, whipUnspecified, "another publish of the participant raced this one"}
		}
		return "", "", rosterErr(err)
	}
	m.pub = ref
	s.sessions[ref.sid] = &mediaSession{arn: p.StageARN, participant: p.ID, ref: ref, conn: m.conn}
	s.mu.Unlock()
	return answer, ref.sid, nil
}

// publishRefusedLocked records a refused publish as IVS does (a
// PUBLISH_ERROR for a missing capability or a full stage) and takes a
// member that joined only to publish (m, if not nil) off the roster.
func (s *Stages) publishRefusedLocked(st *stage, m *member, p Participant, err error) {
	if errors.Is(err, ErrPublishNotAllowed) {
		s.failedLocked(p, "", whipInsufficientCaps)
	} else if errors.Is(err, ErrTooManyPublishers) {
		s.failedLocked(p, "", whipQuotaExceeded)
	}
	if m != nil && m.conn == nil && m.pub == nil && m.pending == 0 {
		s.removeLocked(st, m, LeftClosed)
	}
}

// unreserve frees a place a failed publish held, unless another publish
// of the participant took it meanwhile: it does not publish (a republish
// that failed stopped the one it replaced), and one without the events
// socket leaves.
func (s *Stages) unreserve(p Participant) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, m, err := s.memberLocked(p.StageARN, p.ID)
	if err != nil {
		return
	}
	m.pending = max(0, m.pending-1)
	if m.pending == 0 && m.pub == nil {
		_ = s.setPublishingLocked(st, m, false) // stopping cannot fail
		if m.conn == nil {
			s.removeLocked(st, m, LeftClosed)
		}
	}
}

// whipMemberLocked returns a publisher's member. One without the events
// socket (OBS publishes with its token alone) joins now, and leaves when
// its publish ends; the SDK's own socket, opened later, takes it over.
func (s *Stages) whipMemberLocked(p Participant) (*stage, *member, error) {
	st, m, err := s.memberLocked(p.StageARN, p.ID)
	if !errors.Is(err, ErrNotConnected) {
		return st, m, err
	}
	if exp, ok := s.revoked[[2]string{p.StageARN, p.ID}]; ok && time.Now().Before(exp) {
		return nil, nil, ErrParticipantDisconnected
	}
	st = s.stages[p.StageARN]
	first := st == nil || len(st.members) == 0
	if st == nil {
		st = &stage{arn: p.StageARN, topic: p.Topic, members: make(map[string]*member)}
		s.stages[p.StageARN] = st
	}
	m = &member{p: p, since: time.Now(), subscribed: make(map[string]bool), subs: make(map[string]*mediaRef)}
	st.members[p.ID] = m
	s.emitLocked(func(l Lifecycle) { l.Joined(p, first) })
	s.broadcastLocked(st)
	return st, m, nil
}

// serveSubscribe answers a subscribe offer for the publisher the path
// names.
func (s *Stages) serveSubscribe(w http.ResponseWriter, r *http.Request) {
	if !s.whipEnter(w) {
		return
	}
	defer s.conns.Done()
	p, err := s.whipAuth(r)
	if err != nil {
		s.writeWHIPError(w, err)
		return
	}
	offer, err := readOffer(w, r)
	if err != nil {
		s.writeWHIPError(w, err)
		return
	}
	answer, sid, err := s.subscribe(r.Context(), p, r.PathValue("id"), offer,
		sfu.SubscribeOptions{InitialLayer: layerPref(r.Header.Get("X-Stages-Initial-Layer-Pref"))})
	if err != nil {
		s.writeWHIPError(w, err)
		return
	}
	// The WHEP layer extension (the SDK's layer events and preferred
	// layers), the playback controls (its AUDIO_ONLY pauses the video)
	// and the session-delete beacon.
	w.Header().Set("Link", s.link(r, sid, "layer", layerRel)+", "+s.link(r, sid, "playback", playbackRel)+", "+s.deleteLink(r, sid))
	s.writeAnswer(w, sid, answer)
}

func (s *Stages) subscribe(ctx context.Context, p Participant, publisher, offer string, opts sfu.SubscribeOptions) (answer, sid string, err error) {
	if !p.Subscribe {
		s.failed(p, publisher, whipInsufficientCaps)
		return "", "", rosterErr(ErrSubscribeNotAllowed)
	}
	notFound := &whipError{http.StatusNotFound, whipRemoteNotFound, "the participant " + publisher + " does not publish on the stage"}
	s.mu.Lock()
	st, m, err := s.memberLocked(p.StageARN, p.ID)
	if err != nil {
		s.mu.Unlock()
		return "", "", rosterErr(err)
	}
	s.clientSeenLocked(m, p.Client)
	if pm := st.members[publisher]; pm == nil || pm.pub == nil || publisher == p.ID {
		s.mu.Unlock()
		s.failed(p, publisher, whipPublisherNotFound)
		return "", "", notFound
	}
	room := s.roomLocked(st)
	old := m.subs[publisher]
	delete(m.subs, publisher)
	if old != nil {
		delete(s.sessions, old.sid)
	}
	s.mu.Unlock()
	if old != nil {
		old.close()
	}
	answer, sub, err := room.Subscribe(ctx, p.ID, publisher, offer, opts)
	if err != nil {
		if errors.Is(err, sfu.ErrPublisherNotFound) {
			s.failed(p, publisher, whipPublisherNotFound)
		}
		return "", "", mediaErr(err)
	}
	ref := &mediaRef{sid: rtc.NewSessionID(), sub: sub}
	s.mu.Lock()
	st, m, err = s.memberLocked(p.StageARN, p.ID)
	if err != nil || st.room != room || m.subs[publisher] != nil {
		s.mu.Unlock()
		sub.Close()
		if err == nil {
			err = &whipError{http.StatusConflict, whipUnspecified, "another subscription to the publisher raced this one"}
		}
		return "", "", rosterErr(err)
	}
	m.subs[publisher] = ref
	s.sessions[ref.sid] = &mediaSession{arn: p.StageARN, participant: p.ID, publisher: publisher, ref: ref, conn: m.conn}
	s.mu.Unlock()
	return answer, ref.sid, nil
}

// clientSeenLocked adds what a media request told of the participant's
// client to what its join did (the SDK's version: its WebSocket could not
// say it).
func (s *Stages) clientSeenLocked(m *member, c Client) {
	if m.p.Client.merge(c) {
		p := m.p
		s.emitLocked(func(l Lifecycle) { l.ClientUpdated(p) })
	}
}

// failed records a publish (publisher "") or subscribe error event.
func (s *Stages) failed(p Participant, publisher, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failedLocked(p, publisher, code)
}

func (s *Stages) failedLocked(p Participant, publisher, code string) {
	if s.closed {
		return
	}
	if publisher == "" {
		s.emitLocked(func(l Lifecycle) { l.PublishFailed(p, code) })
	} else {
		s.emitLocked(func(l Lifecycle) { l.SubscribeFailed(p, publisher, code) })
	}
}

func (s *Stages) writeAnswer(w http.ResponseWriter, sid, answer string) {
	whipCORS(w)
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", s.whipPath+whipSessionPathSegment+sid)
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte(answer))
}

// The Link relations of a publish or subscribe answer.
const (
	layerRel         = "urn:ietf:params:whep:ext:core:layer"
	playbackRel      = "urn:ietf:params:whep:core:playback-controls"
	sessionDeleteRel = "urn:ietf:params:whip:ivs-stages:session-delete"
)

// link is one Link value for a session's sub-resource: absolute, as the
// SDK is not known to resolve every relative Link.
func (s *Stages) link(r *http.Request, sid, sub, rel string) string {
	return s.linkTo(r, whipSessionPathSegment+sid+"/"+sub, rel)
}

func (s *Stages) linkTo(r *http.Request, path, rel string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return "<" + scheme + "://" + r.Host + s.whipPath + path + `>; rel="` + rel + `"`
}

// deleteLink is a session's session-delete Link: for a participant with
// the events socket, its socket's beacon URL, which outlives the session
// (the unloading page's peer connections may end first); else the
// session's own.
func (s *Stages) deleteLink(r *http.Request, sid string) string {
	s.mu.Lock()
	ms := s.sessions[sid]
	s.mu.Unlock()
	if ms != nil && ms.conn != nil {
		return s.linkTo(r, "/beacon/"+ms.conn.beacon, sessionDeleteRel)
	}
	return s.link(r, sid, "delete", sessionDeleteRel)
}

// maxLayerBody bounds a layer selection ({"mediaId":…,"encodingId":…}).
const maxLayerBody = 4 << 10

// subscriptionOf returns the subscription a session id names, or nil.
func (s *Stages) subscriptionOf(sid string) *sfu.Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ms := s.sessions[sid]; ms != nil && ms.ref.sub != nil {
		return ms.ref.sub
	}
	return nil
}

// serveLayers answers the layer extension's GET: the publisher's video
// layers, the one forwarded selected.
func (s *Stages) serveLayers(w http.ResponseWriter, r *http.Request) {
	sub := s.subscriptionOf(r.PathValue("sid"))
	if sub == nil {
		s.writeWHIPError(w, &whipError{http.StatusNotFound, whipUnspecified, "no such subscription"})
		return
	}
	layers := make([]wireLayer, 0, 3)
	for _, l := range sub.Layers() {
		layers = append(layers, wireLayer{EncodingID: l.EncodingID, Width: l.Width, Height: l.Height,
			Bitrate: (l.Bitrate + 500) / 1000, FramesPerSecond: l.FramesPerSecond, Selected: l.Selected})
	}
	whipCORS(w)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(struct {
		Layers []wireLayer `json:"layers"`
	}{layers})
}

// wireLayer is a layer as the WHEP layer extension's GET lists it. Its
// bitrate is in kbit/s: the SDK multiplies it by 1000 into its
// StageStreamLayer.bitrateBps.
type wireLayer struct {
	EncodingID      string `json:"encodingId"`
	Width           int    `json:"width"`
	Height          int    `json:"height"`
	Bitrate         int    `json:"bitrate"`
	FramesPerSecond int    `json:"framesPerSecond"`
	Selected        bool   `json:"selected"`
}

// parseLayerSelection reads a layer extension POST body: the encoding to
// forward, "" ({}) for the automatic choice.
func parseLayerSelection(b []byte) (string, error) {
	var sel struct {
		MediaID    string `json:"mediaId"`
		EncodingID string `json:"encodingId"`
	}
	if err := json.Unmarshal(b, &sel); err != nil {
		return "", &whipError{http.StatusBadRequest, whipUnspecified, "the body must be {\"mediaId\",\"encodingId\"} or {}"}
	}
	return sel.EncodingID, nil
}

// serveSelectLayer answers the layer extension's POST.
func (s *Stages) serveSelectLayer(w http.ResponseWriter, r *http.Request) {
	sub := s.subscriptionOf(r.PathValue("sid"))
	if sub == nil {
		s.writeWHIPError(w, &whipError{http.StatusNotFound, whipUnspecified, "no such subscription"})
		return
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxLayerBody))
	if err != nil {
		s.writeWHIPError(w, &whipError{http.StatusRequestEntityTooLarge, whipUnspecified, "body too large or unreadable"})
		return
	}
	rid, err := parseLayerSelection(b)
	if err == nil {
		err = sub.SelectLayer(rid)
	}
	s.answerControl(w, err, sfu.ErrLayerNotFound)
}

// answerControl answers a subscription's control request (layer
// selection, playback): 204, or err as the SDK reads it: notFound (what
// the request named is not in the subscription) a 400, a subscription
// that ended a 404.
func (s *Stages) answerControl(w http.ResponseWriter, err, notFound error) {
	switch {
	case errors.Is(err, notFound):
		err = &whipError{http.StatusBadRequest, whipUnspecified, err.Error()}
	case errors.Is(err, sfu.ErrClosed):
		err = &whipError{http.StatusNotFound, whipUnspecified, "no such subscription"}
	}
	if err != nil {
		s.writeWHIPError(w, err)
		return
	}
	whipCORS(w)
	w.WriteHeader(http.StatusNoContent)
}

// serveDelete ends the session a Location names: its id (128 random bits)
// is the capability, as for onair's other WHIP resources.
func (s *Stages) serveDelete(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		s.writeWHIPError(w, &whipError{http.StatusServiceUnavailable, whipInternal, "the server is stopping"})
		return
	}
	defer s.conns.Done()
	s.mu.Lock()
	ms := s.sessions[r.PathValue("sid")]
	if ms != nil {
		delete(s.sessions, ms.ref.sid)
		s.detachLocked(ms)
	}
	s.mu.Unlock()
	if ms == nil {
		s.writeWHIPError(w, &whipError{http.StatusNotFound, whipUnspecified, "no such session"})
		return
	}
	ms.ref.close()
	whipCORS(w)
	w.WriteHeader(http.StatusOK)
}

// detachLocked takes a session off its member, so that the stop is
// recorded now rather than when the SFU reports it.
func (s *Stages) detachLocked(ms *mediaSession) {
	st := s.stages[ms.arn]
	if st == nil {
		return
	}
	m := st.members[ms.participant]
	if m == nil {
		return
	}
	if ms.publisher == "" && m.pub == ms.ref {
		m.pub = nil
		_ = s.setPublishingLocked(st, m, false) // stopping cannot fail
		if m.conn == nil {
			s.removeLocked(st, m, LeftClosed)
		}
	} else if ms.publisher != "" && m.subs[ms.publisher] == ms.ref {
		delete(m.subs, ms.publisher)
		_ = s.setSubscribingLocked(st, m, ms.publisher, false) // stopping cannot fail
	}
}

// roomLocked returns a stage's SFU room, made on first use.
func (s *Stages) roomLocked(st *stage) *sfu.Room {
	if st.room == nil {
		arn := st.arn
		var room *sfu.Room
		room = sfu.NewRoom(sfu.Config{Engine: s.cfg.Media, Metrics: s.cfg.MediaMetrics, Log: s.log,
			OnEvent: func(e sfu.Event) { s.onMedia(arn, room, e) }})
		st.room = room
	}
	return st.room
}

// onMedia applies what the SFU reports to the roster: a publisher that
// connected publishes, one whose peer connection ended does not; the same
// for subscriptions. Events of a replaced or detached session are stale.
func (s *Stages) onMedia(arn string, room *sfu.Room, e sfu.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stages[arn]
	if s.closed || st == nil || st.room != room {
		return
	}
	switch e.Type {
	case sfu.PublisherStarted, sfu.PublisherStopped:
		m := st.members[e.PublisherID]
		if m == nil || m.pub == nil || m.pub.done() != (e.Type == sfu.PublisherStopped) {
			return
		}
		if e.Type == sfu.PublisherStopped {
			delete(s.sessions, m.pub.sid)
			m.pub = nil
		}
		if err := s.setPublishingLocked(st, m, e.Type == sfu.PublisherStarted); err != nil {
			// Its place went to others meanwhile (a token exchange, a
			// failed concurrent publish): it may not publish after all.
			s.log.Warn("stage publisher refused once connected", "participant", m.p.ID, "err", err)
			ref := m.pub
			delete(s.sessions, ref.sid)
			m.pub = nil
			s.media.Go(ref.close)
		}
		if e.Type == sfu.PublisherStopped && m.conn == nil {
			s.removeLocked(st, m, LeftClosed)
		} else if e.Type == sfu.PublisherStarted {
			s.notifyLocked(arn, st) // a republish changes the session, not the roster
		}
	case sfu.SubscriptionStarted, sfu.SubscriptionStopped:
		m := st.members[e.SubscriberID]
		if m == nil {
			return
		}
		ref := m.subs[e.PublisherID]
		if ref == nil || ref.done() != (e.Type == sfu.SubscriptionStopped) {
			return
		}
		if e.Type == sfu.SubscriptionStopped {
			delete(s.sessions, ref.sid)
			delete(m.subs, e.PublisherID)
		}
		if err := s.setSubscribingLocked(st, m, e.PublisherID, e.Type == sfu.SubscriptionStarted); err != nil {
			// Its token no longer allows subscribing (exchanged meanwhile).
			delete(s.sessions, ref.sid)
			delete(m.subs, e.PublisherID)
			s.media.Go(ref.close)
		}
	}
}

// dropMediaLocked ends a leaving member's publisher and subscriptions (off
// the lock: closing waits for the SFU's goroutines) and, if the stage is
// forgotten, its room.
func (s *Stages) dropMediaLocked(st *stage, m *member, last bool) {
	var refs []*mediaRef
	if m.pub != nil {
		refs = append(refs, m.pub)
		m.pub = nil
	}
	for pub, ref := range m.subs {
		refs = append(refs, ref)
		delete(m.subs, pub)
	}
	for _, r := range refs {
		delete(s.sessions, r.sid)
	}
	var room *sfu.Room
	if last {
		room, st.room = st.room, nil
	}
	if len(refs) == 0 && room == nil {
		return
	}
	s.media.Go(func() {
		for _, r := range refs {
			r.close()
		}
		if room != nil {
			room.Close()
		}
	})
}

// dropRevokedMediaLocked ends the publish and subscriptions a
// participant's exchanged token no longer allows.
func (s *Stages) dropRevokedMediaLocked(st *stage, m *member) {
	var refs []*mediaRef
	if !m.p.Publish && m.pub != nil {
		refs = append(refs, m.pub)
		delete(s.sessions, m.pub.sid)
		m.pub = nil
		_ = s.setPublishingLocked(st, m, false)
	}
	if !m.p.Subscribe {
		for pub, ref := range m.subs {
			refs = append(refs, ref)
			delete(s.sessions, ref.sid)
			delete(m.subs, pub)
			_ = s.setSubscribingLocked(st, m, pub, false)
		}
	}
	if len(refs) > 0 {
		s.media.Go(func() {
			for _, r := range refs {
				r.close()
			}
		})
	}
}

// maxControlBody bounds a playback control ({"pause":["1"]}) and a
// session-delete beacon ({"authorization":<token>}: a token is ~1 KB).
const maxControlBody = 16 << 10

// parsePlayback reads a playback control body: the mids to pause and to
// play; at least one.
func parsePlayback(b []byte) (pause, play []string, err error) {
	var c struct {
		Pause []string `json:"pause"`
		Play  []string `json:"play"`
	}
	if err := json.Unmarshal(b, &c); err != nil || len(c.Pause)+len(c.Play) == 0 || len(c.Pause)+len(c.Play) > 16 {
		return nil, nil, &whipError{http.StatusBadRequest, whipUnspecified, `the body must be {"pause":[mid…]} or {"play":[mid…]}`}
	}
	return c.Pause, c.Play, nil
}

// servePlayback answers the WHEP playback controls' POST: {"pause":[mid]}
// stops forwarding that media to the subscriber, {"play":[mid]} resumes it
// (video at a keyframe). The IVS SDK pauses the video of a participant its
// strategy turns AUDIO_ONLY. As for the layer extension, the session id is
// the capability.
func (s *Stages) servePlayback(w http.ResponseWriter, r *http.Request) {
	sub := s.subscriptionOf(r.PathValue("sid"))
	if sub == nil {
		s.writeWHIPError(w, &whipError{http.StatusNotFound, whipUnspecified, "no such subscription"})
		return
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxControlBody))
	if err != nil {
		s.writeWHIPError(w, &whipError{http.StatusRequestEntityTooLarge, whipUnspecified, "body too large or unreadable"})
		return
	}
	pause, play, err := parsePlayback(b)
	for _, mid := range pause {
		if err == nil {
			err = sub.Pause(mid)
		}
	}
	for _, mid := range play {
		if err == nil {
			err = sub.Play(mid)
		}
	}
	s.answerControl(w, err, sfu.ErrMediaNotFound)
}

// parseBeacon reads a session-delete beacon's body (text/plain, as
// navigator.sendBeacon sends a string): {"authorization": token}, the
// token bare or after "Bearer ".
func parseBeacon(b []byte) (string, error) {
	var c struct {
		Authorization string `json:"authorization"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return "", &whipError{http.StatusBadRequest, whipUnspecified, `the body must be {"authorization":"<participant token>"}`}
	}
	tok := strings.TrimSpace(c.Authorization)
	if t := bearer(tok); t != "" {
		tok = t
	}
	if tok == "" {
		return "", &whipError{http.StatusUnauthorized, whipUnspecified, "a participant token is required"}
	}
	return tok, nil
}

// serveSessionDelete answers the session-delete beacon the IVS SDK sends
// for each of its sessions as its page unloads, in place of the DELETEs it
// has no time for, with the token of the session's participant. The
// beacon of a participant with the events socket names the socket
// ({whip}/beacon/{id}): the participant leaves the stage with all its
// sessions, if that socket is still its own (a reloaded page's new socket
// is left alone); a WHIP-only publisher's names its session
// ({whip}/session/{id}/delete), which ends. A page that goes away need not
// wait for its socket's close to reach onair, nor for ICE to time out.
func (s *Stages) serveSessionDelete(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		s.writeWHIPError(w, &whipError{http.StatusServiceUnavailable, whipInternal, "the server is stopping"})
		return
	}
	defer s.conns.Done()
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxControlBody))
	if err != nil {
		s.writeWHIPError(w, &whipError{http.StatusRequestEntityTooLarge, whipUnspecified, "body too large or unreadable"})
		return
	}
	tok, err := parseBeacon(b)
	var p Participant
	if err == nil {
		p, err = s.tokenAuth(r.Context(), tok)
	}
	if err != nil {
		s.writeWHIPError(w, err)
		return
	}
	s.mu.Lock()
	if id := r.PathValue("id"); id != "" {
		c := s.beacons[id]
		if c == nil || c.p.StageARN != p.StageARN || c.p.ID != p.ID {
			s.mu.Unlock()
			if c == nil {
				s.writeWHIPError(w, &whipError{http.StatusNotFound, whipUnspecified, "no such session"})
			} else {
				s.writeWHIPError(w, &whipError{http.StatusForbidden, whipNoPermissions, "the session is another participant's"})
			}
			return
		}
		if st, m, err := s.memberLocked(p.StageARN, p.ID); err == nil && m.conn == c {
			c.finish(nil, websocket.StatusNormalClosure, "the page unloaded", LeftClosed)
			s.removeLocked(st, m, LeftClosed)
		}
		s.mu.Unlock()
		whipCORS(w)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	ms := s.sessions[r.PathValue("sid")]
	if ms == nil || ms.arn != p.StageARN || ms.participant != p.ID {
		s.mu.Unlock()
		if ms == nil {
			s.writeWHIPError(w, &whipError{http.StatusNotFound, whipUnspecified, "no such session"})
		} else {
			s.writeWHIPError(w, &whipError{http.StatusForbidden, whipNoPermissions, "the session is another participant's"})
		}
		return
	}
	delete(s.sessions, ms.ref.sid)
	s.detachLocked(ms)
	s.mu.Unlock()
	ms.ref.close()
	whipCORS(w)
	w.WriteHeader(http.StatusNoContent)
}
