package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/onair-video/onair/internal/ivsrealtime"
	"github.com/onair-video/onair/internal/store/rowcodec"
)

var _ ivsrealtime.SessionStore = (*Store)(nil)

// CreateStageSession implements ivsrealtime.SessionStore.
func (s *Store) CreateStageSession(ctx context.Context, ss ivsrealtime.StageSession) error {
	_, err := s.db.ExecContext(ctx, "INSERT INTO stage_sessions (stage_id, session_id, start_time) VALUES (?, ?, ?)",
		ss.StageID, ss.SessionID, rowcodec.FormatTime(ss.StartTime))
	if err != nil {
		return fmt.Errorf("sqlite: insert stage session %s: %w", ss.SessionID, err)
	}
	return nil
}

// EndStageSession implements ivsrealtime.SessionStore.
func (s *Store) EndStageSession(ctx context.Context, stageID, sessionID string, end time.Time) error {
	res, err := s.db.ExecContext(ctx, "UPDATE stage_sessions SET end_time = ? WHERE stage_id = ? AND session_id = ?",
		rowcodec.FormatTime(end), stageID, sessionID)
	return affected(res, err, "end stage session "+sessionID)
}

// GetStageSession implements ivsrealtime.SessionStore.
func (s *Store) GetStageSession(ctx context.Context, stageID, sessionID string) (ivsrealtime.StageSession, error) {
	ss, err := rowcodec.StageSession(s.db.QueryRowContext(ctx,
		"SELECT stage_id, session_id, start_time, end_time FROM stage_sessions WHERE stage_id = ? AND session_id = ?", stageID, sessionID))
	if err != nil {
		return ss, notFound(err, "get stage session "+sessionID)
	}
	return ss, nil
}

// ListStageSessions implements ivsrealtime.SessionStore.
func (s *Store) ListStageSessions(ctx context.Context, stageID string) ([]ivsrealtime.StageSession, error) {
	return list(ctx, s.db, rowcodec.StageSession, "list stage sessions",
		"SELECT stage_id, session_id, start_time, end_time FROM stage_sessions WHERE stage_id = ? "+
			"ORDER BY start_time DESC, session_id", stageID)
}

// PutParticipant implements ivsrealtime.SessionStore.
func (s *Store) PutParticipant(ctx context.Context, stageID, sessionID string, p ivsrealtime.Participant) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("sqlite: encode participant %s: %w", p.ParticipantID, err)
	}
	_, err = s.db.ExecContext(ctx, "INSERT INTO stage_participants (stage_id, session_id, participant_id, first_join_time, doc) "+
		"VALUES (?, ?, ?, ?, ?) ON CONFLICT (stage_id, session_id, participant_id) DO UPDATE SET doc = excluded.doc",
		stageID, sessionID, p.ParticipantID, rowcodec.FormatTime(p.FirstJoinTime), string(b))
	if err != nil {
		return fmt.Errorf("sqlite: put participant %s: %w", p.ParticipantID, err)
	}
	return nil
}

// GetParticipant implements ivsrealtime.SessionStore.
func (s *Store) GetParticipant(ctx context.Context, stageID, sessionID, participantID string) (ivsrealtime.Participant, error) {
	p, err := rowcodec.JSON[ivsrealtime.Participant](s.db.QueryRowContext(ctx,
		"SELECT doc FROM stage_participants WHERE stage_id = ? AND session_id = ? AND participant_id = ?", stageID, sessionID, participantID))
	if err != nil {
		return p, notFound(err, "get participant "+participantID)
	}
	return p, nil
}

// ListParticipants implements ivsrealtime.SessionStore.
func (s *Store) ListParticipants(ctx context.Context, stageID, sessionID string) ([]ivsrealtime.Participant, error) {
	return list(ctx, s.db, rowcodec.JSON[ivsrealtime.Participant], "list participants",
		"SELECT doc FROM stage_participants WHERE stage_id = ? AND session_id = ? ORDER BY first_join_time, participant_id", stageID, sessionID)
}

// AddParticipantEvent implements ivsrealtime.SessionStore.
func (s *Store) AddParticipantEvent(ctx context.Context, stageID, sessionID string, e ivsrealtime.Event) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("sqlite: encode participant event: %w", err)
	}
	_, err = s.db.ExecContext(ctx, "INSERT INTO stage_participant_events (stage_id, session_id, participant_id, doc) VALUES (?, ?, ?, ?)",
		stageID, sessionID, e.ParticipantID, string(b))
	if err != nil {
		return fmt.Errorf("sqlite: add participant event: %w", err)
	}
	return nil
}

// ListParticipantEvents implements ivsrealtime.SessionStore.
func (s *Store) ListParticipantEvents(ctx context.Context, stageID, sessionID, participantID string) ([]ivsrealtime.Event, error) {
	return list(ctx, s.db, rowcodec.JSON[ivsrealtime.Event], "list participant events",
		"SELECT doc FROM stage_participant_events WHERE stage_id = ? AND session_id = ? AND participant_id = ? ORDER BY seq",
		stageID, sessionID, participantID)
}

// DeleteStageSessions implements ivsrealtime.SessionStore.
func (s *Store) DeleteStageSessions(ctx context.Context, stageID string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, table := range []string{"stage_participant_events", "stage_participants", "stage_sessions"} {
			if _, err := tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE stage_id = ?", stageID); err != nil {
				return fmt.Errorf("sqlite: delete stage sessions: %w", err)
			}
		}
		return nil
	})
}
