package stage

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/onair-video/onair/internal/rtc"
	"github.com/onair-video/onair/internal/sfu"
)

// Server-side media on a stage: what compositions, participant recordings
// and replicas see of it (Watch), take from it (Tap), and what RTMP
// ingest and replicas put into it (PublishLocal).

// Publishing is a participant publishing on a stage.
type Publishing struct {
	// Participant is its identity (ID, UserID, Attributes: a layout's
	// featured and order attributes).
	Participant  Participant
	AudioMuted   bool
	VideoStopped bool
	// Since is when it started publishing: the order of arrival.
	Since time.Time
	// Session changes when its publisher is replaced (a republish): a tap
	// of the old one has ended and must be made again.
	Session string
}

// publishWatch is one Watch: the latest set waits in latest, and kick wakes
// its goroutine.
type publishWatch struct {
	mu     sync.Mutex
	latest []Publishing
	kick   chan struct{}
	done   chan struct{}
	wg     sync.WaitGroup
}

// Watch calls fn with the stage's publishing participants, ordered by
// Since, at once and after each change (a publish starts, stops or is
// replaced; a mute; a video stop). fn runs on the watch's own goroutine,
// never under a lock; sets it has not taken yet are replaced by newer
// ones, so it always ends with the latest. stop ends the watch and waits
// for fn to return.
func (s *Stages) Watch(stageARN string, fn func([]Publishing)) (stop func()) {
	w := &publishWatch{kick: make(chan struct{}, 1), done: make(chan struct{})}
	s.mu.Lock()
	if s.watchers == nil {
		s.watchers = make(map[string]map[*publishWatch]struct{})
	}
	if s.watchers[stageARN] == nil {
		s.watchers[stageARN] = make(map[*publishWatch]struct{})
	}
	s.watchers[stageARN][w] = struct{}{}
	w.offer(publishingOf(s.stages[stageARN]))
	s.mu.Unlock()
	w.wg.Go(func() {
		for {
			select {
			case <-w.done:
				return
			case <-w.kick:
			}
			w.mu.Lock()
			set := w.latest
			w.mu.Unlock()
			fn(set)
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			delete(s.watchers[stageARN], w)
			if len(s.watchers[stageARN]) == 0 {
				delete(s.watchers, stageARN)
			}
			s.mu.Unlock()
			close(w.done)
			w.wg.Wait()
		})
	}
}

func (w *publishWatch) offer(set []Publishing) {
	w.mu.Lock()
	w.latest = set
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default: // a wake-up is pending; it takes the latest
	}
}

// notifyLocked tells a stage's watchers its publishing set (st nil: the
// stage emptied).
func (s *Stages) notifyLocked(arn string, st *stage) {
	ws := s.watchers[arn]
	if len(ws) == 0 {
		return
	}
	set := publishingOf(st)
	for w := range ws {
		w.offer(set)
	}
}

func publishingOf(st *stage) []Publishing {
	out := []Publishing{}
	if st == nil {
		return out
	}
	for _, m := range st.members {
		if !m.publishing {
			continue
		}
		x := Publishing{Participant: m.p, AudioMuted: m.audioMuted, VideoStopped: m.videoStopped, Since: m.pubSince}
		x.Participant.Attributes = maps.Clone(m.p.Attributes)
		if m.pub != nil {
			x.Session = m.pub.sid
		}
		out = append(out, x)
	}
	slices.SortFunc(out, func(a, b Publishing) int {
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return strings.Compare(a.Participant.ID, b.Participant.ID)
	})
	return out
}

// Tap subscribes in-process to a publishing participant's media on the
// stage's room (sfu.Room.Tap). sfu.ErrPublisherNotFound: it does not
// publish. The tap ends when the publisher does.
func (s *Stages) Tap(stageARN, publisherID, tapID string, opts sfu.TapOptions) (*sfu.Subscription, error) {
	s.mu.Lock()
	var room *sfu.Room
	if st := s.stages[stageARN]; st != nil && !s.closed {
		room = st.room
	}
	s.mu.Unlock()
	if room == nil {
		return nil, sfu.ErrPublisherNotFound
	}
	sub, err := room.Tap(tapID, publisherID, opts)
	if err != nil {
		return nil, fmt.Errorf("stage: tap %s: %w", publisherID, err)
	}
	return sub, nil
}

// PublishLocal makes p a participant of p.StageARN that publishes media
// onair produces itself (an RTMP encoder's, a replica's): it joins (a
// Lifecycle Joined; in everyone's STAGE_STATE) without an events socket,
// takes a publisher's place (ErrTooManyPublishers), and publishes at
// once. It leaves when the publisher is closed; DisconnectParticipant,
// DeleteStage and shutdown close the publisher. p.Client.Protocol is what
// the participant shows as its protocol (RTMP, RTMPS).
// sfu.ErrPublisherExists: the participant publishes already.
func (s *Stages) PublishLocal(p Participant, opts sfu.LocalOptions) (*sfu.Publisher, error) {
	s.mu.Lock()
	var err error
	if s.closed {
		err = ErrClosed
	} else if !p.Publish {
		err = ErrPublishNotAllowed
	}
	var st *stage
	var m *member
	if err == nil {
		st, m, err = s.whipMemberLocked(p)
	}
	if err == nil && (m.pub != nil || m.pending > 0) {
		err = sfu.ErrPublisherExists
		m = nil // not ours to remove
	}
	if err == nil {
		err = s.reserveLocked(st, m)
	}
	if err != nil {
		s.publishRefusedLocked(st, m, p, err)
		s.mu.Unlock()
		return nil, err
	}
	room := s.roomLocked(st)
	m.pending++
	s.mu.Unlock()
	// Not under s.mu: the room reports PublisherStarted to onMedia,
	// which takes it (and finds no session yet; publishing is set below).
	pub, err := room.PublishLocal(p.ID, opts)
	if err != nil {
		s.unreserve(p)
		return nil, fmt.Errorf("stage: publish %s: %w", p.ID, err)
	}
	s.mu.Lock()
	st, m, err = s.memberLocked(p.StageARN, p.ID)
	if err == nil {
		m.pending = max(0, m.pending-1)
		if st.room != room || m.pub != nil {
			err = sfu.ErrPublisherExists
		}
	}
	if err == nil {
		m.pub = &mediaRef{sid: rtc.NewSessionID(), pub: pub}
		if err = s.setPublishingLocked(st, m, true); err != nil {
			m.pub = nil
		}
	}
	s.mu.Unlock()
	if err != nil {
		pub.Close() // its stop finds no session of it: the roster is as before
		s.unreserve(p)
		return nil, fmt.Errorf("stage: publish %s: %w", p.ID, err)
	}
	return pub, nil
}
