package ivschat

import (
	"context"
	"fmt"
	"time"

	"github.com/onair-video/onair/internal/ivs"
)

// LoggingStateActive is a logging configuration's state: onair's are ACTIVE
// once stored.
const LoggingStateActive = "ACTIVE"

// MaxLoggingConfigurations is the logging configurations an account may
// have (IVS's default quota).
const MaxLoggingConfigurations = 10

// LoggingDestination says where a room's messages are logged. onair writes
// to an S3 bucket (a directory under DATA_DIR/chat-logs, or the S3 store
// recordings use); CloudWatch Logs and Firehose are AWS services it cannot
// reach, and are refused.
type LoggingDestination struct {
	S3             *ivs.S3Destination         `json:"s3,omitempty"`
	CloudWatchLogs *CloudWatchLogsDestination `json:"cloudWatchLogs,omitempty"`
	Firehose       *FirehoseDestination       `json:"firehose,omitempty"`
}

// CloudWatchLogsDestination names a CloudWatch Logs log group.
type CloudWatchLogsDestination struct {
	LogGroupName string `json:"logGroupName"`
}

// FirehoseDestination names a Kinesis Data Firehose delivery stream.
type FirehoseDestination struct {
	DeliveryStreamName string `json:"deliveryStreamName"`
}

// LoggingConfiguration is an IVS Chat logging configuration.
type LoggingConfiguration struct {
	ID                       string             `json:"id"`
	ARN                      string             `json:"arn"`
	Name                     string             `json:"name"`
	CreateTime               time.Time          `json:"createTime"`
	UpdateTime               time.Time          `json:"updateTime"`
	DestinationConfiguration LoggingDestination `json:"destinationConfiguration"`
	State                    string             `json:"state"`
	Tags                     map[string]string  `json:"tags"`
}

// CreateLoggingConfigurationInput is the input of CreateLoggingConfiguration.
type CreateLoggingConfigurationInput struct {
	Name                     *string             `json:"name"`
	DestinationConfiguration *LoggingDestination `json:"destinationConfiguration"`
	Tags                     map[string]string   `json:"tags"`
}

// UpdateLoggingConfigurationInput is the input of UpdateLoggingConfiguration.
type UpdateLoggingConfigurationInput struct {
	Identifier               string              `json:"identifier"`
	Name                     *string             `json:"name"`
	DestinationConfiguration *LoggingDestination `json:"destinationConfiguration"`
}

// ListLoggingConfigurationsInput is the input of ListLoggingConfigurations.
type ListLoggingConfigurationsInput struct {
	NextToken  string `json:"nextToken"`
	MaxResults *int32 `json:"maxResults"`
}

func (s *Service) loggingConfigs() ivs.Docs[LoggingConfiguration] {
	return ivs.Docs[LoggingConfiguration]{Store: s.docs, Kind: ivs.ResourceLoggingConfiguration, Noun: "logging configuration",
		ID: func(l *LoggingConfiguration) string { return l.ID }}
}

// validateLoggingDestination accepts exactly one destination, an S3 bucket.
func validateLoggingDestination(d *LoggingDestination) error {
	const field = "destinationConfiguration"
	n := 0
	for _, set := range []bool{d.S3 != nil, d.CloudWatchLogs != nil, d.Firehose != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return ivs.Validation(field, "destinationConfiguration must hold exactly one of s3, cloudWatchLogs and firehose")
	}
	if d.S3 == nil {
		return ivs.Validation(field, "destinationConfiguration: onair logs chat to s3 (a bucket in its S3 store or data dir); cloudWatchLogs and firehose are AWS services it cannot reach")
	}
	if !ivs.ValidBucketName(d.S3.BucketName) {
		return ivs.Validation(field+".s3.bucketName", "destinationConfiguration.s3.bucketName must be 3-63 characters of [a-z0-9-.]")
	}
	return nil
}

