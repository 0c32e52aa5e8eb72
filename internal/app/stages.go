package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/ivsrealtime"
	"github.com/onair-video/onair/internal/sfu"
	"github.com/onair-video/onair/internal/stage"
	"github.com/onair-video/onair/internal/stagefeed"
)

// stageCallTimeout bounds one call into the Stages domain from the events
// WebSocket: the roster waits for them once many are pending.
const stageCallTimeout = 10 * time.Second

// stageControl joins the events WebSocket (package stage) to the Stages
// domain: it verifies joins (stage.Authenticator) and records what the
// roster hears (stage.Lifecycle) as participants, sessions and events.
// Neither package knows the other; this is the only place they meet.
type stageControl struct {
	svc *ivsrealtime.Service
	log *slog.Logger
	// joined, if set, hears of each join's stage (the participant
	// recorder watches it).
	joined func(stageARN string)
}

var (
	_ stage.Authenticator = stageControl{}
	_ stage.Lifecycle     = stageControl{}
)

// tokenErrors maps the domain's refusals of a token to the roster's.
var tokenErrors = []struct{ domain, stage error }{
	{ivsrealtime.ErrTokenMalformed, stage.ErrTokenMalformed},
	{ivsrealtime.ErrTokenSignature, stage.ErrTokenSignature},
	{ivsrealtime.ErrTokenExpired, stage.ErrTokenExpired},
	{ivsrealtime.ErrStageDeleted, stage.ErrStageDeleted},
	{ivsrealtime.ErrParticipantDisconnected, stage.ErrParticipantDisconnected},
}

// Authenticate verifies a participant token with the domain.
func (c stageControl) Authenticate(ctx context.Context, token string) (stage.Participant, error) {
	claims, err := c.svc.VerifyParticipantToken(ctx, token)
	if err != nil {
		for _, m := range tokenErrors {
			if errors.Is(err, m.domain) {
				return stage.Participant{}, fmt.Errorf("%w: %w", m.stage, err)
			}
		}
		return stage.Participant{}, err // the store's: INTERNAL
	}
	return stage.Participant{StageARN: claims.StageARN, Topic: claims.StageID, ID: claims.ParticipantID,
		UserID: claims.UserID, Attributes: claims.Attributes, Publish: claims.Publish, Subscribe: claims.Subscribe,
		Expires: claims.ExpiresAt}, nil
}

// claims is the domain's view of a roster participant.
func claims(p stage.Participant) ivsrealtime.ParticipantClaims {
	return ivsrealtime.ParticipantClaims{StageID: p.Topic, StageARN: p.StageARN, ParticipantID: p.ID, UserID: p.UserID,
		Attributes: p.Attributes, Publish: p.Publish, Subscribe: p.Subscribe, ExpiresAt: p.Expires}
}

// call runs one domain call with its own deadline (the roster's goroutine
// has no request to take one from) and logs its failure: nobody else can
// handle it. recorded says the failure is the domain having recorded the
// change already, which is no failure.
func (c stageControl) call(what string, p stage.Participant, recorded func(error) bool, fn func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), stageCallTimeout)
	defer cancel()
	err := fn(ctx)
	if err == nil || (recorded != nil && recorded(err)) {
		return
	}
	c.log.Error("stage: record "+what, "stage", p.Topic, "participant", p.ID, "err", err)
}

// gone tells the errors of a participant the domain has seen leave
// already, or of a stage it deleted: DisconnectParticipant and DeleteStage
// record the leave before the roster hears of it.
func gone(err error) bool {
	if errors.Is(err, ivsrealtime.ErrNotJoined) {
		return true
	}
	e, ok := ivs.AsError(err)
	return ok && e.Code == ivs.CodeResourceNotFound
}

// clientInfo is the domain's view of what a client told of itself. The
// ISP stays empty: onair has no ISP database.
func clientInfo(c stage.Client) ivsrealtime.ClientInfo {
	return ivsrealtime.ClientInfo{OsName: c.OSName, OsVersion: c.OSVersion, BrowserName: c.BrowserName,
		BrowserVersion: c.BrowserVersion, SdkVersion: c.SDKVersion, Protocol: c.Protocol}
}

