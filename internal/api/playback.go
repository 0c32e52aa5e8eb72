package api

import (
	"context"
	"errors"
	"fmt"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/live"
)

// playbackKeyPair is a key pair as IVS shows it: never its key material.
type playbackKeyPair struct {
	ARN         string            `json:"arn"`
	Name        string            `json:"name"`
	Fingerprint string            `json:"fingerprint"`
	Tags        map[string]string `json:"tags"`
}

type playbackKeyPairSummary struct {
	ARN  string            `json:"arn"`
	Name string            `json:"name"`
	Tags map[string]string `json:"tags"`
}

func keyPairOut(k ivs.PlaybackKeyPair) playbackKeyPair {
	return playbackKeyPair{ARN: k.ARN, Name: k.Name, Fingerprint: k.Fingerprint, Tags: nonNil(k.Tags)}
}

type keyPairOutput struct {
	KeyPair playbackKeyPair `json:"keyPair"`
}

func importPlaybackKeyPair(ctx context.Context, a *API, _ *call, in *ivs.ImportPlaybackKeyPairInput) (any, error) {
	k, err := a.svc.ImportPlaybackKeyPair(ctx, *in)
	if err != nil {
		return nil, err
	}
	return keyPairOutput{keyPairOut(k)}, nil
}

func getPlaybackKeyPair(ctx context.Context, a *API, _ *call, in *arnInput) (any, error) {
	k, err := a.svc.GetPlaybackKeyPair(ctx, in.ARN)
	if err != nil {
		return nil, err
	}
	return keyPairOutput{keyPairOut(k)}, nil
}

func deletePlaybackKeyPair(ctx context.Context, a *API, _ *call, in *arnInput) (any, error) {
	return struct{}{}, a.svc.DeletePlaybackKeyPair(ctx, in.ARN)
}

type listPlaybackKeyPairsOutput struct {
	KeyPairs  []playbackKeyPairSummary `json:"keyPairs"`
	NextToken string                   `json:"nextToken,omitempty"`
}

func listPlaybackKeyPairs(ctx context.Context, a *API, _ *call, in *ivs.ListPlaybackKeyPairsInput) (any, error) {
	ks, next, err := a.svc.ListPlaybackKeyPairs(ctx, *in)
	if err != nil {
		return nil, err
	}
	out := listPlaybackKeyPairsOutput{KeyPairs: make([]playbackKeyPairSummary, len(ks)), NextToken: next}
	for i, k := range ks {
		out.KeyPairs[i] = playbackKeyPairSummary{ARN: k.ARN, Name: k.Name, Tags: nonNil(k.Tags)}
	}
	return out, nil
}

func startViewerSessionRevocation(ctx context.Context, a *API, _ *call, in *ivs.ViewerSessionInput) (any, error) {
	return struct{}{}, a.svc.StartViewerSessionRevocation(ctx, *in)
}

type batchRevocationInput struct {
	ViewerSessions []ivs.ViewerSessionInput `json:"viewerSessions"`
}

type batchRevocationOutput struct {
	Errors []ivs.BatchRevocationError `json:"errors"`
}

func batchStartViewerSessionRevocation(ctx context.Context, a *API, _ *call, in *batchRevocationInput) (any, error) {
	errs, err := a.svc.BatchStartViewerSessionRevocation(ctx, in.ViewerSessions)
	if err != nil {
		return nil, err
	}
	if errs == nil {
		errs = []ivs.BatchRevocationError{}
	}
	return batchRevocationOutput{errs}, nil
}

// IVS's PutMetadata limits: 1 KB a call, 5 calls a second per channel and
// 155 per account.
const (
	maxMetadataBytes  = 1024
	metadataPerSecond = 5
	metadataAccount   = 155
)

type putMetadataInput struct {
	ChannelARN string `json:"channelArn"`
	Metadata   string `json:"metadata"`
}

