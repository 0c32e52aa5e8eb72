package ivs

import (
	"context"
	"errors"
	"fmt"
)

// MultitrackInput is the optional multitrack configuration of a create or
// update request.
type MultitrackInput struct {
	Enabled           *bool   `json:"enabled"`
	Policy            *string `json:"policy"`
	MaximumResolution *string `json:"maximumResolution"`
}

// ChannelInput holds the settable fields of a channel. A nil field is absent
// from the request: a default on create, unchanged on update (the Go SDK
// omits false and "" so an absent field can't mean "reset").
type ChannelInput struct {
	Name                         *string          `json:"name"`
	LatencyMode                  *string          `json:"latencyMode"`
	Type                         *string          `json:"type"`
	Authorized                   *bool            `json:"authorized"`
	RecordingConfigurationARN    *string          `json:"recordingConfigurationArn"`
	InsecureIngest               *bool            `json:"insecureIngest"`
	Preset                       *string          `json:"preset"`
	PlaybackRestrictionPolicyARN *string          `json:"playbackRestrictionPolicyArn"`
	MultitrackInputConfiguration *MultitrackInput `json:"multitrackInputConfiguration"`
	ContainerFormat              *string          `json:"containerFormat"`
	AdConfigurationARN           *string          `json:"adConfigurationArn"`
}

// CreateChannelInput is the input of CreateChannel.
type CreateChannelInput struct {
	ChannelInput
	Tags map[string]string `json:"tags"`
}

// UpdateChannelInput is the input of UpdateChannel.
type UpdateChannelInput struct {
	ARN string `json:"arn"`
	ChannelInput
}

// ListChannelsInput is the input of ListChannels.
type ListChannelsInput struct {
	FilterByName                         string `json:"filterByName"`
	FilterByRecordingConfigurationARN    string `json:"filterByRecordingConfigurationArn"`
	FilterByPlaybackRestrictionPolicyARN string `json:"filterByPlaybackRestrictionPolicyArn"`
	FilterByAdConfigurationARN           string `json:"filterByAdConfigurationArn"`
	NextToken                            string `json:"nextToken"`
	MaxResults                           *int32 `json:"maxResults"`
}

// apply sets the fields of in on c and checks the result. Fields that name
// other resources must exist: this onair serves no recording configurations,
// playback restriction policies or ad configurations yet, so a non-empty ARN
// of those kinds is ResourceNotFound.
func (s *Service) apply(ctx context.Context, c *Channel, in ChannelInput) error {
	if in.Name != nil {
		if err := ValidateName("name", *in.Name); err != nil {
			return err
		}
		c.Name = *in.Name
	}
	if in.LatencyMode != nil {
		if err := ValidateEnum("latencyMode", *in.LatencyMode, LatencyNormal, LatencyLow); err != nil {
			return err
		}
		c.LatencyMode = *in.LatencyMode
	}
	typeChanged := false
	if in.Type != nil {
		if err := ValidateEnum("type", *in.Type, TypeBasic, TypeStandard, TypeAdvancedSD, TypeAdvancedHD); err != nil {
			return err
		}
		typeChanged = c.Type != *in.Type
		c.Type = *in.Type
	}
	if in.Authorized != nil {
		c.Authorized = *in.Authorized
	}
	if in.InsecureIngest != nil {
		c.InsecureIngest = *in.InsecureIngest
	}
	advanced := c.Type == TypeAdvancedSD || c.Type == TypeAdvancedHD
	switch {
	case in.Preset != nil && *in.Preset != "":
		if err := ValidateEnum("preset", *in.Preset, PresetHigher, PresetConstrained); err != nil {
			return err
		}
		if !advanced {
			return Validation("preset", "preset %s does not match channel type %s: presets are for ADVANCED_SD and ADVANCED_HD channels", *in.Preset, c.Type)
		}
		c.Preset = *in.Preset
	case in.Preset != nil || typeChanged:
		// A type change without a preset resets it (aws-sdk-go-v2 #2262).
		c.Preset = ""
	}
	if advanced && c.Preset == "" {
		c.Preset = PresetHigher
	}
	if !advanced {
		c.Preset = ""
	}
	if in.ContainerFormat != nil {
		if err := ValidateEnum("containerFormat", *in.ContainerFormat, ContainerTS, ContainerFMP4); err != nil {
			return err
		}
		c.ContainerFormat = *in.ContainerFormat
	}
	if m := in.MultitrackInputConfiguration; m != nil {
		if m.Enabled != nil {
			c.MultitrackInputConfiguration.Enabled = *m.Enabled
		}
		if m.Policy != nil {
			if err := ValidateEnum("multitrackInputConfiguration.policy", *m.Policy, "ALLOW", "REQUIRE"); err != nil {
				return err
			}
			c.MultitrackInputConfiguration.Policy = *m.Policy
		}
		if m.MaximumResolution != nil {
			if err := ValidateEnum("multitrackInputConfiguration.maximumResolution", *m.MaximumResolution, "SD", "HD", "FULL_HD"); err != nil {
				return err
			}
			c.MultitrackInputConfiguration.MaximumResolution = *m.MaximumResolution
		}
	}
	if c.MultitrackInputConfiguration.Enabled {
		if c.Type != TypeStandard {
			return Validation("multitrackInputConfiguration.enabled", "multitrackInputConfiguration.enabled: multitrack input is allowed only for STANDARD channels")
		}
		if c.ContainerFormat != ContainerFMP4 {
			return Validation("containerFormat", "containerFormat must be FRAGMENTED_MP4 when multitrack input is enabled")
		}
	}
	for _, ref := range []struct {
		field, kind string
		in          *string
		out         *string
	}{
		{"recordingConfigurationArn", "recording-configuration", in.RecordingConfigurationARN, &c.RecordingConfigurationARN},
		{"playbackRestrictionPolicyArn", "playback-restriction-policy", in.PlaybackRestrictionPolicyARN, &c.PlaybackRestrictionPolicyARN},
		{"adConfigurationArn", "ad-configuration", in.AdConfigurationARN, &c.AdConfigurationARN},
	} {
		if ref.in == nil {
			continue
		}
		if *ref.in != "" {
			if _, err := s.ownARN(ref.field, ref.kind, *ref.in); err != nil {
				return err
			}
			switch ref.kind {
			case ResourceRecordingConfiguration:
				r, err := s.recordingConfiguration(ctx, ref.field, *ref.in)
				if err != nil {
					return err
				}
				*ref.out = r.ARN
			case ResourcePlaybackRestrictionPolicy:
				p, err := s.playbackRestrictionPolicy(ctx, ref.field, *ref.in)
				if err != nil {
					return err
				}
				*ref.out = p.ARN
			default:
				return NotFound(ref.kind, *ref.in) // not served: none can exist
			}
			continue
		}
		*ref.out = ""
	}
	return nil
}

