// Package ivsrealtime is the domain of IVS Real-Time Streaming's control
// plane (Stages): stages, participant tokens and their verification,
// participants, stage sessions and participant events, public keys for
// self-signed tokens, encoder and storage configurations, with IVS's
// validation rules and errors. It shares the IVS domain's helpers (ARNs,
// ids, validation errors, tags, documents) and knows nothing of HTTP: the
// api package puts it on the wire, and the media side (the events
// WebSocket and WHIP) verifies joins and reports participants through it.
package ivsrealtime

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/onair-video/onair/internal/ivs"
)

// Resource types of Stages' ARNs (all in the ivs ARN namespace).
const (
	ResourceStage                   = "stage"
	ResourcePublicKey               = "public-key"
	ResourceEncoderConfiguration    = "encoder-configuration"
	ResourceStorageConfiguration    = "storage-configuration"
	ResourceComposition             = "composition"
	ResourceIngestConfiguration     = "ingest-configuration"
	resourceTokenKey                = "stage-token-key"
	resourceDisconnectedParticipant = "stage-disconnected"
)

// resources are the ARN resource types of this service: the tag
// operations, which IVS and Stages share, go by them.
var resources = map[string]bool{
	ResourceStage: true, ResourcePublicKey: true, ResourceEncoderConfiguration: true,
	ResourceStorageConfiguration: true, ResourceComposition: true, ResourceIngestConfiguration: true,
}

// OwnsResourceType tells whether an ARN's resource type belongs to Stages.
func OwnsResourceType(resource string) bool { return resources[resource] }

// Endpoints are the stage endpoints onair serves, as URLs without query
// string or trailing slash: the web SDK appends its own. They depend on the
// request (the Host it was sent to) unless a public host is configured, so
// the caller gives them per call.
type Endpoints struct {
	Events string `json:"events"`
	WHIP   string `json:"whip"`
	// RTMP and RTMPS are where encoders publish with an ingest
	// configuration's stream key (appended, as IVS's): empty when that
	// listener is off.
	RTMP  string `json:"rtmp"`
	RTMPS string `json:"rtmps"`
}

// Hooks are what the service tells the media side. Each may be nil.
type Hooks struct {
	// ParticipantDisconnected is called after DisconnectParticipant: the
	// media side closes that participant's connections.
	ParticipantDisconnected func(stageID, participantID, reason string)
	// StageDeleted is called after DeleteStage: the media side closes every
	// connection of the stage.
	StageDeleted func(stageID string)
	// ParticipantConnected says whether the media side has the participant
	// connected: its join may not be recorded yet (the media side records
	// it asynchronously), and DisconnectParticipant must still disconnect
	// it. nil: only recorded joins count.
	ParticipantConnected func(stageID, participantID string) bool
	// IngestActive says whether an encoder publishes with an ingest
	// configuration now (its state ACTIVE). nil: none does.
	IngestActive func(configID string) bool
	// IngestDeleted is called after DeleteIngestConfiguration: the media
	// side cuts off an encoder publishing with it.
	IngestDeleted func(configID string)
	// ReplicationStarted starts a replication's media: its replica joins
	// the destination stage and publishes. An error fails
	// StartParticipantReplication, which undoes the record.
	ReplicationStarted func(r Replication) error
	// ReplicationStopped is called after StopParticipantReplication: the
	// replica leaves the destination.
	ReplicationStopped func(r Replication)
}

// Config holds a Service's dependencies.
type Config struct {
	// Region and AccountID name the resources in ARNs.
	Region    string
	AccountID string
	// Docs keeps stages, public keys, encoder and storage configurations
	// and the token-signing key as documents.
	Docs ivs.DocStore
	// Sessions keeps stage sessions, participants and their events.
	Sessions SessionStore
	// CheckBucket tells whether a storage configuration's bucket can be
	// written; nil accepts any bucket.
	CheckBucket ivs.BucketChecker
	Hooks       Hooks
	// Emit stores an EventBridge event in the event log that webhooks and
	// the SSE stream deliver (the ivs service's Emit); nil emits nothing.
	Emit func(context.Context, ivs.Event) (ivs.Event, error)
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Service implements the IVS Real-Time operations.
type Service struct {
	scope    ivs.Scope
	docs     ivs.DocStore
	sessions SessionStore
	check    ivs.BucketChecker
	hooks    Hooks
	emit     func(context.Context, ivs.Event) (ivs.Event, error)
	now      func() time.Time
	// mu orders the changes to a stage document and its sessions: joins,
	// leaves and the API's updates read, change and write back the stage
	// (its activeSessionId), which must not lose one another's writes.
	mu sync.Mutex
	// keyMu guards the signing key, loaded or made on first use.
	keyMu sync.Mutex
	key   *signingKey
}

// New returns a service. It starts nothing.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{scope: ivs.Scope{Region: cfg.Region, Account: cfg.AccountID}, docs: cfg.Docs, sessions: cfg.Sessions,
		check: cfg.CheckBucket, hooks: cfg.Hooks, emit: cfg.Emit, now: cfg.Now}
}

