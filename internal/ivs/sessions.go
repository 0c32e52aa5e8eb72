package ivs

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// StartStreamSession records that channel c went live and returns the
// session with its new stream id.
func (s *Service) StartStreamSession(ctx context.Context, c Channel, start time.Time) (StreamSession, error) {
	ss := StreamSession{StreamID: NewStreamID(), ChannelID: c.ID, Channel: c, StartTime: start.UTC()}
	if err := s.store.CreateStreamSession(ctx, ss); err != nil {
		return StreamSession{}, fmt.Errorf("ivs: create stream session: %w", err)
	}
	return ss, nil
}

// EndStreamSession records the end of a stream.
func (s *Service) EndStreamSession(ctx context.Context, streamID string, end time.Time) error {
	if err := s.store.EndStreamSession(ctx, streamID, end.UTC()); err != nil {
		return fmt.Errorf("ivs: end stream session: %w", err)
	}
	return nil
}

// EndInterruptedSessions ends the sessions a crash left open, so that a
// channel that was live before a restart is offline after it.
func (s *Service) EndInterruptedSessions(ctx context.Context) (int, error) {
	n, err := s.store.EndOpenStreamSessions(ctx, s.now().UTC())
	if err != nil {
		return 0, fmt.Errorf("ivs: end interrupted sessions: %w", err)
	}
	return n, nil
}

// IVS's stream state events, as EventBridge names them.
const (
	EventTypeStreamState = "IVS Stream State Change"
	EventSessionCreated  = "Session Created"
	EventStreamStart     = "Stream Start"
	EventStreamEnd       = "Stream End"
	EventSessionEnded    = "Session Ended"
)

// StreamEvent is one event of a stream session.
type StreamEvent struct {
	Name      string    `json:"name"`
	Type      string    `json:"type"`
	EventTime time.Time `json:"eventTime"`
	Code      string    `json:"code,omitempty"`
}

// Events returns the session's state events, newest first as IVS lists
// them. A session is created when its stream starts and ends with it, so
// both pairs share a time.
func (ss StreamSession) Events() []StreamEvent {
	ev := []StreamEvent{
		{Name: EventStreamStart, Type: EventTypeStreamState, EventTime: ss.StartTime},
		{Name: EventSessionCreated, Type: EventTypeStreamState, EventTime: ss.StartTime},
	}
	if !ss.EndTime.IsZero() {
		ev = append([]StreamEvent{
			{Name: EventSessionEnded, Type: EventTypeStreamState, EventTime: ss.EndTime},
			{Name: EventStreamEnd, Type: EventTypeStreamState, EventTime: ss.EndTime},
		}, ev...)
	}
	return ev
}

// ListStreamSessionsInput is the input of ListStreamSessions.
type ListStreamSessionsInput struct {
	ChannelARN string `json:"channelArn"`
	NextToken  string `json:"nextToken"`
	MaxResults *int32 `json:"maxResults"`
}

// GetStreamSession returns a session of the channel named by channelARN;
// an empty streamID names the latest.
func (s *Service) GetStreamSession(ctx context.Context, channelARN, streamID string) (StreamSession, error) {
	if streamID != "" && !streamIDRe.MatchString(streamID) {
		return StreamSession{}, validationf("streamId", "streamId must be st- followed by letters and digits")
	}
	c, err := s.channel(ctx, "channelArn", channelARN)
	if err != nil {
		return StreamSession{}, err
	}
	ss, err := s.store.GetStreamSession(ctx, c.ID, streamID)
	if errors.Is(err, ErrNotFound) {
		if streamID == "" {
			return StreamSession{}, &Error{Code: CodeResourceNotFound, Message: fmt.Sprintf("channel %s has no stream session", channelARN)}
		}
		return StreamSession{}, notFound("stream session", streamID)
	}
	if err != nil {
		return StreamSession{}, fmt.Errorf("ivs: get stream session: %w", err)
	}
	return ss, nil
}

// ListStreamSessions returns a page of the channel's sessions, newest first.
func (s *Service) ListStreamSessions(ctx context.Context, in ListStreamSessionsInput) ([]StreamSession, string, error) {
	n, err := validatePage(in.NextToken, in.MaxResults, 1, 100, 100)
	if err != nil {
		return nil, "", err
	}
	c, err := s.channel(ctx, "channelArn", in.ChannelARN)
	if err != nil {
		return nil, "", err
	}
	after, err := decodeToken(in.NextToken)
	if err != nil {
		return nil, "", err
	}
	ss, err := s.store.ListStreamSessions(ctx, c.ID, after, n+1)
	if err != nil {
		return nil, "", fmt.Errorf("ivs: list stream sessions: %w", err)
	}
	ss, next := trimPage(ss, n, func(x StreamSession) string { return x.StreamID })
	return ss, next, nil
}
