package ivsrealtime

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/onair-video/onair/internal/ivs"
)

// Composition states (CompositionState) and destination states
// (DestinationState, which adds RECONNECTING).
const (
	CompositionStarting = "STARTING"
	CompositionActive   = "ACTIVE"
	CompositionStopping = "STOPPING"
	CompositionStopped  = "STOPPED"
	CompositionFailed   = "FAILED"
	DestinationReconn   = "RECONNECTING"
)

// The event names of IVS Composition State Change (detail.event_name).
const (
	EventDestinationStart     = "Destination Start"
	EventDestinationEnd       = "Destination End"
	EventDestinationFailure   = "Destination Failure"
	EventDestinationReconnect = "Destination Reconnect"
	EventSessionStart         = "Session Start"
	EventSessionEnd           = "Session End"
	EventSessionFailure       = "Session Failure"
)

// CompositionRetention is how long a stopped or failed composition can
// still be read before it is deleted (IVS: "a few minutes").
const CompositionRetention = 5 * time.Minute

// Composition is a server-side composition as stored. IdempotencyToken is
// kept to answer a repeated StartComposition; it is not on the wire.
type Composition struct {
	ID       string `json:"id"`
	ARN      string `json:"arn"`
	StageARN string `json:"stageArn"`
	State    string `json:"state"`
	// Layout is the LayoutConfiguration with IVS's defaults, as the
	// compositor normalized it (the layout is the media side's: this
	// package only keeps it).
	Layout           json.RawMessage   `json:"layout"`
	Destinations     []Destination     `json:"destinations"`
	Tags             map[string]string `json:"tags"`
	StartTime        *time.Time        `json:"startTime,omitempty"`
	EndTime          *time.Time        `json:"endTime,omitempty"`
	IdempotencyToken string            `json:"idempotencyToken,omitempty"`
}

// Terminal tells a composition that has ended (STOPPED or FAILED).
func (c *Composition) Terminal() bool {
	return c.State == CompositionStopped || c.State == CompositionFailed
}

// Destination is one output of a composition.
type Destination struct {
	ID            string                   `json:"id"`
	State         string                   `json:"state"`
	StartTime     *time.Time               `json:"startTime,omitempty"`
	EndTime       *time.Time               `json:"endTime,omitempty"`
	Configuration DestinationConfiguration `json:"configuration"`
	Detail        *DestinationDetail       `json:"detail,omitempty"`
}

// DestinationDetail is where an s3 destination records.
type DestinationDetail struct {
	S3 *S3Detail `json:"s3,omitempty"`
}

// S3Detail is an s3 destination's key prefix in its bucket.
type S3Detail struct {
	RecordingPrefix string `json:"recordingPrefix"`
}

// DestinationConfiguration is where a destination goes: a channel or S3.
type DestinationConfiguration struct {
	Name    string                           `json:"name"`
	Channel *ChannelDestinationConfiguration `json:"channel,omitempty"`
	S3      *S3DestinationConfiguration      `json:"s3,omitempty"`
}

// ChannelDestinationConfiguration broadcasts the composite on a channel.
type ChannelDestinationConfiguration struct {
	ChannelARN              string `json:"channelArn"`
	EncoderConfigurationARN string `json:"encoderConfigurationArn,omitempty"`
}

// S3DestinationConfiguration records the composite to a storage
// configuration's bucket as HLS (docs/compositions.md).
type S3DestinationConfiguration struct {
	StorageConfigurationARN  string                 `json:"storageConfigurationArn"`
	EncoderConfigurationARNs []string               `json:"encoderConfigurationArns"`
	RecordingConfiguration   *CompositionRecording  `json:"recordingConfiguration,omitempty"`
	ThumbnailConfigurations  []CompositionThumbnail `json:"thumbnailConfigurations,omitempty"`
}

// CompositionRecording is an s3 destination's recordingConfiguration.
type CompositionRecording struct {
	Format           *string                  `json:"format"`
	HLSConfiguration *CompositionRecordingHLS `json:"hlsConfiguration"`
}

