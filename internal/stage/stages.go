package stage

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/onair-video/onair/internal/sfu"
)

// Lock order: Stages.mu, then conn.mu. Lifecycle calls are queued under
// Stages.mu (so they keep the roster's order) and made by one goroutine
// holding no lock.

// Config holds the dependencies of a Stages.
type Config struct {
	Auth Authenticator
	// Lifecycle may be nil.
	Lifecycle Lifecycle
	Log       *slog.Logger
	// Limits; the zero value takes DefaultLimits.
	Limits Limits
	// Media makes the SFU's peer connections (*rtc.Engine); nil turns the
	// stage WHIP routes off (503).
	Media sfu.PeerConnector
	// MediaMetrics, if set, is shared by every stage's SFU room.
	MediaMetrics *sfu.Metrics
}

// Limits bound what one client may cost.
type Limits struct {
	// ReadLimit is the largest message a client may send; a larger one
	// ends its connection (close code 1009).
	ReadLimit int64
	// Rate and Burst bound a client's messages per second; a client
	// beyond them is disconnected (close code 1008). The SDK sends a PING
	// every 15 s and a SET_STATE on each mute change.
	Rate  float64
	Burst int
	// Queue bounds the replies waiting for one client (STAGE_STATE and
	// SUBSCRIBER_COUNT are not queued: only the latest of each waits).
	Queue int
	// WriteTimeout is how long one message may take to go out; a client
	// that does not read that long is disconnected.
	WriteTimeout time.Duration
	// IdleTimeout ends a connection that sent nothing for that long (the
	// SDK pings every 15 s).
	IdleTimeout time.Duration
	// AuthTimeout bounds the Authenticator's call.
	AuthTimeout time.Duration
	// KickedFor is how long a participant disconnected by Disconnect stays
	// in the others' STAGE_STATE disconnected[].
	KickedFor time.Duration
}

// DefaultLimits are the Limits of a zero Config.Limits.
var DefaultLimits = Limits{
	ReadLimit:    64 << 10, // an EXCHANGE_TOKEN holds two tokens, an SDP offer ~10 KB
	Rate:         10,
	Burst:        20,
	Queue:        16,
	WriteTimeout: 10 * time.Second,
	IdleTimeout:  2 * time.Minute, // pings of a tab in the background may be throttled to one a minute
	AuthTimeout:  10 * time.Second,
	KickedFor:    30 * time.Second,
}

// lifecycleQueue is how many Lifecycle calls may wait before roster
// changes wait for them.
const lifecycleQueue = 1024

// Stages is the roster of every stage with participants connected, and
// the events WebSocket's handler.
type Stages struct {
	cfg    Config
	lim    Limits
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	// conns counts running handlers; Add happens under mu while not
	// closed, so Close may Wait.
	conns sync.WaitGroup
	// events carries Lifecycle calls to run, in order.
	events     chan func()
	eventsDone chan struct{}

	mu     sync.Mutex
	stages map[string]*stage // by ARN
	// revoked holds participants Disconnect ended, by stage ARN and id,
	// until their token expires: the token may not join again.
	revoked map[[2]string]time.Time
	closed  bool
	// sessions are the WHIP sessions, by the id their Location names.
	sessions map[string]*mediaSession
	// beacons are the events sockets joined, by their beacon id (the
	// session-delete Link of their sessions).
	beacons map[string]*conn
	// media runs the closing of SFU peer connections and rooms, off the
	// lock; Close waits for it.
	media sync.WaitGroup
	// whipPath is where RegisterWHIP mounted the WHIP routes.
	whipPath string
	// watchers are the Watch calls, by stage ARN (local.go).
	watchers map[string]map[*publishWatch]struct{}
}

// stage is a stage with participants connected.
type stage struct {
	arn, topic string
	seq        int64
	members    map[string]*member // by participant id
	kicked     []kick
	room       *sfu.Room // nil until the first publish or subscribe
}

type kick struct {
	id string
	at time.Time
}

