package ivsrealtime

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/onair-video/onair/internal/ivs"
)

// Ingest configurations (RTMP/RTMPS publishing into a stage). Each has a
// stream key that an encoder publishes with and a participant id fixed at
// creation: the encoder is that participant of the configuration's stage,
// with the configuration's userId and attributes.

// Ingest protocols (IVS's IngestProtocol) and configuration states.
const (
	IngestRTMP     = "RTMP"
	IngestRTMPS    = "RTMPS"
	IngestActive   = "ACTIVE"
	IngestInactive = "INACTIVE"
	// ProtocolSRT is the participant protocol of an encoder publishing
	// with an ingest configuration's key over SRT (onair's; IVS's
	// ParticipantProtocol has RTMP and RTMPS only).
	ProtocolSRT = "SRT"
)

// MaxIngestConfigurations bounds an account's ingest configurations
// (inferred: IVS's quota page names none).
const MaxIngestConfigurations = 100

// ErrUnknownIngestKey is a stream key that names no ingest configuration.
var ErrUnknownIngestKey = errors.New("ivsrealtime: unknown ingest stream key")

// ErrIngestNoStage is the stream key of an ingest configuration attached to
// no stage (its stageArn is empty: never set, or cleared by
// DisconnectParticipant or DeleteStage).
var ErrIngestNoStage = errors.New("ivsrealtime: the ingest configuration is attached to no stage")

// RedundantIngestCredential is a second credential of a configuration with
// redundantIngest: a backup encoder publishes with it as its own
// participant.
type RedundantIngestCredential struct {
	ParticipantID string `json:"participantId"`
	StreamKey     string `json:"streamKey"`
}

// IngestConfiguration is an ingest configuration as stored. State is not
// stored: it is filled on read (ACTIVE while an encoder publishes with it).
type IngestConfiguration struct {
	ID                         string                      `json:"id"`
	ARN                        string                      `json:"arn"`
	Name                       string                      `json:"name"`
	IngestProtocol             string                      `json:"ingestProtocol"`
	StreamKey                  string                      `json:"streamKey"`
	StageARN                   string                      `json:"stageArn"`
	ParticipantID              string                      `json:"participantId"`
	UserID                     string                      `json:"userId,omitempty"`
	Attributes                 map[string]string           `json:"attributes"`
	InsecureIngest             bool                        `json:"insecureIngest"`
	RedundantIngest            bool                        `json:"redundantIngest"`
	RedundantIngestCredentials []RedundantIngestCredential `json:"redundantIngestCredentials,omitempty"`
	Tags                       map[string]string           `json:"tags"`
	CreateTime                 time.Time                   `json:"createTime"`
	State                      string                      `json:"-"`
}

// CreateIngestConfigurationInput is the input of CreateIngestConfiguration.
type CreateIngestConfigurationInput struct {
	Name            *string           `json:"name"`
	StageARN        *string           `json:"stageArn"`
	UserID          *string           `json:"userId"`
	Attributes      map[string]string `json:"attributes"`
	IngestProtocol  *string           `json:"ingestProtocol"`
	InsecureIngest  *bool             `json:"insecureIngest"`
	RedundantIngest *bool             `json:"redundantIngest"`
	Tags            map[string]string `json:"tags"`
}

// UpdateIngestConfigurationInput is the input of UpdateIngestConfiguration.
type UpdateIngestConfigurationInput struct {
	ARN             string  `json:"arn"`
	StageARN        *string `json:"stageArn"`
	RedundantIngest *bool   `json:"redundantIngest"`
}

// DeleteIngestConfigurationInput is the input of DeleteIngestConfiguration.
type DeleteIngestConfigurationInput struct {
	ARN   string `json:"arn"`
	Force *bool  `json:"force"`
}

// ListIngestConfigurationsInput is the input of ListIngestConfigurations.
type ListIngestConfigurationsInput struct {
	FilterByStageARN *string `json:"filterByStageArn"`
	FilterByState    *string `json:"filterByState"`
	NextToken        string  `json:"nextToken"`
	MaxResults       *int32  `json:"maxResults"`
}

func (s *Service) ingestConfigs() ivs.Docs[IngestConfiguration] {
	return ivs.Docs[IngestConfiguration]{Store: s.docs, Kind: ResourceIngestConfiguration, Noun: "ingest configuration",
		ID: func(c *IngestConfiguration) string { return c.ID }}
}