// CompositionRecordingHLS is its hlsConfiguration.
type CompositionRecordingHLS struct {
	TargetSegmentDurationSeconds *int32 `json:"targetSegmentDurationSeconds"`
}

// CompositionThumbnail is an s3 destination's thumbnail configuration.
type CompositionThumbnail struct {
	TargetIntervalSeconds *int32   `json:"targetIntervalSeconds"`
	Storage               []string `json:"storage"`
}

// StartCompositionInput is the input of StartComposition.
type StartCompositionInput struct {
	StageARN         string                     `json:"stageArn"`
	IdempotencyToken *string                    `json:"idempotencyToken"`
	Layout           json.RawMessage            `json:"layout"`
	Destinations     []DestinationConfiguration `json:"destinations"`
	Tags             map[string]string          `json:"tags"`
}

// ListCompositionsInput is the input of ListCompositions.
type ListCompositionsInput struct {
	FilterByStageARN                string `json:"filterByStageArn"`
	FilterByEncoderConfigurationARN string `json:"filterByEncoderConfigurationArn"`
	NextToken                       string `json:"nextToken"`
	MaxResults                      *int32 `json:"maxResults"`
}

// CompositionVideo is one destination the compositor runs: the video it
// encodes (its encoder configuration's, or IVS's defaults without one),
// and for an s3 destination where and how it records.
type CompositionVideo struct {
	DestinationID string
	Video         Video
	S3            *CompositionRecordingTarget
}

// CompositionRecordingTarget is where and how an s3 destination records:
// HLS segments of SegmentDuration under Prefix in Bucket, and thumbnails
// every ThumbnailInterval (0: none), kept in sequence and/or as the latest.
type CompositionRecordingTarget struct {
	Bucket, Prefix     string
	SegmentDuration    time.Duration
	ThumbnailInterval  time.Duration
	Sequential, Latest bool
	StageARN           string
}

// Compositor runs compositions: the media side (package compose's Engine,
// through app). Layout validates a StartComposition's layout (ValidationExceptions
// name the member, "layout.grid.gridGap") and returns it with IVS's
// defaults; an absent one (nil) is the default grid. Start claims the destination channels at once (a channel
// that is live is a ConflictException, an unknown one ResourceNotFound)
// and runs the composition until Stop, reporting its states through
// Service.SetCompositionState and SetDestinationState. Stop says whether
// the composition was running here.
type Compositor interface {
	Layout(raw json.RawMessage) (json.RawMessage, error)
	Start(ctx context.Context, c Composition, video []CompositionVideo) error
	Stop(arn string) bool
}

// SetCompositor installs the media side of compositions; without one,
// StartComposition is refused. Call it before serving.
func (s *Service) SetCompositor(c Compositor) { s.compositor = c }

// SetCompositionRetention changes how long ended compositions stay
// readable (tests).
func (s *Service) SetCompositionRetention(d time.Duration) { s.retention = d }

var clientTokenRe = regexp.MustCompile(`^[a-zA-Z0-9-_]{1,64}$`)

func (s *Service) compositions() ivs.Docs[Composition] {
	return ivs.Docs[Composition]{Store: s.docs, Kind: ResourceComposition, Noun: "composition",
		ID: func(c *Composition) string { return c.ID }}
}

