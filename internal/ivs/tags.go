package ivs

import (
	"context"
	"maps"
)

// ResourceTags looks up the resource an ARN names and returns a copy of
// its tags and a function that stores new tags for it. Its methods are the
// three tag operations, which IVS and IVS Chat share.
type ResourceTags func(ctx context.Context, arn string) (map[string]string, func(map[string]string) error, error)

// List returns the tags of the resource named by arn.
func (look ResourceTags) List(ctx context.Context, arn string) (map[string]string, error) {
	tags, _, err := look(ctx, arn)
	return tags, err
}

// Tag adds or replaces tags on a resource.
func (look ResourceTags) Tag(ctx context.Context, arn string, tags map[string]string) error {
	if len(tags) == 0 {
		return Validation("tags", "tags must hold at least one tag")
	}
	if err := ValidateTags("tags", tags); err != nil {
		return err
	}
	cur, save, err := look(ctx, arn)
	if err != nil {
		return err
	}
	maps.Copy(cur, tags)
	if len(cur) > maxTags {
		return Validation("tags", "a resource may have at most %d tags", maxTags)
	}
	return save(cur)
}

// Untag removes tags from a resource. Keys it does not have are ignored.
func (look ResourceTags) Untag(ctx context.Context, arn string, keys []string) error {
	if err := validateTagKeys("tagKeys", keys); err != nil {
		return err
	}
	cur, save, err := look(ctx, arn)
	if err != nil {
		return err
	}
	for _, k := range keys {
		delete(cur, k)
	}
	return save(cur)
}

// ListTagsForResource returns the tags of the IVS resource named by arn.
func (s *Service) ListTagsForResource(ctx context.Context, arn string) (map[string]string, error) {
	return ResourceTags(s.resourceTags).List(ctx, arn)
}

// TagResource adds or replaces tags on an IVS resource.
func (s *Service) TagResource(ctx context.Context, arn string, tags map[string]string) error {
	return ResourceTags(s.resourceTags).Tag(ctx, arn, tags)
}

// UntagResource removes tags from an IVS resource.
func (s *Service) UntagResource(ctx context.Context, arn string, keys []string) error {
	return ResourceTags(s.resourceTags).Untag(ctx, arn, keys)
}

// resourceTags is the ResourceTags of IVS's resources; IVS Chat's are
// ivschat's.
func (s *Service) resourceTags(ctx context.Context, arn string) (map[string]string, func(map[string]string) error, error) {
	a, err := ParseARN("resourceArn", arn)
	if err != nil {
		return nil, nil, err
	}
	switch a.Resource {
	case ResourceChannel:
		c, err := s.channel(ctx, "resourceArn", arn)
		if err != nil {
			return nil, nil, err
		}
		return CloneTags(c.Tags), func(t map[string]string) error {
			c.Tags = t
			if err := s.writeChannel(c.ID, func() error { return s.st.Channels.UpdateChannel(ctx, c) }); err != nil {
				return storeErr(err, "channel", arn)
			}
			return nil
		}, nil
	case ResourceStreamKey:
		k, err := s.streamKey(ctx, "resourceArn", arn)
		if err != nil {
			return nil, nil, err
		}
		return CloneTags(k.Tags), func(t map[string]string) error {
			if err := s.st.Channels.UpdateStreamKeyTags(ctx, k.ID, t); err != nil {
				return storeErr(err, "stream key", arn)
			}
			return nil
		}, nil
	case ResourceRecordingConfiguration:
		r, err := s.recordingConfiguration(ctx, "resourceArn", arn)
		if err != nil {
			return nil, nil, err
		}
		return CloneTags(r.Tags), func(t map[string]string) error {
			if err := s.st.RecordingConfigurations.UpdateRecordingConfigurationTags(ctx, r.ID, t); err != nil {
				return storeErr(err, "recording configuration", arn)
			}
			return nil
		}, nil
	case ResourcePlaybackRestrictionPolicy:
		p, err := s.playbackRestrictionPolicy(ctx, "resourceArn", arn)
		if err != nil {
			return nil, nil, err
		}
		return CloneTags(p.Tags), func(t map[string]string) error {
			p.Tags = t
			defer s.changed(CachePolicies, "")
			defer s.policyCache.invalidate()
			return s.policies().Update(ctx, &p, arn)
		}, nil
	case ResourcePlaybackKey:
		k, err := s.playbackKeyPair(ctx, "resourceArn", arn)
		if err != nil {
			return nil, nil, err
		}
		return CloneTags(k.Tags), func(t map[string]string) error {
			k.Tags = t
			return s.keyPairs().Update(ctx, &k, arn)
		}, nil
	default:
		return nil, nil, NotFound(a.Resource, arn)
	}
}
