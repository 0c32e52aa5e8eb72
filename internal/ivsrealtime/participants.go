package ivsrealtime

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/onair-video/onair/internal/ivs"
)

// SessionStore keeps stage sessions, their participants and the
// participants' events. Not-found is ivs.ErrNotFound, wrapped.
type SessionStore interface {
	// CreateStageSession stores a new session (EndTime nil).
	CreateStageSession(ctx context.Context, s StageSession) error
	// EndStageSession sets a session's end time.
	EndStageSession(ctx context.Context, stageID, sessionID string, end time.Time) error
	GetStageSession(ctx context.Context, stageID, sessionID string) (StageSession, error)
	// ListStageSessions returns a stage's sessions, newest first.
	ListStageSessions(ctx context.Context, stageID string) ([]StageSession, error)
	// PutParticipant creates or replaces a participant of a session.
	PutParticipant(ctx context.Context, stageID, sessionID string, p Participant) error
	GetParticipant(ctx context.Context, stageID, sessionID, participantID string) (Participant, error)
	// ListParticipants returns a session's participants by first join
	// time, then id.
	ListParticipants(ctx context.Context, stageID, sessionID string) ([]Participant, error)
	// AddParticipantEvent appends an event of e.ParticipantID.
	AddParticipantEvent(ctx context.Context, stageID, sessionID string, e Event) error
	// ListParticipantEvents returns a participant's events in the order
	// they were added.
	ListParticipantEvents(ctx context.Context, stageID, sessionID, participantID string) ([]Event, error)
	// DeleteStageSessions forgets a stage's sessions, participants and
	// events.
	DeleteStageSessions(ctx context.Context, stageID string) error
}

// StageSession is a stage's session: from the first join to the last
// leave.
type StageSession struct {
	StageID   string     `json:"-"`
	SessionID string     `json:"sessionId"`
	StartTime time.Time  `json:"startTime"`
	EndTime   *time.Time `json:"endTime,omitempty"`
}

// Participant states.
const (
	StateConnected    = "CONNECTED"
	StateDisconnected = "DISCONNECTED"
)

// Participant is a participant of a stage session (one token's join).
type Participant struct {
	ParticipantID  string            `json:"participantId"`
	UserID         string            `json:"userId,omitempty"`
	State          string            `json:"state"`
	FirstJoinTime  time.Time         `json:"firstJoinTime"`
	Attributes     map[string]string `json:"attributes"`
	Published      bool              `json:"published"`
	IspName        string            `json:"ispName,omitempty"`
	OsName         string            `json:"osName,omitempty"`
	OsVersion      string            `json:"osVersion,omitempty"`
	BrowserName    string            `json:"browserName,omitempty"`
	BrowserVersion string            `json:"browserVersion,omitempty"`
	SdkVersion     string            `json:"sdkVersion,omitempty"`
	Protocol       string            `json:"protocol,omitempty"`
	// RecordingS3BucketName, RecordingS3Prefix and RecordingState describe
	// its individual recording; DISABLED (and "") while it has none.
	RecordingS3BucketName string `json:"recordingS3BucketName"`
	RecordingS3Prefix     string `json:"recordingS3Prefix"`
	RecordingState        string `json:"recordingState"`
	ReplicationType       string `json:"replicationType"`
	// ReplicationState is a SOURCE's or REPLICA's (replication.go);
	// SourceStageARN and SourceSessionID are a REPLICA's source.
	ReplicationState string `json:"replicationState,omitempty"`
	SourceStageARN   string `json:"sourceStageArn,omitempty"`
	SourceSessionID  string `json:"sourceSessionId,omitempty"`
	// IngestConfigurationARN names the ingest configuration of a
	// participant that is an RTMP(S) encoder; RedundantIngest is its.
	IngestConfigurationARN string `json:"ingestConfigurationArn,omitempty"`
	RedundantIngest        bool   `json:"redundantIngest,omitempty"`
}

// Participant event names (IVS's EventName).
const (
	EventJoined           = "JOINED"
	EventLeft             = "LEFT"
	EventPublishStarted   = "PUBLISH_STARTED"
	EventPublishStopped   = "PUBLISH_STOPPED"
	EventSubscribeStarted = "SUBSCRIBE_STARTED"
	EventSubscribeStopped = "SUBSCRIBE_STOPPED"
	EventPublishError     = "PUBLISH_ERROR"
	EventSubscribeError   = "SUBSCRIBE_ERROR"
	EventJoinError        = "JOIN_ERROR"
	EventTokenExchanged   = "TOKEN_EXCHANGED"
)

