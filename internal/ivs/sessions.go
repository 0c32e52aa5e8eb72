package ivs

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// StartStreamSession records that channel c went live with what the encoder
// sent, emits Session Created and Stream Start, and returns the session with
// its new stream id.
func (s *Service) StartStreamSession(ctx context.Context, c Channel, start time.Time, ingest IngestConfigurations) (StreamSession, error) {
	ss := StreamSession{StreamID: NewStreamID(), ChannelID: c.ID, Channel: c, StartTime: start.UTC(), Ingest: ingest}
	if err := s.st.Sessions.CreateStreamSession(ctx, ss); err != nil {
		return StreamSession{}, fmt.Errorf("ivs: create stream session: %w", err)
	}
	for _, name := range []string{EventSessionCreated, EventStreamStart} {
		if _, err := s.Emit(ctx, s.StreamStateEvent(c, ss.StreamID, name, ss.StartTime)); err != nil {
			// The publish fails: do not leave a session open behind it.
			if endErr := s.st.Sessions.EndStreamSession(ctx, ss.StreamID, s.now().UTC()); endErr != nil {
				err = errors.Join(err, endErr)
			}
			return StreamSession{}, err
		}
	}
	return ss, nil
}

// EndStreamSession records the end of a stream of channel c and emits
// Stream End and Session Ended.
func (s *Service) EndStreamSession(ctx context.Context, c Channel, streamID string, end time.Time) error {
	if err := s.st.Sessions.EndStreamSession(ctx, streamID, end.UTC()); err != nil {
		return fmt.Errorf("ivs: end stream session: %w", err)
	}
	return s.emitEnd(ctx, c, streamID, end, "")
}

func (s *Service) emitEnd(ctx context.Context, c Channel, streamID string, end time.Time, failure string) error {
	var evs []Event
	if failure != "" {
		e := s.StreamStateEvent(c, streamID, EventStreamFailure, end)
		e.Detail.Reason = failure
		evs = append(evs, e)
	}
	evs = append(evs, s.StreamStateEvent(c, streamID, EventStreamEnd, end),
		s.StreamStateEvent(c, streamID, EventSessionEnded, end))
	for _, e := range evs {
		if _, err := s.Emit(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// interruptedReason is the Stream Failure reason of a session that a crash
// left open.
const interruptedReason = "onair stopped without ending the stream (crash or kill); the session ended at its last recorded second"

// EndInterruptedSessions ends the sessions a crash left open, so that a
// channel that was live before a restart is offline after it. Each gets a
// Stream Failure, Stream End and Session Ended event at the time of its
// last recorded metrics.
func (s *Service) EndInterruptedSessions(ctx context.Context) (int, error) {
	ended, err := s.st.Sessions.EndOpenStreamSessions(ctx, s.now().UTC())
	if err != nil {
		return 0, fmt.Errorf("ivs: end interrupted sessions: %w", err)
	}
	for _, ss := range ended {
		if err := s.emitEnd(ctx, ss.Channel, ss.StreamID, ss.EndTime, interruptedReason); err != nil {
			return 0, err
		}
	}
	return len(ended), nil
}

// maxTruncatedEvents is how many of its latest events a session lists.
const maxTruncatedEvents = 500

// SessionEvents returns the latest events of a session, newest first.
func (s *Service) SessionEvents(ctx context.Context, streamID string) ([]StreamEvent, error) {
	evs, err := s.st.Events.SessionEvents(ctx, streamID, maxTruncatedEvents)
	if err != nil {
		return nil, fmt.Errorf("ivs: session events: %w", err)
	}
	out := make([]StreamEvent, len(evs))
	for i, e := range evs {
		out[i] = e.StreamEvent()
	}
	return out, nil
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
		return StreamSession{}, Validation("streamId", "streamId must be st- followed by letters and digits")
	}
	c, err := s.channel(ctx, "channelArn", channelARN)
	if err != nil {
		return StreamSession{}, err
	}
	ss, err := s.st.Sessions.GetStreamSession(ctx, c.ID, streamID)
	if errors.Is(err, ErrNotFound) {
		if streamID == "" {
			return StreamSession{}, &Error{Code: CodeResourceNotFound, Message: fmt.Sprintf("channel %s has no stream session", channelARN)}
		}
		return StreamSession{}, NotFound("stream session", streamID)
	}
	if err != nil {
		return StreamSession{}, fmt.Errorf("ivs: get stream session: %w", err)
	}
	return ss, nil
}

// ListStreamSessions returns a page of the channel's sessions, newest first.
func (s *Service) ListStreamSessions(ctx context.Context, in ListStreamSessionsInput) ([]StreamSession, string, error) {
	n, err := ValidatePage(in.NextToken, in.MaxResults, 1, 100, 100)
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
	ss, err := s.st.Sessions.ListStreamSessions(ctx, c.ID, after, n+1)
	if err != nil {
		return nil, "", fmt.Errorf("ivs: list stream sessions: %w", err)
	}
	ss, next := TrimPage(ss, n, func(x StreamSession) string { return x.StreamID })
	return ss, next, nil
}

// SessionMetrics returns a session's stored points within [from, to).
func (s *Service) SessionMetrics(ctx context.Context, streamID string, from, to time.Time) ([]MetricPoint, error) {
	pts, err := s.st.Sessions.SessionMetrics(ctx, streamID, from, to)
	if err != nil {
		return nil, fmt.Errorf("ivs: session metrics: %w", err)
	}
	return pts, nil
}
