package events

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// SSE timings: a comment line keeps proxies from closing an idle stream,
// and a client that does not take a write for writeTimeout is cut (it
// reconnects with Last-Event-ID and loses nothing).
const (
	heartbeat    = 15 * time.Second
	writeTimeout = 10 * time.Second
	// ssePoll is how often a stream reads the log without a wake-up: the
	// backstop for events another process stored while its wake-ups did
	// not reach this one (as the webhooks' Poll).
	ssePoll = 5 * time.Second
)

// SSE streams the event log as Server-Sent Events. It tails the store (the
// bus only wakes it), so every client sees every event once, in order,
// whatever the order in which emitters published them.
type SSE struct {
	store Log
	bus   *Bus
	ctx   context.Context // the server's: its end ends every stream
	log   *slog.Logger
	poll  time.Duration
}

// NewSSE returns the handler of GET /v1/events (authentication is the
// caller's). ctx ends every stream when the server stops.
func NewSSE(ctx context.Context, store Log, bus *Bus, log *slog.Logger) *SSE {
	return &SSE{store: store, bus: bus, ctx: ctx, log: log.With("component", "events"), poll: ssePoll}
}

// ServeHTTP streams events after Last-Event-ID (header, or ?lastEventId=),
// or from now on without one; ?channelArn= keeps one channel's, ?stageArn=
// one stage's.
func (s *SSE) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()

	q := r.URL.Query()
	resource := q.Get("channelArn")
	if st := q.Get("stageArn"); st != "" {
		if resource != "" {
			writeBadRequest(w, "give channelArn or stageArn, not both")
			return
		}
		resource = st
	}
	lastID := r.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = q.Get("lastEventId")
	}
	var last int64
	if lastID != "" {
		n, err := strconv.ParseInt(lastID, 10, 64)
		if err != nil || n < 0 {
			writeBadRequest(w, "Last-Event-ID must be the id of an event (a non-negative integer)")
			return
		}
		last = n
	} else {
		n, err := s.store.LastEventSeq(ctx)
		if err != nil {
			http.Error(w, "event log unavailable", http.StatusInternalServerError)
			s.log.Error("read event log", "err", err)
			return
		}
		last = n
	}
	// Register for wake-ups before the first read, so that nothing stored
	// between the read and the wait is slept through.
	wake, unregister := s.bus.Notify()
	defer unregister()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	write := func(format string, args ...any) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write(": onair events from %d\n\n", last) {
		return
	}
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	poll := time.NewTicker(s.poll)
	defer poll.Stop()
	for {
		for {
			evs, err := s.store.EventsAfter(ctx, last, batch)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Error("read event log", "err", err)
				}
				return
			}
			for _, e := range evs {
				last = e.Seq
				if resource != "" && !slices.Contains(e.Resources, resource) {
					continue
				}
				body, err := json.Marshal(e)
				if err != nil {
					s.log.Error("encode event", "err", err)
					return
				}
				if !write("id: %d\nevent: %s\ndata: %s\n\n", e.Seq, e.DetailType, body) {
					return
				}
			}
			if len(evs) < batch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-poll.C:
		case <-beat.C:
			if !write(": keep-alive\n\n") {
				return
			}
		}
	}
}

// writeBadRequest answers in the AWS error shape the API uses.
func writeBadRequest(w http.ResponseWriter, msg string) {
	body, _ := json.Marshal(map[string]string{"message": msg, "exceptionMessage": msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-amzn-ErrorType", "ValidationException")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write(body)
}