// validateDestinations checks the destinations as IVS's model does (one
// channel, one s3, or one of each) and returns the encoder configuration
// ARN of each (empty: IVS's default video).
func (s *Service) validateDestinations(ctx context.Context, ds []DestinationConfiguration) ([]string, error) {
	if len(ds) < 1 || len(ds) > 2 {
		return nil, ivs.Validation("destinations", "destinations must hold 1 or 2 destinations, got %d", len(ds))
	}
	encoders := make([]string, len(ds))
	channels, s3s := 0, 0
	for i, d := range ds {
		f := fmt.Sprintf("destinations[%d]", i)
		if err := ivs.ValidateName(f+".name", d.Name); err != nil {
			return nil, err
		}
		switch {
		case d.Channel != nil && d.S3 != nil:
			return nil, ivs.Validation(f, "%s must have either channel or s3, not both", f)
		case d.Channel != nil:
			channels++
			if _, err := s.scope.OwnARN(f+".channel.channelArn", ivs.ResourceChannel, d.Channel.ChannelARN); err != nil {
				return nil, err
			}
			if e := d.Channel.EncoderConfigurationARN; e != "" {
				if _, err := s.encoderConfig(ctx, f+".channel.encoderConfigurationArn", e); err != nil {
					return nil, err
				}
				encoders[i] = e
			}
		case d.S3 != nil:
			s3s++
			if err := s.validateS3Destination(ctx, f+".s3", d.S3); err != nil {
				return nil, err
			}
			encoders[i] = d.S3.EncoderConfigurationARNs[0]
		default:
			return nil, ivs.Validation(f, "%s must have a channel or an s3 destination", f)
		}
	}
	if channels > 1 || s3s > 1 {
		return nil, ivs.Validation("destinations", "destinations may hold at most one channel and one s3 destination")
	}
	return encoders, nil
}

// validateS3Destination checks an s3 destination's shape and references,
// so that a client learns of a mistake before that it is not served.
func (s *Service) validateS3Destination(ctx context.Context, f string, d *S3DestinationConfiguration) error {
	if _, err := s.GetStorageConfiguration(ctx, d.StorageConfigurationARN); err != nil {
		if e, ok := ivs.AsError(err); ok && e.Code == ivs.CodeValidation {
			e.Field, e.Message = f+".storageConfigurationArn", strings.Replace(e.Message, "arn", f+".storageConfigurationArn", 1)
		}
		return err
	}
	if len(d.EncoderConfigurationARNs) != 1 {
		return ivs.Validation(f+".encoderConfigurationArns", "%s.encoderConfigurationArns must hold exactly 1 encoder configuration", f)
	}
	if _, err := s.encoderConfig(ctx, f+".encoderConfigurationArns[0]", d.EncoderConfigurationARNs[0]); err != nil {
		return err
	}
	if r := d.RecordingConfiguration; r != nil {
		if r.Format != nil {
			if err := ivs.ValidateEnum(f+".recordingConfiguration.format", *r.Format, "HLS"); err != nil {
				return err
			}
		}
		if h := r.HLSConfiguration; h != nil && h.TargetSegmentDurationSeconds != nil {
			if v := *h.TargetSegmentDurationSeconds; v < 2 || v > 10 {
				return ivs.Validation(f+".recordingConfiguration.hlsConfiguration.targetSegmentDurationSeconds",
					"%s.recordingConfiguration.hlsConfiguration.targetSegmentDurationSeconds must be 2 to 10, got %d", f, v)
			}
		}
	}
	if len(d.ThumbnailConfigurations) > 1 {
		return ivs.Validation(f+".thumbnailConfigurations", "%s.thumbnailConfigurations may hold at most 1 configuration", f)
	}
	for _, t := range d.ThumbnailConfigurations {
		if v := t.TargetIntervalSeconds; v != nil && (*v < 1 || *v > 86400) {
			return ivs.Validation(f+".thumbnailConfigurations[0].targetIntervalSeconds",
				"%s.thumbnailConfigurations[0].targetIntervalSeconds must be 1 to 86400, got %d", f, *v)
		}
		if len(t.Storage) > 2 {
			return ivs.Validation(f+".thumbnailConfigurations[0].storage", "%s.thumbnailConfigurations[0].storage may hold at most 2 types", f)
		}
		for _, st := range t.Storage {
			if err := ivs.ValidateEnum(f+".thumbnailConfigurations[0].storage", st, "SEQUENTIAL", "LATEST"); err != nil {
				return err
			}
		}
	}
	return nil
}

