package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/onair-video/onair/internal/ivsrealtime"
	"github.com/onair-video/onair/internal/store/rowcodec"
)

var _ ivsrealtime.SessionStore = (*Store)(nil)

// CreateStageSession implements ivsrealtime.SessionStore.
func (s *Store) CreateStageSession(ctx context.Context, ss ivsrealtime.StageSession) error {
	_, err := s.pool.Exec(ctx, "INSERT INTO stage_sessions (stage_id, session_id, start_time) VALUES ($1, $2, $3)",
		ss.StageID, ss.SessionID, rowcodec.FormatTime(ss.StartTime))
	if err != nil {
		return fmt.Errorf("postgres: insert stage session %s: %w", ss.SessionID, err)
	}
	return nil
}

// EndStageSession implements ivsrealtime.SessionStore.
func (s *Store) EndStageSession(ctx context.Context, stageID, sessionID string, end time.Time) error {
	tag, err := s.pool.Exec(ctx, "UPDATE stage_sessions SET end_time = $1 WHERE stage_id = $2 AND session_id = $3",
		rowcodec.FormatTime(end), stageID, sessionID)
	return affected(tag, err, "end stage session "+sessionID)
}

const stageSessionColumns = "stage_id, session_id, start_time, end_time"

// GetStageSession implements ivsrealtime.SessionStore.
func (s *Store) GetStageSession(ctx context.Context, stageID, sessionID string) (ivsrealtime.StageSession, error) {
	ss, err := rowcodec.StageSession(s.pool.QueryRow(ctx,
		"SELECT "+stageSessionColumns+" FROM stage_sessions WHERE stage_id = $1 AND session_id = $2", stageID, sessionID))
	if err != nil {
		return ss, notFound(err, "get stage session "+sessionID)
	}
	return ss, nil
}

// ListStageSessions implements ivsrealtime.SessionStore.
func (s *Store) ListStageSessions(ctx context.Context, stageID string) ([]ivsrealtime.StageSession, error) {
	return list(ctx, s, rowcodec.StageSession, "list stage sessions", "SELECT "+stageSessionColumns+
		" FROM stage_sessions WHERE stage_id = $1 ORDER BY start_time DESC, session_id", stageID)
}

// PutParticipant implements ivsrealtime.SessionStore.
func (s *Store) PutParticipant(ctx context.Context, stageID, sessionID string, p ivsrealtime.Participant) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("postgres: encode participant %s: %w", p.ParticipantID, err)
	}
	// first_join_time is the participant's from its first put; a later put
	// replaces only the document.
	_, err = s.pool.Exec(ctx, "INSERT INTO stage_participants (stage_id, session_id, participant_id, first_join_time, doc) "+
		"VALUES ($1, $2, $3, $4, $5) ON CONFLICT (stage_id, session_id, participant_id) DO UPDATE SET doc = excluded.doc",
		stageID, sessionID, p.ParticipantID, rowcodec.FormatTime(p.FirstJoinTime), string(b))
	if err != nil {
		return fmt.Errorf("postgres: put participant %s: %w", p.ParticipantID, err)
	}
	return nil
}

// GetParticipant implements ivsrealtime.SessionStore.
func (s *Store) GetParticipant(ctx context.Context, stageID, sessionID, participantID string) (ivsrealtime.Participant, error) {
	p, err := rowcodec.JSON[ivsrealtime.Participant](s.pool.QueryRow(ctx,
		"SELECT doc FROM stage_participants WHERE stage_id = $1 AND session_id = $2 AND participant_id = $3",
		stageID, sessionID, participantID))
	if err != nil {
		return p, notFound(err, "get participant "+participantID)
	}
	return p, nil
}

// listStageDocs returns the decoded documents a query selects.
func listStageDocs[T any](ctx context.Context, s *Store, what, query string, args ...any) ([]T, error) {
	return list(ctx, s, rowcodec.JSON[T], "list "+what, query, args...)
}

// ListParticipants implements ivsrealtime.SessionStore.
func (s *Store) ListParticipants(ctx context.Context, stageID, sessionID string) ([]ivsrealtime.Participant, error) {
	return listStageDocs[ivsrealtime.Participant](ctx, s, "participants",
		"SELECT doc FROM stage_participants WHERE stage_id = $1 AND session_id = $2 ORDER BY first_join_time, participant_id",
		stageID, sessionID)
}

// AddParticipantEvent implements ivsrealtime.SessionStore.
func (s *Store) AddParticipantEvent(ctx context.Context, stageID, sessionID string, e ivsrealtime.Event) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("postgres: encode participant event: %w", err)
	}
	// seq orders a participant's events, which the stage service adds one
	// after another; unlike the event log, nobody follows this table by seq
	// while it grows, so it needs no commit-order lock.
	_, err = s.pool.Exec(ctx, "INSERT INTO stage_participant_events (stage_id, session_id, participant_id, doc) VALUES ($1, $2, $3, $4)",
		stageID, sessionID, e.ParticipantID, string(b))
	if err != nil {
		return fmt.Errorf("postgres: add participant event: %w", err)
	}
	return nil
}

// ListParticipantEvents implements ivsrealtime.SessionStore.
func (s *Store) ListParticipantEvents(ctx context.Context, stageID, sessionID, participantID string) ([]ivsrealtime.Event, error) {
	return listStageDocs[ivsrealtime.Event](ctx, s, "participant events",
		"SELECT doc FROM stage_participant_events WHERE stage_id = $1 AND session_id = $2 AND participant_id = $3 ORDER BY seq",
		stageID, sessionID, participantID)
}

// DeleteStageSessions implements ivsrealtime.SessionStore.
func (s *Store) DeleteStageSessions(ctx context.Context, stageID string) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		for _, table := range []string{"stage_participant_events", "stage_participants", "stage_sessions"} {
			if _, err := tx.Exec(ctx, "DELETE FROM "+table+" WHERE stage_id = $1", stageID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: delete stage sessions of %s: %w", stageID, err)
	}
	return nil
}
