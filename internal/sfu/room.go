// Package sfu is onair's selective forwarding unit, the media engine of
// Stages: publishers' RTP is forwarded to subscribers without decoding,
// over pion peer connections made by internal/rtc. It knows nothing of
// IVS, stages or tokens: a Room is a set of publishers, each with its
// subscriptions, one peer connection each, negotiated once by an SDP offer
// and its answer (the shape of IVS's WHIP publish and subscribe).
//
// Data path: one reader goroutine per incoming RTP stream (a track, or a
// simulcast layer) parses each packet once and offers the same *packet to
// every subscriber's down-track; a down-track queues it without waiting
// (bounded) and its own writer goroutine rewrites the header into a
// per-down-track rtp.Header and writes the shared payload. A subscriber
// that cannot keep up loses packets, is moved down a simulcast layer and,
// if its queue stays full, is dropped; the publisher and the other
// subscribers never wait on it.
//
// Lock order: Room.mu, then Publisher.mu; Subscription.mu, then
// Publisher.mu; media.downMu and downTrack.segMu are leaves. No lock is
// held while a peer connection is closed or a goroutine waited for.
package sfu

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// Errors the control plane maps to its clients' codes.
var (
	// ErrPublisherNotFound: no such publisher in the room (IVS 2004).
	ErrPublisherNotFound = errors.New("sfu: publisher not found")
	// ErrNoMatchingCodec: the offer has no codec the publisher's media
	// can be forwarded in, or none onair takes (IVS 2014).
	ErrNoMatchingCodec = errors.New("sfu: no matching codec")
	// ErrBadOffer: the offer is not SDP onair can answer.
	ErrBadOffer = errors.New("sfu: unusable SDP offer")
	// ErrPublisherExists: the id publishes already.
	ErrPublisherExists = errors.New("sfu: already publishing")
	// ErrClosed: the room, publisher or subscription is closed.
	ErrClosed = errors.New("sfu: closed")
	// ErrSlowSubscriber ends a subscription that could not keep up.
	ErrSlowSubscriber = errors.New("sfu: subscriber too slow")
	// ErrPeerGone ends a publisher or subscription whose peer connection
	// failed or was closed by the peer.
	ErrPeerGone = errors.New("sfu: peer connection ended")
	// ErrPublisherGone ends the subscriptions of a publisher that stopped.
	ErrPublisherGone = errors.New("sfu: publisher stopped")
	// ErrLayerNotFound: SelectLayer named an encoding the track lacks.
	ErrLayerNotFound = errors.New("sfu: no such layer")
)

// EventType says what happened.
type EventType int

// Events a room reports.
const (
	PublisherStarted    EventType = iota + 1 // the publish peer connection connected
	PublisherStopped                         // Err says why (nil: Close)
	SubscriptionStarted                      // the subscriber's peer connection connected
	SubscriptionStopped                      // Err says why (nil: Close)
)

func (t EventType) String() string {
	switch t {
	case PublisherStarted:
		return "publisher-started"
	case PublisherStopped:
		return "publisher-stopped"
	case SubscriptionStarted:
		return "subscription-started"
	case SubscriptionStopped:
		return "subscription-stopped"
	}
	return "unknown"
}

// Event is what a room reports to the control plane.
type Event struct {
	Type         EventType
	PublisherID  string
	SubscriberID string // subscription events only
	Err          error
}

// PeerConnector makes the peer connections; *rtc.Engine is one.
type PeerConnector interface {
	NewSFUPeerConnection() (*webrtc.PeerConnection, error)           // a publisher's
	NewSFUSubscriberPeerConnection() (*webrtc.PeerConnection, error) // a subscriber's
}

// Config is a room's dependencies.
type Config struct {
	Engine PeerConnector
	// OnEvent, if set, is called for every event, on an engine goroutine:
	// it must not block or call back into the room synchronously.
	OnEvent func(Event)
	// Metrics, if set, is shared by rooms; else the room has its own.
	Metrics *Metrics
	Log     *slog.Logger
	// AnswerTimeout bounds ICE gathering for an answer (rtc.AnswerTimeout
	// if zero).
	AnswerTimeout time.Duration
}

