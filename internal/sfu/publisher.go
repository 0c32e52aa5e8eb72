package sfu

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/onair-video/onair/internal/rtc"
)

// Publisher is one publish peer connection: an audio and a video track,
// the video possibly in simulcast layers.
type Publisher struct {
	id    string
	room  *Room
	pc    *webrtc.PeerConnection
	audio *media // nil if not offered
	video *media
	fan   *fanPool // nil: the readers write to every subscriber themselves
	// A local publisher (PublishLocal) has no pc: its tracks are fed by
	// WriteRTP, and keyframe requests go to keyframe.
	localAudio, localVideo *localTrack
	keyframe               func()

	wg       sync.WaitGroup // readers
	mu       sync.Mutex
	closed   bool
	subs     map[*Subscription]struct{}
	done     chan struct{}
	started  bool
	closeErr error
}

// Publish answers a publisher's offer: audio (Opus) and video (VP8 or
// H.264, in the offer's order of preference; simulcast by rid) received on
// a new peer connection. The answer carries every candidate (no trickle).
func (r *Room) Publish(ctx context.Context, id, offer string) (string, *Publisher, error) {
	if err := ctx.Err(); err != nil {
		return "", nil, err
	}
	r.mu.Lock()
	closed, exists := r.closed, r.publishers[id] != nil
	r.mu.Unlock()
	if closed {
		return "", nil, ErrClosed
	}
	if exists {
		return "", nil, ErrPublisherExists
	}
	pc, err := r.cfg.Engine.NewSFUPeerConnection()
	if err != nil {
		return "", nil, fmt.Errorf("sfu: peer connection: %w", err)
	}
	p := &Publisher{id: id, room: r, pc: pc, subs: map[*Subscription]struct{}{}, done: make(chan struct{})}
	video, audio := rtc.SFUCodecs()
	answer, err := rtc.AnswerWith(pc, offer, r.cfg.AnswerTimeout, func() error {
		for _, tr := range pc.GetTransceivers() {
			kind, ours := "video", video
			if tr.Kind() == webrtc.RTPCodecTypeAudio {
				kind, ours = "audio", audio
			}
			offered, err := offeredCodecs(offer, kind)
			if err != nil {
				return err
			}
			c, ok := pickCodec(offered, ours)
			if !ok {
				return fmt.Errorf("%w: %s", ErrNoMatchingCodec, kind)
			}
			// One codec in the answer, so subscribers can be answered
			// before the first packet says which the publisher chose.
			if err := tr.SetCodecPreferences(withRTX(c, offered)); err != nil {
				return fmt.Errorf("%w: %w", ErrNoMatchingCodec, err)
			}
			m := newMedia(p, tr.Kind(), c)
			if tr.Kind() == webrtc.RTPCodecTypeAudio && p.audio == nil {
				p.audio = m
			} else if tr.Kind() == webrtc.RTPCodecTypeVideo && p.video == nil {
				p.video = m
			}
		}
		if p.audio == nil && p.video == nil {
			return fmt.Errorf("%w: no audio or video", ErrBadOffer)
		}
		return nil
	})
	if err == nil {
		p.fan = newFanPool(r.metrics)
		pc.OnTrack(p.onTrack)
		pc.OnConnectionStateChange(p.onState)
		r.mu.Lock()
		p.mu.Lock()
		switch {
		case r.closed:
			err = ErrClosed
		case r.publishers[id] != nil:
			err = ErrPublisherExists
		case p.closed: // its connection failed already
			err = ErrPeerGone
		default:
			r.publishers[id] = p
			r.metrics.Publishers.Add(1)
		}
		p.mu.Unlock()
		r.mu.Unlock()
	}
	if err != nil {
		_ = pc.Close()
		p.fan.stop() // a reader it would have served only finds no worker
		return "", nil, answerErr(err)
	}
	r.log.Debug("publish", "publisher", id)
	return answer, p, nil
}

// answerErr keeps the engine's errors and marks the rest as a bad offer.
func answerErr(err error) error {
	for _, e := range []error{ErrNoMatchingCodec, ErrBadOffer, ErrClosed, ErrPublisherExists, ErrPublisherNotFound} {
		if errors.Is(err, e) {
			return err
		}
	}
	if h := (*rtc.HTTPError)(nil); errors.As(err, &h) {
		return fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	return err
}

// ID is the publisher's id.
func (p *Publisher) ID() string { return p.id }

// Done is closed when the publisher has stopped.
func (p *Publisher) Done() <-chan struct{} { return p.done }

// Err says why the publisher stopped (nil: Close, or still publishing).
func (p *Publisher) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closeErr
}

// Layers describes the video's layers, highest first (one if the video
// is not simulcast, none if there is no video).
func (p *Publisher) Layers() []Layer {
	if p.video == nil {
		return nil
	}
	return p.video.describe(monotime(), -1)
}