// member is a connected participant.
type member struct {
	p Participant
	// conn is nil for a participant that publishes over WHIP without the
	// events socket (OBS): it is a member while its publish lasts.
	conn  *conn
	since time.Time // join order, for a stable participants[]
	audioMuted, videoStopped,
	publishing, slot bool // slot: one of the stage's MaxPublishers is held
	pubSince   time.Time       // when publishing last became true
	subscribed map[string]bool // publishers whose media it receives
	// pub and subs (by publisher) are its WHIP sessions in the SFU.
	pub  *mediaRef
	subs map[string]*mediaRef
	// pending counts its publish requests between the reservation and
	// the answer: a failed one frees the place only if none is left.
	pending int
}

// New returns a Stages; it starts no goroutine but the one that makes
// Lifecycle calls.
func New(cfg Config) *Stages {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Lifecycle == nil {
		cfg.Lifecycle = nopLifecycle{}
	}
	lim := cfg.Limits
	d := DefaultLimits
	if lim.ReadLimit <= 0 {
		lim.ReadLimit = d.ReadLimit
	}
	if lim.Rate <= 0 {
		lim.Rate, lim.Burst = d.Rate, d.Burst
	}
	if lim.Burst <= 0 {
		lim.Burst = max(1, int(lim.Rate))
	}
	if lim.Queue <= 0 {
		lim.Queue = d.Queue
	}
	if lim.WriteTimeout <= 0 {
		lim.WriteTimeout = d.WriteTimeout
	}
	if lim.IdleTimeout <= 0 {
		lim.IdleTimeout = d.IdleTimeout
	}
	if lim.AuthTimeout <= 0 {
		lim.AuthTimeout = d.AuthTimeout
	}
	if lim.KickedFor <= 0 {
		lim.KickedFor = d.KickedFor
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Stages{cfg: cfg, lim: lim, log: cfg.Log.With("component", "stage"), ctx: ctx, cancel: cancel,
		events: make(chan func(), lifecycleQueue), eventsDone: make(chan struct{}),
		stages: make(map[string]*stage), revoked: make(map[[2]string]time.Time), sessions: make(map[string]*mediaSession),
		beacons: make(map[string]*conn)}
	go func() {
		defer close(s.eventsDone)
		for f := range s.events {
			f()
		}
	}()
	return s
}

// emitLocked queues a Lifecycle call.
func (s *Stages) emitLocked(f func(l Lifecycle)) {
	l := s.cfg.Lifecycle
	s.events <- func() { f(l) }
}

// nextSeq returns a stage's next sequence number. It is at least the clock
// in milliseconds, so numbers keep increasing for a client whose stage
// emptied (and was forgotten) or whose server restarted meanwhile.
func nextSeq(prev int64) int64 { return max(prev+1, time.Now().UnixMilli()) }

// join adds a connection's participant to its stage. A connection already
// there for the same participant is told TOKEN_REUSED and ends: the newest
// connection wins, as a reconnecting SDK must (its old socket may linger
// half-open), and the participant neither leaves nor joins.
func (s *Stages) join(c *conn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	p := c.p
	if exp, ok := s.revoked[[2]string{p.StageARN, p.ID}]; ok {
		if time.Now().Before(exp) {
			return ErrParticipantDisconnected
		}
		delete(s.revoked, [2]string{p.StageARN, p.ID})
	}
	s.beacons[c.beacon] = c
	st := s.stages[p.StageARN]
	first := st == nil || len(st.members) == 0
	if st == nil {
		st = &stage{arn: p.StageARN, topic: p.Topic, members: make(map[string]*member)}
		s.stages[p.StageARN] = st
	}
	if m := st.members[p.ID]; m != nil {
		old := m.conn
		client := m.p.Client
		m.conn, m.p = c, p
		m.p.Client.merge(client)
		// A participant that only published over WHIP (old nil) now has
		// its socket, and stays when its publish ends.
		if old != nil {
			old.finish(encode(typeDisconnect, disconnectPayload{Code: DisconnectTokenReused,
				Reason: "the participant token was used by another connection"}), websocket.StatusNormalClosure, "token reused", "")
		}
	} else {
		st.members[p.ID] = &member{p: p, conn: c, since: time.Now(), subscribed: make(map[string]bool),
			subs: make(map[string]*mediaRef)}
		s.emitLocked(func(l Lifecycle) { l.Joined(p, first) })
	}
	s.broadcastLocked(st)
	return nil
}

// leave removes a connection's participant from its stage, unless another
// connection took it over or it was removed already, and tells the others.
func (s *Stages) leave(c *conn, why LeaveReason) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.beacons, c.beacon)
	st := s.stages[c.p.StageARN]
	if st == nil {
		return
	}
	if m := st.members[c.p.ID]; m != nil && m.conn == c {
		s.removeLocked(st, m, why)
	}
}

