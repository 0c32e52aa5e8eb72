// Package ivschat is the domain of IVS Chat's control plane: rooms, chat
// tokens and logging configurations, with IVS Chat's validation rules and
// errors. It shares the IVS domain's helpers (ARNs, ids, validation errors,
// tags, documents) and knows nothing of HTTP; the api package puts it on the
// wire and the chat package serves the messaging WebSocket.
package ivschat

import (
	"context"
	"time"

	"github.com/onair-video/onair/internal/ivs"
)

// Service implements the IVS Chat operations.
type Service struct {
	scope   ivs.Scope
	docs    ivs.DocStore
	secrets *ivs.Secrets
	now     func() time.Time
}

// Config holds a Service's dependencies.
type Config struct {
	// Region and AccountID name the resources in ARNs.
	Region    string
	AccountID string
	// Docs keeps rooms, logging configurations and the chat-token key as
	// documents: IVS Chat's storage needs no table of its own.
	Docs ivs.DocStore
}

// New returns a service. It starts nothing.
func New(cfg Config) *Service {
	return &Service{scope: ivs.Scope{Region: cfg.Region, Account: cfg.AccountID}, docs: cfg.Docs,
		secrets: ivs.NewSecrets(cfg.Docs, time.Now), now: time.Now}
}

// ListTagsForResource returns the tags of the IVS Chat resource named by arn.
func (s *Service) ListTagsForResource(ctx context.Context, arn string) (map[string]string, error) {
	return ivs.ResourceTags(s.resourceTags).List(ctx, arn)
}

// TagResource adds or replaces tags on an IVS Chat resource.
func (s *Service) TagResource(ctx context.Context, arn string, tags map[string]string) error {
	return ivs.ResourceTags(s.resourceTags).Tag(ctx, arn, tags)
}

// UntagResource removes tags from an IVS Chat resource.
func (s *Service) UntagResource(ctx context.Context, arn string, keys []string) error {
	return ivs.ResourceTags(s.resourceTags).Untag(ctx, arn, keys)
}

// resourceTags is the ivs.ResourceTags of rooms and logging configurations.
func (s *Service) resourceTags(ctx context.Context, arn string) (map[string]string, func(map[string]string) error, error) {
	a, err := ivs.ParseARN("resourceArn", arn)
	if err != nil {
		return nil, nil, err
	}
	switch a.Resource {
	case ivs.ResourceRoom:
		r, err := s.room(ctx, "resourceArn", arn)
		if err != nil {
			return nil, nil, err
		}
		return ivs.CloneTags(r.Tags), func(t map[string]string) error {
			r.Tags = t
			return s.rooms().Update(ctx, &r, arn)
		}, nil
	case ivs.ResourceLoggingConfiguration:
		l, err := s.loggingConfiguration(ctx, "resourceArn", arn)
		if err != nil {
			return nil, nil, err
		}
		return ivs.CloneTags(l.Tags), func(t map[string]string) error {
			l.Tags = t
			return s.loggingConfigs().Update(ctx, &l, arn)
		}, nil
	default:
		return nil, nil, ivs.NotFound(a.Resource, arn)
	}
}
