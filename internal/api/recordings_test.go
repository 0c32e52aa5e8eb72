package api

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/ivs"
	"github.com/aws/aws-sdk-go-v2/service/ivs/types"

	"github.com/onair-video/onair/internal/ivs"
)

// Recording configurations through the SDK: created CREATING, then ACTIVE
// (or CREATE_FAILED when the bucket cannot be written), listed, validated,
// tagged, attached to channels, and not deletable while a channel uses one.
func TestRecordingConfigurations(t *testing.T) {
	t.Parallel()
	e := newEnvOf(t, ivs.Config{CheckBucket: func(_ context.Context, bucket string) error {
		if bucket == "unwritable" {
			return errors.New("access denied")
		}
		return nil
	}}, nil)
	ctx := context.Background()
	out, err := e.client.CreateRecordingConfiguration(ctx, &sdk.CreateRecordingConfigurationInput{
		DestinationConfiguration: &types.DestinationConfiguration{S3: &types.S3DestinationConfiguration{BucketName: aws.String("my-bucket")}},
		Name:                     aws.String("rec"),
		Tags:                     map[string]string{"team": "video"},
		ThumbnailConfiguration: &types.ThumbnailConfiguration{RecordingMode: types.RecordingModeInterval,
			TargetIntervalSeconds: aws.Int64(10), Storage: []types.ThumbnailConfigurationStorage{types.ThumbnailConfigurationStorageLatest}},
		RecordingReconnectWindowSeconds: 30,
	})
	if err != nil {
		t.Fatal(err)
	}
	rc := out.RecordingConfiguration
	if rc.State != types.RecordingConfigurationStateCreating || aws.ToString(rc.DestinationConfiguration.S3.BucketName) != "my-bucket" ||
		!strings.Contains(aws.ToString(rc.Arn), ":recording-configuration/") || aws.ToInt64(rc.ThumbnailConfiguration.TargetIntervalSeconds) != 10 ||
		rc.RecordingReconnectWindowSeconds != 30 || rc.RenditionConfiguration.RenditionSelection != types.RenditionConfigurationRenditionSelectionAll {
		t.Fatalf("created %+v", rc)
	}
	e.svc.Wait()
	got, err := e.client.GetRecordingConfiguration(ctx, &sdk.GetRecordingConfigurationInput{Arn: rc.Arn})
	if err != nil || got.RecordingConfiguration.State != types.RecordingConfigurationStateActive || got.RecordingConfiguration.Tags["team"] != "video" {
		t.Fatalf("get: %+v %v", got, err)
	}
	bad, err := e.client.CreateRecordingConfiguration(ctx, &sdk.CreateRecordingConfigurationInput{
		DestinationConfiguration: &types.DestinationConfiguration{S3: &types.S3DestinationConfiguration{BucketName: aws.String("unwritable")}}})
	if err != nil {
		t.Fatal(err)
	}
	e.svc.Wait()
	if g, _ := e.client.GetRecordingConfiguration(ctx, &sdk.GetRecordingConfigurationInput{Arn: bad.RecordingConfiguration.Arn}); g == nil ||
		g.RecordingConfiguration.State != types.RecordingConfigurationStateCreateFailed {
		t.Fatalf("unwritable bucket: %+v", g)
	}

	list, err := e.client.ListRecordingConfigurations(ctx, &sdk.ListRecordingConfigurationsInput{MaxResults: aws.Int32(1)})
	if err != nil || len(list.RecordingConfigurations) != 1 || list.NextToken == nil {
		t.Fatalf("list page 1: %+v %v", list, err)
	}
	list2, err := e.client.ListRecordingConfigurations(ctx, &sdk.ListRecordingConfigurationsInput{NextToken: list.NextToken})
	if err != nil || len(list2.RecordingConfigurations) != 1 || list2.NextToken != nil {
		t.Fatalf("list page 2: %+v %v", list2, err)
	}

	for name, in := range map[string]*sdk.CreateRecordingConfigurationInput{
		"bucketName": {DestinationConfiguration: &types.DestinationConfiguration{S3: &types.S3DestinationConfiguration{BucketName: aws.String("No_Caps")}}},
		"targetIntervalSeconds": {DestinationConfiguration: &types.DestinationConfiguration{S3: &types.S3DestinationConfiguration{BucketName: aws.String("b-1")}},
			ThumbnailConfiguration: &types.ThumbnailConfiguration{TargetIntervalSeconds: aws.Int64(61)}},
		"recordingReconnectWindowSeconds": {DestinationConfiguration: &types.DestinationConfiguration{S3: &types.S3DestinationConfiguration{BucketName: aws.String("b-1")}},
			RecordingReconnectWindowSeconds: 301},
		"renditions": {DestinationConfiguration: &types.DestinationConfiguration{S3: &types.S3DestinationConfiguration{BucketName: aws.String("b-1")}},
			RenditionConfiguration: &types.RenditionConfiguration{RenditionSelection: types.RenditionConfigurationRenditionSelectionCustom}},
	} {
		_, err := e.client.CreateRecordingConfiguration(ctx, in)
		wantCode[*types.ValidationException](t, err, name)
	}

	// A channel takes the configuration; while it does, the configuration
	// stays.
	ch, err := e.client.CreateChannel(ctx, &sdk.CreateChannelInput{Name: aws.String("recorded"), RecordingConfigurationArn: rc.Arn})
	if err != nil || aws.ToString(ch.Channel.RecordingConfigurationArn) != aws.ToString(rc.Arn) {
		t.Fatalf("channel: %+v %v", ch, err)
	}
	filtered, err := e.client.ListChannels(ctx, &sdk.ListChannelsInput{FilterByRecordingConfigurationArn: rc.Arn})
	if err != nil || len(filtered.Channels) != 1 {
		t.Fatalf("filter by recording configuration: %+v %v", filtered, err)
	}
	var ce *types.ConflictException
	if _, err := e.client.DeleteRecordingConfiguration(ctx, &sdk.DeleteRecordingConfigurationInput{Arn: rc.Arn}); !errors.As(err, &ce) {
		t.Fatalf("delete in use: %v", err)
	}
	if _, err := e.client.UpdateChannel(ctx, &sdk.UpdateChannelInput{Arn: ch.Channel.Arn, RecordingConfigurationArn: aws.String("")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.TagResource(ctx, &sdk.TagResourceInput{ResourceArn: rc.Arn, Tags: map[string]string{"env": "prod"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := e.client.ListTagsForResource(ctx, &sdk.ListTagsForResourceInput{ResourceArn: rc.Arn})
	if err != nil || tags.Tags["env"] != "prod" || tags.Tags["team"] != "video" {
		t.Fatalf("tags: %+v %v", tags, err)
	}
	if _, err := e.client.DeleteRecordingConfiguration(ctx, &sdk.DeleteRecordingConfigurationInput{Arn: rc.Arn}); err != nil {
		t.Fatal(err)
	}
	var rnf *types.ResourceNotFoundException
	if _, err := e.client.GetRecordingConfiguration(ctx, &sdk.GetRecordingConfigurationInput{Arn: rc.Arn}); !errors.As(err, &rnf) {
		t.Fatalf("get after delete: %v", err)
	}
	if _, err := e.client.CreateChannel(ctx, &sdk.CreateChannelInput{RecordingConfigurationArn: rc.Arn}); !errors.As(err, &rnf) {
		t.Fatalf("channel with a deleted configuration: %v", err)
	}
}