// Metrics are counters of the data path, read by a collector at scrape
// time; updated with atomics, nothing else.
type Metrics struct {
	PacketsIn              atomic.Uint64
	PacketsForwarded       atomic.Uint64
	BytesForwarded         atomic.Uint64
	PacketsDropped         atomic.Uint64 // a subscriber's queue was full
	PacketsRetransmitted   atomic.Uint64 // answers to NACKs
	RTXRetransmitted       atomic.Uint64 // of those, sent on the subscriber's RTX stream
	PacketsRepaired        atomic.Uint64 // lost packets a publisher resent on its RTX stream
	KeyframeRequests       atomic.Uint64 // PLIs sent to publishers
	LayerSwitches          atomic.Uint64
	BandwidthSwitches      atomic.Uint64 // layer changes a subscriber's bandwidth estimate made
	SlowSubscribersDropped atomic.Uint64
	Publishers             atomic.Int64
	Subscriptions          atomic.Int64
	// ForwardDelay samples the time from a packet's arrival to its write
	// to a subscriber returning (onair_sfu_forward_delay_seconds).
	ForwardDelay DelayHistogram
	// ReadLag samples how late the publishers' packets are read, from
	// their RTP timestamps (onair_sfu_read_lag_seconds; see lagMeter).
	ReadLag DelayHistogram
	// ReaderBusyNs is the publishers' readers' time from a packet read to
	// its fan-out done, in nanoseconds (onair_sfu_reader_busy_seconds_total):
	// a layer's reader busy near all the time cannot keep up.
	ReaderBusyNs atomic.Int64

	// delay, if set (tests, benchmarks), is given each forwarded packet's
	// time from arrival to written, in nanoseconds.
	delay func(int64)
}

// Room is one stage's media: its publishers and their subscriptions.
type Room struct {
	cfg     Config
	log     *slog.Logger
	metrics *Metrics

	mu         sync.Mutex
	closed     bool
	publishers map[string]*Publisher
	bg         sync.WaitGroup // closers started from the data path

	// wrapWriter, if set (tests), wraps each down-track's writer. It
	// returns w itself for a subscriber it leaves alone; one whose writer
	// it wraps counts as on a transport that can block (its packets are
	// queued for its own writer goroutine, see Subscription.udp).
	wrapWriter func(*Subscription, webrtc.TrackLocalWriter) webrtc.TrackLocalWriter
}

// NewRoom returns an empty room.
func NewRoom(cfg Config) *Room {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = &Metrics{}
	}
	if cfg.AnswerTimeout == 0 {
		cfg.AnswerTimeout = 5 * time.Second
	}
	return &Room{cfg: cfg, log: cfg.Log.With("component", "sfu"), metrics: cfg.Metrics, publishers: map[string]*Publisher{}}
}

// Publisher returns the publisher with id, or nil.
func (r *Room) Publisher(id string) *Publisher {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.publishers[id]
}

// Publishers lists the room's publishers.
func (r *Room) Publishers() []*Publisher {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Publisher, 0, len(r.publishers))
	for _, p := range r.publishers {
		out = append(out, p)
	}
	return out
}

// Close ends every publisher and subscription and waits for their
// goroutines.
func (r *Room) Close() {
	r.mu.Lock()
	r.closed = true
	pubs := make([]*Publisher, 0, len(r.publishers))
	for _, p := range r.publishers {
		pubs = append(pubs, p)
	}
	r.mu.Unlock()
	for _, p := range pubs {
		p.closeWith(nil)
	}
	r.bg.Wait()
}

// async runs f on a goroutine Close waits for; false if the room closed
// (Close then ends what f would have).
func (r *Room) async(f func()) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.bg.Go(f)
	return true
}

func (r *Room) emit(e Event) {
	if r.cfg.OnEvent != nil {
		r.cfg.OnEvent(e)
	}
}

// epoch makes packet arrival times small monotonic numbers.
var epoch = time.Now()

// monotime is nanoseconds since epoch, never 0.
func monotime() int64 { return int64(time.Since(epoch)) + 1 }

func randUint32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}
