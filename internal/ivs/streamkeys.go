package ivs

import (
	"context"
	"errors"
	"fmt"
)

// MaxStreamKeysPerChannel is IVS's quota: one stream key per channel.
const MaxStreamKeysPerChannel = 1

// ListStreamKeysInput is the input of ListStreamKeys.
type ListStreamKeysInput struct {
	ChannelARN string `json:"channelArn"`
	NextToken  string `json:"nextToken"`
	MaxResults *int32 `json:"maxResults"`
}

// CreateStreamKey creates a stream key for a channel that has none.
func (s *Service) CreateStreamKey(ctx context.Context, channelARN string, tags map[string]string) (StreamKey, error) {
	c, err := s.channel(ctx, "channelArn", channelARN)
	if err != nil {
		return StreamKey{}, err
	}
	if err := ValidateTags("tags", tags); err != nil {
		return StreamKey{}, err
	}
	keys, err := s.st.Channels.ListStreamKeys(ctx, c.ID, "", MaxStreamKeysPerChannel)
	if err != nil {
		return StreamKey{}, fmt.Errorf("ivs: list stream keys: %w", err)
	}
	if len(keys) >= MaxStreamKeysPerChannel {
		return StreamKey{}, &Error{Code: CodeServiceQuotaExceeded,
			Message: fmt.Sprintf("channel %s already has %d stream key; delete it before creating another", channelARN, len(keys))}
	}
	k := s.newStreamKey(c, tags)
	if err := s.st.Channels.CreateStreamKey(ctx, k); err != nil {
		return StreamKey{}, fmt.Errorf("ivs: create stream key: %w", err)
	}
	return k, nil
}

// GetStreamKey returns the stream key named by arn, with its value.
func (s *Service) GetStreamKey(ctx context.Context, arn string) (StreamKey, error) {
	return s.streamKey(ctx, "arn", arn)
}

func (s *Service) streamKey(ctx context.Context, field, arn string) (StreamKey, error) {
	a, err := s.ownARN(field, ResourceStreamKey, arn)
	if err != nil {
		return StreamKey{}, err
	}
	k, err := s.st.Channels.GetStreamKey(ctx, a.ID)
	if err != nil {
		return StreamKey{}, storeErr(err, "stream key", arn)
	}
	return k, nil
}

// DeleteStreamKey deletes a stream key. A publisher using it is cut off
// through Config.StreamKeyDeleted: deleting (or rotating) a
// leaked key must stop whoever holds it, not only their next attempt.
func (s *Service) DeleteStreamKey(ctx context.Context, arn string) error {
	k, err := s.streamKey(ctx, "arn", arn)
	if err != nil {
		return err
	}
	if err := s.st.Channels.DeleteStreamKey(ctx, k.ID); err != nil {
		return storeErr(err, "stream key", arn)
	}
	if s.keyDeleted != nil {
		s.keyDeleted(k.ChannelID)
	}
	return nil
}

// ListStreamKeys returns a page of a channel's stream keys.
func (s *Service) ListStreamKeys(ctx context.Context, in ListStreamKeysInput) ([]StreamKey, string, error) {
	n, err := ValidatePage(in.NextToken, in.MaxResults, 1, 50, 1)
	if err != nil {
		return nil, "", err
	}
	c, err := s.channel(ctx, "channelArn", in.ChannelARN)
	if err != nil {
		return nil, "", err
	}
	after, err := DecodeToken(in.NextToken)
	if err != nil {
		return nil, "", err
	}
	ks, err := s.st.Channels.ListStreamKeys(ctx, c.ID, after, n+1)
	if err != nil {
		return nil, "", fmt.Errorf("ivs: list stream keys: %w", err)
	}
	ks, next := TrimPage(ks, n, func(x StreamKey) string { return x.ID })
	return ks, next, nil
}

// BatchGetStreamKey returns the stream keys named by arns and an error for
// each one that can't be returned.
func (s *Service) BatchGetStreamKey(ctx context.Context, arns []string) ([]StreamKey, []BatchError, error) {
	if len(arns) < 1 || len(arns) > 50 {
		return nil, nil, Validation("arns", "arns must hold 1 to 50 ARNs")
	}
	var ks []StreamKey
	var errs []BatchError
	for _, arn := range arns {
		k, err := s.streamKey(ctx, "arns", arn)
		if e, ok := AsError(err); ok {
			errs = append(errs, BatchError{ARN: arn, Code: string(e.Code), Message: e.Message})
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		ks = append(ks, k)
	}
	return ks, errs, nil
}

// ErrUnknownStreamKey is returned by ResolveStreamKey for a key that is not,
// or no longer, valid.
var ErrUnknownStreamKey = errors.New("unknown stream key")

// ResolveStreamKey returns the channel a stream key value belongs to.
func (s *Service) ResolveStreamKey(ctx context.Context, value string) (Channel, error) {
	if value == "" || len(value) > 256 {
		return Channel{}, ErrUnknownStreamKey
	}
	k, err := s.st.Channels.GetStreamKeyByValue(ctx, value)
	if errors.Is(err, ErrNotFound) {
		return Channel{}, ErrUnknownStreamKey
	}
	if err != nil {
		return Channel{}, fmt.Errorf("ivs: look up stream key: %w", err)
	}
	c, err := s.channelByID(ctx, k.ChannelID)
	if errors.Is(err, ErrNotFound) {
		return Channel{}, ErrUnknownStreamKey
	}
	if err != nil {
		return Channel{}, fmt.Errorf("ivs: read channel: %w", err)
	}
	return c, nil
}
