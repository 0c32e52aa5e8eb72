package stage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/onair-video/onair/internal/rtc"
)

// conn is one participant's events WebSocket. Its read loop runs in the
// HTTP handler's goroutine; one writer goroutine sends what the roster and
// the read loop hand it, so a client that does not read stalls nobody
// else.
type conn struct {
	s  *Stages
	ws *websocket.Conn
	// p is changed by a token exchange, in the read loop's goroutine
	// under Stages.mu; the roster reads it under Stages.mu.
	p       Participant
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	limiter *rate.Limiter
	wake    chan struct{} // capacity 1: there is something to write
	// beacon names the socket in its sessions' session-delete Link: 128
	// random bits, the capability beside the participant's token.
	beacon string
	// origin is the scheme and host the socket was opened on (https for
	// wss), for the URLs of an SDP answer sent over it.
	origin string
	done   chan struct{} // the writer returned

	mu sync.Mutex
	// state is the latest STAGE_STATE not yet written, stateSeq its
	// number: a state is a full roster, so a newer one replaces one
	// that waits (a slow reader skips stale states rather than queue
	// them). count is the same for SUBSCRIBER_COUNT.
	state    []byte
	stateSeq int64
	count    []byte
	// queue holds replies in order; at most Limits.Queue.
	queue [][]byte
	// final: the connection ends after the queue and last (if any) are
	// written, with closeCode and closeReason; cut: at once, without a
	// close handshake.
	final, cut  bool
	last        []byte
	closeCode   websocket.StatusCode
	closeReason string
	why         LeaveReason
}

func newConn(s *Stages, ws *websocket.Conn, p Participant) *conn {
	ctx, cancel := context.WithCancel(s.ctx)
	return &conn{s: s, ws: ws, p: p, ctx: ctx, cancel: cancel,
		log:     s.log.With("stage", p.StageARN, "participant", p.ID),
		limiter: rate.NewLimiter(rate.Limit(s.lim.Rate), s.lim.Burst),
		wake:    make(chan struct{}, 1), done: make(chan struct{}), beacon: rtc.NewSessionID()}
}

func (c *conn) wakeLocked() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// setState hands the writer a STAGE_STATE, replacing an older one that
// waits.
func (c *conn) setState(seq int64, b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.final || seq <= c.stateSeq {
		return
	}
	c.state, c.stateSeq = b, seq
	c.wakeLocked()
}

// setSubscriberCount hands the writer a SUBSCRIBER_COUNT, replacing one
// that waits.
func (c *conn) setSubscriberCount(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.final {
		return
	}
	c.count = b
	c.wakeLocked()
}

// send queues a reply. A client whose replies fill its queue is not
// reading them, and is cut off.
func (c *conn) send(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.final {
		return
	}
	if len(c.queue) >= c.s.lim.Queue {
		c.cutLocked("too slow: replies waited beyond the client's queue")
		return
	}
	c.queue = append(c.queue, b)
	c.wakeLocked()
}

// finish ends the connection once the replies queued are written and
// then last (nil: none), with a close handshake. The first end decided
// wins; why is what the participant's leaving is put down to.
func (c *conn) finish(last []byte, code websocket.StatusCode, reason string, why LeaveReason) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.final {
		return
	}
	c.final, c.last, c.closeCode, c.closeReason, c.why = true, last, code, reason, why
	c.state, c.count = nil, nil
	c.wakeLocked()
}

// cutLocked ends the connection at once: the client broke a limit, and
// a client that does not read would not read a close frame either.
func (c *conn) cutLocked(reason string) {
	if c.cut {
		return
	}
	if !c.final {
		c.why = LeftCutOff
	}
	c.final, c.cut, c.queue, c.state, c.count, c.last = true, true, nil, nil, nil, nil
	c.log.Info("stage participant cut off", "reason", reason)
	_ = c.ws.CloseNow()
}

func (c *conn) cutOff(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cutLocked(reason)
}

// closing says whether the connection is ending.
func (c *conn) closing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.final
}

// leaveReason is why the participant left, once the connection ended.
func (c *conn) leaveReason() LeaveReason {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.why == "" {
		return LeftClosed
	}
	return c.why
}