// removeLocked takes a participant off its stage's roster: the others'
// next STAGE_STATE lacks it (the stage is forgotten when it was the
// last), and the Lifecycle hears it stop publishing and subscribing, then
// leave.
func (s *Stages) removeLocked(st *stage, m *member, why LeaveReason) {
	delete(st.members, m.p.ID)
	p := m.p
	last := len(st.members) == 0
	if m.publishing {
		s.emitLocked(func(l Lifecycle) { l.Published(p, false) })
	}
	for _, pub := range slices.Sorted(maps.Keys(m.subscribed)) {
		s.emitLocked(func(l Lifecycle) { l.Subscribed(p, pub, false) })
		if pm := st.members[pub]; pm != nil {
			s.sendSubscriberCountLocked(st, pm)
		}
	}
	s.emitLocked(func(l Lifecycle) { l.Left(p, why, last) })
	s.dropMediaLocked(st, m, last)
	if last {
		delete(s.stages, st.arn)
		s.notifyLocked(st.arn, nil)
		return
	}
	s.broadcastLocked(st)
}

// broadcastLocked sends every member of a stage its new state, with the
// next sequence number. The message is encoded once: every member gets
// the same participants[], in which the SDK finds itself by its jti.
func (s *Stages) broadcastLocked(st *stage) {
	st.seq = nextSeq(st.seq)
	now := time.Now()
	st.kicked = slices.DeleteFunc(st.kicked, func(k kick) bool { return now.Sub(k.at) > s.lim.KickedFor })
	ms := slices.SortedFunc(maps.Values(st.members), bySince)
	state := stageState{SequenceNumber: st.seq, StageID: st.topic, Participants: make([]stateParticipant, 0, len(ms)),
		Disconnected: make([]stateDisconnected, 0, len(st.kicked)), ServerFeatures: s.features()}
	for _, m := range ms {
		a := m.p.Attributes
		if a == nil {
			a = map[string]string{}
		}
		state.Participants = append(state.Participants, stateParticipant{ID: m.p.ID, UserID: m.p.UserID, Attributes: a,
			IsPublishing: m.publishing, AudioMuted: m.audioMuted, VideoStopped: m.videoStopped})
	}
	for _, k := range st.kicked {
		state.Disconnected = append(state.Disconnected, stateDisconnected{ID: k.id, Status: "KICKED"})
	}
	b := encode(typeStageState, state)
	for _, m := range ms {
		if m.conn != nil {
			m.conn.setState(st.seq, b)
		}
	}
	s.notifyLocked(st.arn, st)
}

// features are STAGE_STATE's serverFeatures: xdp when the WHIP routes
// are mounted with a media engine, as SDP over the socket answers from
// them.
func (s *Stages) features() []string {
	if s.cfg.Media != nil && s.whipPath != "" {
		return []string{featureXDP}
	}
	return []string{}
}

// bySince orders members by join.
func bySince(a, b *member) int {
	if c := a.since.Compare(b.since); c != 0 {
		return c
	}
	return strings.Compare(a.p.ID, b.p.ID)
}

// memberLocked returns a connected participant.
func (s *Stages) memberLocked(stageARN, id string) (*stage, *member, error) {
	if s.closed {
		return nil, nil, ErrClosed
	}
	st := s.stages[stageARN]
	if st == nil || st.members[id] == nil {
		return nil, nil, fmt.Errorf("%w: %s", ErrNotConnected, id)
	}
	return st, st.members[id], nil
}

