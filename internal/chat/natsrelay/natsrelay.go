// Package natsrelay is chat.Relay on core NATS (no JetStream): the chat
// servers of a cluster's nodes publish a room's frames on
// onair.chat.room.<roomId>, which a node subscribes while it has clients of
// the room, and send requests to a room's home node on
// onair.chat.home.<nodeId>.<roomId>, which that node answers
// (docs/cluster.md, "Chat across nodes"). Nothing is kept in NATS: a frame
// published while a node is cut off from it is lost for that node's
// clients, and a request that cannot be sent fails at once.
package natsrelay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Subjects.
const (
	roomPrefix = "onair.chat.room."
	homePrefix = "onair.chat.home."
)

// flushTimeout bounds the round trip that makes a new subscription
// effective before a client's handshake completes.
const flushTimeout = 2 * time.Second

// ErrDisconnected is the error of a publish or request while the
// connection to NATS is down (it reconnects by itself): failing at once
// answers a chat client promptly, where nats.go would buffer the request
// and make it wait for its timeout.
var ErrDisconnected = errors.New("natsrelay: not connected to NATS")

// Relay is chat.Relay on a NATS connection. The connection is the
// caller's (it should reconnect forever: nats.MaxReconnects(-1));
// subscriptions are renewed by nats.go when it reconnects.
type Relay struct {
	nc    *nats.Conn
	self  string
	nodes func() []string
	log   *slog.Logger
}

// New returns a Relay for the node self, whose serving nodes (self among
// them) nodes lists.
func New(nc *nats.Conn, self string, nodes func() []string, log *slog.Logger) *Relay {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Relay{nc: nc, self: self, nodes: nodes, log: log.With("component", "chat-relay")}
}

// Self is this node's id.
func (r *Relay) Self() string { return r.self }

// Nodes are the serving nodes now.
func (r *Relay) Nodes() []string { return r.nodes() }

// Publish sends msg to the nodes subscribed to the room.
func (r *Relay) Publish(roomID string, msg []byte) error {
	if !r.nc.IsConnected() {
		return ErrDisconnected // not buffered: the frame would be stale when it came
	}
	if err := r.nc.Publish(roomPrefix+token(roomID), msg); err != nil {
		return fmt.Errorf("natsrelay: publish: %w", err)
	}
	return nil
}

// Subscribe passes the room's messages to deliver, in order, on a
// goroutine of nats.go, until unsubscribe. When connected, it returns
// once the NATS server has the subscription; when not, nats.go makes it
// on reconnecting.
func (r *Relay) Subscribe(roomID string, deliver func([]byte)) (func(), error) {
	sub, err := r.nc.Subscribe(roomPrefix+token(roomID), func(m *nats.Msg) { deliver(m.Data) })
	if err != nil {
		return nil, fmt.Errorf("natsrelay: subscribe: %w", err)
	}
	if r.nc.IsConnected() {
		if err := r.nc.FlushTimeout(flushTimeout); err != nil {
			// The subscription is made all the same, a little later.
			r.log.Warn("chat room subscription not confirmed", "room", roomID, "err", err)
		}
	}
	return func() { _ = sub.Unsubscribe() }, nil // fails only once the connection is closed, which ends it too
}

// Request sends a home request to node and waits for its answer.
// A request sent just as the connection drops would wait in nats.go's
// reconnect buffer until ctx ends; it fails when the connection drops.
func (r *Relay) Request(ctx context.Context, node, roomID string, req []byte) ([]byte, error) {
	// Listening before looking: a drop after the look is heard.
	drops := r.nc.StatusChanged(nats.RECONNECTING, nats.DISCONNECTED, nats.CLOSED)
	defer r.nc.RemoveStatusListener(drops)
	if !r.nc.IsConnected() {
		return nil, ErrDisconnected
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case s, ok := <-drops:
			if ok {
				cancel(fmt.Errorf("%w (%v while waiting)", ErrDisconnected, s))
			}
		case <-ctx.Done():
		}
	}()
	m, err := r.nc.RequestWithContext(ctx, homePrefix+token(node)+"."+token(roomID), req)
	if cause := context.Cause(ctx); err != nil && errors.Is(cause, ErrDisconnected) {
		err = cause
	}
	if err != nil {
		// nats.ErrNoResponders: the node is not serving (gone, or
		// restarting), as the membership will say soon.
		return nil, fmt.Errorf("natsrelay: request to %s: %w", node, err)
	}
	return m.Data, nil
}

// Serve answers the home requests for this node, each in its own
// goroutine: a message's review takes up to 200 ms, which must not hold
// up the other rooms' requests.
func (r *Relay) Serve(handle func(ctx context.Context, roomID string, req []byte) []byte) (func(), error) {
	ctx, cancel := context.WithCancel(context.Background())
	var (
		mu      sync.Mutex
		stopped bool
		running sync.WaitGroup
	)
	prefix := homePrefix + token(r.self) + "."
	sub, err := r.nc.Subscribe(prefix+"*", func(m *nats.Msg) {
		room, err := url.PathUnescape(strings.TrimPrefix(m.Subject, prefix))
		if err != nil || m.Reply == "" {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		running.Go(func() {
			if err := m.Respond(handle(ctx, room, m.Data)); err != nil {
				r.log.Warn("chat home answer not sent", "room", room, "err", err)
			}
		})
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("natsrelay: serve: %w", err)
	}
	// Served once the NATS server has the subscription, as Subscribe.
	if r.nc.IsConnected() {
		if err := r.nc.FlushTimeout(flushTimeout); err != nil {
			r.log.Warn("chat home subscription not confirmed", "err", err)
		}
	}
	return func() {
		mu.Lock()
		stopped = true
		mu.Unlock()
		_ = sub.Unsubscribe()
		cancel()
		running.Wait()
	}, nil
}

// token makes s one token of a subject: the characters NATS gives a
// meaning (".", "*", ">", white space) and any but letters, digits, "-"
// and "_" are %-escaped. IVS's room ids need none.
func token(s string) string {
	if s != "" && strings.IndexFunc(s, func(c rune) bool { return !plain(c) }) < 0 {
		return s
	}
	var b strings.Builder
	for _, c := range []byte(s) {
		if plain(rune(c)) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	if b.Len() == 0 {
		return "%" // an empty token would make an invalid subject
	}
	return b.String()
}

func plain(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}