// CreateChannel creates a channel and its stream key.
func (s *Service) CreateChannel(ctx context.Context, in CreateChannelInput) (Channel, StreamKey, error) {
	if err := ValidateTags("tags", in.Tags); err != nil {
		return Channel{}, StreamKey{}, err
	}
	id := NewResourceID()
	c := Channel{
		ARN: s.arn(ResourceChannel, id), ID: id,
		LatencyMode: LatencyLow, Type: TypeStandard, ContainerFormat: ContainerTS,
		MultitrackInputConfiguration: Multitrack{Policy: "ALLOW", MaximumResolution: "FULL_HD"},
		SRT:                          SRT{Passphrase: NewSRTPassphrase()},
		Tags:                         CloneTags(in.Tags),
		CreatedAt:                    s.now().UTC(),
	}
	if err := s.apply(ctx, &c, in.ChannelInput); err != nil {
		return Channel{}, StreamKey{}, err
	}
	k := s.newStreamKey(c, nil)
	if err := s.st.Channels.CreateChannel(ctx, c, &k); err != nil {
		return Channel{}, StreamKey{}, fmt.Errorf("ivs: create channel: %w", err)
	}
	return c, k, nil
}

func (s *Service) newStreamKey(c Channel, tags map[string]string) StreamKey {
	id := NewResourceID()
	return StreamKey{
		ARN: s.arn(ResourceStreamKey, id), ID: id,
		Value:      Secret(NewStreamKeyValue(s.scope.Region)),
		ChannelARN: c.ARN, ChannelID: c.ID,
		Tags:      CloneTags(tags),
		CreatedAt: s.now().UTC(),
	}
}

// GetChannel returns the channel named by arn.
func (s *Service) GetChannel(ctx context.Context, arn string) (Channel, error) {
	return s.channel(ctx, "arn", arn)
}

func (s *Service) channel(ctx context.Context, field, arn string) (Channel, error) {
	a, err := s.ownARN(field, ResourceChannel, arn)
	if err != nil {
		return Channel{}, err
	}
	c, err := s.channelByID(ctx, a.ID)
	if err != nil {
		return Channel{}, storeErr(err, "channel", arn)
	}
	return c, nil
}

