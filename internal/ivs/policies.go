package ivs

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
)

// ResourcePlaybackRestrictionPolicy is the ARN resource type of a playback
// restriction policy.
const ResourcePlaybackRestrictionPolicy = "playback-restriction-policy"

// Limits of playback restriction policies.
const (
	MaxPlaybackRestrictionPolicies = 50
	maxPolicyCountries             = 250
	maxPolicyOrigins               = 100
	maxOriginLen                   = 128
)

// PlaybackRestrictionPolicy limits where a channel may be played: from which
// countries (by the viewer's address) and from which web origins. An empty
// list allows all.
type PlaybackRestrictionPolicy struct {
	ID                            string            `json:"id"`
	ARN                           string            `json:"arn"`
	Name                          string            `json:"name"`
	AllowedCountries              []string          `json:"allowedCountries"`
	AllowedOrigins                []string          `json:"allowedOrigins"`
	EnableStrictOriginEnforcement bool              `json:"enableStrictOriginEnforcement"`
	Tags                          map[string]string `json:"tags"`
}

// PlaybackRestrictionPolicyInput holds the settable fields; absent (nil)
// means unchanged on update, default on create.
type PlaybackRestrictionPolicyInput struct {
	AllowedCountries              *[]string         `json:"allowedCountries"`
	AllowedOrigins                *[]string         `json:"allowedOrigins"`
	EnableStrictOriginEnforcement *bool             `json:"enableStrictOriginEnforcement"`
	Name                          *string           `json:"name"`
	Tags                          map[string]string `json:"tags"`
}

// UpdatePlaybackRestrictionPolicyInput is the input of UpdatePlaybackRestrictionPolicy.
type UpdatePlaybackRestrictionPolicyInput struct {
	ARN string `json:"arn"`
	PlaybackRestrictionPolicyInput
}

// ListPlaybackRestrictionPoliciesInput is the input of ListPlaybackRestrictionPolicies.
type ListPlaybackRestrictionPoliciesInput struct {
	NextToken  string `json:"nextToken"`
	MaxResults *int32 `json:"maxResults"`
}

// policyCache keeps policies by ARN: playback reads a channel's policy on
// every request.
type policyCache struct {
	mu  sync.Mutex
	gen uint64
	m   map[string]PlaybackRestrictionPolicy
}

func (s *Service) policies() Docs[PlaybackRestrictionPolicy] {
	return Docs[PlaybackRestrictionPolicy]{Store: s.st.Docs, Kind: ResourcePlaybackRestrictionPolicy,
		Noun: "playback restriction policy", ID: func(p *PlaybackRestrictionPolicy) string { return p.ID }}
}

// apply validates in and sets it on p.
func (in *PlaybackRestrictionPolicyInput) apply(p *PlaybackRestrictionPolicy) error {
	if in.AllowedCountries != nil {
		cs := *in.AllowedCountries
		if len(cs) > maxPolicyCountries {
			return Validation("allowedCountries", "allowedCountries may hold at most %d codes", maxPolicyCountries)
		}
		for _, c := range cs {
			if len(c) != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z' {
				return Validation("allowedCountries", "allowedCountries: %q is not an ISO 3166-1 alpha-2 code (two capital letters)", truncateStr(c, 16))
			}
		}
		p.AllowedCountries = append([]string{}, cs...)
	}
	if in.AllowedOrigins != nil {
		os := *in.AllowedOrigins
		if len(os) > maxPolicyOrigins {
			return Validation("allowedOrigins", "allowedOrigins may hold at most %d origins", maxPolicyOrigins)
		}
		for _, o := range os {
			if err := validateOrigin(o); err != nil {
				return err
			}
		}
		p.AllowedOrigins = append([]string{}, os...)
	}
	if in.EnableStrictOriginEnforcement != nil {
		p.EnableStrictOriginEnforcement = *in.EnableStrictOriginEnforcement
	}
	if in.Name != nil {
		if err := ValidateName("name", *in.Name); err != nil {
			return err
		}
		p.Name = *in.Name
	}
	return nil
}

// validateOrigin accepts what an Origin header holds: scheme://host[:port].
func validateOrigin(o string) error {
	bad := Validation("allowedOrigins", "allowedOrigins: %q is not an origin (scheme://host[:port], at most %d characters)", truncateStr(o, 64), maxOriginLen)
	if o == "" || len(o) > maxOriginLen {
		return bad
	}
	u, err := url.Parse(o)
	if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return bad
	}
	return nil
}

