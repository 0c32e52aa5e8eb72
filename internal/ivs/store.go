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

	CreateRecordingConfiguration(ctx context.Context, r RecordingConfiguration) error
	GetRecordingConfiguration(ctx context.Context, id string) (RecordingConfiguration, error)
	SetRecordingConfigurationState(ctx context.Context, id, state string) error
	UpdateRecordingConfigurationTags(ctx context.Context, id string, tags map[string]string) error
	DeleteRecordingConfiguration(ctx context.Context, id string) error
	// ListRecordingConfigurations returns up to limit configurations whose
	// id sorts after afterID, in id order.
	ListRecordingConfigurations(ctx context.Context, afterID string, limit int) ([]RecordingConfiguration, error)

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

	// AppendMetrics adds points to a session's series and replaces its
	// summary, in one transaction.
	AppendMetrics(ctx context.Context, streamID string, points []MetricPoint, stats SessionStats) error
	// SessionMetrics returns a session's points with from <= Time < to, oldest
	// first; a zero bound is open.
	SessionMetrics(ctx context.Context, streamID string, from, to time.Time) ([]MetricPoint, error)
	// DownsampleMetrics merges the points of sessions that ended before
	// endedBefore into points of span seconds (averages), and returns how many
	// points it removed.
	DownsampleMetrics(ctx context.Context, endedBefore time.Time, span int) (int, error)
	// Usage sums, per channel, the input seconds of sessions and the viewer
	// seconds of points within [from, to); a session still open counts until now.
	Usage(ctx context.Context, from, to, now time.Time) ([]ChannelUsage, error)

	// AppendEvent stores e, sets e.Seq, and marks its session as having an
	// error event when e.IsError().
	AppendEvent(ctx context.Context, e *Event) error
	// EventsAfter returns up to limit events with Seq > after, in Seq order.
	EventsAfter(ctx context.Context, after int64, limit int) ([]Event, error)
	// SessionEvents returns up to limit events of a session, newest first.
	SessionEvents(ctx context.Context, streamID string, limit int) ([]Event, error)
	// LastEventSeq returns the Seq of the newest event, 0 when there is none.
	LastEventSeq(ctx context.Context) (int64, error)
	// Cursor returns a named position in the event log (a webhook's last
	// delivered Seq); ok is false when it was never set.
	Cursor(ctx context.Context, name string) (seq int64, ok bool, err error)
	SetCursor(ctx context.Context, name string, seq int64) error

	// Documents are resources kept whole as JSON (docs.go): playback key
	// pairs, restriction policies, revocations. CreateDoc fails with
	// ErrConflict when the kind and id exist; PutDoc creates or replaces.
	CreateDoc(ctx context.Context, d Doc) error
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
