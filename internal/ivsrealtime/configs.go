package ivsrealtime

import (
	"context"
	"fmt"
	"time"

	"github.com/onair-video/onair/internal/ivs"
)

// Encoder and storage configuration limits, as IVS's.
const (
	// MaxEncoderConfigurations is IVS's quota.
	MaxEncoderConfigurations = 20
	// MaxStorageConfigurations is inferred (IVS's quota page lists none).
	MaxStorageConfigurations = 100

	maxVideoEdge    = 1920
	maxVideoPixels  = 2_073_600
	maxVideoBitrate = 8_500_000
)

// Video is an encoder configuration's video: what compositions encode.
type Video struct {
	Width     int32   `json:"width"`
	Height    int32   `json:"height"`
	Framerate float32 `json:"framerate"`
	Bitrate   int32   `json:"bitrate"`
}

// EncoderConfiguration is how a composition encodes.
type EncoderConfiguration struct {
	ID         string            `json:"id"`
	ARN        string            `json:"arn"`
	Name       string            `json:"name"`
	Video      Video             `json:"video"`
	Tags       map[string]string `json:"tags"`
	CreateTime time.Time         `json:"createTime"`
}

// VideoInput is the video of CreateEncoderConfiguration; absent members
// take IVS's defaults (1280x720, 30 fps, 2.5 Mbps).
type VideoInput struct {
	Width     *int32   `json:"width"`
	Height    *int32   `json:"height"`
	Framerate *float32 `json:"framerate"`
	Bitrate   *int32   `json:"bitrate"`
}

// CreateEncoderConfigurationInput is the input of CreateEncoderConfiguration.
type CreateEncoderConfigurationInput struct {
	Name  *string           `json:"name"`
	Video *VideoInput       `json:"video"`
	Tags  map[string]string `json:"tags"`
}

// ListInput is the input of the list operations without filters.
type ListInput struct {
	NextToken  string `json:"nextToken"`
	MaxResults *int32 `json:"maxResults"`
}

func (s *Service) encoderConfigs() ivs.Docs[EncoderConfiguration] {
	return ivs.Docs[EncoderConfiguration]{Store: s.docs, Kind: ResourceEncoderConfiguration, Noun: "encoder configuration",
		ID: func(e *EncoderConfiguration) string { return e.ID }}
}

func (in *VideoInput) video() (Video, error) {
	v := Video{Width: 1280, Height: 720, Framerate: 30, Bitrate: 2_500_000}
	if in == nil {
		return v, nil
	}
	for _, d := range []struct {
		field string
		p     *int32
		dst   *int32
	}{{"video.width", in.Width, &v.Width}, {"video.height", in.Height, &v.Height}} {
		if d.p == nil {
			continue
		}
		if *d.p < 2 || *d.p > maxVideoEdge || *d.p%2 != 0 {
			return v, ivs.Validation(d.field, "%s must be an even number from 2 to %d, got %d", d.field, maxVideoEdge, *d.p)
		}
		*d.dst = *d.p
	}
	if int64(v.Width)*int64(v.Height) > maxVideoPixels {
		return v, ivs.Validation("video.width", "video.width x video.height must be at most %d pixels, got %dx%d", maxVideoPixels, v.Width, v.Height)
	}
	if f := in.Framerate; f != nil {
		if *f < 1 || *f > 60 {
			return v, ivs.Validation("video.framerate", "video.framerate must be 1 to 60, got %g", *f)
		}
		v.Framerate = *f
	}
	if b := in.Bitrate; b != nil {
		if *b < 1 || *b > maxVideoBitrate {
			return v, ivs.Validation("video.bitrate", "video.bitrate must be 1 to %d bps, got %d", maxVideoBitrate, *b)
		}
		v.Bitrate = *b
	}
	return v, nil
}

