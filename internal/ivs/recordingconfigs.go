package ivs

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// ResourceRecordingConfiguration is the ARN resource type of recording
// configurations.
const ResourceRecordingConfiguration = "recording-configuration"

// Recording configuration states.
const (
	RecordingStateCreating     = "CREATING"
	RecordingStateCreateFailed = "CREATE_FAILED"
	RecordingStateActive       = "ACTIVE"
)

// MaxRecordingConfigurations is IVS's per-region quota.
const MaxRecordingConfigurations = 20

// RecordingConfiguration is where and how a channel's streams are recorded.
type RecordingConfiguration struct {
	ARN                             string                   `json:"arn"`
	Name                            string                   `json:"name"`
	DestinationConfiguration        DestinationConfiguration `json:"destinationConfiguration"`
	State                           string                   `json:"state"`
	Tags                            map[string]string        `json:"tags"`
	ThumbnailConfiguration          ThumbnailConfiguration   `json:"thumbnailConfiguration"`
	RecordingReconnectWindowSeconds int32                    `json:"recordingReconnectWindowSeconds"`
	RenditionConfiguration          RenditionConfiguration   `json:"renditionConfiguration"`

	ID        string    `json:"-"`
	CreatedAt time.Time `json:"-"`
}

// DestinationConfiguration names the bucket recordings go to.
type DestinationConfiguration struct {
	S3 *S3Destination `json:"s3,omitempty"`
}

// S3Destination is an S3 bucket.
type S3Destination struct {
	BucketName string `json:"bucketName"`
}

// ThumbnailConfiguration says whether and how thumbnails are recorded.
type ThumbnailConfiguration struct {
	RecordingMode         string   `json:"recordingMode"`
	TargetIntervalSeconds *int64   `json:"targetIntervalSeconds,omitempty"`
	Resolution            string   `json:"resolution,omitempty"`
	Storage               []string `json:"storage"`
}

// RenditionConfiguration says which renditions are recorded.
type RenditionConfiguration struct {
	RenditionSelection string   `json:"renditionSelection"`
	Renditions         []string `json:"renditions"`
}

// RecordingConfigurationSummary is what ListRecordingConfigurations lists.
type RecordingConfigurationSummary struct {
	ARN                      string                   `json:"arn"`
	Name                     string                   `json:"name"`
	DestinationConfiguration DestinationConfiguration `json:"destinationConfiguration"`
	State                    string                   `json:"state"`
	Tags                     map[string]string        `json:"tags"`
}

// Summary returns the summary of r.
func (r RecordingConfiguration) Summary() RecordingConfigurationSummary {
	return RecordingConfigurationSummary{ARN: r.ARN, Name: r.Name, DestinationConfiguration: r.DestinationConfiguration,
		State: r.State, Tags: r.Tags}
}

// CreateRecordingConfigurationInput is the input of CreateRecordingConfiguration.
type CreateRecordingConfigurationInput struct {
	DestinationConfiguration *struct {
		S3 *struct {
			BucketName *string `json:"bucketName"`
		} `json:"s3"`
	} `json:"destinationConfiguration"`
	Name                   *string `json:"name"`
	Tags                   map[string]string
	ThumbnailConfiguration *struct {
		RecordingMode         *string  `json:"recordingMode"`
		TargetIntervalSeconds *int64   `json:"targetIntervalSeconds"`
		Resolution            *string  `json:"resolution"`
		Storage               []string `json:"storage"`
	} `json:"thumbnailConfiguration"`
	RecordingReconnectWindowSeconds *int32 `json:"recordingReconnectWindowSeconds"`
	RenditionConfiguration          *struct {
		RenditionSelection *string  `json:"renditionSelection"`
		Renditions         []string `json:"renditions"`
	} `json:"renditionConfiguration"`
}

// ListRecordingConfigurationsInput is the input of ListRecordingConfigurations.
type ListRecordingConfigurationsInput struct {
	NextToken  string `json:"nextToken"`
	MaxResults *int32 `json:"maxResults"`
}

// BucketChecker tells whether recordings can be written to a bucket: the
// recorder implements it for its storage (S3 or the local directory).
type BucketChecker func(ctx context.Context, bucket string) error

// bucketName is S3's rule, as IVS validates it.
var bucketName = regexp.MustCompile(`^[a-z0-9-.]{3,63}$`)

// ValidBucketName reports whether name is an S3 bucket name by the rule IVS
// (and IVS Chat, for logging destinations) validates.
func ValidBucketName(name string) bool { return bucketName.MatchString(name) }