// errorCodes are IVS's EventErrorCode values.
var errorCodes = []string{"INSUFFICIENT_CAPABILITIES", "QUOTA_EXCEEDED", "PUBLISHER_NOT_FOUND", "BITRATE_EXCEEDED",
	"RESOLUTION_EXCEEDED", "STREAM_DURATION_EXCEEDED", "INVALID_AUDIO_CODEC", "INVALID_VIDEO_CODEC", "INVALID_PROTOCOL",
	"INVALID_STREAM_KEY", "REUSE_OF_STREAM_KEY", "B_FRAME_PRESENT", "INVALID_INPUT", "INTERNAL_SERVER_EXCEPTION"}

// Event is a participant event.
type Event struct {
	Name                string    `json:"name"`
	ParticipantID       string    `json:"participantId"`
	EventTime           time.Time `json:"eventTime"`
	RemoteParticipantID string    `json:"remoteParticipantId,omitempty"`
	ErrorCode           string    `json:"errorCode,omitempty"`
	// PreviousToken and NewToken describe a TOKEN_EXCHANGED event's tokens.
	PreviousToken *ExchangedToken `json:"previousToken,omitempty"`
	NewToken      *ExchangedToken `json:"newToken,omitempty"`
	// A REPLICATION_STARTED or _STOPPED event's destination; Replica: the
	// event is the replica's (in the destination), not the source's.
	DestinationStageARN  string `json:"destinationStageArn,omitempty"`
	DestinationSessionID string `json:"destinationSessionId,omitempty"`
	Replica              bool   `json:"replica,omitempty"`
}

// ExchangedToken is what a TOKEN_EXCHANGED event says of a token.
type ExchangedToken struct {
	Capabilities   []string          `json:"capabilities"`
	Attributes     map[string]string `json:"attributes"`
	UserID         string            `json:"userId,omitempty"`
	ExpirationTime time.Time         `json:"expirationTime"`
}

// Exchanged describes a verified token in a TOKEN_EXCHANGED event.
func (c ParticipantClaims) Exchanged() *ExchangedToken {
	caps := []string{}
	if c.Publish {
		caps = append(caps, CapPublish)
	}
	if c.Subscribe {
		caps = append(caps, CapSubscribe)
	}
	return &ExchangedToken{Capabilities: caps, Attributes: ivs.CloneTags(c.Attributes), UserID: c.UserID, ExpirationTime: c.ExpiresAt.UTC()}
}

// ClientInfo is what the media side knows of a joining client.
type ClientInfo struct {
	IspName, OsName, OsVersion, BrowserName, BrowserVersion, SdkVersion string
	// Protocol is WHIP for the web SDK and WHIP clients.
	Protocol string
}

// ErrNotJoined is a media-side report about a participant that is not
// connected to the stage's active session.
var ErrNotJoined = errors.New("the participant is not connected to the stage")

// ErrAlreadyJoined is a join with a token whose participant is connected
// already (IVS disconnects such a reuse with TOKEN_REUSED).
var ErrAlreadyJoined = errors.New("the participant is connected already")

