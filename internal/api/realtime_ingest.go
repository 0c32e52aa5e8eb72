package api

import (
	"context"

	"github.com/onair-video/onair/internal/ivsrealtime"
)

// ingestOut is an IngestConfiguration on the wire.
type ingestOut struct {
	Name                       string                                  `json:"name"`
	ARN                        string                                  `json:"arn"`
	IngestProtocol             string                                  `json:"ingestProtocol"`
	StreamKey                  string                                  `json:"streamKey"`
	StageARN                   string                                  `json:"stageArn"`
	ParticipantID              string                                  `json:"participantId"`
	State                      string                                  `json:"state"`
	UserID                     string                                  `json:"userId,omitempty"`
	RedundantIngest            bool                                    `json:"redundantIngest"`
	RedundantIngestCredentials []ivsrealtime.RedundantIngestCredential `json:"redundantIngestCredentials,omitempty"`
	Attributes                 map[string]string                       `json:"attributes"`
	Tags                       map[string]string                       `json:"tags"`
}

// ingestSummary is an IngestConfigurationSummary: no key, attributes or
// tags.
type ingestSummary struct {
	Name            string `json:"name"`
	ARN             string `json:"arn"`
	IngestProtocol  string `json:"ingestProtocol"`
	StageARN        string `json:"stageArn"`
	ParticipantID   string `json:"participantId"`
	State           string `json:"state"`
	UserID          string `json:"userId,omitempty"`
	RedundantIngest bool   `json:"redundantIngest"`
}

type ingestOutput struct {
	IngestConfiguration ingestOut `json:"ingestConfiguration"`
}

func toIngest(c ivsrealtime.IngestConfiguration) ingestOutput {
	return ingestOutput{ingestOut{Name: c.Name, ARN: c.ARN, IngestProtocol: c.IngestProtocol, StreamKey: c.StreamKey,
		StageARN: c.StageARN, ParticipantID: c.ParticipantID, State: c.State, UserID: c.UserID, RedundantIngest: c.RedundantIngest,
		RedundantIngestCredentials: c.RedundantIngestCredentials, Attributes: nonNil(c.Attributes), Tags: nonNil(c.Tags)}}
}

func createIngestConfiguration(ctx context.Context, _ *API, s *ivsrealtime.Service, _ *call, in *ivsrealtime.CreateIngestConfigurationInput) (any, error) {
	c, err := s.CreateIngestConfiguration(ctx, *in)
	if err != nil {
		return nil, err
	}
	return toIngest(c), nil
}

func getIngestConfiguration(ctx context.Context, _ *API, s *ivsrealtime.Service, _ *call, in *arnInput) (any, error) {
	c, err := s.GetIngestConfiguration(ctx, in.ARN)
	if err != nil {
		return nil, err
	}
	return toIngest(c), nil
}

func updateIngestConfiguration(ctx context.Context, _ *API, s *ivsrealtime.Service, _ *call, in *ivsrealtime.UpdateIngestConfigurationInput) (any, error) {
	c, err := s.UpdateIngestConfiguration(ctx, *in)
	if err != nil {
		return nil, err
	}
	return toIngest(c), nil
}

func deleteIngestConfiguration(ctx context.Context, _ *API, s *ivsrealtime.Service, _ *call, in *ivsrealtime.DeleteIngestConfigurationInput) (any, error) {
	return struct{}{}, s.DeleteIngestConfiguration(ctx, *in)
}

func listIngestConfigurations(ctx context.Context, _ *API, s *ivsrealtime.Service, _ *call, in *ivsrealtime.ListIngestConfigurationsInput) (any, error) {
	cs, next, err := s.ListIngestConfigurations(ctx, *in)
	if err != nil {
		return nil, err
	}
	out := struct {
		IngestConfigurations []ingestSummary `json:"ingestConfigurations"`
		NextToken            string          `json:"nextToken,omitempty"`
	}{make([]ingestSummary, len(cs)), next}
	for i, c := range cs {
		out.IngestConfigurations[i] = ingestSummary{c.Name, c.ARN, c.IngestProtocol, c.StageARN, c.ParticipantID, c.State, c.UserID, c.RedundantIngest}
	}
	return out, nil
}
