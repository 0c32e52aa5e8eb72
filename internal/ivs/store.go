package ivs

import (
	"context"
	"time"
)

// Store persists the IVS resources. It is declared here, by its consumer;
// store/sqlite implements it and store/storetest checks any implementation.
// Lookups of a missing record return an error wrapping ErrNotFound.
type Store interface {
	// Account returns the account, or ErrNotFound before the first start.
	Account(ctx context.Context) (Account, error)
	// PutAccount creates or replaces the account.
	PutAccount(ctx context.Context, a Account) error

	// CreateChannel stores a new channel and, if key is not nil, its stream
	// key, in one transaction.
	CreateChannel(ctx context.Context, c Channel, key *StreamKey) error
	GetChannel(ctx context.Context, id string) (Channel, error)
	UpdateChannel(ctx context.Context, c Channel) error
	// DeleteChannel deletes a channel and its stream keys.
	DeleteChannel(ctx context.Context, id string) error
	// ListChannels returns up to limit channels whose id sorts after afterID,
	// in id order.
	ListChannels(ctx context.Context, f ChannelFilter, afterID string, limit int) ([]Channel, error)

	CreateStreamKey(ctx context.Context, k StreamKey) error
	GetStreamKey(ctx context.Context, id string) (StreamKey, error)
	GetStreamKeyByValue(ctx context.Context, value string) (StreamKey, error)
	UpdateStreamKeyTags(ctx context.Context, id string, tags map[string]string) error
	DeleteStreamKey(ctx context.Context, id string) error
	ListStreamKeys(ctx context.Context, channelID, afterID string, limit int) ([]StreamKey, error)

	CreateStreamSession(ctx context.Context, s StreamSession) error
	EndStreamSession(ctx context.Context, streamID string, end time.Time) error
	// EndOpenStreamSessions ends every session without an end time (after a
	// crash) and returns how many it ended.
	EndOpenStreamSessions(ctx context.Context, end time.Time) (int, error)
	// OpenStreamSession returns the channel's session that has not ended.
	OpenStreamSession(ctx context.Context, channelID string) (StreamSession, error)
	// GetStreamSession returns a session of a channel; an empty streamID
	// names the channel's latest.
	GetStreamSession(ctx context.Context, channelID, streamID string) (StreamSession, error)
	// ListStreamSessions returns up to limit sessions of a channel, newest
	// first, starting after the session afterStreamID (none: from the newest).
	ListStreamSessions(ctx context.Context, channelID, afterStreamID string, limit int) ([]StreamSession, error)
}

// ChannelFilter selects channels in ListChannels. Empty fields match all.
type ChannelFilter struct {
	Name                         string
	RecordingConfigurationARN    string
	PlaybackRestrictionPolicyARN string
	AdConfigurationARN           string
}