// Joined records a verified participant's join: the stage's session
// starts if none is active, the participant is CONNECTED, a JOINED event
// is added. It returns the session id.
func (s *Service) Joined(ctx context.Context, c ParticipantClaims, info ClientInfo) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.StageByID(ctx, c.StageID)
	if err != nil {
		return "", err
	}
	now := s.now().UTC()
	if st.ActiveSessionID == "" {
		ss := StageSession{StageID: st.ID, SessionID: ivs.NewStageSessionID(), StartTime: now}
		if err := s.sessions.CreateStageSession(ctx, ss); err != nil {
			return "", fmt.Errorf("ivsrealtime: start stage session: %w", err)
		}
		st.ActiveSessionID = ss.SessionID
		if err := s.stages().Update(ctx, &st, st.ARN); err != nil {
			return "", err
		}
		if err := s.emitStageUpdate(ctx, &st, now, ivs.EventDetail{EventName: EventNameSessionCreated, SessionID: ss.SessionID}); err != nil {
			return "", err
		}
	}
	sid := st.ActiveSessionID
	p, err := s.sessions.GetParticipant(ctx, st.ID, sid, c.ParticipantID)
	switch {
	case err == nil && p.State == StateConnected:
		return "", ErrAlreadyJoined
	case err == nil:
		p.State = StateConnected // a rejoin within the session keeps firstJoinTime
	case errors.Is(err, ivs.ErrNotFound):
		p = Participant{ParticipantID: c.ParticipantID, UserID: c.UserID, State: StateConnected, FirstJoinTime: now,
			Attributes: ivs.CloneTags(c.Attributes), RecordingState: RecordingDisabled, ReplicationType: ReplicationNone}
	default:
		return "", fmt.Errorf("ivsrealtime: get participant: %w", err)
	}
	p.IspName, p.OsName, p.OsVersion = info.IspName, info.OsName, info.OsVersion
	p.BrowserName, p.BrowserVersion, p.SdkVersion, p.Protocol = info.BrowserName, info.BrowserVersion, info.SdkVersion, info.Protocol
	if p.Protocol == "" {
		p.Protocol = "UNKNOWN"
	}
	if p.Protocol == IngestRTMP || p.Protocol == IngestRTMPS || p.Protocol == ProtocolSRT {
		// An encoder publishing with an ingest configuration's key.
		c, ok, err := s.ingestOf(ctx, st.ARN, p.ParticipantID)
		if err != nil {
			return "", err
		}
		if ok {
			p.IngestConfigurationARN, p.RedundantIngest = c.ARN, c.RedundantIngest
		}
	}
	if err := s.sessions.PutParticipant(ctx, st.ID, sid, p); err != nil {
		return "", fmt.Errorf("ivsrealtime: store participant: %w", err)
	}
	return sid, s.addEvent(ctx, &st, sid, p.UserID, Event{Name: EventJoined, ParticipantID: p.ParticipantID, EventTime: now})
}

// Left records a participant's leave (its connection closed): it is
// DISCONNECTED, no longer published, a LEFT event is added, and the
// session ends when nobody is left.
func (s *Service) Left(ctx context.Context, stageID, participantID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, p, err := s.connected(ctx, stageID, participantID)
	if err != nil {
		return err
	}
	return s.leave(ctx, &st, p)
}

// leave does Left's work with s.mu held.
func (s *Service) leave(ctx context.Context, st *Stage, p Participant) error {
	if err := s.disconnect(ctx, st, p, s.now().UTC()); err != nil {
		return err
	}
	ps, err := s.sessions.ListParticipants(ctx, st.ID, st.ActiveSessionID)
	if err != nil {
		return fmt.Errorf("ivsrealtime: list participants: %w", err)
	}
	if slices.ContainsFunc(ps, func(p Participant) bool { return p.State == StateConnected }) {
		return nil
	}
	return s.endSession(ctx, st)
}

// disconnect makes p, connected to st's active session, DISCONNECTED, with
// a PUBLISH_STOPPED event if it was publishing and a LEFT event (s.mu
// held). Published stays: it says whether p ever published in the session.
func (s *Service) disconnect(ctx context.Context, st *Stage, p Participant, now time.Time) error {
	sid := st.ActiveSessionID
	publishing, err := s.publishing(ctx, st.ID, sid, p.ParticipantID)
	if err != nil {
		return err
	}
	if publishing {
		if err := s.addEvent(ctx, st, sid, p.UserID, Event{Name: EventPublishStopped, ParticipantID: p.ParticipantID, EventTime: now}); err != nil {
			return err
		}
	}
	p.State = StateDisconnected
	if err := s.sessions.PutParticipant(ctx, st.ID, sid, p); err != nil {
		return fmt.Errorf("ivsrealtime: store participant: %w", err)
	}
	return s.addEvent(ctx, st, sid, p.UserID, Event{Name: EventLeft, ParticipantID: p.ParticipantID, EventTime: now})
}

// publishing tells whether a participant of a session is publishing now:
// its last publish event is PUBLISH_STARTED. (Participant.Published is
// IVS's "ever published in the session".)
func (s *Service) publishing(ctx context.Context, stageID, sid, participantID string) (bool, error) {
	evs, err := s.sessions.ListParticipantEvents(ctx, stageID, sid, participantID)
	if err != nil {
		return false, fmt.Errorf("ivsrealtime: list participant events: %w", err)
	}
	for _, e := range slices.Backward(evs) {
		switch e.Name {
		case EventPublishStarted:
			return true, nil
		case EventPublishStopped:
			return false, nil
		}
	}
	return false, nil
}