// writeLoop writes what is handed to the client until the connection
// ends.
func (c *conn) writeLoop() {
	defer close(c.done)
	for {
		select {
		case <-c.wake:
		case <-c.ctx.Done():
			return
		}
		for {
			c.mu.Lock()
			if c.cut {
				c.mu.Unlock()
				return
			}
			queue, state, count, final, last := c.queue, c.state, c.count, c.final, c.last
			c.queue, c.state, c.count, c.last = nil, nil, nil, nil
			code, reason := c.closeCode, c.closeReason
			c.mu.Unlock()
			if len(queue) == 0 && state == nil && count == nil && !final {
				break
			}
			for _, b := range queue {
				if !c.write(b) {
					return
				}
			}
			if final {
				if last != nil && !c.write(last) {
					return
				}
				_ = c.ws.Close(code, reason) // the library bounds the handshake
				c.cancel()
				return
			}
			for _, b := range [][]byte{state, count} {
				if b != nil && !c.write(b) {
					return
				}
			}
		}
	}
}

// write sends one message within the write timeout; a client that does
// not take it is cut off.
func (c *conn) write(b []byte) bool {
	ctx, cancel := context.WithTimeout(c.ctx, c.s.lim.WriteTimeout)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		// Only a timeout is the client's fault; a write ends too when the
		// connection did.
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			c.cutOff(fmt.Sprintf("write: %v", err))
		}
		return false
	}
	return true
}

// readLoop handles the client's messages until the connection ends.
func (c *conn) readLoop() {
	for {
		ctx, cancel := context.WithTimeout(c.ctx, c.s.lim.IdleTimeout)
		typ, b, err := c.ws.Read(ctx)
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				c.cutOff("idle: no message within the idle timeout")
			} else if websocket.CloseStatus(err) == -1 && !c.closing() {
				c.log.Debug("stage events read", "err", err)
			}
			if websocket.CloseStatus(err) == websocket.StatusMessageTooBig {
				c.cutOff("message too big")
			}
			return
		}
		if c.closing() {
			continue // what comes until the close handshake ends
		}
		if !c.limiter.Allow() {
			c.log.Info("stage participant sends too many messages: disconnected")
			c.finish(nil, websocket.StatusPolicyViolation, "too many messages", LeftCutOff)
			continue
		}
		if typ != websocket.MessageText {
			continue
		}
		m, err := parseClientMessage(b)
		if err != nil {
			c.log.Debug("stage client message ignored", "err", err)
			continue
		}
		c.handle(m)
	}
}

func (c *conn) handle(m clientMessage) {
	ids := reply{RequestID: m.RequestID, TraceID: m.TraceID}
	switch m.Type {
	case typePing:
		if m.V2 {
			c.send(encode(typePong, ids))
		} else {
			c.send(encode(typePong, nil))
		}
	case typeSetState, typeSetStateV2:
		c.s.setState(c, m.AudioMuted, m.VideoStopped)
		if m.RequestID != "" {
			c.send(encode(typeSetStateV2, ids))
		}
	case typeExchangeToken:
		if err := c.exchange(m.NewToken); err != nil {
			ids.Error = &replyError{Fatal: true, Type: joinCode(err), Message: err.Error()}
		}
		c.send(encode(typeExchangeToken, ids))
	case typeSDPOffer:
		c.sdpOffer(m)
	}
}

// exchange verifies a token the client exchanges its own for: it must
// name the same stage and participant.
func (c *conn) exchange(token string) error {
	ctx, cancel := context.WithTimeout(c.ctx, c.s.lim.AuthTimeout)
	defer cancel()
	p, err := c.s.cfg.Auth.Authenticate(ctx, token)
	if err != nil {
		return fmt.Errorf("stage: exchange token: %w", err)
	}
	if p.StageARN != c.p.StageARN || p.ID != c.p.ID {
		return fmt.Errorf("stage: exchange token: %w: the new token names another stage or participant", errBadRequest)
	}
	if !c.s.exchanged(c, p) {
		return fmt.Errorf("stage: exchange token: %w", ErrNotConnected)
	}
	return nil
}
