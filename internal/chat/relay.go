package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"github.com/onair-video/onair/internal/ivs"
)

// Chat across nodes (docs/cluster.md). A room's clients may be connected
// to any node of a cluster. Each room has a home node, chosen by
// rendezvous hashing of the room id over the serving nodes, which makes
// the room's decisions as a lone server makes them for all its rooms: the
// maximumMessageRatePerSecond bucket, the review handler call, message and
// event ids, chat logging. Every request that leads to a frame (a client's
// SEND_MESSAGE, DELETE_MESSAGE and DISCONNECT_USER, the control plane's
// SendEvent, DeleteMessage and DisconnectUser) goes to the home node, which
// delivers the frame to its own clients of the room and publishes it once
// for the other nodes with clients of the room, each of which delivers it
// to its own with the same fan-out. Without a Relay the server is its
// own home for every room: a single node, as before clusters.

// Relay joins the chat servers of a cluster's nodes. It carries opaque
// messages (the server encodes them, with a version for rolling
// upgrades); natsrelay implements it on core NATS.
type Relay interface {
	// Self is this node's id.
	Self() string
	// Nodes are the ids of the nodes serving now, this one normally among
	// them.
	Nodes() []string
	// Publish sends msg to every node subscribed to the room (fire and
	// forget: a node the relay cannot reach misses it).
	Publish(roomID string, msg []byte) error
	// Subscribe passes the messages published for a room to deliver, one
	// at a time in order, until unsubscribe is called. When it returns,
	// messages published afterwards reach deliver.
	Subscribe(roomID string, deliver func(msg []byte)) (unsubscribe func(), err error)
	// Request sends req, a home request for roomID, to node and returns its
	// answer, or an error once ctx ends or the node cannot be reached.
	Request(ctx context.Context, node, roomID string, req []byte) ([]byte, error)
	// Serve answers the home requests sent to this node with handle (in
	// goroutines of the relay, concurrently) until stop, which returns once
	// the handlers running have; ctx ends with stop.
	Serve(handle func(ctx context.Context, roomID string, req []byte) []byte) (stop func(), err error)
}

// Home returns the node of nodes that is a room's home: the highest
// rendezvous weight of (node, room). Every node that sees the same list
// picks the same home, and when a node joins or leaves only the rooms it
// gains or loses move. "" if nodes is empty.
func Home(roomID string, nodes []string) string {
	best, bestW := -1, uint64(0)
	for i, n := range nodes {
		if w := weight(n, roomID); best < 0 || w > bestW || (w == bestW && n < nodes[best]) {
			best, bestW = i, w
		}
	}
	if best < 0 {
		return ""
	}
	return nodes[best]
}

// weight is FNV-1a of node, a separator and room, through splitmix64's
// finalizer: FNV alone spreads ids that differ in their last bytes poorly
// over the high bits that the comparison looks at.
func weight(node, room string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(node))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(room))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// relayVersion is the version ("v") of the messages between nodes. It
// changes only when a message's meaning does; members are added without
// it, and a node ignores members it does not know. A node refuses
// messages of a version newer than its own (in a rolling upgrade, the
// old nodes answer the new ones' requests with an error until they are
// upgraded).
const relayVersion = 1

// homeTimeout bounds a request to a room's home node: a review handler
// takes up to ReviewTimeout of it.
const homeTimeout = 3 * time.Second

// Home request operations.
const (
	opSend       = "send"
	opDelete     = "delete"
	opEvent      = "event"
	opDisconnect = "disconnect"
)

