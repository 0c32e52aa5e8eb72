package ivs

import (
	"context"
	"maps"
)

// ListTagsForResource returns the tags of the resource named by arn.
func (s *Service) ListTagsForResource(ctx context.Context, arn string) (map[string]string, error) {
	tags, _, err := s.resourceTags(ctx, arn)
	return tags, err
}

// TagResource adds or replaces tags on a resource.
func (s *Service) TagResource(ctx context.Context, arn string, tags map[string]string) error {
	if len(tags) == 0 {
		return validationf("tags", "tags must hold at least one tag")
	}
	if err := validateTags("tags", tags); err != nil {
		return err
	}
	cur, save, err := s.resourceTags(ctx, arn)
	if err != nil {
		return err
	}
	maps.Copy(cur, tags)
	if len(cur) > maxTags {
		return validationf("tags", "a resource may have at most %d tags", maxTags)
	}
	return save(cur)
}

// UntagResource removes tags from a resource. Keys it does not have are ignored.
func (s *Service) UntagResource(ctx context.Context, arn string, keys []string) error {
	if err := validateTagKeys("tagKeys", keys); err != nil {
		return err
	}
	cur, save, err := s.resourceTags(ctx, arn)
	if err != nil {
		return err
	}
	for _, k := range keys {
		delete(cur, k)
	}
	return save(cur)
}

// resourceTags returns a copy of a resource's tags and a function that stores
// new tags for it.
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
		return cloneTags(c.Tags), func(t map[string]string) error {
			c.Tags = t
			if err := s.writeChannel(c.ID, func() error { return s.store.UpdateChannel(ctx, c) }); err != nil {
				return storeErr(err, "channel", arn)
			}
			return nil
		}, nil
	case ResourceStreamKey:
		k, err := s.streamKey(ctx, "resourceArn", arn)
		if err != nil {
			return nil, nil, err
		}
		return cloneTags(k.Tags), func(t map[string]string) error {
			if err := s.store.UpdateStreamKeyTags(ctx, k.ID, t); err != nil {
				return storeErr(err, "stream key", arn)
			}
			return nil
		}, nil
	case ResourceRecordingConfiguration:
		r, err := s.recordingConfiguration(ctx, "resourceArn", arn)
		if err != nil {
			return nil, nil, err
		}
		return cloneTags(r.Tags), func(t map[string]string) error {
			if err := s.store.UpdateRecordingConfigurationTags(ctx, r.ID, t); err != nil {
				return storeErr(err, "recording configuration", arn)
			}
			return nil
		}, nil
	case ResourcePlaybackRestrictionPolicy:
		p, err := s.playbackRestrictionPolicy(ctx, "resourceArn", arn)
		if err != nil {
			return nil, nil, err
		}
		return cloneTags(p.Tags), func(t map[string]string) error {
			p.Tags = t
			defer s.policyCache.invalidate()
			return s.policies().update(ctx, &p, arn)
		}, nil
	case ResourcePlaybackKey:
		k, err := s.playbackKeyPair(ctx, "resourceArn", arn)
		if err != nil {
			return nil, nil, err
		}
		return cloneTags(k.Tags), func(t map[string]string) error {
			k.Tags = t
			return s.keyPairs().update(ctx, &k, arn)
		}, nil
	case ResourceRoom:
		r, err := s.room(ctx, "resourceArn", arn)
		if err != nil {
			return nil, nil, err
		}
		return cloneTags(r.Tags), func(t map[string]string) error {
			r.Tags = t
			return s.rooms().update(ctx, &r, arn)
		}, nil
	case ResourceLoggingConfiguration:
		l, err := s.loggingConfiguration(ctx, "resourceArn", arn)
		if err != nil {
			return nil, nil, err
		}
		return cloneTags(l.Tags), func(t map[string]string) error {
			l.Tags = t
			return s.loggingConfigs().update(ctx, &l, arn)
		}, nil
	default:
		return nil, nil, notFound(a.Resource, arn)
	}
}
