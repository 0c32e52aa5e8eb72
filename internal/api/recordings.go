package api

import (
	"context"

	"github.com/onair-video/onair/internal/ivs"
)

type recordingConfigurationOutput struct {
	RecordingConfiguration ivs.RecordingConfiguration `json:"recordingConfiguration"`
}

type listRecordingConfigurationsOutput struct {
	RecordingConfigurations []ivs.RecordingConfigurationSummary `json:"recordingConfigurations"`
	NextToken               string                              `json:"nextToken,omitempty"`
}

func createRecordingConfiguration(ctx context.Context, a *API, _ *call, in *ivs.CreateRecordingConfigurationInput) (any, error) {
	r, err := a.svc.CreateRecordingConfiguration(ctx, *in)
	if err != nil {
		return nil, err
	}
	return recordingConfigurationOutput{r}, nil
}

func getRecordingConfiguration(ctx context.Context, a *API, _ *call, in *arnInput) (any, error) {
	r, err := a.svc.GetRecordingConfiguration(ctx, in.ARN)
	if err != nil {
		return nil, err
	}
	return recordingConfigurationOutput{r}, nil
}

func deleteRecordingConfiguration(ctx context.Context, a *API, _ *call, in *arnInput) (any, error) {
	return nil, a.svc.DeleteRecordingConfiguration(ctx, in.ARN)
}

func listRecordingConfigurations(ctx context.Context, a *API, _ *call, in *ivs.ListRecordingConfigurationsInput) (any, error) {
	rs, next, err := a.svc.ListRecordingConfigurations(ctx, *in)
	if err != nil {
		return nil, err
	}
	out := listRecordingConfigurationsOutput{RecordingConfigurations: make([]ivs.RecordingConfigurationSummary, len(rs)), NextToken: next}
	for i := range rs {
		out.RecordingConfigurations[i] = rs[i].Summary()
	}
	return out, nil
}