// withState fills c's state from the media side.
func (s *Service) withState(c IngestConfiguration) IngestConfiguration {
	c.State = IngestInactive
	if s.hooks.IngestActive != nil && s.hooks.IngestActive(c.ID) {
		c.State = IngestActive
	}
	return c
}

// ingestStage checks an IngestConfigurationStageArn: empty, or a stage of
// this account that exists. missing is the error of one that does not.
func (s *Service) ingestStage(ctx context.Context, arn string, missing func(error) error) error {
	if arn == "" {
		return nil
	}
	_, err := s.stage(ctx, "stageArn", arn)
	if isNotFound(err) {
		return missing(err)
	}
	return err
}

// CreateIngestConfiguration creates an ingest configuration with its
// stream key and participant id.
func (s *Service) CreateIngestConfiguration(ctx context.Context, in CreateIngestConfigurationInput) (IngestConfiguration, error) {
	id := ivs.NewResourceID()
	now := s.now().UTC()
	c := IngestConfiguration{ID: id, ARN: s.scope.ARN(ResourceIngestConfiguration, id),
		StreamKey: ivs.NewStageStreamKey(s.scope.Account, s.scope.Region, id), ParticipantID: ivs.NewResourceID(),
		Attributes: ivs.CloneTags(in.Attributes), Tags: ivs.CloneTags(in.Tags), CreateTime: now}
	if c.Attributes == nil {
		c.Attributes = map[string]string{}
	}
	if in.IngestProtocol == nil {
		return c, ivs.Validation("ingestProtocol", "ingestProtocol is required")
	}
	if err := ivs.ValidateEnum("ingestProtocol", *in.IngestProtocol, IngestRTMP, IngestRTMPS); err != nil {
		return c, err
	}
	c.IngestProtocol = *in.IngestProtocol
	if in.InsecureIngest != nil {
		c.InsecureIngest = *in.InsecureIngest
	}
	if c.IngestProtocol == IngestRTMP && !c.InsecureIngest {
		return c, ivs.Validation("insecureIngest", "insecureIngest must be true when ingestProtocol is RTMP")
	}
	if in.Name != nil {
		if err := ivs.ValidateName("name", *in.Name); err != nil {
			return c, err
		}
		c.Name = *in.Name
	}
	if in.UserID != nil {
		if len(*in.UserID) > maxUserIDLen {
			return c, ivs.Validation("userId", "userId must be at most %d characters", maxUserIDLen)
		}
		c.UserID = *in.UserID
	}
	n := 0
	for k, v := range in.Attributes {
		n += len(k) + len(v)
	}
	if n > maxAttributeBytes {
		return c, ivs.Validation("attributes", "attributes may hold at most 1 KB of keys and values, got %d bytes", n)
	}
	if err := ivs.ValidateTags("tags", in.Tags); err != nil {
		return c, err
	}
	if in.StageARN != nil {
		// CreateIngestConfiguration has no ResourceNotFoundException: an
		// unknown stage is a validation error.
		err := s.ingestStage(ctx, *in.StageARN, func(error) error {
			return ivs.Validation("stageArn", "stageArn %s names no stage", *in.StageARN)
		})
		if err != nil {
			return c, err
		}
		c.StageARN = *in.StageARN
	}
	if in.RedundantIngest != nil && *in.RedundantIngest {
		c.setRedundant(s.scope, true)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	count, err := s.ingestConfigs().Count(ctx)
	if err != nil {
		return c, err
	}
	if count >= MaxIngestConfigurations {
		return c, quota("ingest configurations", count, MaxIngestConfigurations)
	}
	if err := s.ingestConfigs().Create(ctx, &c, now); err != nil {
		return c, err
	}
	return s.withState(c), nil
}

// setRedundant gives c its redundant credential (on) or takes it away.
func (c *IngestConfiguration) setRedundant(sc ivs.Scope, on bool) {
	c.RedundantIngest = on
	switch {
	case !on:
		c.RedundantIngestCredentials = nil
	case len(c.RedundantIngestCredentials) == 0:
		c.RedundantIngestCredentials = []RedundantIngestCredential{{ParticipantID: ivs.NewResourceID(),
			StreamKey: ivs.NewStageStreamKey(sc.Account, sc.Region, c.ID)}}
	}
}

// GetIngestConfiguration returns the ingest configuration named by arn.
func (s *Service) GetIngestConfiguration(ctx context.Context, arn string) (IngestConfiguration, error) {
	a, err := s.scope.OwnARN("arn", ResourceIngestConfiguration, arn)
	if err != nil {
		return IngestConfiguration{}, err
	}
	c, err := s.ingestConfigs().Get(ctx, a.ID, arn)
	if err != nil {
		return c, err
	}
	return s.withState(c), nil
}

// UpdateIngestConfiguration attaches a configuration to another stage (or
// none) and turns redundant ingest on or off. Neither may change while an
// encoder publishes with it (ConflictException): DisconnectParticipant or
// a forced delete cuts it off first.
func (s *Service) UpdateIngestConfiguration(ctx context.Context, in UpdateIngestConfigurationInput) (IngestConfiguration, error) {
	if _, err := s.GetIngestConfiguration(ctx, in.ARN); err != nil {
		return IngestConfiguration{}, err
	}
	if in.StageARN != nil {
		if err := s.ingestStage(ctx, *in.StageARN, func(err error) error { return err }); err != nil {
			return IngestConfiguration{}, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.GetIngestConfiguration(ctx, in.ARN)
	if err != nil {
		return c, err
	}
	changes := (in.StageARN != nil && *in.StageARN != c.StageARN) || (in.RedundantIngest != nil && *in.RedundantIngest != c.RedundantIngest)
	if changes && c.State == IngestActive {
		return c, &ivs.Error{Code: ivs.CodeConflict,
			Message: fmt.Sprintf("ingest configuration %s is in use by a publisher; disconnect it first", in.ARN)}
	}
	if in.StageARN != nil {
		c.StageARN = *in.StageARN
	}
	if in.RedundantIngest != nil {
		c.setRedundant(s.scope, *in.RedundantIngest)
	}
	if err := s.ingestConfigs().Update(ctx, &c, in.ARN); err != nil {
		return c, err
	}
	return c, nil
}

// DeleteIngestConfiguration deletes a configuration. One an encoder
// publishes with is a ConflictException unless force: then the encoder is
// cut off (the IngestDeleted hook) and the configuration deleted.
func (s *Service) DeleteIngestConfiguration(ctx context.Context, in DeleteIngestConfigurationInput) error {
	s.mu.Lock()
	c, err := s.GetIngestConfiguration(ctx, in.ARN)
	if err == nil && c.State == IngestActive && (in.Force == nil || !*in.Force) {
		err = &ivs.Error{Code: ivs.CodeConflict,
			Message: fmt.Sprintf("ingest configuration %s is in use by a publisher; delete it with force to disconnect it", in.ARN)}
	}
	if err == nil {
		err = s.ingestConfigs().Delete(ctx, c.ID, in.ARN)
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	// Deleted first: the encoder's reconnect finds its key unknown.
	if s.hooks.IngestDeleted != nil {
		s.hooks.IngestDeleted(c.ID)
	}
	return nil
}

// ListIngestConfigurations returns a page of configurations that pass the
// one filter given, by id.
func (s *Service) ListIngestConfigurations(ctx context.Context, in ListIngestConfigurationsInput) ([]IngestConfiguration, string, error) {
	if in.FilterByStageARN != nil && in.FilterByState != nil {
		return nil, "", ivs.Validation("filterByStageArn", "only one of filterByStageArn and filterByState may be given")
	}
	if v := in.FilterByStageARN; v != nil {
		if _, err := ivs.ParseARN("filterByStageArn", *v); err != nil {
			return nil, "", err
		}
	}
	if v := in.FilterByState; v != nil {
		if err := ivs.ValidateEnum("filterByState", *v, IngestActive, IngestInactive); err != nil {
			return nil, "", err
		}
	}
	if _, err := ivs.ValidatePage(in.NextToken, in.MaxResults, 1, 100, 50); err != nil {
		return nil, "", err
	}
	all, err := s.ingestConfigs().All(ctx)
	if err != nil {
		return nil, "", err
	}
	out := make([]IngestConfiguration, 0, len(all))
	for _, c := range all {
		c = s.withState(c)
		if (in.FilterByStageARN != nil && c.StageARN != *in.FilterByStageARN) || (in.FilterByState != nil && c.State != *in.FilterByState) {
			continue
		}
		out = append(out, c)
	}
	return page(out, in.NextToken, in.MaxResults, 50, func(c IngestConfiguration) string { return c.ID })
}

// IngestPublisher is what an ingest stream key gives the media side: the
// configuration, and the participant its encoder is (the configuration's,
// or a redundant credential's).
type IngestPublisher struct {
	Config        IngestConfiguration
	ParticipantID string
	// StageID is the id of Config.StageARN.
	StageID string
}

// StageStreamKey is a parsed ingest stream key.
type StageStreamKey struct {
	Account, Region, ConfigID, Secret string
}

var (
	accountRe  = regexp.MustCompile(`^[0-9]+$`)
	regionRe   = regexp.MustCompile(`^[a-z0-9-]+$`)
	resourceRe = regexp.MustCompile(`^[a-zA-Z0-9-]+$`)
)

// IsStageStreamKey tells a Stages ingest stream key (rt_…) from a
// channel's (sk_…) without looking it up.
func IsStageStreamKey(key string) bool { return strings.HasPrefix(key, "rt_") }

// ParseStageStreamKey splits a stream key of IVS Real-Time's pattern
// rt_{account}_{region}_{configurationId}_{secret}. It reads what an
// encoder sent: anything else is an error.
func ParseStageStreamKey(key string) (StageStreamKey, error) {
	rest, ok := strings.CutPrefix(key, "rt_")
	if !ok || len(key) > 512 {
		return StageStreamKey{}, ErrUnknownIngestKey
	}
	parts := strings.SplitN(rest, "_", 4)
	if len(parts) != 4 || !accountRe.MatchString(parts[0]) || !regionRe.MatchString(parts[1]) ||
		!resourceRe.MatchString(parts[2]) || parts[3] == "" {
		return StageStreamKey{}, ErrUnknownIngestKey
	}
	return StageStreamKey{Account: parts[0], Region: parts[1], ConfigID: parts[2], Secret: parts[3]}, nil
}

// ResolveIngestKey returns the configuration and participant a stream key
// publishes as. A key that names nothing is ErrUnknownIngestKey; that of a
// configuration attached to no stage is ErrIngestNoStage (wrapped, with
// the configuration).
func (s *Service) ResolveIngestKey(ctx context.Context, key string) (IngestPublisher, error) {
	k, err := ParseStageStreamKey(key)
	if err != nil {
		return IngestPublisher{}, err
	}
	if k.Account != s.scope.Account || k.Region != s.scope.Region {
		return IngestPublisher{}, ErrUnknownIngestKey
	}
	c, err := s.ingestConfigs().Get(ctx, k.ConfigID, s.scope.ARN(ResourceIngestConfiguration, k.ConfigID))
	if isNotFound(err) {
		return IngestPublisher{}, ErrUnknownIngestKey
	}
	if err != nil {
		return IngestPublisher{}, err
	}
	p := IngestPublisher{Config: c}
	if subtle.ConstantTimeCompare([]byte(key), []byte(c.StreamKey)) == 1 {
		p.ParticipantID = c.ParticipantID
	}
	for _, r := range c.RedundantIngestCredentials {
		if subtle.ConstantTimeCompare([]byte(key), []byte(r.StreamKey)) == 1 {
			p.ParticipantID = r.ParticipantID
		}
	}
	if p.ParticipantID == "" {
		return IngestPublisher{}, ErrUnknownIngestKey
	}
	if c.StageARN == "" {
		return p, ErrIngestNoStage
	}
	a, err := ivs.ParseARN("stageArn", c.StageARN)
	if err != nil {
		return p, err
	}
	p.StageID = a.ID
	return p, nil
}

// ingestOf returns the configuration whose participant (or redundant
// credential's) id is participantID, on stage stageARN.
func (s *Service) ingestOf(ctx context.Context, stageARN, participantID string) (IngestConfiguration, bool, error) {
	all, err := s.ingestConfigs().All(ctx)
	if err != nil {
		return IngestConfiguration{}, false, err
	}
	for _, c := range all {
		if c.StageARN != stageARN {
			continue
		}
		if c.ParticipantID == participantID ||
			slices.ContainsFunc(c.RedundantIngestCredentials, func(r RedundantIngestCredential) bool { return r.ParticipantID == participantID }) {
			return c, true, nil
		}
	}
	return IngestConfiguration{}, false, nil
}

// detachIngest clears the stageArn of stageARN's configurations (s.mu
// held): of all of them (DeleteStage), or of the one whose participant is
// participantID (DisconnectParticipant), as IVS does.
func (s *Service) detachIngest(ctx context.Context, stageARN, participantID string) error {
	all, err := s.ingestConfigs().All(ctx)
	if err != nil {
		return err
	}
	for _, c := range all {
		if c.StageARN != stageARN {
			continue
		}
		if participantID != "" && c.ParticipantID != participantID &&
			!slices.ContainsFunc(c.RedundantIngestCredentials, func(r RedundantIngestCredential) bool { return r.ParticipantID == participantID }) {
			continue
		}
		c.StageARN = ""
		if err := s.ingestConfigs().Update(ctx, &c, c.ARN); err != nil && !isNotFound(err) {
			return err
		}
	}
	return nil
}

// IngestRefused records why an encoder's publish with a configuration's
// key was refused, as IVS's PUBLISH_ERROR event with code: an event of the
// participant in the stage's active session when it is connected (a second
// encoder on its key), else a short visit of its own (JOINED,
// PUBLISH_ERROR, LEFT) so that ListParticipantEvents says why.
func (s *Service) IngestRefused(ctx context.Context, p IngestPublisher, code string, protocol string) error {
	if !slices.Contains(errorCodes, code) {
		return fmt.Errorf("ivsrealtime: %q is not an event error code", code)
	}
	if p.StageID == "" {
		return nil // no stage to record it in
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, connected, err := s.connected(ctx, p.StageID, p.ParticipantID)
	if err == nil {
		return s.addEvent(ctx, &st, st.ActiveSessionID, connected.UserID, Event{Name: EventPublishError,
			ParticipantID: p.ParticipantID, EventTime: s.now().UTC(), ErrorCode: code})
	}
	if !errors.Is(err, ErrNotJoined) {
		return err
	}
	now := s.now().UTC()
	if st.ActiveSessionID == "" {
		ss := StageSession{StageID: st.ID, SessionID: ivs.NewStageSessionID(), StartTime: now}
		if err := s.sessions.CreateStageSession(ctx, ss); err != nil {
			return fmt.Errorf("ivsrealtime: start stage session: %w", err)
		}
		st.ActiveSessionID = ss.SessionID
		if err := s.stages().Update(ctx, &st, st.ARN); err != nil {
			return err
		}
		if err := s.emitStageUpdate(ctx, &st, now, ivs.EventDetail{EventName: EventNameSessionCreated, SessionID: ss.SessionID}); err != nil {
			return err
		}
	}
	sid := st.ActiveSessionID
	part, err := s.sessions.GetParticipant(ctx, st.ID, sid, p.ParticipantID)
	switch {
	case err == nil:
		part.State = StateConnected
	case errors.Is(err, ivs.ErrNotFound):
		part = Participant{ParticipantID: p.ParticipantID, UserID: p.Config.UserID, State: StateConnected, FirstJoinTime: now,
			Attributes: ivs.CloneTags(p.Config.Attributes), RecordingState: "DISABLED", ReplicationType: "NONE"}
	default:
		return fmt.Errorf("ivsrealtime: get participant: %w", err)
	}
	part.Protocol = protocol
	part.IngestConfigurationARN, part.RedundantIngest = p.Config.ARN, p.Config.RedundantIngest
	if err := s.sessions.PutParticipant(ctx, st.ID, sid, part); err != nil {
		return fmt.Errorf("ivsrealtime: store participant: %w", err)
	}
	for _, e := range []Event{{Name: EventJoined}, {Name: EventPublishError, ErrorCode: code}} {
		e.ParticipantID, e.EventTime = p.ParticipantID, now
		if err := s.addEvent(ctx, &st, sid, part.UserID, e); err != nil {
			return err
		}
	}
	return s.leave(ctx, &st, part)
}