func truncateStr(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// CreatePlaybackRestrictionPolicy creates a policy.
func (s *Service) CreatePlaybackRestrictionPolicy(ctx context.Context, in PlaybackRestrictionPolicyInput) (PlaybackRestrictionPolicy, error) {
	if err := ValidateTags("tags", in.Tags); err != nil {
		return PlaybackRestrictionPolicy{}, err
	}
	id := NewResourceID()
	p := PlaybackRestrictionPolicy{ID: id, ARN: s.arn(ResourcePlaybackRestrictionPolicy, id),
		AllowedCountries: []string{}, AllowedOrigins: []string{}, Tags: CloneTags(in.Tags)}
	if err := in.apply(&p); err != nil {
		return PlaybackRestrictionPolicy{}, err
	}
	existing, err := s.policies().List(ctx, "", MaxPlaybackRestrictionPolicies)
	if err != nil {
		return PlaybackRestrictionPolicy{}, err
	}
	if len(existing) >= MaxPlaybackRestrictionPolicies {
		return PlaybackRestrictionPolicy{}, &Error{Code: CodeServiceQuotaExceeded,
			Message: fmt.Sprintf("the account has %d playback restriction policies, the most it may have", len(existing))}
	}
	if err := s.policies().Create(ctx, &p, s.now()); err != nil {
		return PlaybackRestrictionPolicy{}, err
	}
	return p, nil
}

// GetPlaybackRestrictionPolicy returns the policy named by arn.
func (s *Service) GetPlaybackRestrictionPolicy(ctx context.Context, arn string) (PlaybackRestrictionPolicy, error) {
	return s.playbackRestrictionPolicy(ctx, "arn", arn)
}

func (s *Service) playbackRestrictionPolicy(ctx context.Context, field, arn string) (PlaybackRestrictionPolicy, error) {
	a, err := s.ownARN(field, ResourcePlaybackRestrictionPolicy, arn)
	if err != nil {
		return PlaybackRestrictionPolicy{}, err
	}
	return s.policies().Get(ctx, a.ID, arn)
}

// UpdatePlaybackRestrictionPolicy changes the given fields of a policy.
func (s *Service) UpdatePlaybackRestrictionPolicy(ctx context.Context, in UpdatePlaybackRestrictionPolicyInput) (PlaybackRestrictionPolicy, error) {
	p, err := s.playbackRestrictionPolicy(ctx, "arn", in.ARN)
	if err != nil {
		return PlaybackRestrictionPolicy{}, err
	}
	if in.Tags != nil {
		return PlaybackRestrictionPolicy{}, Validation("tags", "tags cannot be changed by UpdatePlaybackRestrictionPolicy: use TagResource")
	}
	if err := in.apply(&p); err != nil {
		return PlaybackRestrictionPolicy{}, err
	}
	defer s.changed(CachePolicies, "")
	defer s.policyCache.invalidate()
	if err := s.policies().Update(ctx, &p, in.ARN); err != nil {
		return PlaybackRestrictionPolicy{}, err
	}
	return p, nil
}

// DeletePlaybackRestrictionPolicy deletes a policy no channel uses.
func (s *Service) DeletePlaybackRestrictionPolicy(ctx context.Context, arn string) error {
	p, err := s.playbackRestrictionPolicy(ctx, "arn", arn)
	if err != nil {
		return err
	}
	if err := s.refuseIfUsed(ctx, ChannelFilter{PlaybackRestrictionPolicyARN: p.ARN}, "playback restriction policy", arn, "playbackRestrictionPolicyArn"); err != nil {
		return err
	}
	defer s.changed(CachePolicies, "")
	defer s.policyCache.invalidate()
	return s.policies().Delete(ctx, p.ID, arn)
}

// ListPlaybackRestrictionPolicies returns a page of policies in id order.
func (s *Service) ListPlaybackRestrictionPolicies(ctx context.Context, in ListPlaybackRestrictionPoliciesInput) ([]PlaybackRestrictionPolicy, string, error) {
	return s.policies().Page(ctx, in.NextToken, in.MaxResults, 100, 100)
}

// PlaybackPolicy returns a channel's policy, through a cache: playback asks
// on every request of a channel that has one.
func (s *Service) PlaybackPolicy(ctx context.Context, arn string) (PlaybackRestrictionPolicy, error) {
	c := &s.policyCache
	c.mu.Lock()
	p, ok := c.m[arn]
	gen := c.gen
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := s.playbackRestrictionPolicy(ctx, "playbackRestrictionPolicyArn", arn)
	if err != nil {
		return PlaybackRestrictionPolicy{}, err
	}
	c.mu.Lock()
	if c.gen == gen {
		if c.m == nil || len(c.m) >= MaxPlaybackRestrictionPolicies*2 {
			c.m = make(map[string]PlaybackRestrictionPolicy)
		}
		c.m[arn] = p
	}
	c.mu.Unlock()
	return p, nil
}

func (c *policyCache) invalidate() {
	c.mu.Lock()
	c.gen++
	c.m = nil
	c.mu.Unlock()
}

// AllowsCountry reports whether a policy admits a viewer in country ("" if
// unknown: a private or unlisted address).
func (p *PlaybackRestrictionPolicy) AllowsCountry(country string) bool {
	if len(p.AllowedCountries) == 0 {
		return true
	}
	for _, c := range p.AllowedCountries {
		if strings.EqualFold(c, country) {
			return true
		}
	}
	return false
}
