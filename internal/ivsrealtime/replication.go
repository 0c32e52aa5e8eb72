package ivsrealtime

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/onair-video/onair/internal/ivs"
)

// Participant replication: a publishing participant of a source stage
// appears in a destination stage (IVS's StartParticipantReplication). The
// control plane keeps the replications and the participants' replication
// fields and events; the media side (Hooks.ReplicationStarted) makes the
// replica publish.

// Replication types and states (IVS's ReplicationType, ReplicationState).
const (
	ReplicationSource  = "SOURCE"
	ReplicationReplica = "REPLICA"
	ReplicationNone    = "NONE"

	ReplicationActive  = "ACTIVE"
	ReplicationStopped = "STOPPED"
)

// Participant events of replication.
const (
	EventReplicationStarted = "REPLICATION_STARTED"
	EventReplicationStopped = "REPLICATION_STOPPED"
)

// Document kinds of replications.
const (
	resourceReplication  = "participant-replication"
	resourceReplicaIndex = "participant-replica"
)

const maxReplicaResults = 50

// Replication is one participant replicated from one stage to another.
type Replication struct {
	// Key is source stage id "/" participant id "/" destination stage id.
	Key                    string            `json:"key"`
	SourceStageARN         string            `json:"sourceStageArn"`
	SourceSessionID        string            `json:"sourceSessionId"`
	DestinationStageARN    string            `json:"destinationStageArn"`
	DestinationSessionID   string            `json:"destinationSessionId"`
	ParticipantID          string            `json:"participantId"`
	UserID                 string            `json:"userId,omitempty"`
	Attributes             map[string]string `json:"attributes"`
	ReconnectWindowSeconds int32             `json:"reconnectWindowSeconds"`
	State                  string            `json:"replicationState"`
	StartTime              time.Time         `json:"startTime"`
	EndTime                *time.Time        `json:"endTime,omitempty"`
}

// SourceStageID is the source stage's id.
func (r Replication) SourceStageID() string { return stageIDOf(r.SourceStageARN) }

// DestinationStageID is the destination stage's id.
func (r Replication) DestinationStageID() string { return stageIDOf(r.DestinationStageARN) }

func stageIDOf(arn string) string { return arn[strings.LastIndexByte(arn, '/')+1:] }

// ParticipantReplica is a replication on the wire (ListParticipantReplicas).
type ParticipantReplica struct {
	SourceStageARN       string `json:"sourceStageArn"`
	ParticipantID        string `json:"participantId"`
	SourceSessionID      string `json:"sourceSessionId"`
	DestinationStageARN  string `json:"destinationStageArn"`
	DestinationSessionID string `json:"destinationSessionId"`
	ReplicationState     string `json:"replicationState"`
}

// replicaIndex finds the replication a destination stage's participant
// is the replica of.
type replicaIndex struct {
	Key         string `json:"key"` // destination stage id "/" participant id
	Replication string `json:"replication"`
}

func (s *Service) replications() ivs.Docs[Replication] {
	return ivs.Docs[Replication]{Store: s.docs, Kind: resourceReplication, Noun: "participant replication",
		ID: func(r *Replication) string { return r.Key }}
}

func (s *Service) replicaIndex() ivs.Docs[replicaIndex] {
	return ivs.Docs[replicaIndex]{Store: s.docs, Kind: resourceReplicaIndex, Noun: "participant replica",
		ID: func(r *replicaIndex) string { return r.Key }}
}

// StartParticipantReplicationInput is the input of StartParticipantReplication.
type StartParticipantReplicationInput struct {
	SourceStageARN         string            `json:"sourceStageArn"`
	DestinationStageARN    string            `json:"destinationStageArn"`
	ParticipantID          string            `json:"participantId"`
	ReconnectWindowSeconds *int32            `json:"reconnectWindowSeconds"`
	Attributes             map[string]string `json:"attributes"`
}