// setState applies a SET_STATE; it tells the others if it changed
// anything.
func (s *Stages) setState(c *conn, audioMuted, videoStopped *bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, m, err := s.memberLocked(c.p.StageARN, c.p.ID)
	if err != nil || m.conn != c {
		return
	}
	changed := false
	if audioMuted != nil && *audioMuted != m.audioMuted {
		m.audioMuted, changed = *audioMuted, true
	}
	if videoStopped != nil && *videoStopped != m.videoStopped {
		m.videoStopped, changed = *videoStopped, true
	}
	if changed {
		s.broadcastLocked(st)
	}
}

// exchanged puts the participant of an exchanged token in place of the
// old one (its attributes and capabilities may differ).
func (s *Stages) exchanged(c *conn, p Participant) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, m, err := s.memberLocked(c.p.StageARN, c.p.ID)
	if err != nil || m.conn != c {
		return false
	}
	previous := m.p
	p.Client = previous.Client
	m.p, c.p = p, p
	if !p.Publish && m.slot && !m.publishing {
		m.slot = false
	}
	s.emitLocked(func(l Lifecycle) { l.TokenExchanged(previous, p) })
	s.dropRevokedMediaLocked(st, m)
	s.broadcastLocked(st)
	return true
}

// ReservePublish holds one of a stage's MaxPublishers places for a
// participant about to publish. The media side calls it before it accepts
// a publish offer; the place is the participant's until SetPublishing
// (false) or its leaving. A participant holding one gets nil again.
func (s *Stages) ReservePublish(stageARN, participantID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, m, err := s.memberLocked(stageARN, participantID)
	if err != nil {
		return err
	}
	return s.reserveLocked(st, m)
}

func (s *Stages) reserveLocked(st *stage, m *member) error {
	switch {
	case m.slot:
		return nil
	case !m.p.Publish:
		return ErrPublishNotAllowed
	}
	n := 0
	for _, o := range st.members {
		if o.slot {
			n++
		}
	}
	if n >= MaxPublishers {
		return fmt.Errorf("%w (%d)", ErrTooManyPublishers, MaxPublishers)
	}
	m.slot = true
	return nil
}

// SetPublishing says whether a participant's media reaches the stage:
// isPublishing in everyone's STAGE_STATE, and a Published call. Publishing
// holds a place (ReservePublish, done here if it was not); stopping frees
// it.
func (s *Stages) SetPublishing(stageARN, participantID string, publishing bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, m, err := s.memberLocked(stageARN, participantID)
	if err != nil {
		return err
	}
	return s.setPublishingLocked(st, m, publishing)
}

func (s *Stages) setPublishingLocked(st *stage, m *member, publishing bool) error {
	if publishing {
		if err := s.reserveLocked(st, m); err != nil {
			return err
		}
	} else {
		m.slot = false
	}
	if m.publishing == publishing {
		return nil
	}
	m.publishing = publishing
	if publishing {
		m.pubSince = time.Now()
	}
	p := m.p
	s.emitLocked(func(l Lifecycle) { l.Published(p, publishing) })
	s.broadcastLocked(st)
	return nil
}

// SetSubscribing says whether a participant receives a publisher's media:
// a Subscribed call, and the publisher's aws:ivs:SUBSCRIBER_COUNT.
func (s *Stages) SetSubscribing(stageARN, subscriberID, publisherID string, subscribing bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, m, err := s.memberLocked(stageARN, subscriberID)
	if err != nil {
		return err
	}
	return s.setSubscribingLocked(st, m, publisherID, subscribing)
}

func (s *Stages) setSubscribingLocked(st *stage, m *member, publisherID string, subscribing bool) error {
	if subscribing && !m.p.Subscribe {
		return ErrSubscribeNotAllowed
	}
	if m.subscribed[publisherID] == subscribing {
		return nil
	}
	if subscribing {
		m.subscribed[publisherID] = true
	} else {
		delete(m.subscribed, publisherID)
	}
	p := m.p
	s.emitLocked(func(l Lifecycle) { l.Subscribed(p, publisherID, subscribing) })
	if pm := st.members[publisherID]; pm != nil {
		s.sendSubscriberCountLocked(st, pm)
	}
	return nil
}

