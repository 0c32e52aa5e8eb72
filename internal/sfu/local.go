package sfu

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Server-side media: taps (in-process subscribers: a composition's
// decoders, a participant's recording, a replica's source) and local
// publishers (media that onair itself produces into a room: an RTMP
// encoder's, a replica's). Both go through the same down-tracks and
// layers as WebRTC peers, so layer choice, keyframe requests, slow-reader
// drops and the room's events work the same for them.

// ErrNoTrack is the error of a tap that asks for no kind the publisher
// sends, and of a local publisher given no track.
var ErrNoTrack = errors.New("sfu: no track")

// TapOptions are a tap's choices.
type TapOptions struct {
	// InitialLayer is the first simulcast layer taken (the tap then
	// follows the highest the publisher sends, as a subscriber without a
	// bandwidth estimate does; SelectLayer pins one).
	InitialLayer LayerPreference
	// Audio and Video receive the publisher's packets as a subscriber
	// does: one continuous SSRC, sequence and timestamp space across
	// layer switches, video starting at a keyframe. Each is called on a
	// goroutine of its own, fed through the down-track's bounded queue: a
	// tap that stays behind for stallTimeout is dropped like a slow
	// subscriber. h and payload are valid only during the call. nil: that
	// kind is not tapped.
	Audio, Video func(h *rtp.Header, payload []byte)
}

// tapWriter is a down-track's writer that hands packets to a function.
type tapWriter func(*rtp.Header, []byte)

func (f tapWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	f(h, payload)
	return len(payload), nil
}

func (f tapWriter) Write(b []byte) (int, error) {
	var p rtp.Packet
	if err := p.Unmarshal(b); err != nil {
		return 0, fmt.Errorf("sfu: tap: %w", err)
	}
	f(&p.Header, p.Payload)
	return len(b), nil
}

// Tap subscribes in-process to publisherID's media. The subscription's
// Close, Done, Layers, SelectLayer, Pause and Play work as for a peer; it
// emits no SubscriptionStarted/Stopped event (a tap is not a participant).
func (r *Room) Tap(tapID, publisherID string, opts TapOptions) (*Subscription, error) {
	pub := r.Publisher(publisherID)
	if pub == nil {
		return nil, ErrPublisherNotFound
	}
	s := &Subscription{subscriberID: tapID, pub: pub, tap: true, done: make(chan struct{})}
	for _, x := range []struct {
		m  *media
		fn func(*rtp.Header, []byte)
	}{{pub.audio, opts.Audio}, {pub.video, opts.Video}} {
		if x.m == nil || x.fn == nil {
			continue
		}
		d := newDownTrack(x.m, s, -1)
		if opts.InitialLayer == LayerLowest && x.m.kind == webrtc.RTPCodecTypeVideo {
			d.pref.Store(0)
			d.want.Store(d.target(monotime()))
		}
		d.w, d.ssrc, d.pt = tapWriter(x.fn), randUint32(), uint8(x.m.params.PayloadType)
		if x.m.kind == webrtc.RTPCodecTypeAudio {
			s.audio = d
		} else {
			s.video = d
		}
	}
	if s.audio == nil && s.video == nil {
		return nil, fmt.Errorf("%w: the tap takes nothing the publisher sends", ErrNoTrack)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	// The queue writers deliver (a tap's function may block on its
	// consumer, as an ICE-TCP peer may); the tap is connected at once.
	s.connected.Store(true)
	s.mu.Lock()
	pub.mu.Lock()
	var err error
	if pub.closed {
		err = ErrPublisherNotFound
	} else {
		pub.subs[s] = struct{}{}
		r.metrics.Subscriptions.Add(1)
		s.writing = true
		for _, d := range []*downTrack{s.audio, s.video} {
			if d != nil {
				s.wg.Go(func() { d.run(s.ctx) })
				d.m.add(d)
			}
		}
	}
	pub.mu.Unlock()
	s.mu.Unlock()
	if err != nil {
		s.cancel()
		return nil, err
	}
	s.RequestKeyframe()
	return s, nil
}

// RequestKeyframe asks the publisher for a keyframe of the layer the
// subscription takes (rate-limited per layer): a tap's decoder that
// restarts wants one.
func (s *Subscription) RequestKeyframe() {
	if d := s.video; d != nil {
		l := d.cur.Load()
		if l < 0 {
			l = d.want.Load()
		}
		d.m.requestKeyframe(int(l), monotime())
	}
}

// Codecs returns the publisher's audio and video codecs, nil for a kind it
// does not send.
func (p *Publisher) Codecs() (audio, video *webrtc.RTPCodecParameters) {
	if p.audio != nil {
		a := p.audio.params
		audio = &a
	}
	if p.video != nil {
		v := p.video.params
		video = &v
	}
	return audio, video
}

// Codecs returns the codecs of what the subscription receives, nil for a
// kind it does not.
func (s *Subscription) Codecs() (audio, video *webrtc.RTPCodecParameters) {
	if s.audio != nil {
		a := s.audio.m.params
		audio = &a
	}
	if s.video != nil {
		v := s.video.m.params
		video = &v
	}
	return audio, video
}

// LocalOptions describe a publisher that onair feeds itself.
type LocalOptions struct {
	// Audio and Video are its tracks' codecs, at least one: video VP8 or
	// H.264 (packetization-mode=1; one of rtc.SFUCodecs, so subscribers
	// negotiate it as a browser's), audio Opus 48000/2.
	Audio, Video *webrtc.RTPCodecParameters
	// Keyframe is called when a subscriber needs a keyframe (at most every
	// pliInterval). It runs on the data path and must not block. nil:
	// the source cannot make one on demand (an RTMP encoder sends one
	// every few seconds).
	Keyframe func()
}

// localTrack is one track of a local publisher: the state its writer
// keeps across packets, as a peer's reader does on its stack.
type localTrack struct {
	m      *media
	l      *layer
	mu     sync.Mutex // one writer; Close waits for the one in flight
	closed bool       // under mu: set by Close, after which nothing is written
	j      fanJob
	lag    lagMeter
}

// PublishLocal adds a publisher fed by WriteRTP. It is started at once
// (PublisherStarted); Close ends it and its subscriptions as a peer's
// end does.
func (r *Room) PublishLocal(id string, opts LocalOptions) (*Publisher, error) {
	if opts.Audio == nil && opts.Video == nil {
		return nil, ErrNoTrack
	}
	p := &Publisher{id: id, room: r, subs: map[*Subscription]struct{}{}, done: make(chan struct{}),
		keyframe: opts.Keyframe, started: true}
	for _, c := range []*webrtc.RTPCodecParameters{opts.Audio, opts.Video} {
		if c == nil {
			continue
		}
		kind := webrtc.RTPCodecTypeAudio
		if len(c.MimeType) > 6 && c.MimeType[:6] == "video/" {
			kind = webrtc.RTPCodecTypeVideo
		}
		m := newMedia(p, kind, *c)
		if kind == webrtc.RTPCodecTypeVideo && m.codec == codecOther {
			return nil, fmt.Errorf("%w: %s is not a video codec the SFU forwards", ErrNoMatchingCodec, c.MimeType)
		}
		l := &layer{idx: 0}
		m.layers[0].Store(l)
		t := &localTrack{m: m, l: l}
		if kind == webrtc.RTPCodecTypeAudio {
			p.audio, p.localAudio = m, t
		} else {
			p.video, p.localVideo = m, t
		}
	}
	r.mu.Lock()
	switch {
	case r.closed:
		r.mu.Unlock()
		return nil, ErrClosed
	case r.publishers[id] != nil:
		r.mu.Unlock()
		return nil, ErrPublisherExists
	}
	p.fan = newFanPool(r.metrics)
	r.publishers[id] = p
	r.metrics.Publishers.Add(1)
	r.mu.Unlock()
	r.log.Debug("publish local", "publisher", id)
	r.emit(Event{Type: PublisherStarted, PublisherID: id})
	return p, nil
}

// WriteRTP forwards one packet of the publisher's kind track, as a peer's
// reader does: one writer per kind. It copies the payload. The header's
// SSRC, sequence numbers and timestamps are the writer's own continuous
// stream (clock rate 90000 for video, 48000 for Opus).
func (p *Publisher) WriteRTP(kind webrtc.RTPCodecType, h *rtp.Header, payload []byte) error {
	t := p.localVideo
	if kind == webrtc.RTPCodecTypeAudio {
		t = p.localAudio
	}
	if t == nil {
		return fmt.Errorf("%w: the publisher has no %s", ErrNoTrack, kind)
	}
	if len(payload) == 0 {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrPublisherGone
	}
	pkt := &packet{layer: 0, hdr: *h, payload: slices.Clone(payload), arrival: monotime()}
	pkt.hdr.Extension, pkt.hdr.Extensions, pkt.hdr.ExtensionProfile = false, nil, 0
	pkt.hdr.Padding, pkt.hdr.PaddingSize = false, 0
	pkt.hdr.CSRC = nil
	pkt.key = keyframeStart(t.m.codec, pkt.payload)
	if !t.l.admit(pkt.hdr.SequenceNumber) {
		return nil
	}
	if t.l.ssrc == 0 {
		t.l.ssrc = h.SSRC
	}
	mt := p.room.metrics
	mt.PacketsIn.Add(1)
	t.lag.observe(pkt, t.m.params.ClockRate, &mt.ReadLag)
	t.l.last.Store(pkt.arrival)
	t.l.cache.put(pkt)
	t.l.account(pkt, t.m.codec)
	t.m.forward(pkt, &t.j)
	mt.ReaderBusyNs.Add(monotime() - pkt.arrival)
	return nil
}

// closeLocalWriters waits for a local publisher's writes in flight and
// refuses the later ones.
func (p *Publisher) closeLocalWriters() {
	for _, t := range []*localTrack{p.localAudio, p.localVideo} {
		if t != nil {
			t.mu.Lock()
			t.closed = true
			t.mu.Unlock()
		}
	}
}
