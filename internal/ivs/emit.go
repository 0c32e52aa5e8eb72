package ivs

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Emit completes e's envelope (id, version, source, account, region, time),
// stores it, and hands it to the sink. The stored event is the one that
// counts: webhooks deliver from the store, so a sink that misses an event
// loses nothing.
func (s *Service) Emit(ctx context.Context, e Event) (Event, error) {
	e.Version = "0"
	e.ID = uuid.NewString()
	e.Source = EventSource
	e.Account = s.scope.Account
	e.Region = s.scope.Region
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	e.Time = e.Time.UTC()
	if e.Resources == nil {
		e.Resources = []string{}
	}
	if err := s.st.Events.AppendEvent(ctx, &e); err != nil {
		return Event{}, fmt.Errorf("ivs: store event %s: %w", e.DetailType, err)
	}
	if s.sink != nil {
		s.sink(e)
	}
	return e, nil
}

// ChannelEvent returns an event of detailType about a stream of channel c.
func ChannelEvent(detailType string, c Channel, streamID string, t time.Time) Event {
	return Event{
		DetailType: detailType,
		Time:       t,
		Resources:  []string{c.ARN},
		ChannelID:  c.ID,
		StreamID:   streamID,
		Detail:     EventDetail{ChannelName: c.Name, StreamID: streamID},
	}
}

// StreamStateEvent returns an IVS Stream State Change event named name.
func (s *Service) StreamStateEvent(c Channel, streamID, name string, t time.Time) Event {
	e := ChannelEvent(EventTypeStreamState, c, streamID, t)
	e.Detail.EventName = name
	return e
}
