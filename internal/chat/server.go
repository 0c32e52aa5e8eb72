// Package chat serves IVS Chat's messaging: the WebSocket that IVS's
// client libraries (amazon-ivs-chat-messaging) connect to with a token from
// CreateChatToken, rooms that fan each message out to their clients, and
// the server side of SendEvent, DeleteMessage and DisconnectUser.
package chat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/ivschat"
)

// Rooms is what the server needs of the control plane; *ivschat.Service
// implements it.
type Rooms interface {
	OpenChatToken(ctx context.Context, token string) (ivschat.ChatClaims, error)
	RoomByID(ctx context.Context, id string) (ivschat.Room, error)
	GetLoggingConfiguration(ctx context.Context, arn string) (ivschat.LoggingConfiguration, error)
}

// Config holds the dependencies of a Server.
type Config struct {
	Rooms Rooms
	Log   *slog.Logger
	// Review calls message review handlers; nil uses a client with
	// ReviewTimeout.
	Review *http.Client
	// PutLog stores a chat log object in a bucket (the recordings'
	// storage, through its spool); nil: rooms are not logged.
	PutLog func(bucket, key string, body []byte, contentType string) error
	// LogFlush is how often chat logs are written. Default 1 minute.
	LogFlush time.Duration
	// Relay joins the servers of a cluster's nodes (relay.go); nil: this
	// server is the only one, the home of every room.
	Relay Relay
	// Spent records used tokens; nil: in memory (one node only).
	Spent Spent
}

// Limits.
const (
	// queueSize bounds the frames waiting for one client: a client that
	// falls that far behind its room is disconnected, never buffered for.
	queueSize = 256
	// readLimit bounds a request frame: 500 code points of content (up to
	// 2 KB), 1 KB of attributes, JSON around them.
	readLimit = 16 << 10
	// ReviewTimeout is how long a message review handler may take before
	// the room's fallback result applies (IVS gives its Lambda 200 ms).
	ReviewTimeout = 200 * time.Millisecond
	maxAttrBytes  = 1024
	// fanOutChunk is the fewest clients worth a goroutine of a broadcast.
	fanOutChunk = 256
)

// Server is the messaging service.
type Server struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	// conns counts connections until their read loop ends; Add happens
	// under mu while not closed, so Close may Wait.
	conns sync.WaitGroup

	logs     *chatLog
	logsDone chan struct{}

	relay     Relay
	spent     Spent
	stopServe func() // ends the answering of home requests

	// homes holds the state of the rooms this node is home of, while
	// they are busy.
	homeMu    sync.Mutex
	homes     map[string]*homeRoom
	homeSwept time.Time

	mu     sync.Mutex
	rooms  map[string]*room // rooms with connected clients, by id
	closed bool
}

// New returns a Server; its handler serves the WebSocket.
func New(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Review == nil {
		cfg.Review = &http.Client{Timeout: ReviewTimeout}
	}
	if cfg.LogFlush <= 0 {
		cfg.LogFlush = defaultLogFlush
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, log: cfg.Log.With("component", "chat"), ctx: ctx, cancel: cancel, relay: cfg.Relay, spent: cfg.Spent,
		homes: make(map[string]*homeRoom), rooms: make(map[string]*room), logsDone: make(chan struct{})}
	if s.spent == nil {
		s.spent = newMemSpent()
		if s.relay != nil {
			s.log.Warn("chat tokens are single-use per node only: no shared record of used tokens")
		}
	}
	if s.relay != nil {
		stop, err := s.relay.Serve(s.handleHome)
		if err != nil {
			// Other nodes' requests for the rooms this node is home of
			// fail (their clients get ERROR frames) until it restarts.
			s.log.Error("chat: not answering other nodes", "err", err)
			stop = func() {}
		}
		s.stopServe = stop
	}
	if cfg.PutLog != nil {
		s.logs = &chatLog{put: cfg.PutLog, log: s.log, batch: make(map[logKey]*bytes.Buffer)}
		go func() { defer close(s.logsDone); s.logs.run(ctx, cfg.LogFlush) }()
	} else {
		close(s.logsDone)
	}
	return s
}