// endSession ends st's active session (s.mu held): connected participants
// leave, the session gets its end time, the stage has no active session.
func (s *Service) endSession(ctx context.Context, st *Stage) error {
	sid := st.ActiveSessionID
	now := s.now().UTC()
	ps, err := s.sessions.ListParticipants(ctx, st.ID, sid)
	if err != nil {
		return fmt.Errorf("ivsrealtime: list participants: %w", err)
	}
	for _, p := range ps {
		if p.State != StateConnected {
			continue
		}
		if err := s.disconnect(ctx, st, p, now); err != nil {
			return err
		}
	}
	if err := s.sessions.EndStageSession(ctx, st.ID, sid, now); err != nil {
		return fmt.Errorf("ivsrealtime: end stage session: %w", err)
	}
	st.ActiveSessionID = ""
	if err := s.stages().Update(ctx, st, st.ARN); err != nil {
		return err
	}
	return s.emitStageUpdate(ctx, st, now, ivs.EventDetail{EventName: EventNameSessionEnded, SessionID: sid})
}

// connected returns the stage and a participant connected to its active
// session (s.mu held).
func (s *Service) connected(ctx context.Context, stageID, participantID string) (Stage, Participant, error) {
	st, err := s.StageByID(ctx, stageID)
	if err != nil {
		return Stage{}, Participant{}, err
	}
	if st.ActiveSessionID == "" {
		return st, Participant{}, ErrNotJoined
	}
	p, err := s.sessions.GetParticipant(ctx, st.ID, st.ActiveSessionID, participantID)
	if errors.Is(err, ivs.ErrNotFound) || (err == nil && p.State != StateConnected) {
		return st, Participant{}, ErrNotJoined
	}
	if err != nil {
		return st, Participant{}, fmt.Errorf("ivsrealtime: get participant: %w", err)
	}
	return st, p, nil
}

// addEvent stores a participant event of st's session sid and emits it as
// an IVS Stage Update event; userID is the participant's.
func (s *Service) addEvent(ctx context.Context, st *Stage, sid, userID string, e Event) error {
	if err := s.sessions.AddParticipantEvent(ctx, st.ID, sid, e); err != nil {
		return fmt.Errorf("ivsrealtime: add participant event: %w", err)
	}
	d := ivs.EventDetail{EventName: stageUpdateNames[e.Name], SessionID: sid, ParticipantID: e.ParticipantID, UserID: userID,
		RemoteParticipantID: e.RemoteParticipantID, ErrorCode: e.ErrorCode,
		DestinationStageARN: e.DestinationStageARN, DestinationSessionID: e.DestinationSessionID}
	if e.DestinationStageARN != "" {
		d.Replica = &e.Replica
	}
	return s.emitStageUpdate(ctx, st, e.EventTime, d)
}

// stageUpdateNames are the IVS Stage Update event names of the participant
// events. IVS sends Participant Published, Unpublished, Publish Error and
// Token Exchanged; the others are onair's own (docs/webhooks.md).
var stageUpdateNames = map[string]string{
	EventJoined:           "Participant Joined",
	EventLeft:             "Participant Left",
	EventPublishStarted:   "Participant Published",
	EventPublishStopped:   "Participant Unpublished",
	EventPublishError:     "Participant Publish Error",
	EventSubscribeStarted: "Participant Subscribed",
	EventSubscribeStopped: "Participant Unsubscribed",
	EventSubscribeError:   "Participant Subscribe Error",
	EventJoinError:        "Participant Join Error",
	EventTokenExchanged:   "Token Exchanged",
	// IVS's names.
	EventReplicationStarted: "Participant Replication Started",
	EventReplicationStopped: "Participant Replication Stopped",
}

// onair's own IVS Stage Update names for a stage session's start and end.
const (
	EventNameSessionCreated = "Session Created"
	EventNameSessionEnded   = "Session Ended"
)

// emitStageUpdate emits an IVS Stage Update event about st.
func (s *Service) emitStageUpdate(ctx context.Context, st *Stage, at time.Time, d ivs.EventDetail) error {
	if s.emit == nil {
		return nil
	}
	_, err := s.emit(ctx, ivs.Event{DetailType: ivs.EventTypeStageUpdate, Time: at, Resources: []string{st.ARN}, Detail: d})
	return err
}

// Published records that a participant started (on) or stopped
// publishing; the participant's published stays true once it has.
func (s *Service) Published(ctx context.Context, stageID, participantID string, on bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, p, err := s.connected(ctx, stageID, participantID)
	if err != nil {
		return err
	}
	if now, err := s.publishing(ctx, st.ID, st.ActiveSessionID, participantID); err != nil || now == on {
		return err
	}
	if on && !p.Published {
		p.Published = true
		if err := s.sessions.PutParticipant(ctx, st.ID, st.ActiveSessionID, p); err != nil {
			return fmt.Errorf("ivsrealtime: store participant: %w", err)
		}
	}
	name := EventPublishStopped
	if on {
		name = EventPublishStarted
	}
	return s.addEvent(ctx, &st, st.ActiveSessionID, p.UserID, Event{Name: name, ParticipantID: participantID, EventTime: s.now().UTC()})
}