// replicationInput checks the stages and participant id of a replication
// call.
func (s *Service) replicationStages(ctx context.Context, srcARN, dstARN, participantID string) (src, dst Stage, err error) {
	if src, err = s.stage(ctx, "sourceStageArn", srcARN); err != nil {
		return
	}
	if dst, err = s.stage(ctx, "destinationStageArn", dstARN); err != nil {
		return
	}
	if !tokenIDRe.MatchString(participantID) {
		err = ivs.Validation("participantId", "participantId must be 1 to 64 of [a-zA-Z0-9-_]")
		return
	}
	if src.ID == dst.ID {
		err = ivs.Validation("destinationStageArn", "destinationStageArn must name another stage than sourceStageArn")
	}
	return
}

// StartParticipantReplication replicates a participant publishing on the
// source stage's active session into the destination stage: a replica
// participant there (REPLICA; the source's id and user id, its attributes
// with in.Attributes merged over them) publishes the same media until
// StopParticipantReplication, or until the source stops publishing for
// longer than the reconnect window.
func (s *Service) StartParticipantReplication(ctx context.Context, in StartParticipantReplicationInput) error {
	if _, _, err := s.replicationStages(ctx, in.SourceStageARN, in.DestinationStageARN, in.ParticipantID); err != nil {
		return err
	}
	window := int32(0)
	if in.ReconnectWindowSeconds != nil {
		window = *in.ReconnectWindowSeconds
		if window < 0 || window > 300 {
			return ivs.Validation("reconnectWindowSeconds", "reconnectWindowSeconds must be 0 to 300, got %d", window)
		}
	}
	n := 0
	for k, v := range in.Attributes {
		n += len(k) + len(v)
	}
	if n > maxAttributeBytes {
		return ivs.Validation("attributes", "attributes may hold at most 1 KB of keys and values, got %d bytes", n)
	}
	s.mu.Lock()
	r, err := s.startReplication(ctx, in, window)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if s.hooks.ReplicationStarted != nil {
		if err := s.hooks.ReplicationStarted(r); err != nil {
			s.mu.Lock()
			_, _ = s.stopReplication(ctx, r.Key, false) // undo: it never started
			s.mu.Unlock()
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.replicationEvents(ctx, r, EventReplicationStarted)
}

// startReplication records a replication (s.mu held).
func (s *Service) startReplication(ctx context.Context, in StartParticipantReplicationInput, window int32) (Replication, error) {
	src, dst, err := s.replicationStages(ctx, in.SourceStageARN, in.DestinationStageARN, in.ParticipantID)
	if err != nil {
		return Replication{}, err
	}
	src, p, err := s.connected(ctx, src.ID, in.ParticipantID)
	if errors.Is(err, ErrNotJoined) {
		return Replication{}, &ivs.Error{Code: ivs.CodeResourceNotFound,
			Message: fmt.Sprintf("participant %s is not connected to stage %s", in.ParticipantID, in.SourceStageARN)}
	}
	if err != nil {
		return Replication{}, err
	}
	if p.ReplicationType == ReplicationReplica {
		return Replication{}, ivs.Validation("participantId", "participant %s is a replica; replicate its source instead", in.ParticipantID)
	}
	if on, err := s.publishing(ctx, src.ID, src.ActiveSessionID, p.ParticipantID); err != nil {
		return Replication{}, err
	} else if !on {
		return Replication{}, &ivs.Error{Code: ivs.CodeConflict,
			Message: fmt.Sprintf("participant %s does not publish on stage %s", in.ParticipantID, in.SourceStageARN)}
	}
	key := src.ID + "/" + p.ParticipantID + "/" + dst.ID
	if old, err := s.replications().Get(ctx, key, key); err == nil && old.State == ReplicationActive {
		return Replication{}, &ivs.Error{Code: ivs.CodeConflict,
			Message: fmt.Sprintf("participant %s is replicated to stage %s already", in.ParticipantID, in.DestinationStageARN)}
	} else if err != nil && !isNotFound(err) {
		return Replication{}, err
	}
	// A replica of an earlier replication may not have left yet: its
	// leave is on its way.
	if d, err := s.sessions.GetParticipant(ctx, dst.ID, dst.ActiveSessionID, p.ParticipantID); err == nil && dst.ActiveSessionID != "" &&
		d.State == StateConnected && d.ReplicationType != ReplicationReplica {
		return Replication{}, &ivs.Error{Code: ivs.CodeConflict,
			Message: fmt.Sprintf("participant %s is connected to stage %s itself", in.ParticipantID, in.DestinationStageARN)}
	}
	now := s.now().UTC()
	dsid, err := s.ensureSession(ctx, &dst, now)
	if err != nil {
		return Replication{}, err
	}
	attrs := ivs.CloneTags(p.Attributes)
	if attrs == nil {
		attrs = map[string]string{}
	}
	maps.Copy(attrs, in.Attributes)
	r := Replication{Key: key, SourceStageARN: src.ARN, SourceSessionID: src.ActiveSessionID, DestinationStageARN: dst.ARN,
		DestinationSessionID: dsid, ParticipantID: p.ParticipantID, UserID: p.UserID, Attributes: attrs,
		ReconnectWindowSeconds: window, State: ReplicationActive, StartTime: now}
	if err := s.replications().Put(ctx, &r, now); err != nil {
		return Replication{}, err
	}
	ix := replicaIndex{Key: dst.ID + "/" + p.ParticipantID, Replication: key}
	if err := s.replicaIndex().Put(ctx, &ix, now); err != nil {
		return Replication{}, err
	}
	// The replica is a participant of the destination's session from now:
	// its join (the media side's, which follows) finds it there.
	rp, err := s.sessions.GetParticipant(ctx, dst.ID, dsid, p.ParticipantID)
	if err != nil && !errors.Is(err, ivs.ErrNotFound) {
		return Replication{}, fmt.Errorf("ivsrealtime: get participant: %w", err)
	}
	if err != nil {
		rp = Participant{ParticipantID: p.ParticipantID, State: StateDisconnected, FirstJoinTime: now, RecordingState: "DISABLED"}
	}
	rp.UserID, rp.Attributes = p.UserID, attrs
	rp.ReplicationType, rp.ReplicationState = ReplicationReplica, ReplicationActive
	rp.SourceStageARN, rp.SourceSessionID = src.ARN, src.ActiveSessionID
	if err := s.sessions.PutParticipant(ctx, dst.ID, dsid, rp); err != nil {
		return Replication{}, fmt.Errorf("ivsrealtime: store participant: %w", err)
	}
	p.ReplicationType, p.ReplicationState = ReplicationSource, ReplicationActive
	if err := s.sessions.PutParticipant(ctx, src.ID, src.ActiveSessionID, p); err != nil {
		return Replication{}, fmt.Errorf("ivsrealtime: store participant: %w", err)
	}
	return r, nil
}

// ensureSession starts st's session if none is active (s.mu held) and
// returns its id.
func (s *Service) ensureSession(ctx context.Context, st *Stage, now time.Time) (string, error) {
	if st.ActiveSessionID != "" {
		return st.ActiveSessionID, nil
	}
	ss := StageSession{StageID: st.ID, SessionID: ivs.NewStageSessionID(), StartTime: now}
	if err := s.sessions.CreateStageSession(ctx, ss); err != nil {
		return "", fmt.Errorf("ivsrealtime: start stage session: %w", err)
	}
	st.ActiveSessionID = ss.SessionID
	if err := s.stages().Update(ctx, st, st.ARN); err != nil {
		return "", err
	}
	if err := s.emitStageUpdate(ctx, st, now, ivs.EventDetail{EventName: EventNameSessionCreated, SessionID: ss.SessionID}); err != nil {
		return "", err
	}
	return ss.SessionID, nil
}

// replicationEvents adds a REPLICATION_STARTED or _STOPPED event to the
// source participant and to its replica (s.mu held): each names the
// destination; the replica's is marked replica.
func (s *Service) replicationEvents(ctx context.Context, r Replication, name string) error {
	now := s.now().UTC()
	for _, side := range []struct {
		stageID, sid string
		replica      bool
	}{{r.SourceStageID(), r.SourceSessionID, false}, {r.DestinationStageID(), r.DestinationSessionID, true}} {
		st, err := s.StageByID(ctx, side.stageID)
		if isNotFound(err) {
			continue // deleted meanwhile: its sessions are gone
		}
		if err != nil {
			return err
		}
		e := Event{Name: name, ParticipantID: r.ParticipantID, EventTime: now, DestinationStageARN: r.DestinationStageARN,
			DestinationSessionID: r.DestinationSessionID, Replica: side.replica}
		if err := s.addEvent(ctx, &st, side.sid, r.UserID, e); err != nil {
			return err
		}
	}
	return nil
}

// StopParticipantReplicationInput is the input of StopParticipantReplication.
type StopParticipantReplicationInput struct {
	SourceStageARN      string `json:"sourceStageArn"`
	DestinationStageARN string `json:"destinationStageArn"`
	ParticipantID       string `json:"participantId"`
}

// StopParticipantReplication ends an active replication: the replica
// leaves the destination stage.
func (s *Service) StopParticipantReplication(ctx context.Context, in StopParticipantReplicationInput) error {
	src, dst, err := s.replicationStages(ctx, in.SourceStageARN, in.DestinationStageARN, in.ParticipantID)
	if err != nil {
		return err
	}
	key := src.ID + "/" + in.ParticipantID + "/" + dst.ID
	s.mu.Lock()
	r, err := s.stopReplication(ctx, key, true)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if s.hooks.ReplicationStopped != nil {
		s.hooks.ReplicationStopped(r)
	}
	return nil
}

// ReplicationEnded records that the media side ended a replication by
// itself (the source stayed away past the window, the replica was
// disconnected, a stage was deleted). One that is stopped already is no
// error.
func (s *Service) ReplicationEnded(ctx context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.stopReplication(ctx, key, true)
	if isNotFound(err) {
		return nil
	}
	return err
}

// stopReplication marks an active replication STOPPED, and its
// participants (s.mu held); events says whether REPLICATION_STOPPED
// events follow (not for a start undone).
func (s *Service) stopReplication(ctx context.Context, key string, events bool) (Replication, error) {
	r, err := s.replications().Get(ctx, key, key)
	if err == nil && r.State != ReplicationActive {
		err = &ivs.Error{Code: ivs.CodeResourceNotFound, Message: fmt.Sprintf("participant replication %s is not active", key)}
	}
	if err != nil {
		if isNotFound(err) {
			return r, &ivs.Error{Code: ivs.CodeResourceNotFound, Message: "no active replication of the participant to that stage"}
		}
		return r, err
	}
	now := s.now().UTC()
	r.State, r.EndTime = ReplicationStopped, &now
	if err := s.replications().Put(ctx, &r, now); err != nil {
		return r, err
	}
	if err := s.setReplicationState(ctx, r.DestinationStageID(), r.DestinationSessionID, r.ParticipantID, ""); err != nil {
		return r, err
	}
	// The source stays SOURCE while another replication of it is active.
	others, err := s.activeReplicasOf(ctx, r.SourceStageID(), r.ParticipantID)
	if err != nil {
		return r, err
	}
	if len(others) == 0 {
		if err := s.setReplicationState(ctx, r.SourceStageID(), r.SourceSessionID, r.ParticipantID, ""); err != nil {
			return r, err
		}
	}
	if events {
		return r, s.replicationEvents(ctx, r, EventReplicationStopped)
	}
	return r, nil
}

// setReplicationState makes a session's participant's replication STOPPED
// (typ "": its type stays).
func (s *Service) setReplicationState(ctx context.Context, stageID, sid, participantID, typ string) error {
	p, err := s.sessions.GetParticipant(ctx, stageID, sid, participantID)
	if errors.Is(err, ivs.ErrNotFound) {
		return nil // its stage was deleted
	}
	if err != nil {
		return fmt.Errorf("ivsrealtime: get participant: %w", err)
	}
	p.ReplicationState = ReplicationStopped
	if typ != "" {
		p.ReplicationType = typ
	}
	if err := s.sessions.PutParticipant(ctx, stageID, sid, p); err != nil {
		return fmt.Errorf("ivsrealtime: store participant: %w", err)
	}
	return nil
}

// replicasOf lists a participant's replications from a stage, oldest
// first.
func (s *Service) replicasOf(ctx context.Context, stageID, participantID string) ([]Replication, error) {
	prefix := stageID + "/" + participantID + "/"
	var out []Replication
	after := prefix
	for {
		rs, err := s.replications().List(ctx, after, 100)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if !strings.HasPrefix(r.Key, prefix) {
				return sortByStart(out), nil
			}
			out = append(out, r)
		}
		if len(rs) < 100 {
			return sortByStart(out), nil
		}
		after = rs[len(rs)-1].Key
	}
}

func sortByStart(rs []Replication) []Replication {
	slices.SortStableFunc(rs, func(a, b Replication) int { return a.StartTime.Compare(b.StartTime) })
	return rs
}

func (s *Service) activeReplicasOf(ctx context.Context, stageID, participantID string) ([]Replication, error) {
	rs, err := s.replicasOf(ctx, stageID, participantID)
	return slices.DeleteFunc(rs, func(r Replication) bool { return r.State != ReplicationActive }), err
}

// ListParticipantReplicasInput is the input of ListParticipantReplicas.
type ListParticipantReplicasInput struct {
	SourceStageARN string `json:"sourceStageArn"`
	ParticipantID  string `json:"participantId"`
	NextToken      string `json:"nextToken"`
	MaxResults     *int32 `json:"maxResults"`
}

// ListParticipantReplicas returns a page of a participant's replications
// from a stage, oldest first: one per destination, the latest to it
// (active or stopped).
func (s *Service) ListParticipantReplicas(ctx context.Context, in ListParticipantReplicasInput) ([]ParticipantReplica, string, error) {
	src, err := s.stage(ctx, "sourceStageArn", in.SourceStageARN)
	if err != nil {
		return nil, "", err
	}
	if !tokenIDRe.MatchString(in.ParticipantID) {
		return nil, "", ivs.Validation("participantId", "participantId must be 1 to 64 of [a-zA-Z0-9-_]")
	}
	if in.MaxResults != nil && (*in.MaxResults < 1 || *in.MaxResults > maxReplicaResults) {
		return nil, "", ivs.Validation("maxResults", "maxResults must be 1 to %d, got %d", maxReplicaResults, *in.MaxResults)
	}
	rs, err := s.replicasOf(ctx, src.ID, in.ParticipantID)
	if err != nil {
		return nil, "", err
	}
	got, next, err := page(rs, in.NextToken, in.MaxResults, maxReplicaResults, func(r Replication) string { return r.Key })
	if err != nil {
		return nil, "", err
	}
	out := make([]ParticipantReplica, len(got))
	for i, r := range got {
		out[i] = ParticipantReplica{SourceStageARN: r.SourceStageARN, ParticipantID: r.ParticipantID, SourceSessionID: r.SourceSessionID,
			DestinationStageARN: r.DestinationStageARN, DestinationSessionID: r.DestinationSessionID, ReplicationState: r.State}
	}
	return out, next, nil
}

// EndInterruptedReplications stops the replications a stop left active
// (their media is gone) and returns how many. app runs it at start.
func (s *Service) EndInterruptedReplications(ctx context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.replications().All(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range all {
		if r.State != ReplicationActive {
			continue
		}
		if _, err := s.stopReplication(ctx, r.Key, true); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
