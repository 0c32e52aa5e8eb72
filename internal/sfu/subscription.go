package sfu

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/pion/webrtc/v4"

	"github.com/onair-video/onair/internal/rtc"
)

// LayerPreference is a subscriber's initial simulcast layer choice (IVS's
// X-Stages-Initial-Layer-Pref).
type LayerPreference int

// Layer preferences.
const (
	LayerHighest LayerPreference = iota // the default: the best the link carries
	// LayerLowest: the first frames come from the lowest layer, and the
	// subscriber's bandwidth estimate (REMB) moves it up as it allows, as
	// IVS's "lowest quality first" does; without an estimate it stays.
	LayerLowest
)

// SubscribeOptions are a subscription's choices.
type SubscribeOptions struct {
	InitialLayer LayerPreference
}

// Subscription is one subscriber's peer connection receiving one
// publisher's audio and video.
type Subscription struct {
	subscriberID string
	pub          *Publisher
	pc           *webrtc.PeerConnection // nil for a tap
	audio, video *downTrack             // nil if not negotiated
	// tap: an in-process subscriber (Room.Tap), not a participant: no
	// peer connection, no room events.
	tap bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// connected: DTLS is up. pion drops what is written before, so a
	// down-track starts (at a keyframe) only after.
	connected atomic.Bool

	mu       sync.Mutex
	paused   map[*downTrack]bool // by Pause (playback.go)
	closed   bool
	started  bool
	writing  bool // the down-tracks' queue writers run
	closeErr error
	done     chan struct{}
}

// Subscribe answers a subscriber's offer for publisherID's media: a new
// peer connection with one audio and one video sender, in the publisher's
// codecs. The answer carries every candidate.
func (r *Room) Subscribe(ctx context.Context, subscriberID, publisherID, offer string, opts SubscribeOptions) (string, *Subscription, error) {
	if err := ctx.Err(); err != nil {
		return "", nil, err
	}
	pub := r.Publisher(publisherID)
	if pub == nil {
		return "", nil, ErrPublisherNotFound
	}
	pc, err := r.cfg.Engine.NewSFUSubscriberPeerConnection()
	if err != nil {
		return "", nil, fmt.Errorf("sfu: peer connection: %w", err)
	}
	s := &Subscription{subscriberID: subscriberID, pub: pub, pc: pc, done: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	var senders []*webrtc.RTPSender
	answer, err := rtc.AnswerWith(pc, offer, r.cfg.AnswerTimeout, func() error {
		for _, m := range []*media{pub.audio, pub.video} {
			if m == nil {
				continue
			}
			kind := m.kind.String()
			offered, err := offeredCodecs(offer, kind)
			if err != nil {
				return err
			}
			if len(offered) == 0 {
				continue // the subscriber does not want this kind
			}
			c, ok := pickCodec(offered, []webrtc.RTPCodecParameters{m.params})
			if !ok {
				return fmt.Errorf("%w: the publisher's %s is %s", ErrNoMatchingCodec, kind, m.params.MimeType)
			}
			d := newDownTrack(m, s, -1)
			if opts.InitialLayer == LayerLowest && m.kind == webrtc.RTPCodecTypeVideo {
				// The first frames come from the lowest layer; the
				// subscriber's bandwidth estimate raises the cap from
				// there, as it lowers it for one that starts high.
				d.bwCeil.Store(0)
				d.want.Store(d.target(monotime()))
			}
			sender, err := pc.AddTrack(d)
			if err != nil {
				return fmt.Errorf("sfu: add %s: %w", kind, err)
			}
			for _, tr := range pc.GetTransceivers() {
				if tr.Sender() == sender {
					if err := tr.SetCodecPreferences(withRTX(c, offered)); err != nil {
						return fmt.Errorf("%w: %w", ErrNoMatchingCodec, err)
					}
				}
			}
			if m.kind == webrtc.RTPCodecTypeAudio {
				s.audio = d
			} else {
				s.video = d
			}
			senders = append(senders, sender)
		}
		if s.audio == nil && s.video == nil {
			return fmt.Errorf("%w: the offer receives nothing the publisher sends", ErrNoMatchingCodec)
		}
		return nil
	})
	if err == nil {
		// A subscriber may send (the IVS SDK's silent audio): read it away.
		pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
			s.mu.Lock()
			defer s.mu.Unlock()
			if !s.closed {
				s.wg.Go(func() { discard(t) })
			}
		})
		pc.OnConnectionStateChange(s.onState)
		// A pair that changes to ICE-TCP takes the queue from then on.
		pc.SCTP().Transport().ICETransport().OnSelectedCandidatePairChange(func(p *webrtc.ICECandidatePair) {
			if p == nil || p.Local == nil || p.Local.Protocol != webrtc.ICEProtocolUDP {
				s.setDirect(false)
			}
		})
		// Registered and started under s.mu: a close that raced the
		// answer (the connection failed) leaves nothing behind.
		s.mu.Lock()
		pub.mu.Lock()
		switch {
		case pub.closed:
			err = ErrPublisherNotFound
		case s.closed:
			err = ErrPeerGone
		default:
			pub.subs[s] = struct{}{}
			r.metrics.Subscriptions.Add(1)
			s.start(senders)
		}
		pub.mu.Unlock()
		s.mu.Unlock()
	}
	if err != nil {
		s.cancel()
		_ = pc.Close()
		// Senders bound before the error are unbound by Close.
		return "", nil, answerErr(err)
	}
	return answer, s, nil
}

