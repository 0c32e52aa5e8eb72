package stage

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/coder/websocket"
)

var _ http.Handler = (*Stages)(nil)

// ServeHTTP serves the events WebSocket. The SDK opens
// events_url?error_over_ws=1&topic=<topic>/publishers&traceid=…; AWS's
// aiortc sample opens events_url/<topic>, which the mux routes here with
// the path value "topic" (mount the handler on both "…/events" and
// "…/events/{topic}"). The token is the WebSocket subprotocol, echoed in
// the handshake as browsers require. A refused join is an
// aws:ivs:JOIN_ERROR message and a close when the client asked for
// error_over_ws=1 (the SDK always does), else an HTTP error.
func (s *Stages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		http.Error(w, "the server is stopping", http.StatusServiceUnavailable)
		return
	}
	defer s.conns.Done()
	token := subprotocol(r)
	overWS := r.URL.Query().Get("error_over_ws") == "1"
	p, err := s.authenticate(r, token)
	if err != nil && !overWS {
		http.Error(w, joinCode(err)+": "+err.Error(), httpStatus(err))
		return
	}
	opts := &websocket.AcceptOptions{
		// The token is the credential; no cookie is involved, so any
		// web origin may connect.
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
	}
	if token != "" {
		opts.Subprotocols = []string{token}
	}
	ws, aerr := websocket.Accept(w, r, opts)
	if aerr != nil {
		return // Accept answered the client
	}
	ws.SetReadLimit(s.lim.ReadLimit)
	if err != nil {
		s.refuse(ws, err)
		return
	}
	p.Client = clientOf(r)
	c := newConn(s, ws, p)
	c.origin = "http://" + r.Host
	if r.TLS != nil {
		c.origin = "https://" + r.Host
	}
	if err := s.join(c); err != nil {
		c.cancel()
		s.refuse(ws, err)
		return
	}
	c.log.Debug("stage participant joined")
	go c.writeLoop()
	c.readLoop()
	// The writer is done before the leave is put down to a reason: a
	// write timeout (the client cut off) also ends the read.
	c.cancel()
	<-c.done
	s.leave(c, c.leaveReason())
	_ = ws.CloseNow()
	c.log.Debug("stage participant left", "why", c.leaveReason())
}

// enter counts a handler in, unless the server is closed.
func (s *Stages) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns.Add(1)
	return true
}

// authenticate checks a join's token, and that it names the stage the URL
// names.
func (s *Stages) authenticate(r *http.Request, token string) (Participant, error) {
	if token == "" {
		return Participant{}, ErrTokenMissing
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.lim.AuthTimeout)
	defer cancel()
	p, err := s.cfg.Auth.Authenticate(ctx, token)
	if err != nil {
		return Participant{}, err
	}
	topic, _ := strings.CutSuffix(r.URL.Query().Get("topic"), "/publishers")
	if topic == "" {
		topic = r.PathValue("topic")
	}
	if topic != "" && p.Topic != "" && topic != p.Topic {
		return Participant{}, errors.Join(errBadRequest, errors.New("the URL names another stage than the token's topic"))
	}
	return p, nil
}

// refuse sends a JOIN_ERROR and closes.
func (s *Stages) refuse(ws *websocket.Conn, err error) {
	code := joinCode(err)
	msg := err.Error()
	if code == joinInternal {
		if !errors.Is(err, ErrClosed) {
			s.log.Error("stage join", "err", err)
		}
		msg = "internal error"
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.lim.WriteTimeout)
	defer cancel()
	if werr := ws.Write(ctx, websocket.MessageText, encode(typeJoinError, joinErrorPayload{Code: code, Message: msg})); werr != nil {
		_ = ws.CloseNow()
		return
	}
	_ = ws.Close(websocket.StatusPolicyViolation, code)
}

// httpStatus is the status of a refused join without error_over_ws.
func httpStatus(err error) int {
	switch joinCode(err) {
	case joinStageDeleted:
		return http.StatusNotFound
	case joinParticipantDisconnectd:
		return http.StatusForbidden
	case joinBadRequest:
		return http.StatusBadRequest
	case joinInternal:
		return http.StatusInternalServerError
	default:
		return http.StatusUnauthorized
	}
}

// subprotocol returns the first WebSocket subprotocol the client offered:
// the SDK offers the token alone.
func subprotocol(r *http.Request) string {
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				return t
			}
		}
	}
	return ""
}