// putMetadata inserts timed metadata into a live stream: ID3 in its LL-HLS
// parts or MPEG-TS segments, which players raise as text metadata cues.
func putMetadata(ctx context.Context, a *API, _ *call, in *putMetadataInput) (any, error) {
	if in.Metadata == "" || len(in.Metadata) > maxMetadataBytes {
		return nil, ivs.Validation("metadata", "metadata must be 1 to %d bytes, got %d", maxMetadataBytes, len(in.Metadata))
	}
	ch, _, err := a.liveStream(ctx, in.ChannelARN)
	if err != nil {
		return nil, err
	}
	if !a.metadataPerChannel.Allow(ch.ID) || !a.metadataPerAccount.Allow("") {
		return nil, &ivs.Error{Code: ivs.CodeThrottling, Message: fmt.Sprintf(
			"PutMetadata is limited to %d calls a second per channel and %d per account", metadataPerSecond, metadataAccount)}
	}
	err = a.live.PutMetadata(ctx, ch.ID, []byte(in.Metadata))
	if errors.Is(err, live.ErrNotLive) {
		return nil, ivs.NotBroadcasting(ch.ARN) // it went offline between the two looks
	}
	if errors.Is(err, live.ErrNoMetadataReader) {
		return nil, ivs.Validation("channelArn", "timed metadata is carried in LL-HLS and MPEG-TS HLS, not fMP4 HLS: channel %s has latencyMode NORMAL and containerFormat FRAGMENTED_MP4", ch.ARN)
	} else if err != nil {
		return nil, err
	}
	return nil, nil
}

// playbackRestrictionPolicy is a policy as IVS shows it (and its summary).
type playbackRestrictionPolicy struct {
	ARN                           string            `json:"arn"`
	Name                          string            `json:"name"`
	AllowedCountries              []string          `json:"allowedCountries"`
	AllowedOrigins                []string          `json:"allowedOrigins"`
	EnableStrictOriginEnforcement bool              `json:"enableStrictOriginEnforcement"`
	Tags                          map[string]string `json:"tags"`
}

func policyOut(p ivs.PlaybackRestrictionPolicy) playbackRestrictionPolicy {
	orEmpty := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return playbackRestrictionPolicy{ARN: p.ARN, Name: p.Name, AllowedCountries: orEmpty(p.AllowedCountries),
		AllowedOrigins: orEmpty(p.AllowedOrigins), EnableStrictOriginEnforcement: p.EnableStrictOriginEnforcement, Tags: nonNil(p.Tags)}
}

type policyOutput struct {
	Policy playbackRestrictionPolicy `json:"playbackRestrictionPolicy"`
}

func createPlaybackRestrictionPolicy(ctx context.Context, a *API, _ *call, in *ivs.PlaybackRestrictionPolicyInput) (any, error) {
	p, err := a.svc.CreatePlaybackRestrictionPolicy(ctx, *in)
	if err != nil {
		return nil, err
	}
	return policyOutput{policyOut(p)}, nil
}

func getPlaybackRestrictionPolicy(ctx context.Context, a *API, _ *call, in *arnInput) (any, error) {
	p, err := a.svc.GetPlaybackRestrictionPolicy(ctx, in.ARN)
	if err != nil {
		return nil, err
	}
	return policyOutput{policyOut(p)}, nil
}

func updatePlaybackRestrictionPolicy(ctx context.Context, a *API, _ *call, in *ivs.UpdatePlaybackRestrictionPolicyInput) (any, error) {
	p, err := a.svc.UpdatePlaybackRestrictionPolicy(ctx, *in)
	if err != nil {
		return nil, err
	}
	return policyOutput{policyOut(p)}, nil
}

func deletePlaybackRestrictionPolicy(ctx context.Context, a *API, _ *call, in *arnInput) (any, error) {
	return nil, a.svc.DeletePlaybackRestrictionPolicy(ctx, in.ARN)
}

type listPoliciesOutput struct {
	Policies  []playbackRestrictionPolicy `json:"playbackRestrictionPolicies"`
	NextToken string                      `json:"nextToken,omitempty"`
}

func listPlaybackRestrictionPolicies(ctx context.Context, a *API, _ *call, in *ivs.ListPlaybackRestrictionPoliciesInput) (any, error) {
	ps, next, err := a.svc.ListPlaybackRestrictionPolicies(ctx, *in)
	if err != nil {
		return nil, err
	}
	out := listPoliciesOutput{Policies: make([]playbackRestrictionPolicy, len(ps)), NextToken: next}
	for i, p := range ps {
		out.Policies[i] = policyOut(p)
	}
	return out, nil
}
