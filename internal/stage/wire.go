package stage

import (
	"encoding/json"
	"errors"
	"fmt"
)

// The events WebSocket carries JSON objects in text frames, each
// {"type": …, "payload": {…}} (docs/stage-events.md). The field names
// below are the ones amazon-ivs-web-broadcast 1.41.0 reads and writes:
// StageSocket.onMessage switches on "STAGE_STATE" / "aws:ivs:STAGE_STATE",
// reads payload.sequenceNumber and drops a state whose number is not above
// the last; the roster diff (participants[], disconnected[] with status
// "KICKED") compares "isPublishing", "id", "audioMuted", "userId",
// "videoStopped" and attributes; "PONG" clears the pong timeout;
// "aws:ivs:DISCONNECT" codes PARTICIPANT_DISCONNECTED, STAGE_DELETED,
// TOKEN_REUSED, MAX_CONCURRENT_CONNECTIONS; "aws:ivs:JOIN_ERROR" codes
// TOKEN_INVALID, TOKEN_EXPIRED, TOKEN_INVALID_SIGNATURE, TOKEN_MISSING,
// STAGE_DELETED, PARTICIPANT_DISCONNECTED, INTERNAL, BAD_REQUEST; an
// "aws:ivs:EXCHANGE_TOKEN" reply must carry string requestId and traceId
// and may carry error.message; "aws:ivs:SUBSCRIBER_COUNT" has its own
// increasing sequenceNumber and a count. The V2 connection matches a reply
// to its request by type and payload.requestId (its SET_STATE expects an
// "aws:ivs:SET_STATE" reply).

// Message types.
const (
	typeStageState      = "STAGE_STATE"
	typePing            = "PING"
	typePong            = "PONG"
	typeSetState        = "SET_STATE"
	typeSetStateV2      = "aws:ivs:SET_STATE"
	typeExchangeToken   = "aws:ivs:EXCHANGE_TOKEN"
	typeSDPOffer        = "aws:ivs:SDP_OFFER"
	typeSDPAnswer       = "aws:ivs:SDP_ANSWER"
	typeDisconnect      = "aws:ivs:DISCONNECT"
	typeJoinError       = "aws:ivs:JOIN_ERROR"
	typeSubscriberCount = "aws:ivs:SUBSCRIBER_COUNT"
)

// DisconnectCode is an aws:ivs:DISCONNECT code.
type DisconnectCode string

// DISCONNECT codes.
const (
	DisconnectParticipant  DisconnectCode = "PARTICIPANT_DISCONNECTED"
	DisconnectStageDeleted DisconnectCode = "STAGE_DELETED"
	DisconnectTokenReused  DisconnectCode = "TOKEN_REUSED"
)

// JOIN_ERROR codes.
const (
	joinStageDeleted           = "STAGE_DELETED"
	joinParticipantDisconnectd = "PARTICIPANT_DISCONNECTED"
	joinTokenInvalid           = "TOKEN_INVALID"
	joinTokenExpired           = "TOKEN_EXPIRED"
	joinTokenInvalidSignature  = "TOKEN_INVALID_SIGNATURE"
	joinTokenMissing           = "TOKEN_MISSING"
	joinInternal               = "INTERNAL"
	joinBadRequest             = "BAD_REQUEST"
)

// joinCode maps an Authenticator's (or the roster's) refusal to its
// JOIN_ERROR code.
func joinCode(err error) string {
	switch {
	case errors.Is(err, ErrTokenMissing):
		return joinTokenMissing
	case errors.Is(err, ErrTokenMalformed):
		return joinTokenInvalid
	case errors.Is(err, ErrTokenSignature):
		return joinTokenInvalidSignature
	case errors.Is(err, ErrTokenExpired):
		return joinTokenExpired
	case errors.Is(err, ErrStageDeleted):
		return joinStageDeleted
	case errors.Is(err, ErrParticipantDisconnected):
		return joinParticipantDisconnectd
	case errors.Is(err, errBadRequest):
		return joinBadRequest
	default:
		return joinInternal
	}
}

// errBadRequest: the request names another stage than its token.
var errBadRequest = errors.New("stage: bad request")

// envelope is every message of the socket.
type envelope struct {
	Type    string `json:"type"`
	Payload any    `json:"payload,omitempty"`
}

// stateParticipant is an entry of STAGE_STATE's participants[].
type stateParticipant struct {
	ID           string            `json:"id"`
	UserID       string            `json:"userId"`
	Attributes   map[string]string `json:"attributes"`
	IsPublishing bool              `json:"isPublishing"`
	AudioMuted   bool              `json:"audioMuted"`
	VideoStopped bool              `json:"videoStopped"`
}

// stateDisconnected is an entry of STAGE_STATE's disconnected[].
type stateDisconnected struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// stageState is STAGE_STATE's payload. stageId is not read by the web SDK
// but by AWS's aiortc sample (payload.stageId).
type stageState struct {
	SequenceNumber int64               `json:"sequenceNumber"`
	StageID        string              `json:"stageId"`
	Participants   []stateParticipant  `json:"participants"`
	Disconnected   []stateDisconnected `json:"disconnected"`
	ServerFeatures []string            `json:"serverFeatures"`
}