// NotServed is the ValidationException of the operations and fields that
// belong to a later issue.
func NotServed(what string) error {
	return ivs.Validation("", "%s is not served yet; see docs/api-compat.md", what)
}

// quota is the ServiceQuotaExceeded of a resource count at its limit.
func quota(noun string, n, limit int) error {
	return &ivs.Error{Code: ivs.CodeServiceQuotaExceeded, Limit: limit,
		Message: fmt.Sprintf("the account has %d %s, the most it may have (%d)", n, noun, limit)}
}

// ListTagsForResource returns the tags of the Stages resource named by arn.
func (s *Service) ListTagsForResource(ctx context.Context, arn string) (map[string]string, error) {
	return ivs.ResourceTags(s.resourceTags).List(ctx, arn)
}

// TagResource adds or replaces tags on a Stages resource.
func (s *Service) TagResource(ctx context.Context, arn string, tags map[string]string) error {
	return ivs.ResourceTags(s.resourceTags).Tag(ctx, arn, tags)
}

// UntagResource removes tags from a Stages resource.
func (s *Service) UntagResource(ctx context.Context, arn string, keys []string) error {
	return ivs.ResourceTags(s.resourceTags).Untag(ctx, arn, keys)
}

// resourceTags is the ivs.ResourceTags of stages, public keys, encoder and
// storage configurations.
func (s *Service) resourceTags(ctx context.Context, arn string) (map[string]string, func(map[string]string) error, error) {
	a, err := ivs.ParseARN("resourceArn", arn)
	if err != nil {
		return nil, nil, err
	}
	if a.Region != s.scope.Region || a.Account != s.scope.Account {
		return nil, nil, ivs.NotFound(a.Resource, arn)
	}
	switch a.Resource {
	case ResourceStage:
		st, err := s.stages().Get(ctx, a.ID, arn)
		if err != nil {
			return nil, nil, err
		}
		return ivs.CloneTags(st.Tags), func(t map[string]string) error {
			// Read again under the lock: a join may have changed the stage.
			s.mu.Lock()
			defer s.mu.Unlock()
			cur, err := s.stages().Get(ctx, a.ID, arn)
			if err != nil {
				return err
			}
			cur.Tags = t
			return s.stages().Update(ctx, &cur, arn)
		}, nil
	case ResourcePublicKey:
		return docTags(ctx, s.publicKeys(), a.ID, arn, func(k *PublicKey) *map[string]string { return &k.Tags })
	case ResourceEncoderConfiguration:
		return docTags(ctx, s.encoderConfigs(), a.ID, arn, func(e *EncoderConfiguration) *map[string]string { return &e.Tags })
	case ResourceStorageConfiguration:
		return docTags(ctx, s.storageConfigs(), a.ID, arn, func(c *StorageConfiguration) *map[string]string { return &c.Tags })
	case ResourceIngestConfiguration:
		return docTags(ctx, s.ingestConfigs(), a.ID, arn, func(c *IngestConfiguration) *map[string]string { return &c.Tags })
	default:
		return nil, nil, ivs.NotFound(a.Resource, arn)
	}
}

func docTags[T any](ctx context.Context, d ivs.Docs[T], id, arn string, tags func(*T) *map[string]string) (map[string]string, func(map[string]string) error, error) {
	v, err := d.Get(ctx, id, arn)
	if err != nil {
		return nil, nil, err
	}
	return ivs.CloneTags(*tags(&v)), func(t map[string]string) error {
		*tags(&v) = t
		return d.Update(ctx, &v, arn)
	}, nil
}
