// Package stage serves the signalling of IVS Real-Time stages: the events
// WebSocket that the IVS Web Broadcast SDK's Stage opens with a participant
// token, and the live roster of each stage (who is connected, who
// publishes, who is muted) that it pushes to every participant as
// STAGE_STATE. The wire protocol is in docs/stage-events.md.
//
// It also serves the stage's media requests, HTTP WHIP publish and
// subscribe (whip.go), which it answers from one internal/sfu room per
// stage and reflects in the roster.
//
// The package knows neither how tokens are verified nor where participants
// and sessions are stored: it declares what it needs of them
// (Authenticator, Lifecycle). ReservePublish, SetPublishing and
// SetSubscribing remain for another media side.
package stage

import (
	"context"
	"errors"
	"time"
)

// Participant is a participant as its token names it.
type Participant struct {
	// StageARN is the token's resource claim; the roster is keyed by it.
	StageARN string
	// Topic is the stage's id (the token's topic claim), which the
	// events URL names.
	Topic string
	// ID is the participant id: the token's jti.
	ID         string
	UserID     string
	Attributes map[string]string
	// Publish and Subscribe are the token's capabilities.
	Publish, Subscribe bool
	// Expires is the token's exp: a join after it is refused.
	Expires time.Time
	// Client is what the client told of itself (not the token: the
	// roster fills it from the requests).
	Client Client
	// ReplicaOf is a replica's source stage ARN (Replicate); "" for
	// every other participant.
	ReplicaOf string
}

// Authenticator verifies a participant token. The control plane
// implements it.
type Authenticator interface {
	// Authenticate returns the participant a raw token names, or an error
	// that wraps one of the Err… sentinels below (another error is an
	// internal failure, reported to the client as INTERNAL).
	Authenticate(ctx context.Context, token string) (Participant, error)
}

// Token and join failures an Authenticator reports (wrapped), each sent to
// the client as the aws:ivs:JOIN_ERROR code beside it.
var (
	// ErrTokenMissing: no token (TOKEN_MISSING).
	ErrTokenMissing = errors.New("stage: participant token missing")
	// ErrTokenMalformed: not a token at all, or one with claims missing
	// or of the wrong type (TOKEN_INVALID).
	ErrTokenMalformed = errors.New("stage: participant token malformed")
	// ErrTokenSignature: the signature does not verify, or its key is
	// unknown or deleted (TOKEN_INVALID_SIGNATURE).
	ErrTokenSignature = errors.New("stage: participant token signature invalid")
	// ErrTokenExpired: exp has passed (TOKEN_EXPIRED).
	ErrTokenExpired = errors.New("stage: participant token expired")
	// ErrStageDeleted: the token's stage does not exist (STAGE_DELETED).
	ErrStageDeleted = errors.New("stage: stage deleted")
	// ErrParticipantDisconnected: the participant was disconnected by
	// DisconnectParticipant, which revokes its token
	// (PARTICIPANT_DISCONNECTED).
	ErrParticipantDisconnected = errors.New("stage: participant disconnected")
)

// Errors of the roster's calls from the media side.
var (
	// ErrNotConnected: the participant has no events WebSocket on the
	// stage (the SDK opens it before it publishes or subscribes).
	ErrNotConnected = errors.New("stage: participant not connected to the stage")
	// ErrPublishNotAllowed: the token lacks the PUBLISH capability (IVS
	// records a PUBLISH_ERROR event, INSUFFICIENT_CAPABILITIES).
	ErrPublishNotAllowed = errors.New("stage: the participant token does not allow publishing")
	// ErrSubscribeNotAllowed: the token lacks the SUBSCRIBE capability
	// (SUBSCRIBE_ERROR, INSUFFICIENT_CAPABILITIES).
	ErrSubscribeNotAllowed = errors.New("stage: the participant token does not allow subscribing")
	// ErrTooManyPublishers: the stage has MaxPublishers publishing (IVS
	// records a PUBLISH_ERROR event, QUOTA_EXCEEDED).
	ErrTooManyPublishers = errors.New("stage: the stage has the most publishers it may")
	// ErrClosed: the server is shutting down.
	ErrClosed = errors.New("stage: closed")
)

// MaxPublishers is IVS's limit of publishers per stage (not adjustable).
const MaxPublishers = 12

// LeaveReason says why a participant left a stage.
type LeaveReason string

// Leave reasons.
const (
	// LeftClosed: the client closed its socket, or it broke.
	LeftClosed LeaveReason = "closed"
	// LeftDisconnected: DisconnectParticipant.
	LeftDisconnected LeaveReason = "disconnected"
	// LeftStageDeleted: DeleteStage.
	LeftStageDeleted LeaveReason = "stage deleted"
	// LeftCutOff: the client broke the protocol's limits (it flooded the
	// server, or could not keep up with what it was sent).
	LeftCutOff LeaveReason = "cut off"
	// LeftShutdown: onair is stopping.
	LeftShutdown LeaveReason = "shutdown"
)

// Lifecycle hears of the changes the domain records: participants, stage
// sessions and participant events. The calls come from one goroutine, in
// the order the roster changed, never under the roster's lock; they must
// not block for long (the roster waits for them once 1024 are pending),
// and must not wait for a call into Stages.
type Lifecycle interface {
	// Joined: a participant connected. first: nobody else is connected
	// to the stage, so a stage session starts.
	Joined(p Participant, first bool)
	// Left: a participant's connection ended. last: nobody is connected
	// to the stage any more, so its session ends.
	Left(p Participant, why LeaveReason, last bool)
	// Published: the participant started (true) or stopped publishing.
	Published(p Participant, publishing bool)
	// Subscribed: the participant started (true) or stopped subscribing
	// to publisher's media.
	Subscribed(p Participant, publisher string, subscribing bool)
	// TokenExchanged: the participant exchanged its token (previous) for
	// p's (IVS's TOKEN_EXCHANGED event records both).
	TokenExchanged(previous, p Participant)
	// PublishFailed: a publish was refused for a reason IVS records as a
	// PUBLISH_ERROR event's errorCode (INSUFFICIENT_CAPABILITIES,
	// QUOTA_EXCEEDED). The participant may not be connected.
	PublishFailed(p Participant, code string)
	// SubscribeFailed: a subscription to publisher was refused
	// (SUBSCRIBE_ERROR: INSUFFICIENT_CAPABILITIES, PUBLISHER_NOT_FOUND).
	SubscribeFailed(p Participant, publisher, code string)
	// ClientUpdated: a connected participant's client told more of itself
	// than at its join (p.Client): the web SDK's version comes with its
	// first WHIP request, after the join over the events WebSocket.
	ClientUpdated(p Participant)
}

// nopLifecycle is the Lifecycle of a Stages without one.
type nopLifecycle struct{}

func (nopLifecycle) Joined(Participant, bool)                    {}
func (nopLifecycle) Left(Participant, LeaveReason, bool)         {}
func (nopLifecycle) Published(Participant, bool)                 {}
func (nopLifecycle) Subscribed(Participant, string, bool)        {}
func (nopLifecycle) TokenExchanged(Participant, Participant)     {}
func (nopLifecycle) PublishFailed(Participant, string)           {}
func (nopLifecycle) SubscribeFailed(Participant, string, string) {}
func (nopLifecycle) ClientUpdated(Participant)                   {}

var _ Lifecycle = nopLifecycle{}