// ClientUpdated records what a connected participant's client told of
// itself after its join (the web SDK's version comes with its WHIP
// requests): the fields info has replace the stored ones; empty ones keep
// them.
func (s *Service) ClientUpdated(ctx context.Context, stageID, participantID string, info ClientInfo) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, p, err := s.connected(ctx, stageID, participantID)
	if err != nil {
		return err
	}
	changed := false
	for _, f := range [][2]*string{{&p.IspName, &info.IspName}, {&p.OsName, &info.OsName}, {&p.OsVersion, &info.OsVersion},
		{&p.BrowserName, &info.BrowserName}, {&p.BrowserVersion, &info.BrowserVersion}, {&p.SdkVersion, &info.SdkVersion},
		{&p.Protocol, &info.Protocol}} {
		if *f[1] != "" && *f[1] != *f[0] {
			*f[0], changed = *f[1], true
		}
	}
	if !changed {
		return nil
	}
	if err := s.sessions.PutParticipant(ctx, st.ID, st.ActiveSessionID, p); err != nil {
		return fmt.Errorf("ivsrealtime: store participant: %w", err)
	}
	return nil
}

// Subscribed records that a participant started (on) or stopped
// subscribing to publisherID.
func (s *Service) Subscribed(ctx context.Context, stageID, participantID, publisherID string, on bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, p, err := s.connected(ctx, stageID, participantID)
	if err != nil {
		return err
	}
	name := EventSubscribeStopped
	if on {
		name = EventSubscribeStarted
	}
	return s.addEvent(ctx, &st, st.ActiveSessionID, p.UserID, Event{Name: name, ParticipantID: participantID, EventTime: s.now().UTC(),
		RemoteParticipantID: publisherID})
}