var resourceName = regexp.MustCompile(`^[a-zA-Z0-9-_]{0,128}$`)

// CreateRecordingConfiguration stores a configuration in state CREATING
// and checks its bucket in the background: ACTIVE when recordings can be
// written there, CREATE_FAILED otherwise.
func (s *Service) CreateRecordingConfiguration(ctx context.Context, in CreateRecordingConfigurationInput) (RecordingConfiguration, error) {
	r := RecordingConfiguration{ID: NewResourceID(), State: RecordingStateCreating, CreatedAt: time.Now().UTC(), Tags: in.Tags}
	r.ARN = s.arn(ResourceRecordingConfiguration, r.ID)
	if in.DestinationConfiguration == nil || in.DestinationConfiguration.S3 == nil || in.DestinationConfiguration.S3.BucketName == nil {
		return r, Validation("destinationConfiguration.s3.bucketName", "destinationConfiguration.s3.bucketName is required")
	}
	b := *in.DestinationConfiguration.S3.BucketName
	if !bucketName.MatchString(b) {
		return r, Validation("destinationConfiguration.s3.bucketName",
			"destinationConfiguration.s3.bucketName %q must be 3 to 63 characters of a-z, 0-9, '-' and '.'", b)
	}
	r.DestinationConfiguration.S3 = &S3Destination{BucketName: b}
	if in.Name != nil {
		if !resourceName.MatchString(*in.Name) {
			return r, Validation("name", "name must be up to 128 characters of a-z, A-Z, 0-9, '-' and '_'")
		}
		r.Name = *in.Name
	}
	if err := ValidateTags("tags", in.Tags); err != nil {
		return r, err
	}
	if r.Tags == nil {
		r.Tags = map[string]string{}
	}
	if err := thumbnailConfiguration(in, &r); err != nil {
		return r, err
	}
	if err := renditionConfiguration(in, &r); err != nil {
		return r, err
	}
	if w := in.RecordingReconnectWindowSeconds; w != nil {
		if *w < 0 || *w > 300 {
			return r, Validation("recordingReconnectWindowSeconds", "recordingReconnectWindowSeconds must be 0 to 300, got %d", *w)
		}
		r.RecordingReconnectWindowSeconds = *w
	}
	existing, err := s.st.RecordingConfigurations.ListRecordingConfigurations(ctx, "", MaxRecordingConfigurations)
	if err != nil {
		return r, fmt.Errorf("ivs: list recording configurations: %w", err)
	}
	if len(existing) >= MaxRecordingConfigurations {
		return r, &Error{Code: CodeServiceQuotaExceeded,
			Message: fmt.Sprintf("the account has %d recording configurations, the most allowed", len(existing))}
	}
	if err := s.st.RecordingConfigurations.CreateRecordingConfiguration(ctx, r); err != nil {
		return r, fmt.Errorf("ivs: create recording configuration: %w", err)
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.activate(r)
	}()
	return r, nil
}

// activate checks a new configuration's bucket and records the outcome.
func (s *Service) activate(r RecordingConfiguration) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r.State = RecordingStateActive
	if s.checkBucket != nil {
		if err := s.checkBucket(ctx, r.DestinationConfiguration.S3.BucketName); err != nil {
			r.State = RecordingStateCreateFailed
			s.log.Warn("recording configuration failed: the bucket cannot be written", "arn", r.ARN,
				"bucket", r.DestinationConfiguration.S3.BucketName, "err", err)
		}
	}
	if err := s.st.RecordingConfigurations.SetRecordingConfigurationState(ctx, r.ID, r.State); err != nil && !errors.Is(err, ErrNotFound) {
		s.log.Error("recording configuration state", "arn", r.ARN, "err", err)
	}
}