// UpdateChannel changes a channel that is not live.
func (s *Service) UpdateChannel(ctx context.Context, in UpdateChannelInput) (Channel, error) {
	c, err := s.channel(ctx, "arn", in.ARN)
	if err != nil {
		return Channel{}, err
	}
	if err := s.notLive(ctx, c, "updated"); err != nil {
		return Channel{}, err
	}
	if err := s.apply(ctx, &c, in.ChannelInput); err != nil {
		return Channel{}, err
	}
	if err := s.writeChannel(c.ID, func() error { return s.st.Channels.UpdateChannel(ctx, c) }); err != nil {
		return Channel{}, storeErr(err, "channel", in.ARN)
	}
	return c, nil
}

func (s *Service) notLive(ctx context.Context, c Channel, verb string) error {
	_, err := s.st.Sessions.OpenStreamSession(ctx, c.ID)
	switch {
	case err == nil:
		return conflictf("channel %s is live and cannot be %s; stop the stream first", c.ARN, verb)
	case errors.Is(err, ErrNotFound):
		return nil
	default:
		return fmt.Errorf("ivs: read stream session: %w", err)
	}
}

// DeleteChannel deletes a channel that is not live, with its stream keys.
func (s *Service) DeleteChannel(ctx context.Context, arn string) error {
	c, err := s.channel(ctx, "arn", arn)
	if err != nil {
		return err
	}
	if err := s.notLive(ctx, c, "deleted"); err != nil {
		return err
	}
	if err := s.writeChannel(c.ID, func() error { return s.st.Channels.DeleteChannel(ctx, c.ID) }); err != nil {
		return storeErr(err, "channel", arn)
	}
	return nil
}

// ListChannels returns a page of channels and the token of the next page.
func (s *Service) ListChannels(ctx context.Context, in ListChannelsInput) ([]Channel, string, error) {
	n, err := ValidatePage(in.NextToken, in.MaxResults, 1, 100, 100)
	if err != nil {
		return nil, "", err
	}
	filters := 0
	for _, f := range []string{in.FilterByName, in.FilterByRecordingConfigurationARN, in.FilterByPlaybackRestrictionPolicyARN, in.FilterByAdConfigurationARN} {
		if f != "" {
			filters++
		}
	}
	if filters > 1 {
		return nil, "", conflictf("filterByName, filterByRecordingConfigurationArn, filterByPlaybackRestrictionPolicyArn and filterByAdConfigurationArn are mutually exclusive")
	}
	after, err := DecodeToken(in.NextToken)
	if err != nil {
		return nil, "", err
	}
	f := ChannelFilter{
		Name: in.FilterByName, RecordingConfigurationARN: in.FilterByRecordingConfigurationARN,
		PlaybackRestrictionPolicyARN: in.FilterByPlaybackRestrictionPolicyARN, AdConfigurationARN: in.FilterByAdConfigurationARN,
	}
	// Ask for one more than a page to know whether another page follows.
	cs, err := s.st.Channels.ListChannels(ctx, f, after, n+1)
	if err != nil {
		return nil, "", fmt.Errorf("ivs: list channels: %w", err)
	}
	cs, next := TrimPage(cs, n, func(x Channel) string { return x.ID })
	return cs, next, nil
}

// BatchGetChannel returns the channels named by arns and an error for each
// one that can't be returned.
func (s *Service) BatchGetChannel(ctx context.Context, arns []string) ([]Channel, []BatchError, error) {
	if len(arns) < 1 || len(arns) > 50 {
		return nil, nil, Validation("arns", "arns must hold 1 to 50 ARNs")
	}
	var cs []Channel
	var errs []BatchError
	for _, arn := range arns {
		c, err := s.channel(ctx, "arns", arn)
		if e, ok := AsError(err); ok {
			errs = append(errs, BatchError{ARN: arn, Code: string(e.Code), Message: e.Message})
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		cs = append(cs, c)
	}
	return cs, errs, nil
}

// Channel returns the channel named by arn; field names the input member
// that carried it (e.g. "channelArn"), for the error message.
func (s *Service) Channel(ctx context.Context, field, arn string) (Channel, error) {
	return s.channel(ctx, field, arn)
}

// refuseIfUsed is a ConflictException if a channel matches f: a resource
// (noun, arn) that channels refer to by field cannot go while one does.
func (s *Service) refuseIfUsed(ctx context.Context, f ChannelFilter, noun, arn, field string) error {
	users, err := s.st.Channels.ListChannels(ctx, f, "", 1)
	if err != nil {
		return fmt.Errorf("ivs: list channels: %w", err)
	}
	if len(users) > 0 {
		return conflictf("%s %s is used by channel %s: detach it first (UpdateChannel with %s \"\")", noun, arn, users[0].ARN, field)
	}
	return nil
}