// reply is the payload of a reply to a V2 request (PONG, SET_STATE,
// EXCHANGE_TOKEN): the request's ids, and an error if it failed.
type reply struct {
	RequestID string      `json:"requestId"`
	TraceID   string      `json:"traceId"`
	Error     *replyError `json:"error,omitempty"`
}

// replyError is V2's error member (the SDK retries when fatal is false).
type replyError struct {
	Fatal   bool   `json:"fatal"`
	Type    string `json:"type"`
	Message string `json:"message"`
}

type disconnectPayload struct {
	Code   DisconnectCode `json:"code"`
	Reason string         `json:"reason"`
}

type joinErrorPayload struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type subscriberCountPayload struct {
	SequenceNumber int64 `json:"sequenceNumber"`
	Count          int   `json:"count"`
}

// sdpAnswerPayload answers an SDP offer sent over the socket ("xdp"): what
// HTTP WHIP answers in its status, body and headers.
type sdpAnswerPayload struct {
	RequestID             string `json:"requestId"`
	HTTPStatusCode        int    `json:"httpStatusCode"`
	Content               string `json:"content,omitempty"`
	ContentType           string `json:"contentType,omitempty"`
	Location              string `json:"location,omitempty"`
	SessionDeleteLink     string `json:"sessionDeleteLink,omitempty"`
	SubscriberControlLink string `json:"subscriberControlLink,omitempty"`
	VideoLayersLink       string `json:"videoLayersLink,omitempty"`
	ErrorCode             int    `json:"errorCode,omitempty"`
	ErrorMessage          string `json:"errorMessage,omitempty"`
}

// featureXDP in serverFeatures has the SDK send its SDP offers over the
// socket (aws:ivs:SDP_OFFER) rather than HTTP WHIP.
const featureXDP = "xdp"

// encode marshals a message; its values are all marshallable.
func encode(typ string, payload any) []byte {
	b, err := json.Marshal(envelope{Type: typ, Payload: payload})
	if err != nil {
		panic(fmt.Sprintf("stage: encode %s: %v", typ, err))
	}
	return b
}

// clientMessage is a message from a client, whichever framing it used.
type clientMessage struct {
	Type string
	// SET_STATE: nil when the member is absent (unchanged).
	AudioMuted, VideoStopped *bool
	// V2 ids, echoed in the reply; V2 says the client expects one.
	RequestID, TraceID string
	V2                 bool
	// EXCHANGE_TOKEN.
	NewToken string
	// SDP_OFFER: the WHIP URL the offer is for, the offer, the SDK's
	// version and initial layer preference.
	WHIPURL, Content, SDK, InitialLayerPref string
}

// wireClient is the JSON of a client message: V1 puts SET_STATE's members
// at the top, V2 puts everything in payload.
type wireClient struct {
	Type         string       `json:"type"`
	AudioMuted   *bool        `json:"audioMuted"`
	VideoStopped *bool        `json:"videoStopped"`
	Payload      *wirePayload `json:"payload"`
}

type wirePayload struct {
	AudioMuted   *bool  `json:"audioMuted"`
	VideoStopped *bool  `json:"videoStopped"`
	RequestID    string `json:"requestId"`
	TraceID      string `json:"traceId"`
	NewToken     string `json:"newToken"`
	WHIPURL      string `json:"whipUrl"`
	Content      string `json:"content"`
	SDK          string `json:"sdk"`
	InitialLayer string `json:"initialLayerPref"`
}

// errMessage: a client message that is not one of the protocol's.
var errMessage = errors.New("stage: bad client message")

// parseClientMessage decodes a client's message. Unknown types are an
// error the caller ignores (the SDK sends messages onair has no use for,
// such as telemetry, and later SDKs may add more); malformed JSON is an
// error too.
func parseClientMessage(b []byte) (clientMessage, error) {
	var w wireClient
	if err := json.Unmarshal(b, &w); err != nil {
		return clientMessage{}, fmt.Errorf("%w: %w", errMessage, err)
	}
	m := clientMessage{Type: w.Type, AudioMuted: w.AudioMuted, VideoStopped: w.VideoStopped}
	if p := w.Payload; p != nil {
		m.RequestID, m.TraceID, m.NewToken = p.RequestID, p.TraceID, p.NewToken
		m.WHIPURL, m.Content, m.SDK, m.InitialLayerPref = p.WHIPURL, p.Content, p.SDK, p.InitialLayer
		m.V2 = p.RequestID != ""
		if p.AudioMuted != nil {
			m.AudioMuted = p.AudioMuted
		}
		if p.VideoStopped != nil {
			m.VideoStopped = p.VideoStopped
		}
	}
	switch m.Type {
	case typePing, typeSetState, typeSetStateV2:
	case typeExchangeToken:
		if m.NewToken == "" || m.RequestID == "" {
			return m, fmt.Errorf("%w: EXCHANGE_TOKEN without newToken or requestId", errMessage)
		}
	case typeSDPOffer:
		if m.RequestID == "" {
			return m, fmt.Errorf("%w: SDP_OFFER without requestId", errMessage)
		}
	case "":
		return m, fmt.Errorf("%w: no type", errMessage)
	default:
		return m, fmt.Errorf("%w: unknown type %.64q", errMessage, m.Type)
	}
	return m, nil
}