// Joined records a join. The events WebSocket is the web SDK's join, whose
// media goes over WHIP.
func (c stageControl) Joined(p stage.Participant, _ bool) {
	c.call("join", p, nil, func(ctx context.Context) error {
		_, err := c.svc.Joined(ctx, claims(p), clientInfo(p.Client))
		return err
	})
	if c.joined != nil {
		c.joined(p.StageARN)
	}
}

// ClientUpdated records what a participant's client told after its join
// (a leave that raced it recorded the participant already).
func (c stageControl) ClientUpdated(p stage.Participant) {
	c.call("client", p, gone, func(ctx context.Context) error {
		return c.svc.ClientUpdated(ctx, p.Topic, p.ID, clientInfo(p.Client))
	})
}

// Left records a leave, unless DisconnectParticipant or DeleteStage
// recorded it already.
func (c stageControl) Left(p stage.Participant, why stage.LeaveReason, _ bool) {
	var recorded func(error) bool
	if why == stage.LeftDisconnected || why == stage.LeftStageDeleted {
		recorded = gone
	}
	c.call("leave", p, recorded, func(ctx context.Context) error { return c.svc.Left(ctx, p.Topic, p.ID) })
}

// Published records a publish starting or stopping. A stop of a
// participant the domain saw leave is recorded already (its leave stops
// its publishing).
func (c stageControl) Published(p stage.Participant, publishing bool) {
	var recorded func(error) bool
	if !publishing {
		recorded = gone
	}
	c.call("publish", p, recorded, func(ctx context.Context) error {
		return c.svc.Published(ctx, p.Topic, p.ID, publishing)
	})
}

// Subscribed records a subscription starting or stopping (a stop after
// the leave: as Published).
func (c stageControl) Subscribed(p stage.Participant, publisher string, subscribing bool) {
	var recorded func(error) bool
	if !subscribing {
		recorded = gone
	}
	c.call("subscribe", p, recorded, func(ctx context.Context) error {
		return c.svc.Subscribed(ctx, p.Topic, p.ID, publisher, subscribing)
	})
}

// TokenExchanged records a token exchange.
func (c stageControl) TokenExchanged(previous, p stage.Participant) {
	c.call("token exchange", p, nil, func(ctx context.Context) error {
		return c.svc.TokenExchanged(ctx, claims(previous), claims(p))
	})
}

// PublishFailed records a PUBLISH_ERROR event. The domain keeps events of
// a session's participants only: a participant that never joined (its
// WHIP request came without the events WebSocket) has nothing to record.
func (c stageControl) PublishFailed(p stage.Participant, code string) {
	c.call("publish error", p, gone, func(ctx context.Context) error {
		return c.svc.Failed(ctx, p.Topic, p.ID, ivsrealtime.EventPublishError, code, "")
	})
}

// SubscribeFailed records a SUBSCRIBE_ERROR event (as PublishFailed).
func (c stageControl) SubscribeFailed(p stage.Participant, publisher, code string) {
	c.call("subscribe error", p, gone, func(ctx context.Context) error {
		return c.svc.Failed(ctx, p.Topic, p.ID, ivsrealtime.EventSubscribeError, code, publisher)
	})
}

