package rtc

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/pion/webrtc/v4"
)

// maxSDP bounds an offer or a trickle fragment: a browser's offer is a few
// kilobytes.
const maxSDP = 64 << 10

// HTTPError is an answer with a status and a plain-text reason.
type HTTPError struct {
	Status int
	Msg    string
}

func (e *HTTPError) Error() string { return e.Msg }

// Fail writes err as WHIP/WHEP clients read it: the status, and the reason
// as text.
func Fail(w http.ResponseWriter, err error) {
	var he *HTTPError
	if !errors.As(err, &he) {
		he = &HTTPError{Status: http.StatusInternalServerError, Msg: "internal error"}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(he.Status)
	_, _ = io.WriteString(w, he.Msg+"\n")
}

// CORS lets a page on another origin publish and play (RFC 9725 §4.8 and
// the WHEP draft expect it); the stream key in Authorization is the
// credential, not a cookie.
func CORS(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", Methods)
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
	h.Set("Access-Control-Expose-Headers", "Location, ETag, Link, Accept-Patch")
	h.Set("Access-Control-Max-Age", "86400")
}

// Methods are the methods of WHIP and WHEP endpoints and their session
// resources, as CORS announces them.
const Methods = "POST, PATCH, DELETE, OPTIONS"

// Preflight answers OPTIONS on an endpoint or a session resource: CORS,
// and what the endpoint accepts (RFC 9725 §4.2).
func Preflight(w http.ResponseWriter, _ *http.Request) {
	CORS(w)
	w.Header().Set("Accept-Post", "application/sdp")
	w.Header().Set("Accept-Patch", "application/trickle-ice-sdpfrag")
	w.WriteHeader(http.StatusNoContent)
}

// WriteAnswer answers a POST that created the session resource at
// location (its ETag is the session id) with the SDP answer.
func WriteAnswer(w http.ResponseWriter, location, id, answer string) {
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", location)
	w.Header().Set("ETag", `"`+id+`"`)
	w.Header().Set("Accept-Patch", "application/trickle-ice-sdpfrag")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte(answer))
}

// NewSessionID returns a random id for a session resource: 128 bits, so
// the URL is the capability of whoever created it.
func NewSessionID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ReadOffer reads an SDP offer from a POST: Content-Type application/sdp,
// at most maxSDP bytes.
func ReadOffer(w http.ResponseWriter, r *http.Request) (string, error) {
	return readBody(w, r, "application/sdp")
}

func readBody(w http.ResponseWriter, r *http.Request, want string) (string, error) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != want {
		return "", &HTTPError{http.StatusUnsupportedMediaType, "Content-Type must be " + want}
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSDP))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return "", &HTTPError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", maxSDP)}
		}
		return "", &HTTPError{http.StatusBadRequest, "reading the body failed"}
	}
	if len(b) == 0 {
		return "", &HTTPError{http.StatusBadRequest, "empty body: an SDP offer is required"}
	}
	return string(b), nil
}

// Trickle applies a PATCH of trickle ICE candidates (RFC 8840 SDP
// fragment) to pc. Only candidates are taken: an ICE restart (a new
// ice-ufrag) answers 501, which RFC 9725 allows; the client starts a new
// session instead.
func Trickle(w http.ResponseWriter, r *http.Request, pc *webrtc.PeerConnection) error {
	frag, err := readBody(w, r, "application/trickle-ice-sdpfrag")
	if err != nil {
		return err
	}
	remote := pc.RemoteDescription()
	for line := range strings.SplitSeq(frag, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "a=candidate:"):
			mid := ""
			if remote != nil {
				mid = firstMid(remote.SDP)
			}
			if err := pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: strings.TrimPrefix(line, "a="), SDPMid: &mid}); err != nil {
				return &HTTPError{http.StatusBadRequest, "bad candidate: " + err.Error()}
			}
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			if remote != nil && !strings.Contains(remote.SDP, line) {
				return &HTTPError{http.StatusNotImplemented, "ICE restart is not supported: start a new session"}
			}
		}
	}
	return nil
}

func firstMid(sdp string) string {
	for line := range strings.SplitSeq(sdp, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "a=mid:"); ok {
			return v
		}
	}
	return "0"
}

// Session is a WHIP or WHEP session resource (Location of the POST).
type Session interface {
	PeerConnection() *webrtc.PeerConnection
	// End closes the session as a DELETE asks.
	End()
}

// ServeSession answers a request on a session resource: PATCH applies
// trickle ICE candidates, DELETE ends it.
func ServeSession(w http.ResponseWriter, r *http.Request, s Session) {
	switch r.Method {
	case http.MethodPatch:
		if err := Trickle(w, r, s.PeerConnection()); err != nil {
			Fail(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		s.End()
		w.WriteHeader(http.StatusOK)
	default:
		w.Header().Set("Allow", "PATCH, DELETE, OPTIONS")
		Fail(w, &HTTPError{http.StatusMethodNotAllowed, "use PATCH or DELETE on a session"})
	}
}