// sendSubscriberCountLocked tells a publisher how many participants
// receive its media. (The SDK emits the count as
// stageSubscriberCountChanged; that it counts the local participant's
// subscribers, not the stage's, is inferred.)
func (s *Stages) sendSubscriberCountLocked(st *stage, pub *member) {
	n := 0
	for _, m := range st.members {
		if m.subscribed[pub.p.ID] {
			n++
		}
	}
	st.seq = nextSeq(st.seq)
	if pub.conn == nil {
		return
	}
	pub.conn.setSubscriberCount(encode(typeSubscriberCount, subscriberCountPayload{SequenceNumber: st.seq, Count: n}))
}

// Participants returns the ids of a stage's connected participants,
// sorted.
func (s *Stages) Participants(stageARN string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stages[stageARN]
	if st == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(st.members))
}

// Disconnect ends a participant's connection (DisconnectParticipant): it
// gets aws:ivs:DISCONNECT PARTICIPANT_DISCONNECTED, the others see it in
// disconnected[] as KICKED, and its token may not join again until
// tokenExpiry (zero: the connected token's exp). The control plane is
// expected to refuse it too (ErrParticipantDisconnected), durably; this
// memory closes the window before it has recorded the disconnection. It
// returns ErrNotConnected if the participant was not connected (its token
// is refused all the same, given a tokenExpiry).
func (s *Stages) Disconnect(stageARN, participantID, reason string, tokenExpiry time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	now := time.Now()
	for k, exp := range s.revoked {
		if now.After(exp) {
			delete(s.revoked, k)
		}
	}
	st := s.stages[stageARN]
	var m *member
	if st != nil {
		m = st.members[participantID]
	}
	if m != nil && tokenExpiry.IsZero() {
		tokenExpiry = m.p.Expires
	}
	if tokenExpiry.After(now) {
		s.revoked[[2]string{stageARN, participantID}] = tokenExpiry
	}
	if m == nil {
		return fmt.Errorf("%w: %s", ErrNotConnected, participantID)
	}
	st.kicked = append(st.kicked, kick{id: participantID, at: now})
	if reason == "" {
		reason = "disconnected by the stage's owner"
	}
	if m.conn != nil {
		m.conn.finish(encode(typeDisconnect, disconnectPayload{Code: DisconnectParticipant, Reason: reason}),
			websocket.StatusNormalClosure, "participant disconnected", LeftDisconnected)
	}
	// Off the roster now, not once its socket has closed: the others
	// see it KICKED in their next state.
	s.removeLocked(st, m, LeftDisconnected)
	return nil
}

// CloseStage ends every connection to a stage (DeleteStage): each gets
// aws:ivs:DISCONNECT STAGE_DELETED.
func (s *Stages) CloseStage(stageARN string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stages[stageARN]
	if st == nil {
		return
	}
	b := encode(typeDisconnect, disconnectPayload{Code: DisconnectStageDeleted, Reason: "the stage was deleted"})
	for _, m := range slices.SortedFunc(maps.Values(st.members), bySince) {
		if m.conn != nil {
			m.conn.finish(b, websocket.StatusNormalClosure, "stage deleted", LeftStageDeleted)
		}
		s.removeLocked(st, m, LeftStageDeleted)
	}
}

// Close ends every connection (close code 1001) and waits for their
// goroutines and the last Lifecycle calls.
func (s *Stages) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.eventsDone
		return
	}
	s.closed = true
	for _, st := range s.stages {
		for _, m := range slices.SortedFunc(maps.Values(st.members), bySince) {
			if m.conn != nil {
				m.conn.finish(nil, websocket.StatusGoingAway, "the server is stopping", LeftShutdown)
			} else {
				s.removeLocked(st, m, LeftShutdown) // a WHIP-only publisher has no socket to end
			}
		}
	}
	s.mu.Unlock()
	// Clients get a close handshake; those that do not answer it are cut
	// off (the library bounds the handshake by 5 s).
	done := make(chan struct{})
	go func() { s.conns.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cancel()
		<-done
	}
	s.cancel()
	// Every stage emptied: its room closes, and the SFU's last events
	// find the roster closed.
	s.media.Wait()
	close(s.events) // every leave has queued its calls
	<-s.eventsDone
}
