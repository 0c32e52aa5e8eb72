package stage

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/onair-video/onair/internal/sfu"
)

// Participant replication (IVS's StartParticipantReplication): a
// publishing participant of one stage appears, publishing the same media,
// in another. The replica is a local publisher in the destination fed by
// a tap of the source: its packets are forwarded as they come, never
// decoded.

// Reasons a replica ends by itself.
var (
	// ErrSourceGone: the source stopped publishing (or left) and did not
	// come back within the reconnect window.
	ErrSourceGone = errors.New("stage: the replicated participant stopped publishing")
	// ErrReplicaGone: the replica left the destination stage
	// (DisconnectParticipant, DeleteStage, shutdown).
	ErrReplicaGone = errors.New("stage: the replica left the destination stage")
)

// ReplicaConfig describes a replication.
type ReplicaConfig struct {
	// SourceStageARN is the stage the participant publishes on.
	SourceStageARN string
	// Replica is the participant in the destination stage (its StageARN
	// and Topic): the source's id and user id, the merged attributes,
	// Publish set.
	Replica Participant
	// ReconnectWindow is how long the replica waits, still publishing
	// (silent), for a source that stopped to publish again.
	ReconnectWindow time.Duration
	// Stopped is called once, on a goroutine of its own, when the replica
	// ends by itself (ErrSourceGone, ErrReplicaGone), not after Stop.
	Stopped func(error)
}

// Replica is a running replication.
type Replica struct {
	s   *Stages
	cfg ReplicaConfig

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}

	// mu guards the tap and publisher, which the loop replaces; the
	// taps' goroutines write through them.
	mu      sync.Mutex
	tap     *sfu.Subscription
	session string // the source's publish the tap takes
	pub     *sfu.Publisher
	gen     uint64 // the tap's generation: its packets are renumbered from here
	video   rewriter
	audio   rewriter
}

// rewriter keeps a replica's outgoing track one continuous RTP stream
// across the source's republishes, whose taps each start their own.
type rewriter struct {
	gen      uint64 // the tap generation the offsets are for
	started  bool
	seqOff   uint16
	tsOff    uint32
	lastSeq  uint16
	lastTS   uint32
	lastWall time.Time
}

// rewrite renumbers h (a copy) for the outgoing stream.
func (w *rewriter) rewrite(h rtp.Header, gen uint64, clock uint32, now time.Time) rtp.Header {
	if w.gen != gen || !w.started {
		if w.started {
			delta := uint32(max(1, now.Sub(w.lastWall).Seconds()*float64(clock)))
			w.seqOff = w.lastSeq + 1 - h.SequenceNumber
			w.tsOff = w.lastTS + delta - h.Timestamp
		} else {
			w.seqOff, w.tsOff = 0, 0
		}
		w.gen, w.started = gen, true
	}
	h.SequenceNumber += w.seqOff
	h.Timestamp += w.tsOff
	if int16(h.SequenceNumber-w.lastSeq) > 0 || w.lastWall.IsZero() {
		w.lastSeq, w.lastTS, w.lastWall = h.SequenceNumber, h.Timestamp, now
	}
	return h
}

// Replicate starts replicating a participant that publishes on
// cfg.SourceStageARN into cfg.Replica's stage. It fails with
// sfu.ErrPublisherNotFound if the participant does not publish, and as
// PublishLocal does if the destination refuses it.
func (s *Stages) Replicate(cfg ReplicaConfig) (*Replica, error) {
	r := &Replica{s: s, cfg: cfg, stop: make(chan struct{}), done: make(chan struct{})}
	if err := r.retap(""); err != nil {
		return nil, err
	}
	r.mu.Lock()
	a, v := r.tap.Codecs()
	r.mu.Unlock()
	pub, err := s.PublishLocal(cfg.Replica, sfu.LocalOptions{Audio: a, Video: v, Keyframe: r.keyframe})
	if err != nil {
		r.closeTap()
		return nil, err
	}
	r.mu.Lock()
	r.pub = pub
	r.mu.Unlock()
	sets := make(chan []Publishing, 1)
	stopWatch := s.Watch(cfg.SourceStageARN, func(set []Publishing) {
		select {
		case <-sets: // the older set is stale
		default:
		}
		sets <- set
	})
	go r.run(sets, stopWatch)
	return r, nil
}

// Stop ends the replication: the replica leaves the destination.
func (r *Replica) Stop() {
	r.stopOnce.Do(func() { close(r.stop) })
	<-r.done
}

