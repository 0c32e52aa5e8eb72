package live

import (
	"context"
	"time"

	"github.com/onair-video/onair/internal/ivs"
)

// StreamInfo is what the API tells of a live stream, wherever in a cluster
// it is published.
type StreamInfo struct {
	Channel   ivs.Channel
	StreamID  string
	StartTime time.Time
	Health    string
	// NodeID is the cluster node that publishes it; "" for this process.
	NodeID string
}

// Info is the stream's StreamInfo at now.
func (s *Stream) Info(now time.Time) StreamInfo {
	return StreamInfo{Channel: s.Channel, StreamID: s.StreamID, StartTime: s.StartTime, Health: s.Health(now)}
}

// Local is the API's view of the streams of one process: the registry's.
type Local struct{ Registry *Registry }

// Get returns the live stream of a channel.
func (l Local) Get(_ context.Context, channelID string) (StreamInfo, bool, error) {
	st, ok := l.Registry.Get(channelID)
	if !ok {
		return StreamInfo{}, false, nil
	}
	return st.Info(time.Now()), true, nil
}

// List returns every live stream, ordered by channel ARN.
func (l Local) List(context.Context) ([]StreamInfo, error) {
	now := time.Now()
	all := l.Registry.List()
	out := make([]StreamInfo, len(all))
	for i, st := range all {
		out[i] = st.Info(now)
	}
	return out, nil
}

// Stop cuts the publisher of a channel off; ErrNotLive if it has none.
func (l Local) Stop(_ context.Context, channelID string) error { return l.Registry.Stop(channelID) }

// PutMetadata inserts timed metadata into a channel's live stream.
func (l Local) PutMetadata(_ context.Context, channelID string, data []byte) error {
	st, ok := l.Registry.Get(channelID)
	if !ok {
		return ErrNotLive
	}
	return st.PutMetadata(data)
}
