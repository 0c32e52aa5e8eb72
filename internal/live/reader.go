package live

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/stream"
)

// resyncEventEvery is how often, at most, one consumer falling behind on
// one stream becomes a session event (and a log line): a starving machine
// resyncs its readers again and again, and the event log must not fill
// with it. The counters count every resync.
const resyncEventEvery = time.Minute

// Reader is a server-side consumer's reader of a live stream's hub, or of
// one of its renditions' hubs. Unlike a viewer's, it is never dropped: when
// the consumer falls a queue behind, the hub skips it to the next keyframe
// (stream.Resync), and Read reports the resync once: a count per consumer
// (Registry.Resyncs, for Prometheus) and, at most once a minute per
// consumer and stream, a Reader Resync session event. Skipped tells the
// consumer where the gap was, for what it must do at one (a recorder cuts
// its segment there).
type Reader struct {
	*stream.Reader
	st       *Stream
	consumer string
}

// NewReader attaches a Resync reader of hub (st.Hub or a rendition's) with
// a queue of size units for consumer, a short name ("hls", "record") that
// labels its counts and events.
func (s *Stream) NewReader(consumer string, hub *stream.Hub, size int) *Reader {
	return &Reader{Reader: hub.NewReader(size, stream.Resync), st: s, consumer: consumer}
}

// Read returns the next unit, as stream.Reader.Read, reporting a resync.
func (r *Reader) Read(ctx context.Context) (*stream.Unit, error) {
	u, err := r.Reader.Read(ctx)
	if err == nil {
		if n := r.Skipped(); n > 0 {
			r.st.resynced(r.consumer, n)
		}
	}
	return u, err
}

// lag is one consumer's resyncs on one stream since its last event.
type lag struct {
	last         time.Time // of the last event
	times, units int
}

// resynced counts a consumer's resync and, unless one went out less than
// resyncEventEvery ago, emits a session event with what happened since.
func (s *Stream) resynced(consumer string, skipped int) {
	if s.pub == nil {
		return // a stream no registry made (tests)
	}
	reg := s.pub.reg
	reg.countResync(consumer, skipped)
	now := time.Now()
	s.lagMu.Lock()
	if s.lags == nil {
		s.lags = make(map[string]*lag)
	}
	l := s.lags[consumer]
	if l == nil {
		l = &lag{}
		s.lags[consumer] = l
	}
	l.times++
	l.units += skipped
	if !l.last.IsZero() && now.Sub(l.last) < resyncEventEvery {
		s.lagMu.Unlock()
		return
	}
	times, units := l.times, l.units
	l.last, l.times, l.units = now, 0, 0
	s.lagMu.Unlock()

	reg.log.Warn("reader fell behind the stream and resumed at the next keyframe", "channel", s.Channel.ARN,
		"stream_id", s.StreamID, "consumer", consumer, "resyncs", times, "skipped_units", units)
	e := ivs.ChannelEvent(ivs.EventTypeStreamHealth, s.Channel, s.StreamID, now)
	e.Detail.EventName, e.Detail.Code = ivs.EventReaderResync, consumer
	e.Detail.Reason = fmt.Sprintf("%s fell behind the stream and resumed at the next keyframe, skipping %d units", consumer, units)
	if times > 1 {
		e.Detail.Reason += fmt.Sprintf(" (%d times since the last event)", times)
	}
	s.pub.emitLater(e)
}

// ResyncCount is how often one consumer's readers resynced, and the units
// they skipped, since the process started.
type ResyncCount struct {
	Consumer     string
	Resyncs      uint64
	SkippedUnits uint64
}

// Resyncs returns the resync counts of every consumer that had one, by
// consumer name.
func (r *Registry) Resyncs() []ResyncCount {
	r.resyncMu.Lock()
	out := make([]ResyncCount, 0, len(r.resyncs))
	for _, c := range r.resyncs {
		out = append(out, *c)
	}
	r.resyncMu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Consumer < out[j].Consumer })
	return out
}

func (r *Registry) countResync(consumer string, skipped int) {
	r.resyncMu.Lock()
	defer r.resyncMu.Unlock()
	if r.resyncs == nil {
		r.resyncs = make(map[string]*ResyncCount)
	}
	c := r.resyncs[consumer]
	if c == nil {
		c = &ResyncCount{Consumer: consumer}
		r.resyncs[consumer] = c
	}
	c.Resyncs++
	c.SkippedUnits += uint64(skipped)
}

// Failure is an Attach error that comes with the session event reporting
// it, for a consumer whose failure IVS already names (the recorder's
// Recording Start Failure). Live emits Event as it is. Any other Attach
// error becomes a Consumer Failure health event whose reason is the error.
type Failure struct {
	Event ivs.Event
	Err   error
}

func (f *Failure) Error() string { return f.Err.Error() }
func (f *Failure) Unwrap() error { return f.Err }

// consumerFailed reports an Attach error once: a log line and a session
// event.
func (r *Registry) consumerFailed(st *Stream, err error) {
	r.log.Warn("stream consumer failed", "channel", st.Channel.ARN, "stream_id", st.StreamID, "err", err)
	var f *Failure
	e := ivs.ChannelEvent(ivs.EventTypeStreamHealth, st.Channel, st.StreamID, time.Now())
	if errors.As(err, &f) {
		e = f.Event
	} else {
		e.Detail.EventName, e.Detail.Reason = ivs.EventConsumerFailure, err.Error()
	}
	r.emit(e)
}

// emitTimeout bounds storing an event, which may run after the
// connection's context is gone.
const emitTimeout = 5 * time.Second

func (r *Registry) emit(e ivs.Event) {
	ctx, cancel := context.WithTimeout(context.Background(), emitTimeout)
	defer cancel()
	if _, err := r.sessions.Emit(ctx, e); err != nil {
		r.log.Error("emit event", "type", e.DetailType, "name", e.Name(), "stream_id", e.StreamID, "err", err)
	}
}