// CreateEncoderConfiguration creates an encoder configuration.
func (s *Service) CreateEncoderConfiguration(ctx context.Context, in CreateEncoderConfigurationInput) (EncoderConfiguration, error) {
	id := ivs.NewResourceID()
	now := s.now().UTC()
	e := EncoderConfiguration{ID: id, ARN: s.scope.ARN(ResourceEncoderConfiguration, id), Tags: ivs.CloneTags(in.Tags), CreateTime: now}
	if in.Name != nil {
		if err := ivs.ValidateName("name", *in.Name); err != nil {
			return e, err
		}
		e.Name = *in.Name
	}
	v, err := in.Video.video()
	if err != nil {
		return e, err
	}
	e.Video = v
	if err := ivs.ValidateTags("tags", in.Tags); err != nil {
		return e, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.encoderConfigs().Count(ctx)
	if err != nil {
		return e, err
	}
	if n >= MaxEncoderConfigurations {
		return e, quota("encoder configurations", n, MaxEncoderConfigurations)
	}
	return e, s.encoderConfigs().Create(ctx, &e, now)
}

// GetEncoderConfiguration returns the encoder configuration named by arn.
func (s *Service) GetEncoderConfiguration(ctx context.Context, arn string) (EncoderConfiguration, error) {
	a, err := s.scope.OwnARN("arn", ResourceEncoderConfiguration, arn)
	if err != nil {
		return EncoderConfiguration{}, err
	}
	return s.encoderConfigs().Get(ctx, a.ID, arn)
}

// DeleteEncoderConfiguration deletes an encoder configuration; IVS
// refuses while a composition that has not ended uses it.
func (s *Service) DeleteEncoderConfiguration(ctx context.Context, arn string) error {
	e, err := s.GetEncoderConfiguration(ctx, arn)
	if err != nil {
		return err
	}
	used, err := s.compositionUsing(ctx, arn)
	if err != nil {
		return err
	}
	if used != "" {
		return &ivs.Error{Code: ivs.CodeConflict, Message: fmt.Sprintf("encoder configuration %s is used by composition %s", arn, used)}
	}
	return s.encoderConfigs().Delete(ctx, e.ID, arn)
}

// ListEncoderConfigurations returns a page of encoder configurations.
func (s *Service) ListEncoderConfigurations(ctx context.Context, in ListInput) ([]EncoderConfiguration, string, error) {
	return s.encoderConfigs().Page(ctx, in.NextToken, in.MaxResults, 100, 100)
}

// S3Storage names a bucket.
type S3Storage struct {
	BucketName string `json:"bucketName"`
}

// StorageConfiguration is where compositions and participant recordings
// are written.
type StorageConfiguration struct {
	ID         string            `json:"id"`
	ARN        string            `json:"arn"`
	Name       string            `json:"name"`
	S3         S3Storage         `json:"s3"`
	Tags       map[string]string `json:"tags"`
	CreateTime time.Time         `json:"createTime"`
}

// CreateStorageConfigurationInput is the input of CreateStorageConfiguration.
type CreateStorageConfigurationInput struct {
	Name *string           `json:"name"`
	S3   *S3Storage        `json:"s3"`
	Tags map[string]string `json:"tags"`
}

func (s *Service) storageConfigs() ivs.Docs[StorageConfiguration] {
	return ivs.Docs[StorageConfiguration]{Store: s.docs, Kind: ResourceStorageConfiguration, Noun: "storage configuration",
		ID: func(c *StorageConfiguration) string { return c.ID }}
}

// CreateStorageConfiguration creates a storage configuration once its
// bucket takes a write (IVS checks the bucket's existence and policy at
// creation too).
func (s *Service) CreateStorageConfiguration(ctx context.Context, in CreateStorageConfigurationInput) (StorageConfiguration, error) {
	id := ivs.NewResourceID()
	now := s.now().UTC()
	c := StorageConfiguration{ID: id, ARN: s.scope.ARN(ResourceStorageConfiguration, id), Tags: ivs.CloneTags(in.Tags), CreateTime: now}
	if in.S3 == nil {
		return c, ivs.Validation("s3", "s3 is required")
	}
	if !ivs.ValidBucketName(in.S3.BucketName) {
		return c, ivs.Validation("s3.bucketName", "s3.bucketName %q must be 3 to 63 characters of a-z, 0-9, '-' and '.'", in.S3.BucketName)
	}
	c.S3 = *in.S3
	if in.Name != nil {
		if err := ivs.ValidateName("name", *in.Name); err != nil {
			return c, err
		}
		c.Name = *in.Name
	}
	if err := ivs.ValidateTags("tags", in.Tags); err != nil {
		return c, err
	}
	if s.check != nil {
		if err := s.check(ctx, c.S3.BucketName); err != nil {
			return c, ivs.Validation("s3.bucketName", "s3.bucketName %q cannot be written: %v", c.S3.BucketName, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.storageConfigs().Count(ctx)
	if err != nil {
		return c, err
	}
	if n >= MaxStorageConfigurations {
		return c, quota("storage configurations", n, MaxStorageConfigurations)
	}
	return c, s.storageConfigs().Create(ctx, &c, now)
}

// GetStorageConfiguration returns the storage configuration named by arn.
func (s *Service) GetStorageConfiguration(ctx context.Context, arn string) (StorageConfiguration, error) {
	a, err := s.scope.OwnARN("arn", ResourceStorageConfiguration, arn)
	if err != nil {
		return StorageConfiguration{}, err
	}
	return s.storageConfigs().Get(ctx, a.ID, arn)
}

// DeleteStorageConfiguration deletes a storage configuration. IVS refuses
// while a stage records its participants to it (ConflictException).
func (s *Service) DeleteStorageConfiguration(ctx context.Context, arn string) error {
	c, err := s.GetStorageConfiguration(ctx, arn)
	if err != nil {
		return err
	}
	comps, err := s.ActiveCompositions(ctx)
	if err != nil {
		return err
	}
	for _, comp := range comps {
		for _, d := range comp.Destinations {
			if d.Configuration.S3 != nil && d.Configuration.S3.StorageConfigurationARN == arn {
				return &ivs.Error{Code: ivs.CodeConflict, Message: fmt.Sprintf("storage configuration %s is in use by composition %s", arn, comp.ARN)}
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.stages().All(ctx)
	if err != nil {
		return err
	}
	for _, st := range all {
		if st.AutoParticipantRecordingConfiguration.StorageConfigurationArn == arn {
			return &ivs.Error{Code: ivs.CodeConflict, Message: fmt.Sprintf("storage configuration %s is in use by stage %s", arn, st.ARN)}
		}
	}
	return s.storageConfigs().Delete(ctx, c.ID, arn)
}

// ListStorageConfigurations returns a page of storage configurations.
func (s *Service) ListStorageConfigurations(ctx context.Context, in ListInput) ([]StorageConfiguration, string, error) {
	return s.storageConfigs().Page(ctx, in.NextToken, in.MaxResults, 100, 100)
}
