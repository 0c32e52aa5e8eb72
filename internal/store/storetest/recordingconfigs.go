package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/ivs"
)

func recordingConfiguration(id string) ivs.RecordingConfiguration {
	interval := int64(30)
	return ivs.RecordingConfiguration{
		ID: id, ARN: "arn:aws:ivs:us-east-1:123456789012:recording-configuration/" + id, Name: "r-" + id,
		DestinationConfiguration: ivs.DestinationConfiguration{S3: &ivs.S3Destination{BucketName: "bucket-" + id}},
		State:                    ivs.RecordingStateCreating, Tags: map[string]string{"k": "v"},
		ThumbnailConfiguration: ivs.ThumbnailConfiguration{RecordingMode: "INTERVAL", TargetIntervalSeconds: &interval,
			Storage: []string{"SEQUENTIAL", "LATEST"}},
		RecordingReconnectWindowSeconds: 60,
		RenditionConfiguration:          ivs.RenditionConfiguration{RenditionSelection: "CUSTOM", Renditions: []string{"HD"}},
		CreatedAt:                       time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func testRecordingConfigurations(t *testing.T, s RecordingConfigurations) {
	ctx := context.Background()
	for _, id := range []string{"bbbbbbbbbbbb", "aaaaaaaaaaaa", "cccccccccccc"} {
		must(t, s.CreateRecordingConfiguration(ctx, recordingConfiguration(id)))
	}
	got, err := s.GetRecordingConfiguration(ctx, "aaaaaaaaaaaa")
	must(t, err)
	want := recordingConfiguration("aaaaaaaaaaaa")
	if got.ARN != want.ARN || got.Name != want.Name || got.DestinationConfiguration.S3.BucketName != "bucket-aaaaaaaaaaaa" ||
		got.State != ivs.RecordingStateCreating || *got.ThumbnailConfiguration.TargetIntervalSeconds != 30 ||
		len(got.ThumbnailConfiguration.Storage) != 2 || got.RecordingReconnectWindowSeconds != 60 ||
		got.RenditionConfiguration.Renditions[0] != "HD" || !got.CreatedAt.Equal(want.CreatedAt) || got.Tags["k"] != "v" {
		t.Fatalf("got %+v", got)
	}
	must(t, s.SetRecordingConfigurationState(ctx, "aaaaaaaaaaaa", ivs.RecordingStateActive))
	must(t, s.UpdateRecordingConfigurationTags(ctx, "aaaaaaaaaaaa", map[string]string{"a": "b"}))
	got, err = s.GetRecordingConfiguration(ctx, "aaaaaaaaaaaa")
	must(t, err)
	if got.State != ivs.RecordingStateActive || len(got.Tags) != 1 || got.Tags["a"] != "b" {
		t.Fatalf("after state and tags: %+v", got)
	}
	page, err := s.ListRecordingConfigurations(ctx, "", 2)
	must(t, err)
	if len(page) != 2 || page[0].ID != "aaaaaaaaaaaa" || page[1].ID != "bbbbbbbbbbbb" || page[0].State != ivs.RecordingStateActive {
		t.Fatalf("page 1: %+v", page)
	}
	page, err = s.ListRecordingConfigurations(ctx, "bbbbbbbbbbbb", 2)
	must(t, err)
	if len(page) != 1 || page[0].ID != "cccccccccccc" {
		t.Fatalf("page 2: %+v", page)
	}
	must(t, s.DeleteRecordingConfiguration(ctx, "aaaaaaaaaaaa"))
	_, err = s.GetRecordingConfiguration(ctx, "aaaaaaaaaaaa")
	wantNotFound(t, err)
	wantNotFound(t, s.DeleteRecordingConfiguration(ctx, "aaaaaaaaaaaa"))
	wantNotFound(t, s.SetRecordingConfigurationState(ctx, "aaaaaaaaaaaa", ivs.RecordingStateActive))
}