// encoderConfig returns the encoder configuration named by arn; field
// names the member in errors.
func (s *Service) encoderConfig(ctx context.Context, field, arn string) (EncoderConfiguration, error) {
	a, err := s.scope.OwnARN(field, ResourceEncoderConfiguration, arn)
	if err != nil {
		return EncoderConfiguration{}, err
	}
	return s.encoderConfigs().Get(ctx, a.ID, arn)
}

// StartComposition starts composing a stage into its destinations. The
// composition is STARTING when this returns; the compositor reports the
// rest. A repeated idempotencyToken returns the composition it started
// while that is still readable.
func (s *Service) StartComposition(ctx context.Context, in StartCompositionInput) (Composition, error) {
	var c Composition
	if in.StageARN == "" {
		return c, ivs.Validation("stageArn", "stageArn is required")
	}
	if _, err := s.scope.OwnARN("stageArn", ResourceStage, in.StageARN); err != nil {
		return c, err
	}
	token := ""
	if in.IdempotencyToken != nil {
		token = *in.IdempotencyToken
		if !clientTokenRe.MatchString(token) {
			return c, ivs.Validation("idempotencyToken", "idempotencyToken must be 1 to 64 of [a-zA-Z0-9-_]")
		}
	}
	if err := ivs.ValidateTags("tags", in.Tags); err != nil {
		return c, err
	}
	if in.Destinations == nil {
		return c, ivs.Validation("destinations", "destinations is required")
	}
	if _, err := s.validateDestinations(ctx, in.Destinations); err != nil {
		return c, err
	}
	if s.compositor == nil {
		return c, NotServed("StartComposition (no compositor on this server)")
	}
	layout, err := s.compositor.Layout(in.Layout)
	if err != nil {
		return c, err
	}
	if _, err := s.GetStage(ctx, in.StageARN); err != nil {
		return c, err
	}
	if token != "" {
		all, err := s.liveCompositions(ctx)
		if err != nil {
			return c, err
		}
		for _, old := range all {
			if old.IdempotencyToken == token && old.StageARN == in.StageARN {
				return old, nil
			}
		}
	}
	video := make([]CompositionVideo, len(in.Destinations))
	now := s.now().UTC()
	id := ivs.NewResourceID()
	c = Composition{ID: id, ARN: s.scope.ARN(ResourceComposition, id), StageARN: in.StageARN, State: CompositionStarting,
		Layout: layout, Tags: ivs.CloneTags(in.Tags), StartTime: &now, IdempotencyToken: token}
	stageID := in.StageARN[strings.LastIndexByte(in.StageARN, '/')+1:]
	for i, d := range in.Destinations {
		dest := Destination{ID: ivs.NewResourceID(), State: CompositionStarting, Configuration: d}
		if d.S3 != nil {
			// IVS's composite prefix: <stage id>/<composition id>/<destination id>/composite.
			dest.Detail = &DestinationDetail{S3: &S3Detail{RecordingPrefix: fmt.Sprintf("%s/%s/%s/composite", stageID, id, dest.ID)}}
		}
		c.Destinations = append(c.Destinations, dest)
		v, err := s.destinationVideo(ctx, c, dest)
		if err != nil {
			return Composition{}, err
		}
		video[i] = v
	}
	if err := s.compositions().Create(ctx, &c, now); err != nil {
		return Composition{}, err
	}
	if err := s.compositor.Start(ctx, c, video); err != nil {
		if derr := s.compositions().Delete(context.WithoutCancel(ctx), c.ID, c.ARN); derr != nil {
			return Composition{}, fmt.Errorf("ivsrealtime: %w (and deleting the composition: %w)", err, derr)
		}
		return Composition{}, err
	}
	return c, nil
}

// composition returns the composition named by arn, deleting it instead
// when it ended more than the retention ago.
func (s *Service) composition(ctx context.Context, field, arn string) (Composition, error) {
	a, err := s.scope.OwnARN(field, ResourceComposition, arn)
	if err != nil {
		return Composition{}, err
	}
	c, err := s.compositions().Get(ctx, a.ID, arn)
	if err != nil {
		return c, err
	}
	if s.expired(&c) {
		if err := s.compositions().Delete(ctx, c.ID, arn); err != nil {
			return Composition{}, err
		}
		return Composition{}, ivs.NotFound("composition", arn)
	}
	return c, nil
}