// homeCall is a request to a room's home node.
type homeCall struct {
	V         int    `json:"v"`
	Op        string `json:"op"`
	RequestID string `json:"requestId,omitempty"`
	// send
	Content    string            `json:"content,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"` // and event's
	Sender     *callSender       `json:"sender,omitempty"`
	// delete: the message; disconnect: the user; event: its name
	ID     string `json:"id,omitempty"`
	UserID string `json:"userId,omitempty"`
	Name   string `json:"name,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// callSender is the client that sent a message: its token's claims and
// its address, for the frame and the review handler.
type callSender struct {
	UserID     string            `json:"userId"`
	Attributes map[string]string `json:"attributes,omitempty"`
	IP         string            `json:"ip,omitempty"`
}

// homeReply is the home node's answer: the id of the frame it sent, or
// the code and message of the ERROR frame the client gets.
type homeReply struct {
	V       int    `json:"v"`
	ID      string `json:"id,omitempty"`
	Code    int    `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

func (r homeReply) err() error {
	if r.Code == 0 {
		return nil
	}
	if r.Code == codeInternal {
		return fmt.Errorf("%w: %s", ErrUnavailable, r.Message)
	}
	return fmt.Errorf("chat: %d %s", r.Code, r.Message)
}

// ErrUnavailable is the error of a request that could not be carried out:
// the room's home node could not be reached, or failed. Retrying may
// succeed.
var ErrUnavailable = errors.New("chat: the room's home node is unavailable")

// unavailable is the answer for a client when the home node cannot be
// reached.
var unavailable = homeReply{Code: codeInternal, Message: "the chat service is unavailable: try again"}

// roomMsg is what a home node publishes for a room.
type roomMsg struct {
	V     int             `json:"v"`
	From  string          `json:"from"`            // the publishing node, which delivered it already
	Typ   string          `json:"typ,omitempty"`   // MESSAGE or EVENT
	Frame json.RawMessage `json:"frame,omitempty"` // the frame, as clients get it
	Kick  *kick           `json:"kick,omitempty"`  // after the frame: close this user's connections
	// Close ends every connection of the room (it was deleted).
	Close string `json:"close,omitempty"`
}

// kick is DisconnectUser's closing of a user's connections.
type kick struct {
	UserID string `json:"userId"`
	Reason string `json:"reason,omitempty"`
}

// toHome carries out call at the room's home node: here, or through the
// relay.
func (s *Server) toHome(ctx context.Context, roomID string, call homeCall) homeReply {
	call.V = relayVersion
	if s.relay == nil {
		return s.serveHome(ctx, roomID, call)
	}
	node := Home(roomID, s.relay.Nodes())
	if node == "" || node == s.relay.Self() {
		return s.serveHome(ctx, roomID, call)
	}
	ctx, cancel := context.WithTimeout(ctx, homeTimeout)
	defer cancel()
	b, err := s.relay.Request(ctx, node, roomID, mustJSON(call))
	if err != nil {
		s.log.Warn("chat: the room's home node did not answer", "room", roomID, "home", node, "op", call.Op, "err", err)
		return unavailable
	}
	var r homeReply
	if err := json.Unmarshal(b, &r); err != nil || r.V < 1 {
		s.log.Warn("chat: the room's home node answered garbage", "room", roomID, "home", node, "op", call.Op)
		return unavailable
	}
	return r
}

// handleHome answers a home request from another node.
func (s *Server) handleHome(ctx context.Context, roomID string, req []byte) []byte {
	var call homeCall
	var r homeReply
	switch err := json.Unmarshal(req, &call); {
	case err != nil || call.V < 1:
		r = homeReply{Code: codeBadRequest, Message: "malformed request between nodes"}
	case call.V > relayVersion:
		r = homeReply{Code: codeInternal, Message: fmt.Sprintf("the room's home node runs an older onair (messages v%d)", relayVersion)}
	default:
		hctx, cancel := context.WithTimeout(ctx, homeTimeout)
		r = s.serveHome(hctx, roomID, call)
		cancel()
	}
	r.V = relayVersion
	return mustJSON(r)
}

// serveHome carries out a request as the room's home node.
func (s *Server) serveHome(ctx context.Context, roomID string, call homeCall) homeReply {
	now := time.Now()
	switch call.Op {
	case opSend:
		if call.Sender == nil {
			return homeReply{Code: codeBadRequest, Message: "a message without its sender"}
		}
		return s.homeSend(ctx, roomID, call)
	case opEvent:
		id := ivs.NewResourceID()
		s.emit(ctx, roomID, "EVENT", mustJSON(eventFrame{Type: "EVENT", ID: id, EventName: call.Name, Attributes: attrs(call.Attributes),
			SendTime: sendTime(now)}), nil)
		return homeReply{ID: id}
	case opDelete:
		id := ivs.NewResourceID()
		a := map[string]string{"MessageId": call.ID, "MessageID": call.ID} // the JS library reads the deprecated MessageID
		if call.Reason != "" {
			a["Reason"] = call.Reason
		}
		s.emit(ctx, roomID, "EVENT", mustJSON(eventFrame{Type: "EVENT", ID: id, RequestID: call.RequestID, EventName: eventDeleteMessage,
			Attributes: a, SendTime: sendTime(now)}), nil)
		return homeReply{ID: id}
	case opDisconnect:
		id := ivs.NewResourceID()
		a := map[string]string{"UserId": call.UserID}
		if call.Reason != "" {
			a["Reason"] = call.Reason
		}
		s.emit(ctx, roomID, "EVENT", mustJSON(eventFrame{Type: "EVENT", ID: id, RequestID: call.RequestID, EventName: eventDisconnectUser,
			Attributes: a, SendTime: sendTime(now)}), &kick{UserID: call.UserID, Reason: call.Reason})
		return homeReply{ID: id}
	}
	return homeReply{Code: codeInternal, Message: "the room's home node does not know the request " + call.Op}
}

// homeSend decides on a client's message as the room's home: the room's
// limits, its rate, its review handler; then sends it.
func (s *Server) homeSend(ctx context.Context, roomID string, call homeCall) homeReply {
	rm, err := s.cfg.Rooms.RoomByID(ctx, roomID)
	if err != nil {
		if e, ok := ivs.AsError(err); ok && e.Code == ivs.CodeResourceNotFound {
			return homeReply{Code: codeNotFound, Message: "the room no longer exists"}
		}
		s.log.Error("chat room", "err", err)
		return homeReply{Code: codeInternal, Message: "internal error"}
	}
	content, attributes := call.Content, call.Attributes
	if n := utf8.RuneCountInString(content); n > int(rm.MaximumMessageLength) {
		return homeReply{Code: codeTooLarge, Message: "Content is longer than the room's maximumMessageLength"}
	}
	if attrBytes(attributes) > maxAttrBytes {
		return homeReply{Code: codeTooLarge, Message: "Attributes exceed 1 KB"}
	}
	h := s.acquireHome(roomID)
	ok := h.allow(rm.MaximumMessageRatePerSecond)
	s.releaseHome(h)
	if !ok {
		return homeReply{Code: codeTooManyRequests, Message: "the room's maximumMessageRatePerSecond is exceeded"}
	}
	id := ivs.NewResourceID()
	if hd := rm.MessageReviewHandler; hd != nil {
		var ok bool
		if content, attributes, ok = s.review(ctx, *hd, rm.ARN, id, content, attributes, *call.Sender); !ok {
			return homeReply{Code: codeRejected, Message: "the room's message review handler denied the message"}
		}
	}
	s.emit(ctx, roomID, "MESSAGE", mustJSON(messageFrame{Type: "MESSAGE", ID: id, RequestID: call.RequestID, Content: content,
		Attributes: attrs(attributes), SendTime: sendTime(time.Now()),
		Sender: sender{UserID: call.Sender.UserID, Attributes: attrs(call.Sender.Attributes)}}), nil)
	return homeReply{ID: id}
}

// homeRoom is what a home node keeps of a room while it is busy: its
// message rate, and the order of its frames. Kept in Server.homes while in
// use or while its rate bucket is not full (a full one is as good as a new
// one).
type homeRoom struct {
	id   string
	refs int // under Server.homeMu
	// order makes a frame's publication and local delivery one step, so
	// that every client, on this node or another, sees the room's frames
	// in one order.
	order sync.Mutex
	// limitMu guards limiter: the room's maximumMessageRatePerSecond, for
	// all its clients on every node together.
	limitMu sync.Mutex
	limiter *rate.Limiter
}

// allow spends one of the room's messages per second.
func (h *homeRoom) allow(perSecond int32) bool {
	h.limitMu.Lock()
	defer h.limitMu.Unlock()
	if h.limiter == nil {
		h.limiter = rate.NewLimiter(rate.Limit(perSecond), int(perSecond))
	} else if h.limiter.Limit() != rate.Limit(perSecond) {
		h.limiter.SetLimit(rate.Limit(perSecond))
		h.limiter.SetBurst(int(perSecond))
	}
	return h.limiter.Allow()
}

// idle says whether the room's bucket is full again, when forgetting it
// changes nothing.
func (h *homeRoom) idle(now time.Time) bool {
	h.limitMu.Lock()
	defer h.limitMu.Unlock()
	return h.limiter == nil || h.limiter.TokensAt(now) >= float64(h.limiter.Burst())
}

// acquireHome returns the room's home state, kept until releaseHome.
func (s *Server) acquireHome(roomID string) *homeRoom {
	s.homeMu.Lock()
	defer s.homeMu.Unlock()
	now := time.Now()
	// Rooms left with a bucket that was not full are forgotten later.
	if now.Sub(s.homeSwept) > 10*time.Second {
		s.homeSwept = now
		for id, h := range s.homes {
			if h.refs == 0 && h.idle(now) {
				delete(s.homes, id)
			}
		}
	}
	h := s.homes[roomID]
	if h == nil {
		h = &homeRoom{id: roomID}
		s.homes[roomID] = h
	}
	h.refs++
	return h
}

func (s *Server) releaseHome(h *homeRoom) {
	s.homeMu.Lock()
	defer s.homeMu.Unlock()
	h.refs--
	if h.refs == 0 && h.idle(time.Now()) && s.homes[h.id] == h {
		delete(s.homes, h.id)
	}
}

// emit sends a frame the home node made: to the room's clients here, to
// the other nodes' through the relay, and to the room's chat logs, once.
// k, if set, closes a user's connections after the frame.
func (s *Server) emit(ctx context.Context, roomID, typ string, payload []byte, k *kick) {
	h := s.acquireHome(roomID)
	h.order.Lock()
	if s.relay != nil {
		m := roomMsg{V: relayVersion, From: s.relay.Self(), Typ: typ, Frame: payload, Kick: k}
		if err := s.relay.Publish(roomID, mustJSON(m)); err != nil {
			// Clients on other nodes miss this frame; the ones here get it.
			s.log.Warn("chat frame not relayed to other nodes", "room", roomID, "err", err)
		}
	}
	s.deliver(roomID, payload, k)
	h.order.Unlock()
	s.releaseHome(h)
	s.record(ctx, roomID, typ, payload)
}

// relayed delivers a message the home node of a room published to this
// node's clients of that room; rm is the room the subscription was made
// for, which may have ended since.
func (s *Server) relayed(rm *room, b []byte) {
	var m roomMsg
	if err := json.Unmarshal(b, &m); err != nil || m.V < 1 {
		s.log.Warn("chat: a malformed message from another node", "room", rm.id)
		return
	}
	if m.V > relayVersion {
		s.log.Warn("chat: a message from a newer onair dropped", "room", rm.id, "v", m.V, "from", m.From)
		return
	}
	if m.From == s.relay.Self() {
		return // delivered here when it was made
	}
	s.mu.Lock()
	current := s.rooms[rm.id] == rm
	s.mu.Unlock()
	if !current {
		return // its clients left; a later room of the id has its own subscription
	}
	if m.Close != "" {
		s.closeLocal(rm.id, m.Close)
		return
	}
	if len(m.Frame) > 0 {
		s.deliver(rm.id, m.Frame, m.Kick)
	}
}

// subscribe makes sure that frames the room's home publishes reach this
// node's clients of rm, from the first client's handshake on.
func (s *Server) subscribe(rm *room) {
	if s.relay == nil {
		return
	}
	rm.subOnce.Do(func() {
		unsub, err := s.relay.Subscribe(rm.id, func(b []byte) { s.relayed(rm, b) })
		if err != nil {
			// The room's frames from other nodes' clients do not reach
			// this node's until its clients reconnect.
			s.log.Error("chat: room not subscribed: its clients here get only this node's frames", "room", rm.id, "err", err)
			return
		}
		rm.unsub = unsub
	})
}