// TokenExchanged records that a connected participant exchanged its token
// (previous) for next, both verified: the participant takes next's user id
// and attributes, and a TOKEN_EXCHANGED event records both.
func (s *Service) TokenExchanged(ctx context.Context, previous, next ParticipantClaims) error {
	if previous.StageID != next.StageID || previous.ParticipantID != next.ParticipantID {
		return fmt.Errorf("ivsrealtime: a token exchange must keep the stage and the participant id")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, p, err := s.connected(ctx, next.StageID, next.ParticipantID)
	if err != nil {
		return err
	}
	p.UserID, p.Attributes = next.UserID, ivs.CloneTags(next.Attributes)
	if err := s.sessions.PutParticipant(ctx, st.ID, st.ActiveSessionID, p); err != nil {
		return fmt.Errorf("ivsrealtime: store participant: %w", err)
	}
	return s.addEvent(ctx, &st, st.ActiveSessionID, p.UserID, Event{Name: EventTokenExchanged, ParticipantID: p.ParticipantID,
		EventTime: s.now().UTC(), PreviousToken: previous.Exchanged(), NewToken: next.Exchanged()})
}

// EndInterruptedSessions ends the sessions a stop left active (the
// process ended with participants connected: their connections are gone)
// and returns how many it ended. app runs it at start, before anything
// serves.
func (s *Service) EndInterruptedSessions(ctx context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.stages().All(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, st := range all {
		if st.ActiveSessionID == "" {
			continue
		}
		if err := s.endSession(ctx, &st); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Failed records a PUBLISH_ERROR, SUBSCRIBE_ERROR or JOIN_ERROR event of
// a participant of the active session, with one of IVS's error codes;
// remoteID is the publisher of a subscribe error.
func (s *Service) Failed(ctx context.Context, stageID, participantID, name, errorCode, remoteID string) error {
	if !slices.Contains([]string{EventPublishError, EventSubscribeError, EventJoinError}, name) {
		return fmt.Errorf("ivsrealtime: %q is not an error event", name)
	}
	if !slices.Contains(errorCodes, errorCode) {
		return fmt.Errorf("ivsrealtime: %q is not an event error code", errorCode)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.StageByID(ctx, stageID)
	if err != nil {
		return err
	}
	if st.ActiveSessionID == "" {
		return ErrNotJoined
	}
	p, err := s.sessions.GetParticipant(ctx, st.ID, st.ActiveSessionID, participantID)
	if err != nil {
		if errors.Is(err, ivs.ErrNotFound) {
			return ErrNotJoined
		}
		return fmt.Errorf("ivsrealtime: get participant: %w", err)
	}
	return s.addEvent(ctx, &st, st.ActiveSessionID, p.UserID, Event{Name: name, ParticipantID: participantID, EventTime: s.now().UTC(),
		ErrorCode: errorCode, RemoteParticipantID: remoteID})
}

// disconnection is a participant DisconnectParticipant removed: its token
// may not join again.
type disconnection struct {
	Key       string    `json:"key"` // stage id "/" participant id
	Reason    string    `json:"reason,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
}

func (s *Service) disconnections() ivs.Docs[disconnection] {
	return ivs.Docs[disconnection]{Store: s.docs, Kind: resourceDisconnectedParticipant, Noun: "disconnected participant",
		ID: func(d *disconnection) string { return d.Key }}
}

func (s *Service) disconnected(ctx context.Context, stageID, participantID string) (bool, error) {
	_, err := s.disconnections().Get(ctx, stageID+"/"+participantID, participantID)
	if e, ok := ivs.AsError(err); ok && e.Code == ivs.CodeResourceNotFound {
		return false, nil
	}
	return err == nil, err
}

// forgetDisconnections deletes a deleted stage's disconnections: its
// tokens are refused as the stage's from now on.
func (s *Service) forgetDisconnections(ctx context.Context, stageID string) error {
	for {
		ds, err := s.disconnections().List(ctx, stageID+"/", 100)
		if err != nil {
			return err
		}
		n := 0
		for _, d := range ds {
			if !strings.HasPrefix(d.Key, stageID+"/") {
				break
			}
			if err := s.disconnections().Delete(ctx, d.Key, d.Key); err != nil && !isNotFound(err) {
				return err
			}
			n++
		}
		if n < 100 {
			return nil
		}
	}
}

// DisconnectParticipantInput is the input of DisconnectParticipant.
type DisconnectParticipantInput struct {
	StageARN      string `json:"stageArn"`
	ParticipantID string `json:"participantId"`
	Reason        string `json:"reason"`
}

var (
	tokenIDRe   = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	sessionIDRe = regexp.MustCompile(`^st-[a-zA-Z0-9]{13}$`)
)

// DisconnectParticipant disconnects a participant connected to the
// stage's active session and revokes its token for good (the older model
// text: "revokes the participant permanently"). A participant that is not
// connected is ResourceNotFound.
func (s *Service) DisconnectParticipant(ctx context.Context, in DisconnectParticipantInput) error {
	if _, err := s.stage(ctx, "stageArn", in.StageARN); err != nil {
		return err
	}
	if !tokenIDRe.MatchString(in.ParticipantID) {
		return ivs.Validation("participantId", "participantId must be 1 to 64 of [a-zA-Z0-9-_]")
	}
	if len(in.Reason) > 128 {
		return ivs.Validation("reason", "reason must be at most 128 characters")
	}
	s.mu.Lock()
	st, err := s.stage(ctx, "stageArn", in.StageARN)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	st, p, err := s.connected(ctx, st.ID, in.ParticipantID)
	// A participant whose join the media side has not recorded yet is
	// connected all the same (it has its STAGE_STATE): its token is
	// revoked, the media side disconnects it, and its join and leave are
	// recorded in their order when their turn comes.
	recorded := err == nil
	if errors.Is(err, ErrNotJoined) && s.hooks.ParticipantConnected != nil && s.hooks.ParticipantConnected(st.ID, in.ParticipantID) {
		err = nil
	}
	if errors.Is(err, ErrNotJoined) {
		s.mu.Unlock()
		return &ivs.Error{Code: ivs.CodeResourceNotFound,
			Message: fmt.Sprintf("participant %s is not connected to stage %s", in.ParticipantID, in.StageARN)}
	}
	if err == nil {
		d := disconnection{Key: st.ID + "/" + in.ParticipantID, Reason: in.Reason, CreatedAt: s.now().UTC()}
		err = s.disconnections().Put(ctx, &d, d.CreatedAt)
	}
	if err == nil && recorded {
		err = s.leave(ctx, &st, p)
	}
	if err == nil {
		// An encoder's ingest configuration lets go of the stage.
		err = s.detachIngest(ctx, st.ARN, in.ParticipantID)
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if s.hooks.ParticipantDisconnected != nil {
		s.hooks.ParticipantDisconnected(st.ID, in.ParticipantID, in.Reason)
	}
	return nil
}

// isNotFound tells IVS's ResourceNotFound.
func isNotFound(err error) bool {
	e, ok := ivs.AsError(err)
	return ok && e.Code == ivs.CodeResourceNotFound
}

// sessionOf checks a read operation's stage and session id and returns the
// session.
func (s *Service) sessionOf(ctx context.Context, stageARN, sessionID string) (Stage, StageSession, error) {
	st, err := s.stage(ctx, "stageArn", stageARN)
	if err != nil {
		return Stage{}, StageSession{}, err
	}
	if !sessionIDRe.MatchString(sessionID) {
		return Stage{}, StageSession{}, ivs.Validation("sessionId", "sessionId must be st- and 13 of [a-zA-Z0-9], got %q", sessionID)
	}
	ss, err := s.sessions.GetStageSession(ctx, st.ID, sessionID)
	if errors.Is(err, ivs.ErrNotFound) {
		return Stage{}, StageSession{}, &ivs.Error{Code: ivs.CodeResourceNotFound,
			Message: fmt.Sprintf("stage session %s of stage %s not found", sessionID, stageARN)}
	}
	if err != nil {
		return Stage{}, StageSession{}, fmt.Errorf("ivsrealtime: get stage session: %w", err)
	}
	return st, ss, nil
}

// GetStageSession returns a session of a stage.
func (s *Service) GetStageSession(ctx context.Context, stageARN, sessionID string) (StageSession, error) {
	_, ss, err := s.sessionOf(ctx, stageARN, sessionID)
	return ss, err
}

// ListStageSessionsInput is the input of ListStageSessions.
type ListStageSessionsInput struct {
	StageARN   string `json:"stageArn"`
	NextToken  string `json:"nextToken"`
	MaxResults *int32 `json:"maxResults"`
}

// ListStageSessions returns a page of a stage's sessions, newest first.
// An unknown stage has none: IVS's model gives the List operations no
// ResourceNotFoundException.
func (s *Service) ListStageSessions(ctx context.Context, in ListStageSessionsInput) ([]StageSession, string, error) {
	st, err := s.stage(ctx, "stageArn", in.StageARN)
	if isNotFound(err) {
		_, err = ivs.ValidatePage(in.NextToken, in.MaxResults, 1, 100, 50)
		return nil, "", err
	}
	if err != nil {
		return nil, "", err
	}
	all, err := s.sessions.ListStageSessions(ctx, st.ID)
	if err != nil {
		return nil, "", fmt.Errorf("ivsrealtime: list stage sessions: %w", err)
	}
	return page(all, in.NextToken, in.MaxResults, 50, func(ss StageSession) string { return ss.SessionID })
}

// GetParticipantInput is the input of GetParticipant.
type GetParticipantInput struct {
	StageARN      string `json:"stageArn"`
	SessionID     string `json:"sessionId"`
	ParticipantID string `json:"participantId"`
}

// GetParticipant returns a participant of a session.
func (s *Service) GetParticipant(ctx context.Context, in GetParticipantInput) (Participant, error) {
	st, ss, err := s.sessionOf(ctx, in.StageARN, in.SessionID)
	if err != nil {
		return Participant{}, err
	}
	if !tokenIDRe.MatchString(in.ParticipantID) {
		return Participant{}, ivs.Validation("participantId", "participantId must be 1 to 64 of [a-zA-Z0-9-_]")
	}
	p, err := s.sessions.GetParticipant(ctx, st.ID, ss.SessionID, in.ParticipantID)
	if errors.Is(err, ivs.ErrNotFound) {
		return Participant{}, &ivs.Error{Code: ivs.CodeResourceNotFound,
			Message: fmt.Sprintf("participant %s of stage session %s not found", in.ParticipantID, in.SessionID)}
	}
	if err != nil {
		return Participant{}, fmt.Errorf("ivsrealtime: get participant: %w", err)
	}
	return p, nil
}

// ListParticipantsInput is the input of ListParticipants.
type ListParticipantsInput struct {
	StageARN               string  `json:"stageArn"`
	SessionID              string  `json:"sessionId"`
	FilterByUserID         *string `json:"filterByUserId"`
	FilterByPublished      *bool   `json:"filterByPublished"`
	FilterByState          *string `json:"filterByState"`
	FilterByRecordingState *string `json:"filterByRecordingState"`
	NextToken              string  `json:"nextToken"`
	MaxResults             *int32  `json:"maxResults"`
}

// ListParticipants returns a page of a session's participants that pass
// the one filter given, by first join time. An unknown stage or session
// has none.
func (s *Service) ListParticipants(ctx context.Context, in ListParticipantsInput) ([]Participant, string, error) {
	st, ss, err := s.sessionOf(ctx, in.StageARN, in.SessionID)
	if err != nil && !isNotFound(err) {
		return nil, "", err
	}
	filters := 0
	for _, set := range []bool{in.FilterByUserID != nil, in.FilterByPublished != nil, in.FilterByState != nil, in.FilterByRecordingState != nil} {
		if set {
			filters++
		}
	}
	if filters > 1 {
		return nil, "", ivs.Validation("filterByUserId",
			"only one of filterByUserId, filterByPublished, filterByState and filterByRecordingState may be given")
	}
	if in.FilterByUserID != nil && len(*in.FilterByUserID) > maxUserIDLen {
		return nil, "", ivs.Validation("filterByUserId", "filterByUserId must be at most %d characters", maxUserIDLen)
	}
	if v := in.FilterByState; v != nil {
		if err := ivs.ValidateEnum("filterByState", *v, StateConnected, StateDisconnected); err != nil {
			return nil, "", err
		}
	}
	if v := in.FilterByRecordingState; v != nil {
		if err := ivs.ValidateEnum("filterByRecordingState", *v, RecordingStarting, RecordingActive, RecordingStopping,
			RecordingStopped, RecordingFailed); err != nil {
			return nil, "", err
		}
	}
	var all []Participant
	if st.ID != "" {
		if all, err = s.sessions.ListParticipants(ctx, st.ID, ss.SessionID); err != nil {
			return nil, "", fmt.Errorf("ivsrealtime: list participants: %w", err)
		}
	}
	all = slices.DeleteFunc(all, func(p Participant) bool {
		return (in.FilterByUserID != nil && p.UserID != *in.FilterByUserID) ||
			(in.FilterByPublished != nil && p.Published != *in.FilterByPublished) ||
			(in.FilterByState != nil && p.State != *in.FilterByState) ||
			(in.FilterByRecordingState != nil && p.RecordingState != *in.FilterByRecordingState)
	})
	return page(all, in.NextToken, in.MaxResults, 50, func(p Participant) string { return p.ParticipantID })
}

// ListParticipantEventsInput is the input of ListParticipantEvents.
type ListParticipantEventsInput struct {
	StageARN      string `json:"stageArn"`
	SessionID     string `json:"sessionId"`
	ParticipantID string `json:"participantId"`
	NextToken     string `json:"nextToken"`
	MaxResults    *int32 `json:"maxResults"`
}

// ListParticipantEvents returns a page of a participant's events, oldest
// first. An unknown stage, session or participant has none.
func (s *Service) ListParticipantEvents(ctx context.Context, in ListParticipantEventsInput) ([]Event, string, error) {
	st, ss, err := s.sessionOf(ctx, in.StageARN, in.SessionID)
	if err != nil && !isNotFound(err) {
		return nil, "", err
	}
	if !tokenIDRe.MatchString(in.ParticipantID) {
		return nil, "", ivs.Validation("participantId", "participantId must be 1 to 64 of [a-zA-Z0-9-_]")
	}
	var all []Event
	if st.ID != "" {
		if all, err = s.sessions.ListParticipantEvents(ctx, st.ID, ss.SessionID, in.ParticipantID); err != nil {
			return nil, "", fmt.Errorf("ivsrealtime: list participant events: %w", err)
		}
	}
	// Events are only appended: the position is a stable key.
	type indexed struct {
		i int
		e Event
	}
	ix := make([]indexed, len(all))
	for i, e := range all {
		ix[i] = indexed{i, e}
	}
	got, next, err := page(ix, in.NextToken, in.MaxResults, 50, func(x indexed) string { return fmt.Sprint(x.i) })
	out := make([]Event, len(got))
	for i, x := range got {
		out[i] = x.e
	}
	return out, next, err
}

// page cuts a page from items (in their order) after the item whose key
// the token names.
func page[T any](items []T, token string, maxResults *int32, def int, key func(T) string) ([]T, string, error) {
	n, err := ivs.ValidatePage(token, maxResults, 1, 100, def)
	if err != nil {
		return nil, "", err
	}
	after, err := ivs.DecodeToken(token)
	if err != nil {
		return nil, "", err
	}
	if after != "" {
		i := slices.IndexFunc(items, func(v T) bool { return key(v) == after })
		if i < 0 {
			return nil, "", ivs.Validation("nextToken", "nextToken is not valid")
		}
		items = items[i+1:]
	}
	if len(items) > n+1 {
		items = items[:n+1]
	}
	out, next := ivs.TrimPage(items, n, key)
	return out, next, nil
}