func (s *Service) expired(c *Composition) bool {
	return c.Terminal() && c.EndTime != nil && s.now().Sub(*c.EndTime) > s.retentionOrDefault()
}

func (s *Service) retentionOrDefault() time.Duration {
	if s.retention > 0 {
		return s.retention
	}
	return CompositionRetention
}

// GetComposition returns the composition named by arn.
func (s *Service) GetComposition(ctx context.Context, arn string) (Composition, error) {
	return s.composition(ctx, "arn", arn)
}

// liveCompositions returns every composition not yet expired, deleting
// the expired ones.
func (s *Service) liveCompositions(ctx context.Context) ([]Composition, error) {
	all, err := s.compositions().All(ctx)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, c := range all {
		if s.expired(&c) {
			if err := s.compositions().Delete(ctx, c.ID, c.ARN); err != nil {
				return nil, err
			}
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// ListCompositions returns a page of compositions, in id order, of a
// stage or using an encoder configuration when filtered.
func (s *Service) ListCompositions(ctx context.Context, in ListCompositionsInput) ([]Composition, string, error) {
	n, err := ivs.ValidatePage(in.NextToken, in.MaxResults, 1, 100, 100)
	if err != nil {
		return nil, "", err
	}
	after, err := ivs.DecodeToken(in.NextToken)
	if err != nil {
		return nil, "", err
	}
	if in.FilterByStageARN != "" {
		if _, err := ivs.ParseARN("filterByStageArn", in.FilterByStageARN); err != nil {
			return nil, "", err
		}
	}
	if in.FilterByEncoderConfigurationARN != "" {
		if _, err := ivs.ParseARN("filterByEncoderConfigurationArn", in.FilterByEncoderConfigurationARN); err != nil {
			return nil, "", err
		}
	}
	all, err := s.liveCompositions(ctx)
	if err != nil {
		return nil, "", err
	}
	var page []Composition
	for _, c := range all {
		if c.ID <= after && after != "" {
			continue
		}
		if in.FilterByStageARN != "" && c.StageARN != in.FilterByStageARN {
			continue
		}
		if in.FilterByEncoderConfigurationARN != "" && !slices.Contains(c.encoderARNs(), in.FilterByEncoderConfigurationARN) {
			continue
		}
		page = append(page, c)
	}
	page, next := ivs.TrimPage(page, n, func(c Composition) string { return c.ID })
	return page, next, nil
}

// encoderARNs are the encoder configurations c's destinations use.
func (c *Composition) encoderARNs() []string {
	var out []string
	for _, d := range c.Destinations {
		if ch := d.Configuration.Channel; ch != nil && ch.EncoderConfigurationARN != "" {
			out = append(out, ch.EncoderConfigurationARN)
		}
		if s3 := d.Configuration.S3; s3 != nil {
			out = append(out, s3.EncoderConfigurationARNs...)
		}
	}
	return out
}

// StopComposition stops a composition: STOPPING now, STOPPED once the
// compositor has ended it. Stopping one that has ended changes nothing.
func (s *Service) StopComposition(ctx context.Context, arn string) error {
	s.mu.Lock()
	c, err := s.composition(ctx, "arn", arn)
	if err != nil || c.Terminal() || c.State == CompositionStopping {
		s.mu.Unlock()
		return err
	}
	c.State = CompositionStopping
	for i := range c.Destinations {
		if d := &c.Destinations[i]; d.State != CompositionStopped && d.State != CompositionFailed {
			d.State = CompositionStopping
		}
	}
	err = s.compositions().Update(ctx, &c, arn)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if s.compositor != nil && s.compositor.Stop(arn) {
		return nil
	}
	// Nothing runs it here (a server that restarted): it ends now.
	for _, d := range c.Destinations {
		if err := s.SetDestinationState(ctx, arn, d.ID, CompositionStopped, ""); err != nil {
			return err
		}
	}
	return s.SetCompositionState(ctx, arn, CompositionStopped, "")
}

// SetCompositionState records a composition's new state, as the
// compositor reports it, and emits its Session event: ACTIVE is Session
// Start, STOPPED Session End, FAILED Session Failure (with reason).
func (s *Service) SetCompositionState(ctx context.Context, arn, state, reason string) error {
	s.mu.Lock()
	c, err := s.composition(ctx, "arn", arn)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	if c.Terminal() || c.State == state {
		s.mu.Unlock()
		return nil
	}
	now := s.now().UTC()
	c.State = state
	if c.Terminal() {
		c.EndTime = &now
	}
	err = s.compositions().Update(ctx, &c, arn)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	name := map[string]string{CompositionActive: EventSessionStart, CompositionStopped: EventSessionEnd,
		CompositionFailed: EventSessionFailure}[state]
	if name == "" {
		return nil
	}
	return s.emitComposition(ctx, &c, now, ivs.EventDetail{EventName: name, Reason: reason})
}

// SetDestinationState records a destination's new state and emits its
// Destination event: ACTIVE is Destination Start, RECONNECTING Destination
// Reconnect, STOPPED Destination End, FAILED Destination Failure.
func (s *Service) SetDestinationState(ctx context.Context, arn, destinationID, state, reason string) error {
	s.mu.Lock()
	c, err := s.composition(ctx, "arn", arn)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	i := slices.IndexFunc(c.Destinations, func(d Destination) bool { return d.ID == destinationID })
	if i < 0 {
		s.mu.Unlock()
		return fmt.Errorf("ivsrealtime: composition %s has no destination %s", arn, destinationID)
	}
	d := &c.Destinations[i]
	if d.State == state || d.State == CompositionStopped || d.State == CompositionFailed {
		s.mu.Unlock()
		return nil
	}
	now := s.now().UTC()
	d.State = state
	switch state {
	case CompositionActive:
		if d.StartTime == nil {
			d.StartTime = &now
		}
	case CompositionStopped, CompositionFailed:
		d.EndTime = &now
	}
	dest := *d
	err = s.compositions().Update(ctx, &c, arn)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	name := map[string]string{CompositionActive: EventDestinationStart, DestinationReconn: EventDestinationReconnect,
		CompositionStopped: EventDestinationEnd, CompositionFailed: EventDestinationFailure}[state]
	if name == "" {
		return nil
	}
	detail := ivs.EventDetail{EventName: name, DestinationID: dest.ID, Reason: reason}
	if ch := dest.Configuration.Channel; ch != nil {
		detail.ChannelARN = ch.ChannelARN
	}
	return s.emitComposition(ctx, &c, now, detail)
}

// emitComposition emits an IVS Composition State Change about c: its
// resources are the composition's and the stage's ARNs, so that the
// stage's event stream (SSE ?stageArn=) carries it.
func (s *Service) emitComposition(ctx context.Context, c *Composition, at time.Time, d ivs.EventDetail) error {
	if s.emit == nil {
		return nil
	}
	d.StageARN = c.StageARN
	_, err := s.emit(ctx, ivs.Event{DetailType: ivs.EventTypeCompositionStateChange, Time: at,
		Resources: []string{c.ARN, c.StageARN}, Detail: d})
	return err
}

// ActiveCompositions returns the compositions that have not ended, to be
// run again when the server starts.
func (s *Service) ActiveCompositions(ctx context.Context) ([]Composition, error) {
	all, err := s.liveCompositions(ctx)
	if err != nil {
		return nil, err
	}
	var out []Composition
	for _, c := range all {
		if !c.Terminal() {
			out = append(out, c)
		}
	}
	return out, nil
}

// ResumeCompositions restarts, on a server that starts, the compositions
// that were running when it stopped; one that cannot start again (its
// channel went live meanwhile) fails with a Session Failure.
func (s *Service) ResumeCompositions(ctx context.Context) error {
	if s.compositor == nil {
		return nil
	}
	cs, err := s.ActiveCompositions(ctx)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.State == CompositionStopping {
			if err := s.StopComposition(ctx, c.ARN); err != nil {
				return err
			}
			continue
		}
		// A recording to S3 does not resume: its HLS ended with the
		// server (a new one would write over its segments). The channel
		// destinations go on.
		var video []CompositionVideo
		for _, d := range c.Destinations {
			if d.State == CompositionStopped || d.State == CompositionFailed {
				continue
			}
			if d.Configuration.S3 != nil {
				if err := s.SetDestinationState(ctx, c.ARN, d.ID, CompositionFailed, "the recording ended when the server stopped"); err != nil {
					return err
				}
				continue
			}
			v, err := s.destinationVideo(ctx, c, d)
			if err != nil {
				return err
			}
			video = append(video, v)
		}
		if len(video) == 0 {
			if err := s.SetCompositionState(ctx, c.ARN, CompositionFailed, "no destination could resume after a restart"); err != nil {
				return err
			}
			continue
		}
		if err := s.compositor.Start(ctx, c, video); err != nil {
			if err := s.SetCompositionState(ctx, c.ARN, CompositionFailed, "could not resume after a restart: "+err.Error()); err != nil {
				return err
			}
		}
	}
	return nil
}

// destinationVideo is what the compositor needs of destination d of c:
// its encoder configuration's video (IVS's defaults without one) and, for
// s3, its bucket, prefix, segments and thumbnails.
func (s *Service) destinationVideo(ctx context.Context, c Composition, d Destination) (CompositionVideo, error) {
	out := CompositionVideo{DestinationID: d.ID, Video: Video{Width: 1280, Height: 720, Framerate: 30, Bitrate: 2_500_000}}
	encoder := ""
	switch {
	case d.Configuration.Channel != nil:
		encoder = d.Configuration.Channel.EncoderConfigurationARN
	case d.Configuration.S3 != nil:
		d3 := d.Configuration.S3
		encoder = d3.EncoderConfigurationARNs[0]
		sc, err := s.GetStorageConfiguration(ctx, d3.StorageConfigurationARN)
		if err != nil {
			return out, err
		}
		t := &CompositionRecordingTarget{Bucket: sc.S3.BucketName, SegmentDuration: 2 * time.Second, StageARN: c.StageARN}
		if d.Detail != nil && d.Detail.S3 != nil {
			t.Prefix = d.Detail.S3.RecordingPrefix
		}
		if r := d3.RecordingConfiguration; r != nil && r.HLSConfiguration != nil && r.HLSConfiguration.TargetSegmentDurationSeconds != nil {
			t.SegmentDuration = time.Duration(*r.HLSConfiguration.TargetSegmentDurationSeconds) * time.Second
		}
		// IVS's composite thumbnails: every 60 s, SEQUENTIAL, unless
		// configured.
		t.ThumbnailInterval, t.Sequential = time.Minute, true
		for _, th := range d3.ThumbnailConfigurations {
			if th.TargetIntervalSeconds != nil {
				t.ThumbnailInterval = time.Duration(*th.TargetIntervalSeconds) * time.Second
			}
			if th.Storage != nil {
				t.Sequential = slices.Contains(th.Storage, "SEQUENTIAL")
				t.Latest = slices.Contains(th.Storage, "LATEST")
			}
		}
		out.S3 = t
	}
	if encoder != "" {
		e, err := s.encoderConfig(ctx, "", encoder)
		if err != nil {
			return out, err
		}
		out.Video = e.Video
	}
	return out, nil
}

// compositionUsing returns an active composition that uses the encoder
// configuration arn, if any.
func (s *Service) compositionUsing(ctx context.Context, encoderARN string) (string, error) {
	cs, err := s.ActiveCompositions(ctx)
	if err != nil {
		return "", err
	}
	for _, c := range cs {
		if slices.Contains(c.encoderARNs(), encoderARN) {
			return c.ARN, nil
		}
	}
	return "", nil
}