// Subscriptions counts the publisher's subscriptions.
func (p *Publisher) Subscriptions() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.subs)
}

// Close stops the publisher and its subscriptions and waits for them.
func (p *Publisher) Close() { p.closeWith(nil) }

func (p *Publisher) closeWith(cause error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.done
		return
	}
	p.closed = true
	p.closeErr = cause
	subs := make([]*Subscription, 0, len(p.subs))
	for s := range p.subs {
		subs = append(subs, s)
	}
	p.mu.Unlock()
	r := p.room
	r.mu.Lock()
	if r.publishers[p.id] == p {
		delete(r.publishers, p.id)
		r.metrics.Publishers.Add(-1)
	}
	r.mu.Unlock()
	for _, s := range subs {
		s.closeWith(ErrPublisherGone)
	}
	if p.pc != nil {
		_ = p.pc.Close()
	}
	p.wg.Wait()
	p.closeLocalWriters()
	p.fan.stop()
	close(p.done)
	r.emit(Event{Type: PublisherStopped, PublisherID: p.id, Err: cause})
}

func (p *Publisher) onState(s webrtc.PeerConnectionState) {
	switch s {
	case webrtc.PeerConnectionStateConnected:
		p.mu.Lock()
		first := !p.started && !p.closed
		p.started = true
		p.mu.Unlock()
		if first {
			p.room.emit(Event{Type: PublisherStarted, PublisherID: p.id})
		}
	case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
		// Not on pion's goroutine: closing waits on pion.
		p.room.async(func() { p.closeWith(ErrPeerGone) })
	}
}

// onTrack starts the reader of a track or simulcast layer.
func (p *Publisher) onTrack(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	m := p.video
	if t.Kind() == webrtc.RTPCodecTypeAudio {
		m = p.audio
	}
	idx, ok := layerIndex(t.RID())
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if m == nil || !ok || m.layers[idx].Load() != nil || !sameCodec(t.Codec().RTPCodecCapability, m.params.RTPCodecCapability) {
		// Not a stream onair forwards; read it so pion's buffers stay empty.
		p.wg.Go(func() { discard(t) })
		return
	}
	l := &layer{idx: idx, rid: t.RID(), ssrc: uint32(t.SSRC())}
	m.layers[idx].Store(l)
	p.wg.Go(func() { p.read(m, l, t) })
	// A subscriber waiting on this layer wants its keyframe now.
	m.requestKeyframe(idx, monotime())
}

func discard(t *webrtc.TrackRemote) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := t.Read(buf); err != nil {
			return
		}
	}
}

// read parses each packet of one layer once and fans it out, until the
// peer connection closes.
func (p *Publisher) read(m *media, l *layer, t *webrtc.TrackRemote) {
	buf := make([]byte, 1500)
	var j fanJob
	var lag lagMeter
	for {
		n, attrs, err := t.Read(buf)
		if err != nil {
			return
		}
		pkt := parse(buf[:n], l.idx, m.codec)
		if pkt == nil || !l.admit(pkt.hdr.SequenceNumber) {
			continue
		}
		if repaired(attrs) {
			p.room.metrics.PacketsRepaired.Add(1)
		}
		p.room.metrics.PacketsIn.Add(1)
		lag.observe(pkt, m.params.ClockRate, &p.room.metrics.ReadLag)
		l.last.Store(pkt.arrival)
		l.cache.put(pkt)
		l.account(pkt, m.codec)
		m.forward(pkt, &j)
		p.room.metrics.ReaderBusyNs.Add(monotime() - pkt.arrival)
	}
}

// parse makes the shared packet of an RTP packet: the header without its
// extensions (their ids are the publisher's, not a subscriber's) and a copy
// of the payload. nil for a packet with no payload (padding, probes) or
// not RTP.
func parse(b []byte, layer int, c codec) *packet {
	p := &packet{layer: int8(layer)}
	n, err := p.hdr.Unmarshal(b)
	if err != nil {
		return nil
	}
	end := len(b)
	if p.hdr.Padding {
		if end <= n {
			return nil
		}
		end -= int(b[end-1])
	}
	if end <= n {
		return nil
	}
	p.payload = slices.Clone(b[n:end])
	p.hdr.Extension, p.hdr.Extensions, p.hdr.ExtensionProfile = false, nil, 0
	p.hdr.Padding, p.hdr.PaddingSize = false, 0
	p.arrival = monotime()
	p.key = keyframeStart(c, p.payload)
	return p
}

// sendPLI asks the publisher for a keyframe on ssrc.
func (p *Publisher) sendPLI(ssrc uint32) {
	if p.pc == nil {
		if p.keyframe != nil {
			p.keyframe()
		}
		return
	}
	_ = p.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
}
