package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/onair-video/onair/internal/ivsrealtime"
	"github.com/onair-video/onair/internal/live"
	"github.com/onair-video/onair/internal/stagefeed"
)

// ingestControl joins the stage feeds (RTMP/SRT into a stage) to the
// Stages domain: it resolves ingest configurations' stream keys and
// records the refusals as PUBLISH_ERROR events.
type ingestControl struct{ svc *ivsrealtime.Service }

var _ stagefeed.Domain = ingestControl{}

// Resolve implements stagefeed.Domain. The key of a configuration on no
// stage publishes nowhere: as an unknown key.
func (c ingestControl) Resolve(ctx context.Context, key string) (stagefeed.Ingest, error) {
	p, err := c.svc.ResolveIngestKey(ctx, key)
	if errors.Is(err, ivsrealtime.ErrUnknownIngestKey) || errors.Is(err, ivsrealtime.ErrIngestNoStage) {
		return stagefeed.Ingest{}, fmt.Errorf("%w: %w", live.ErrUnknownKey, err)
	}
	if err != nil {
		return stagefeed.Ingest{}, err
	}
	return stagefeed.Ingest{ConfigID: p.Config.ID, ConfigARN: p.Config.ARN, StageARN: p.Config.StageARN, StageID: p.StageID,
		ParticipantID: p.ParticipantID, UserID: p.Config.UserID, Attributes: p.Config.Attributes,
		InsecureIngest: p.Config.InsecureIngest, Redundant: p.Config.RedundantIngest}, nil
}

// Refused implements stagefeed.Domain.
func (c ingestControl) Refused(ctx context.Context, in stagefeed.Ingest, code, protocol string) error {
	return c.svc.IngestRefused(ctx, ivsrealtime.IngestPublisher{
		Config: ivsrealtime.IngestConfiguration{ID: in.ConfigID, ARN: in.ConfigARN, StageARN: in.StageARN, UserID: in.UserID,
			Attributes: in.Attributes, RedundantIngest: in.Redundant},
		ParticipantID: in.ParticipantID, StageID: in.StageID}, code, protocol)
}