func thumbnailConfiguration(in CreateRecordingConfigurationInput, r *RecordingConfiguration) error {
	interval := int64(60)
	t := ThumbnailConfiguration{RecordingMode: "INTERVAL", TargetIntervalSeconds: &interval, Storage: []string{"SEQUENTIAL"}}
	if c := in.ThumbnailConfiguration; c != nil {
		if c.RecordingMode != nil {
			if err := ValidateEnum("thumbnailConfiguration.recordingMode", *c.RecordingMode, "DISABLED", "INTERVAL"); err != nil {
				return err
			}
			t.RecordingMode = *c.RecordingMode
		}
		if c.TargetIntervalSeconds != nil {
			if *c.TargetIntervalSeconds < 1 || *c.TargetIntervalSeconds > 60 {
				return Validation("thumbnailConfiguration.targetIntervalSeconds",
					"thumbnailConfiguration.targetIntervalSeconds must be 1 to 60, got %d", *c.TargetIntervalSeconds)
			}
			v := *c.TargetIntervalSeconds
			t.TargetIntervalSeconds = &v
		}
		if c.Resolution != nil {
			if err := ValidateEnum("thumbnailConfiguration.resolution", *c.Resolution, "SD", "HD", "FULL_HD", "LOWEST_RESOLUTION"); err != nil {
				return err
			}
			t.Resolution = *c.Resolution
		}
		if c.Storage != nil {
			if len(c.Storage) == 0 || len(c.Storage) > 2 {
				return Validation("thumbnailConfiguration.storage", "thumbnailConfiguration.storage needs SEQUENTIAL, LATEST or both")
			}
			for _, v := range c.Storage {
				if err := ValidateEnum("thumbnailConfiguration.storage", v, "SEQUENTIAL", "LATEST"); err != nil {
					return err
				}
			}
			t.Storage = append([]string(nil), c.Storage...)
		}
	}
	if t.RecordingMode == "DISABLED" {
		t.TargetIntervalSeconds = nil
	}
	r.ThumbnailConfiguration = t
	return nil
}

func renditionConfiguration(in CreateRecordingConfigurationInput, r *RecordingConfiguration) error {
	rc := RenditionConfiguration{RenditionSelection: "ALL", Renditions: []string{}}
	if c := in.RenditionConfiguration; c != nil {
		if c.RenditionSelection != nil {
			if err := ValidateEnum("renditionConfiguration.renditionSelection", *c.RenditionSelection, "ALL", "NONE", "CUSTOM"); err != nil {
				return err
			}
			rc.RenditionSelection = *c.RenditionSelection
		}
		for _, v := range c.Renditions {
			if err := ValidateEnum("renditionConfiguration.renditions", v, "SD", "HD", "FULL_HD", "LOWEST_RESOLUTION"); err != nil {
				return err
			}
			rc.Renditions = append(rc.Renditions, v)
		}
	}
	if (rc.RenditionSelection == "CUSTOM") != (len(rc.Renditions) > 0) {
		return Validation("renditionConfiguration.renditions",
			"renditionConfiguration.renditions is required with renditionSelection CUSTOM and allowed only with it")
	}
	r.RenditionConfiguration = rc
	return nil
}

// GetRecordingConfiguration returns the configuration named by arn.
func (s *Service) GetRecordingConfiguration(ctx context.Context, arn string) (RecordingConfiguration, error) {
	return s.recordingConfiguration(ctx, "arn", arn)
}

func (s *Service) recordingConfiguration(ctx context.Context, field, arn string) (RecordingConfiguration, error) {
	a, err := s.ownARN(field, ResourceRecordingConfiguration, arn)
	if err != nil {
		return RecordingConfiguration{}, err
	}
	r, err := s.st.RecordingConfigurations.GetRecordingConfiguration(ctx, a.ID)
	if err != nil {
		return RecordingConfiguration{}, storeErr(err, "recording configuration", arn)
	}
	return r, nil
}

// DeleteRecordingConfiguration deletes a configuration no channel uses.
func (s *Service) DeleteRecordingConfiguration(ctx context.Context, arn string) error {
	r, err := s.recordingConfiguration(ctx, "arn", arn)
	if err != nil {
		return err
	}
	if err := s.refuseIfUsed(ctx, ChannelFilter{RecordingConfigurationARN: r.ARN}, "recording configuration", arn, "recordingConfigurationArn"); err != nil {
		return err
	}
	if err := s.st.RecordingConfigurations.DeleteRecordingConfiguration(ctx, r.ID); err != nil {
		return storeErr(err, "recording configuration", arn)
	}
	return nil
}

// ListRecordingConfigurations returns a page of configurations in id order.
func (s *Service) ListRecordingConfigurations(ctx context.Context, in ListRecordingConfigurationsInput) ([]RecordingConfiguration, string, error) {
	n, err := ValidatePage(in.NextToken, in.MaxResults, 1, 100, 100)
	if err != nil {
		return nil, "", err
	}
	after, err := DecodeToken(in.NextToken)
	if err != nil {
		return nil, "", err
	}
	rs, err := s.st.RecordingConfigurations.ListRecordingConfigurations(ctx, after, n+1)
	if err != nil {
		return nil, "", fmt.Errorf("ivs: list recording configurations: %w", err)
	}
	rs, next := TrimPage(rs, n, func(x RecordingConfiguration) string { return x.ID })
	return rs, next, nil
}