// start runs the down-tracks' RTCP readers (s.mu held). Their queue
// writers start only for a transport that can block (setDirect).
func (s *Subscription) start(senders []*webrtc.RTPSender) {
	for _, sender := range senders {
		d := s.audio
		if sender.Track() != nil && sender.Track().Kind() == webrtc.RTPCodecTypeVideo {
			d = s.video
		}
		s.wg.Go(func() { d.readRTCP(sender) })
	}
}

// SubscriberID is the subscriber's id.
func (s *Subscription) SubscriberID() string { return s.subscriberID }

// PublisherID is the publisher's id.
func (s *Subscription) PublisherID() string { return s.pub.id }

// Done is closed when the subscription has ended.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err says why the subscription ended (nil: Close, or still running).
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeErr
}

// Layers describes the publisher's video layers, the one forwarded to this
// subscriber selected.
func (s *Subscription) Layers() []Layer {
	if s.video == nil {
		return nil
	}
	return s.video.m.describe(monotime(), s.video.selected())
}

// SelectLayer makes encodingID (a rid) the subscriber's layer; "" returns
// to automatic choice (the highest the link and the bandwidth estimate
// carry). The switch happens
// at the layer's next keyframe, which is asked for.
func (s *Subscription) SelectLayer(encodingID string) error {
	if s.video == nil {
		return ErrLayerNotFound
	}
	pref := int32(-1)
	if encodingID != "" {
		found := false
		for i := range maxLayers {
			if l := s.video.m.layers[i].Load(); l != nil && l.rid == encodingID {
				pref, found = int32(i), true
			}
		}
		if !found {
			return fmt.Errorf("%w: %q", ErrLayerNotFound, encodingID)
		}
	}
	d := s.video
	d.pref.Store(pref)
	// A manual choice lifts the congestion ceiling, and the bandwidth cap
	// to the chosen layer; overflow and the estimate lower them again if
	// the link cannot carry it. The automatic choice ("") leaves the
	// bandwidth cap where the estimate has it: the SDK asks for it right
	// after subscribing, which must not undo a lowest initial layer.
	d.ceil.Store(maxLayers - 1)
	if pref >= 0 && d.bwCeil.Load() < pref {
		d.bwCeil.Store(pref)
	}
	now := monotime()
	t := d.target(now)
	d.want.Store(t)
	if t != d.cur.Load() {
		d.m.requestKeyframe(int(t), now)
	}
	return nil
}

// Close ends the subscription and waits for its goroutines.
func (s *Subscription) Close() { s.closeWith(nil) }

// fail ends the subscription from the data path, without waiting.
func (s *Subscription) fail(cause error) {
	if !s.pub.room.async(func() { s.closeWith(cause) }) {
		s.cancel() // the room is closing and ends the rest
	}
}

func (s *Subscription) closeWith(cause error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return
	}
	s.closed = true
	s.closeErr = cause
	s.mu.Unlock()
	p := s.pub
	p.mu.Lock()
	if _, ok := p.subs[s]; ok {
		delete(p.subs, s)
		p.room.metrics.Subscriptions.Add(-1)
	}
	p.mu.Unlock()
	for _, d := range []*downTrack{s.audio, s.video} {
		if d != nil {
			d.m.remove(d)
		}
	}
	s.cancel()
	if s.pc != nil {
		_ = s.pc.Close()
	}
	s.wg.Wait()
	close(s.done)
	if s.tap {
		return
	}
	p.room.emit(Event{Type: SubscriptionStopped, PublisherID: p.id, SubscriberID: s.subscriberID, Err: cause})
}

func (s *Subscription) onState(st webrtc.PeerConnectionState) {
	switch st {
	case webrtc.PeerConnectionStateConnected:
		// Before connected: no packet is written before it.
		s.setDirect(s.udp())
		s.connected.Store(true)
		if d := s.video; d != nil {
			d.m.requestKeyframe(int(d.want.Load()), monotime())
		}
		s.mu.Lock()
		first := !s.started && !s.closed
		s.started = true
		s.mu.Unlock()
		if first {
			s.pub.room.emit(Event{Type: SubscriptionStarted, PublisherID: s.pub.id, SubscriberID: s.subscriberID})
		}
	case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
		s.pub.room.async(func() { s.closeWith(ErrPeerGone) })
	}
}

// udp says whether the connection's selected candidate pair is UDP, whose
// writes cannot block on this subscriber: the shared socket's buffer
// fills only when the host's link is full, for every subscriber at once.
// ICE-TCP's can: a peer that stops reading fills its connection. A
// writer a test wraps (Room.wrapWriter) stands for a transport that can
// block.
func (s *Subscription) udp() bool {
	for _, d := range []*downTrack{s.audio, s.video} {
		if d != nil && d.wrapped.Load() {
			return false
		}
	}
	pair, err := s.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	return err == nil && pair != nil && pair.Local != nil && pair.Local.Protocol == webrtc.ICEProtocolUDP
}

// startWriters runs the down-tracks' queue writers, once: a subscriber
// on UDP never needs them.
func (s *Subscription) startWriters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.writing {
		return
	}
	s.writing = true
	for _, d := range []*downTrack{s.audio, s.video} {
		if d != nil {
			s.wg.Go(func() { d.run(s.ctx) })
		}
	}
}

// setDirect has the publisher's readers write to the subscriber's
// down-tracks themselves (true), or queue for their writer goroutines.
// Only ever turned off once on: a packet queued earlier would otherwise be
// written after newer ones.
func (s *Subscription) setDirect(on bool) {
	if !on {
		s.startWriters()
	}
	for _, d := range []*downTrack{s.audio, s.video} {
		if d == nil {
			continue
		}
		if on && !s.connected.Load() {
			d.direct.Store(true)
		} else if !on {
			d.direct.Store(false)
		}
	}
}
