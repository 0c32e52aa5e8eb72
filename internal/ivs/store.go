package ivs

import (
	"context"
	"time"
)

// The store ports: one small interface per aggregate, each declared here by
// its consumer, the Service (the event log's readers, the session tracker
// and IVS Chat declare their own beside them). store/sqlite implements them
// all; a second store may implement them one at a time, and
// store/storetest checks each. Lookups of a missing record return an error
// wrapping ErrNotFound; a unique constraint that fails, ErrConflict.

// AccountStore keeps the account of the installation (EnsureAccount).
type AccountStore interface {
	// Account returns the account, or ErrNotFound before the first start.
	Account(ctx context.Context) (Account, error)
	// PutAccount creates or replaces the account.
	PutAccount(ctx context.Context, a Account) error
	// CreateAccount stores a unless an account exists, and returns the
	// stored account and whether it is a: onair processes that start at
	// once on one empty shared database agree on one account.
	CreateAccount(ctx context.Context, a Account) (Account, bool, error)
}

// ChannelStore keeps channels and their stream keys: one aggregate, since a
// channel is created with its key and deleted with its keys.
type ChannelStore interface {
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
}

// RecordingConfigurationStore keeps recording configurations.
type RecordingConfigurationStore interface {
	CreateRecordingConfiguration(ctx context.Context, r RecordingConfiguration) error
	GetRecordingConfiguration(ctx context.Context, id string) (RecordingConfiguration, error)
	SetRecordingConfigurationState(ctx context.Context, id, state string) error
	UpdateRecordingConfigurationTags(ctx context.Context, id string, tags map[string]string) error
	DeleteRecordingConfiguration(ctx context.Context, id string) error
	// ListRecordingConfigurations returns up to limit configurations whose
	// id sorts after afterID, in id order.
	ListRecordingConfigurations(ctx context.Context, afterID string, limit int) ([]RecordingConfiguration, error)
}

// SessionStore is what the Service reads and writes of stream sessions and
// their metrics (the session tracker appends the points, through its own
// port).
type SessionStore interface {
	CreateStreamSession(ctx context.Context, s StreamSession) error
	EndStreamSession(ctx context.Context, streamID string, end time.Time) error
	// EndOpenStreamSessions ends every session without an end time (after a
	// crash) at the end of its last metric point, or at end when it has none,
	// and returns the sessions it ended.
	EndOpenStreamSessions(ctx context.Context, end time.Time) ([]StreamSession, error)
	// OpenStreamSession returns the channel's session that has not ended.
	OpenStreamSession(ctx context.Context, channelID string) (StreamSession, error)
	// GetStreamSession returns a session of a channel; an empty streamID
	// names the channel's latest.
	GetStreamSession(ctx context.Context, channelID, streamID string) (StreamSession, error)
	// ListStreamSessions returns up to limit sessions of a channel, newest
	// first, starting after the session afterStreamID (none: from the newest).
	ListStreamSessions(ctx context.Context, channelID, afterStreamID string, limit int) ([]StreamSession, error)
	// SessionMetrics returns a session's points with from <= Time < to, oldest
	// first; a zero bound is open.
	SessionMetrics(ctx context.Context, streamID string, from, to time.Time) ([]MetricPoint, error)
}

// UsageStore sums what the usage report and the input quota count.
type UsageStore interface {
	// Usage sums, per channel, the input seconds of sessions and the viewer
	// seconds of points within [from, to); a session still open counts until now.
	Usage(ctx context.Context, from, to, now time.Time) ([]ChannelUsage, error)
}

// EventStore is what Emit and a session's event list need of the event log
// (its readers, internal/events, declare theirs).
type EventStore interface {
	// AppendEvent stores e, sets e.Seq, and marks its session as having an
	// error event when e.IsError().
	AppendEvent(ctx context.Context, e *Event) error
	// SessionEvents returns up to limit events of a session, newest first.
	SessionEvents(ctx context.Context, streamID string, limit int) ([]Event, error)
}

// DocStore keeps resources whole as JSON documents (docs.go): playback key
// pairs, restriction policies, revocations, secrets, and IVS Chat's rooms
// and logging configurations.
type DocStore interface {
	// CreateDoc fails with ErrConflict when the kind and id exist.
	CreateDoc(ctx context.Context, d Doc) error
	// PutDoc creates or replaces.
	PutDoc(ctx context.Context, d Doc) error
	UpdateDoc(ctx context.Context, d Doc) error
	GetDoc(ctx context.Context, kind, id string) (Doc, error)
	DeleteDoc(ctx context.Context, kind, id string) error
	// ListDocs returns up to limit documents of a kind whose id sorts after
	// afterID, in id order.
	ListDocs(ctx context.Context, kind, afterID string, limit int) ([]Doc, error)
	// CountDocs returns how many documents of a kind there are.
	CountDocs(ctx context.Context, kind string) (int, error)
}

// Stores are the ports a Service works on.
type Stores struct {
	Channels                ChannelStore
	RecordingConfigurations RecordingConfigurationStore
	Sessions                SessionStore
	Usage                   UsageStore
	Events                  EventStore
	Docs                    DocStore
}

// StoresOf returns every port from one store that implements them all, as
// store/sqlite does.
func StoresOf(st interface {
	ChannelStore
	RecordingConfigurationStore
	SessionStore
	UsageStore
	EventStore
	DocStore
}) Stores {
	return Stores{Channels: st, RecordingConfigurations: st, Sessions: st, Usage: st, Events: st, Docs: st}
}

// Doc is a resource stored as a JSON document.
type Doc struct {
	Kind      string
	ID        string
	Body      []byte
	CreatedAt time.Time
}

// ChannelUsage is a channel's use over a period.
type ChannelUsage struct {
	ChannelID     string
	InputSeconds  float64
	ViewerSeconds float64
}

// ChannelFilter selects channels in ListChannels. Empty fields match all.
type ChannelFilter struct {
	Name                         string
	RecordingConfigurationARN    string
	PlaybackRestrictionPolicyARN string
	AdConfigurationARN           string
}