// ServeHTTP upgrades a client to the messaging WebSocket. The token travels
// as the WebSocket subprotocol and is echoed back, as IVS does; it is
// accepted once, before it expires, for a room that exists.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token := subprotocol(r)
	if token == "" {
		http.Error(w, "a chat token is required as the WebSocket subprotocol", http.StatusUnauthorized)
		return
	}
	claims, err := s.cfg.Rooms.OpenChatToken(r.Context(), token)
	switch {
	case errors.Is(err, ivschat.ErrBadChatToken), errors.Is(err, ivschat.ErrChatTokenExpired):
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	case err != nil:
		s.log.Error("chat token", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	rm, err := s.cfg.Rooms.RoomByID(r.Context(), claims.RoomID)
	if err != nil {
		if e, ok := ivs.AsError(err); ok && e.Code == ivs.CodeResourceNotFound {
			http.Error(w, "the token's room does not exist", http.StatusNotFound)
			return
		}
		s.log.Error("chat room", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	first, err := s.spent.Spend(r.Context(), claims.Nonce, claims.SessionExpiry)
	if err != nil {
		s.log.Error("chat token: single use not checked", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if !first {
		http.Error(w, "the chat token was used already", http.StatusUnauthorized)
		return
	}
	// The client joins its room before the handshake completes: from
	// its first moment connected, it gets every frame of the room (they
	// wait in its queue meanwhile).
	c := s.join(rm.ARN, claims, r.RemoteAddr)
	if c == nil {
		http.Error(w, "the server is stopping", http.StatusServiceUnavailable)
		return
	}
	s.subscribe(c.room)
	hw := &hijackWriter{ResponseWriter: w}
	conn, err := websocket.Accept(hw, r, &websocket.AcceptOptions{
		Subprotocols: []string{token},
		// Frames go out uncompressed: each is encoded once for the room.
		CompressionMode: websocket.CompressionDisabled,
		// Any web origin may connect: the token is the credential, no
		// cookie is involved, so there is nothing to forge.
		InsecureSkipVerify: true,
	})
	if err != nil {
		c.start(nil, nil) // Accept answered the client
		return
	}
	conn.SetReadLimit(readLimit)
	c.start(conn, hw.conn)
	s.log.Debug("chat client joined", "room", rm.ARN, "user", claims.UserID)
	c.readLoop()
}

// subprotocol returns the first WebSocket subprotocol the client offered.
func subprotocol(r *http.Request) string {
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				return t
			}
		}
	}
	return ""
}

// join adds a client to its room (creating the live room), or returns nil
// once the server is closed.
func (s *Server) join(roomARN string, claims ivschat.ChatClaims, remote string) *client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	rm := s.rooms[claims.RoomID]
	if rm == nil {
		rm = newRoom(s, claims.RoomID, roomARN)
		s.rooms[claims.RoomID] = rm
	}
	ctx, cancel := context.WithCancel(s.ctx)
	c := &client{srv: s, room: rm, claims: claims, remote: remote, owner: ownerPending,
		ctx: ctx, cancel: cancel, ready: make(chan struct{})}
	rm.clients[c] = struct{}{}
	rm.list = nil
	// Counted here, under mu while not closed, so that Close may Wait.
	s.conns.Add(1)
	return c
}

// leave removes a client from its room, and the room from the server when
// it was the last.
func (s *Server) leave(c *client) {
	s.mu.Lock()
	delete(c.room.clients, c)
	c.room.list = nil
	var unsub func()
	if len(c.room.clients) == 0 && s.rooms[c.room.id] == c.room {
		delete(s.rooms, c.room.id)
		// Every client subscribed (in ServeHTTP) before it could leave.
		unsub = c.room.unsub
	}
	s.mu.Unlock()
	if unsub != nil {
		unsub()
	}
}

// clients returns the clients of a room now, in a slice the caller must
// not change: it is shared by every broadcast until a client joins or
// leaves.
func (s *Server) clients(roomID string) []*client {
	s.mu.Lock()
	defer s.mu.Unlock()
	rm := s.rooms[roomID]
	if rm == nil {
		return nil
	}
	if rm.list == nil {
		rm.list = make([]*client, 0, len(rm.clients))
		for c := range rm.clients {
			rm.list = append(rm.list, c)
		}
	}
	return rm.list
}

// Clients returns how many clients a room has connected.
func (s *Server) Clients(roomID string) int { return len(s.clients(roomID)) }

// deliver sends one frame, marshalled and framed once, to every client of
// a room on this node; k, if set, then closes a user's connections.
func (s *Server) deliver(roomID string, payload []byte, k *kick) {
	o := outgoing{frame: textFrame(payload)}
	cs := s.clients(roomID)
	// The writes are spread over the processors: a socket write is most of
	// a delivery's cost, and a room's last client waits for all before it.
	parts := min(runtime.GOMAXPROCS(0), (len(cs)+fanOutChunk-1)/fanOutChunk)
	var wg sync.WaitGroup
	for i := 1; i < parts; i++ {
		wg.Go(func() {
			for _, c := range cs[i*len(cs)/parts : (i+1)*len(cs)/parts] {
				c.enqueue(o)
			}
		})
	}
	for _, c := range cs[:len(cs)/max(parts, 1)] {
		c.enqueue(o)
	}
	wg.Wait()
	if k != nil {
		for _, c := range cs {
			if c.claims.UserID == k.UserID {
				c.closeAfterQueued(fmt.Sprintf("disconnected by a moderator: %s", k.Reason))
			}
		}
	}
}

// SendEvent sends a custom event to a room's clients (the control plane's
// SendEvent) and returns its id. An error (of a cluster's relay) is
// logged, and "" returned; SendEventErr returns it.
func (s *Server) SendEvent(ctx context.Context, roomID, name string, attributes map[string]string) string {
	id, err := s.SendEventErr(ctx, roomID, name, attributes)
	s.logFailed("SendEvent", roomID, err)
	return id
}

// SendEventErr is SendEvent with its error: ErrUnavailable when the
// room's home node could not be reached.
func (s *Server) SendEventErr(ctx context.Context, roomID, name string, attributes map[string]string) (string, error) {
	r := s.toHome(ctx, roomID, homeCall{Op: opEvent, Name: name, Attributes: attributes})
	return r.ID, r.err()
}

// DeleteMessage tells a room's clients that a message is deleted and
// returns the event's id. An error is logged, and "" returned;
// DeleteMessageErr returns it.
func (s *Server) DeleteMessage(ctx context.Context, roomID, messageID, reason, requestID string) string {
	id, err := s.DeleteMessageErr(ctx, roomID, messageID, reason, requestID)
	s.logFailed("DeleteMessage", roomID, err)
	return id
}

// DeleteMessageErr is DeleteMessage with its error: ErrUnavailable when
// the room's home node could not be reached.
func (s *Server) DeleteMessageErr(ctx context.Context, roomID, messageID, reason, requestID string) (string, error) {
	r := s.toHome(ctx, roomID, homeCall{Op: opDelete, ID: messageID, Reason: reason, RequestID: requestID})
	return r.ID, r.err()
}

// DisconnectUser tells a room's clients that a user is disconnected, then
// closes every connection of that user in the room, on every node,
// cleanly (so the client library does not reconnect). An error is logged;
// DisconnectUserErr returns it.
func (s *Server) DisconnectUser(ctx context.Context, roomID, userID, reason, requestID string) {
	s.logFailed("DisconnectUser", roomID, s.DisconnectUserErr(ctx, roomID, userID, reason, requestID))
}

// DisconnectUserErr is DisconnectUser with its error: ErrUnavailable when
// the room's home node could not be reached.
func (s *Server) DisconnectUserErr(ctx context.Context, roomID, userID, reason, requestID string) error {
	return s.toHome(ctx, roomID, homeCall{Op: opDisconnect, UserID: userID, Reason: reason, RequestID: requestID}).err()
}

func (s *Server) logFailed(op, roomID string, err error) {
	if err != nil {
		s.log.Error("chat: "+op+" failed", "room", roomID, "err", err)
	}
}

// CloseRoom disconnects every client of a room (it was deleted): here,
// and with a relay on the other nodes too (as far as the relay reaches
// them; their clients' messages fail meanwhile, the room being gone).
// Calling it on every node, as well as on one, is right.
func (s *Server) CloseRoom(roomID string) {
	const reason = "the room was deleted"
	if s.relay != nil {
		if err := s.relay.Publish(roomID, mustJSON(roomMsg{V: relayVersion, From: s.relay.Self(), Close: reason})); err != nil {
			s.log.Warn("chat: room closing not relayed to other nodes", "room", roomID, "err", err)
		}
	}
	s.closeLocal(roomID, reason)
}

// closeLocal disconnects the room's clients on this node.
func (s *Server) closeLocal(roomID, reason string) {
	for _, c := range s.clients(roomID) {
		c.closeAfterQueued(reason)
	}
}

// Close disconnects every client and waits for their goroutines.
func (s *Server) Close() {
	if s.stopServe != nil {
		s.stopServe() // other nodes' requests get no answer, as from a node that is gone
	}
	s.mu.Lock()
	s.closed = true
	var all []*client
	for _, rm := range s.rooms {
		for c := range rm.clients {
			all = append(all, c)
		}
	}
	s.mu.Unlock()
	for _, c := range all {
		c.closeAfterQueued("the server is stopping")
	}
	// Clients get their close handshake; those that do not answer it are
	// cut off after 5 s.
	done := make(chan struct{})
	go func() { s.conns.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.cancel() // clients that do not answer the close handshake
		<-done
	}
	s.cancel()
	<-s.logsDone // the last batch of chat logs is written
}

func (s *Server) now() time.Time { return time.Now() }

// hostOf is the address part of host:port.
func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