// CreateLoggingConfiguration creates a logging configuration.
func (s *Service) CreateLoggingConfiguration(ctx context.Context, in CreateLoggingConfigurationInput) (LoggingConfiguration, error) {
	if in.DestinationConfiguration == nil {
		return LoggingConfiguration{}, ivs.Validation("destinationConfiguration", "destinationConfiguration is required")
	}
	if err := validateLoggingDestination(in.DestinationConfiguration); err != nil {
		return LoggingConfiguration{}, err
	}
	if err := ivs.ValidateTags("tags", in.Tags); err != nil {
		return LoggingConfiguration{}, err
	}
	id := ivs.NewResourceID()
	now := s.now().UTC()
	l := LoggingConfiguration{ID: id, ARN: s.scope.ARN(ivs.ResourceLoggingConfiguration, id), CreateTime: now, UpdateTime: now,
		DestinationConfiguration: *in.DestinationConfiguration, State: LoggingStateActive, Tags: ivs.CloneTags(in.Tags)}
	if in.Name != nil {
		if err := ivs.ValidateName("name", *in.Name); err != nil {
			return LoggingConfiguration{}, err
		}
		l.Name = *in.Name
	}
	n, err := s.loggingConfigs().Count(ctx)
	if err != nil {
		return LoggingConfiguration{}, err
	}
	if n >= MaxLoggingConfigurations {
		return LoggingConfiguration{}, &ivs.Error{Code: ivs.CodeServiceQuotaExceeded, ResourceID: id, ResourceType: "LOGGING_CONFIGURATION",
			Limit: MaxLoggingConfigurations, Message: fmt.Sprintf("the account has %d logging configurations, the most it may have", n)}
	}
	if err := s.loggingConfigs().Create(ctx, &l, now); err != nil {
		return LoggingConfiguration{}, err
	}
	return l, nil
}

// GetLoggingConfiguration returns the logging configuration named by its ARN.
func (s *Service) GetLoggingConfiguration(ctx context.Context, identifier string) (LoggingConfiguration, error) {
	return s.loggingConfiguration(ctx, "identifier", identifier)
}

func (s *Service) loggingConfiguration(ctx context.Context, field, arn string) (LoggingConfiguration, error) {
	a, err := s.scope.OwnARN(field, ivs.ResourceLoggingConfiguration, arn)
	if err != nil {
		return LoggingConfiguration{}, err
	}
	return s.loggingConfigs().Get(ctx, a.ID, arn)
}

// UpdateLoggingConfiguration changes a logging configuration's name or
// destination.
func (s *Service) UpdateLoggingConfiguration(ctx context.Context, in UpdateLoggingConfigurationInput) (LoggingConfiguration, error) {
	l, err := s.loggingConfiguration(ctx, "identifier", in.Identifier)
	if err != nil {
		return LoggingConfiguration{}, err
	}
	if in.Name != nil {
		if err := ivs.ValidateName("name", *in.Name); err != nil {
			return LoggingConfiguration{}, err
		}
		l.Name = *in.Name
	}
	if in.DestinationConfiguration != nil {
		if err := validateLoggingDestination(in.DestinationConfiguration); err != nil {
			return LoggingConfiguration{}, err
		}
		l.DestinationConfiguration = *in.DestinationConfiguration
	}
	l.UpdateTime = s.now().UTC()
	if err := s.loggingConfigs().Update(ctx, &l, in.Identifier); err != nil {
		return LoggingConfiguration{}, err
	}
	return l, nil
}

// DeleteLoggingConfiguration deletes a logging configuration no room uses.
func (s *Service) DeleteLoggingConfiguration(ctx context.Context, identifier string) error {
	l, err := s.loggingConfiguration(ctx, "identifier", identifier)
	if err != nil {
		return err
	}
	rooms, _, err := s.ListRooms(ctx, ListRoomsInput{LoggingConfigurationIdentifier: l.ARN, MaxResults: new(int32(1))})
	if err != nil {
		return err
	}
	if len(rooms) > 0 {
		return &ivs.Error{Code: ivs.CodeConflict, ResourceID: l.ID, ResourceType: "LOGGING_CONFIGURATION",
			Message: fmt.Sprintf("logging configuration %s is used by room %s", identifier, rooms[0].ARN)}
	}
	return s.loggingConfigs().Delete(ctx, l.ID, identifier)
}

// ListLoggingConfigurations returns a page of logging configurations in id
// order.
func (s *Service) ListLoggingConfigurations(ctx context.Context, in ListLoggingConfigurationsInput) ([]LoggingConfiguration, string, error) {
	return s.loggingConfigs().Page(ctx, in.NextToken, in.MaxResults, 50, 50)
}
