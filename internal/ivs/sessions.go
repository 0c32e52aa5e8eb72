package ivs

import (
	"context"
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