// stageHooks are the domain's hooks into the roster, which is built after
// the domain (it needs the domain to verify joins): they reach it through
// roster(), which returns nil until it is built. Nothing calls a hook
// before the servers start, so a nil roster means the node is being built
// or failed to be.
func stageHooks(scope ivs.Scope, roster func() *stage.Stages, control func() *ivsrealtime.Service, feeds func() *stagefeed.Feeds, log *slog.Logger) ivsrealtime.Hooks {
	reps := &replicas{roster: roster, control: control, log: log, running: map[string]*stage.Replica{}}
	return ivsrealtime.Hooks{
		ReplicationStarted: reps.start,
		ReplicationStopped: reps.stop,
		IngestActive: func(configID string) bool {
			f := feeds()
			return f != nil && f.Active(configID)
		},
		IngestDeleted: func(configID string) {
			if f := feeds(); f != nil {
				f.Cut(configID, stagefeed.ErrDeleted)
			}
		},
		ParticipantDisconnected: func(stageID, participantID, reason string) {
			s := roster()
			if s == nil {
				return
			}
			// Its token stays refused by the domain, durably; the roster
			// refuses it too until the connected token's exp.
			err := s.Disconnect(scope.ARN(ivsrealtime.ResourceStage, stageID), participantID, reason, time.Time{})
			if err != nil && !errors.Is(err, stage.ErrNotConnected) && !errors.Is(err, stage.ErrClosed) {
				log.Error("stage: disconnect participant", "stage", stageID, "participant", participantID, "err", err)
			}
		},
		StageDeleted: func(stageID string) {
			if s := roster(); s != nil {
				s.CloseStage(scope.ARN(ivsrealtime.ResourceStage, stageID))
			}
		},
		ParticipantConnected: func(stageID, participantID string) bool {
			s := roster()
			return s != nil && slices.Contains(s.Participants(scope.ARN(ivsrealtime.ResourceStage, stageID)), participantID)
		},
	}
}

// replicas runs the media of participant replications: one stage.Replica
// each, by the replication's key.
type replicas struct {
	roster  func() *stage.Stages
	control func() *ivsrealtime.Service
	log     *slog.Logger

	mu      sync.Mutex
	running map[string]*stage.Replica
}

// start makes the replica join the destination and publish.
func (rs *replicas) start(r ivsrealtime.Replication) error {
	s := rs.roster()
	if s == nil {
		return errors.New("app: the stage media is not running")
	}
	replica := stage.Participant{StageARN: r.DestinationStageARN, Topic: r.DestinationStageID(), ID: r.ParticipantID,
		UserID: r.UserID, Attributes: r.Attributes, Publish: true, Client: stage.Client{Protocol: stage.ProtocolWHIP},
		ReplicaOf: r.SourceStageARN}
	self := new(*stage.Replica) // set once running: its own entry is the one to forget
	rep, err := s.Replicate(stage.ReplicaConfig{SourceStageARN: r.SourceStageARN, Replica: replica,
		ReconnectWindow: time.Duration(r.ReconnectWindowSeconds) * time.Second,
		Stopped: func(cause error) {
			rs.mu.Lock()
			if rs.running[r.Key] == *self {
				delete(rs.running, r.Key)
			}
			rs.mu.Unlock()
			rs.log.Info("stage: participant replication ended", "participant", r.ParticipantID,
				"source", r.SourceStageID(), "destination", r.DestinationStageID(), "cause", cause)
			ctx, cancel := context.WithTimeout(context.Background(), stageCallTimeout)
			defer cancel()
			if err := rs.control().ReplicationEnded(ctx, r.Key); err != nil {
				rs.log.Error("stage: record the end of a replication", "participant", r.ParticipantID, "err", err)
			}
		}})
	switch {
	case errors.Is(err, sfu.ErrPublisherNotFound):
		return &ivs.Error{Code: ivs.CodeConflict, Message: fmt.Sprintf("participant %s does not publish media now", r.ParticipantID)}
	case errors.Is(err, stage.ErrTooManyPublishers):
		return &ivs.Error{Code: ivs.CodeServiceQuotaExceeded, Limit: stage.MaxPublishers,
			Message: fmt.Sprintf("the destination stage has %d publishers, the most it may have", stage.MaxPublishers)}
	case errors.Is(err, sfu.ErrPublisherExists):
		return &ivs.Error{Code: ivs.CodeConflict, Message: fmt.Sprintf("participant %s publishes on the destination stage already", r.ParticipantID)}
	case err != nil:
		return fmt.Errorf("app: replicate %s: %w", r.ParticipantID, err)
	}
	rs.mu.Lock()
	*self = rep
	rs.running[r.Key] = rep
	rs.mu.Unlock()
	return nil
}

// stop ends a replication's media (StopParticipantReplication).
func (rs *replicas) stop(r ivsrealtime.Replication) {
	rs.mu.Lock()
	rep := rs.running[r.Key]
	delete(rs.running, r.Key)
	rs.mu.Unlock()
	if rep != nil {
		rep.Stop()
	}
}