// run follows the source until the replication ends.
func (r *Replica) run(sets <-chan []Publishing, stopWatch func()) {
	var cause error
	defer func() {
		stopWatch()
		r.closeTap()
		r.mu.Lock()
		pub := r.pub
		r.mu.Unlock()
		if pub != nil {
			pub.Close()
		}
		close(r.done)
		if cause != nil && r.cfg.Stopped != nil {
			go r.cfg.Stopped(cause)
		}
	}()
	var window <-chan time.Time
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	r.mu.Lock()
	pubDone := r.pub.Done()
	r.mu.Unlock()
	var last []Publishing
	for {
		select {
		case <-r.stop:
			return
		case <-pubDone:
			cause = ErrReplicaGone
			return
		case <-window:
			cause = ErrSourceGone
			return
		case <-r.tapDone():
			// Dropped while its publisher goes on (it fell behind): take
			// the same publish again. A publisher's end comes with a set.
			if src, ok := findPublishing(last, r.cfg.Replica.ID); ok && window == nil {
				r.closeTap()
				if err := r.resume(src.Session); err != nil && !errors.Is(err, sfu.ErrPublisherNotFound) {
					r.s.log.Warn("stage: replica: tap lost", "participant", r.cfg.Replica.ID, "err", err)
				}
			} else {
				r.closeTap()
			}
		case set := <-sets:
			last = set
			src, ok := findPublishing(set, r.cfg.Replica.ID)
			r.mu.Lock()
			current := r.session
			r.mu.Unlock()
			switch {
			case !ok && window == nil:
				// The source stopped: the replica stays (silent) for the
				// window, then ends.
				r.closeTap()
				if r.cfg.ReconnectWindow <= 0 {
					cause = ErrSourceGone
					return
				}
				timer = time.NewTimer(r.cfg.ReconnectWindow)
				window = timer.C
			case ok && src.Session != current:
				if err := r.resume(src.Session); err != nil {
					r.s.log.Warn("stage: replica: the source's new publish could not be taken",
						"participant", r.cfg.Replica.ID, "err", err)
					continue // the next set tries again; the window still runs
				}
				if timer != nil {
					timer.Stop()
					timer, window = nil, nil
				}
			}
		}
	}
}

func findPublishing(set []Publishing, id string) (Publishing, bool) {
	for _, p := range set {
		if p.Participant.ID == id {
			return p, true
		}
	}
	return Publishing{}, false
}

// resume takes the source's new publish. A source that came back with
// other codecs cannot continue the replica's tracks: it fails, and the
// window runs out.
func (r *Replica) resume(session string) error {
	r.mu.Lock()
	pub := r.pub
	r.mu.Unlock()
	if err := r.retap(session); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	a, v := r.tap.Codecs()
	pa, pv := pub.Codecs()
	if !sameCodecs(a, pa) || !sameCodecs(v, pv) {
		tap := r.tap
		r.tap, r.session = nil, ""
		go tap.Close()
		return fmt.Errorf("the source came back with other codecs (%v, %v)", a, v)
	}
	return nil
}

func sameCodecs(a, b *webrtc.RTPCodecParameters) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.MimeType == b.MimeType && a.SDPFmtpLine == b.SDPFmtpLine
}

// retap replaces the tap by one of the source's current publish, session
// ("" for whatever it is).
func (r *Replica) retap(session string) error {
	r.closeTap()
	r.mu.Lock()
	r.gen++
	gen := r.gen
	r.mu.Unlock()
	tapID := "replica:" + r.cfg.Replica.StageARN
	tap, err := r.s.Tap(r.cfg.SourceStageARN, r.cfg.Replica.ID, tapID, sfu.TapOptions{
		Audio: func(h *rtp.Header, p []byte) { r.write(webrtc.RTPCodecTypeAudio, gen, h, p) },
		Video: func(h *rtp.Header, p []byte) { r.write(webrtc.RTPCodecTypeVideo, gen, h, p) },
	})
	if err != nil {
		return err
	}
	if session == "" {
		r.s.mu.Lock()
		if st := r.s.stages[r.cfg.SourceStageARN]; st != nil {
			if m := st.members[r.cfg.Replica.ID]; m != nil && m.pub != nil {
				session = m.pub.sid
			}
		}
		r.s.mu.Unlock()
	}
	r.mu.Lock()
	r.tap, r.session = tap, session
	r.mu.Unlock()
	return nil
}

// tapDone is the current tap's Done (nil, which blocks, without one).
func (r *Replica) tapDone() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tap == nil {
		return nil
	}
	return r.tap.Done()
}

func (r *Replica) closeTap() {
	r.mu.Lock()
	tap := r.tap
	r.tap, r.session = nil, ""
	r.mu.Unlock()
	if tap != nil {
		tap.Close()
	}
}

// write forwards one tapped packet of generation gen to the replica.
func (r *Replica) write(kind webrtc.RTPCodecType, gen uint64, h *rtp.Header, payload []byte) {
	r.mu.Lock()
	if r.gen != gen || r.pub == nil {
		r.mu.Unlock()
		return // an old tap's last packets, or the replica is not up yet
	}
	w, clock := &r.video, uint32(90000)
	if kind == webrtc.RTPCodecTypeAudio {
		w, clock = &r.audio, 48000
	}
	out := w.rewrite(*h, gen, clock, time.Now())
	pub := r.pub
	r.mu.Unlock()
	_ = pub.WriteRTP(kind, &out, payload) // fails only once closed
}

// keyframe asks the source for a keyframe for the replica's subscribers.
func (r *Replica) keyframe() {
	r.mu.Lock()
	tap := r.tap
	r.mu.Unlock()
	if tap != nil {
		tap.RequestKeyframe()
	}
}
