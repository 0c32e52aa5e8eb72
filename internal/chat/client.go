package chat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/ivschat"
)

// room is a room with connected clients. Its clients set is guarded by
// Server.mu.
type room struct {
	id, arn string
	clients map[*client]struct{}
	// list holds the clients for broadcasts; nil once they change.
	list []*client
	// With a relay, the room's frames from its home node come through a
	// subscription made by its first client, ended by its last.
	subOnce sync.Once
	unsub   func()
}

func newRoom(_ *Server, id, arn string) *room {
	return &room{id: id, arn: arn, clients: make(map[*client]struct{})}
}

// outgoing is a frame for a client (encoded by textFrame, shared with
// the room's other clients), or (close set) the end of its session after
// the frames before it.
type outgoing struct {
	frame []byte
	close string
}

// Who writes to a client's connection now; frames that come meanwhile
// wait in its queue.
const (
	ownerPending = iota // nobody yet: the handshake is not over
	ownerNone           // nobody: the next frame may be written at once
	ownerInline         // a sender, from its own goroutine (enqueue)
	ownerDrain          // a drain goroutine, emptying the queue
	ownerGone           // nobody ever: the client is dropped or has left
)

// client is one WebSocket connection to a room.
type client struct {
	srv    *Server
	room   *room
	claims ivschat.ChatClaims
	conn   *websocket.Conn
	wire   *frameConn // under conn: where the room's frames go
	remote string
	ctx    context.Context
	cancel context.CancelFunc
	expiry *time.Timer
	// ready is closed by start: conn is set (nil if the handshake
	// failed).
	ready chan struct{}

	qmu   sync.Mutex
	owner int        // ownerPending, …
	queue []outgoing // frames waiting, oldest first; at most queueSize (and a close)
	// busy counts the drain and close goroutines, which the read loop
	// waits for before the connection is let go.
	busy sync.WaitGroup
}

// start gives a joined client its connection (nil: the handshake failed,
// and the client leaves) and starts its session timer and the delivery
// of what was queued during the handshake.
func (c *client) start(conn *websocket.Conn, wire *frameConn) {
	c.conn, c.wire = conn, wire
	close(c.ready)
	c.qmu.Lock()
	if conn == nil {
		c.owner, c.queue = ownerGone, nil
	} else if c.owner == ownerPending {
		c.owner = ownerNone
		c.handOverLocked()
	}
	c.qmu.Unlock()
	if conn == nil {
		c.srv.leave(c)
		c.cancel()
		c.srv.conns.Done()
		return
	}
	// The session ends at the token's session expiry.
	c.expiry = time.AfterFunc(time.Until(c.claims.SessionExpiry), func() { c.closeAfterQueued("the chat session expired") })
}

// enqueue sends a frame to the client. When nothing waits before it, the
// caller writes it at once if the socket takes it without blocking, the
// common case: a room's fan-out then wakes no goroutine per client, and a
// client has no goroutine of its own for writing. The rest of a frame the
// socket did not take, and frames that come while it is busy, go through
// the client's queue, which a drain goroutine empties. A client a full
// queue behind is disconnected.
func (c *client) enqueue(o outgoing) {
	c.qmu.Lock()
	if c.owner == ownerGone {
		c.qmu.Unlock()
		return
	}
	if c.owner != ownerNone || o.close != "" {
		full := o.close == "" && len(c.queue) >= queueSize
		if !full {
			c.queue = append(c.queue, o)
			c.handOverLocked()
		}
		c.qmu.Unlock()
		if full {
			c.srv.log.Info("chat client too slow: disconnected", "room", c.room.arn, "user", c.claims.UserID)
			c.drop(websocket.StatusPolicyViolation, "too slow: messages waited beyond the client's queue")
		}
		return
	}
	c.owner = ownerInline
	c.qmu.Unlock()
	n, err := c.wire.tryWrite(o.frame)
	if err != nil {
		c.drop(websocket.StatusPolicyViolation, "write failed")
		return
	}
	c.qmu.Lock()
	if c.owner == ownerInline {
		c.owner = ownerNone
		if n < len(o.frame) {
			c.queue = slices.Insert(c.queue, 0, outgoing{frame: o.frame[n:]})
		}
		c.handOverLocked()
	}
	c.qmu.Unlock()
}

// handOverLocked starts a drain for a queue that nobody empties.
func (c *client) handOverLocked() {
	if c.owner == ownerNone && len(c.queue) > 0 {
		c.owner = ownerDrain
		c.busy.Add(1)
		go c.drain()
	}
}

// closeAfterQueued ends the session cleanly once the frames queued before
// are sent.
func (c *client) closeAfterQueued(reason string) { c.enqueue(outgoing{close: reason}) }

// drop closes the connection now; nothing more is written to it. A normal
// closure has a close handshake; other codes end clients that could not
// take what was written to them (a full socket would not take a close
// frame either), so their connection is cut at once.
func (c *client) drop(code websocket.StatusCode, reason string) {
	c.qmu.Lock()
	if c.owner == ownerGone {
		c.qmu.Unlock()
		return
	}
	c.owner, c.queue = ownerGone, nil
	c.busy.Add(1)
	c.qmu.Unlock()
	go func() {
		defer c.busy.Done()
		<-c.ready
		switch {
		case c.conn == nil:
		case code == websocket.StatusNormalClosure:
			_ = c.conn.Close(code, reason) // waits for the peer's close, bounded by the library
		default:
			_ = c.conn.CloseNow()
		}
		c.cancel()
	}()
}

// drain writes the queue until it is empty, blocking on the socket as it
// must: this is the goroutine that waits for a slow client.
func (c *client) drain() {
	defer c.busy.Done()
	for {
		c.qmu.Lock()
		if c.owner != ownerDrain {
			c.qmu.Unlock()
			return
		}
		if len(c.queue) == 0 {
			c.queue, c.owner = nil, ownerNone
			c.qmu.Unlock()
			return
		}
		o := c.queue[0]
		c.queue[0] = outgoing{}
		c.queue = c.queue[1:]
		c.qmu.Unlock()
		if o.close != "" {
			c.drop(websocket.StatusNormalClosure, o.close)
			return
		}
		// No deadline per frame (a timer each would cost a tenth of the
		// fan-out): a client that stops reading fills its queue and is
		// dropped, and closing the connection ends the write.
		if err := c.wire.writeFrame(o.frame); err != nil {
			c.drop(websocket.StatusPolicyViolation, "write failed")
			return
		}
	}
}

// readLoop handles the client's requests until the connection ends; it
// runs in the HTTP handler's goroutine.
func (c *client) readLoop() {
	defer func() {
		c.expiry.Stop()
		c.srv.leave(c)
		c.qmu.Lock()
		c.owner, c.queue = ownerGone, nil
		c.qmu.Unlock()
		c.cancel()
		_ = c.conn.CloseNow()
		c.busy.Wait() // a drain's write fails on the closed connection
		c.srv.conns.Done()
	}()
	for {
		typ, b, err := c.conn.Read(c.ctx)
		if err != nil {
			return
		}
		req, err := parseRequest(typ == websocket.MessageText, b)
		if err != nil {
			c.fail(req.RequestID, codeBadRequest, err.Error())
			continue
		}
		c.handle(req)
	}
}

// fail sends the client an ERROR frame.
func (c *client) fail(requestID string, code int, msg string) {
	c.enqueue(outgoing{frame: textFrame(mustJSON(errorFrame{Type: "ERROR", ID: ivs.NewResourceID(), RequestID: requestID, ErrorCode: code, ErrorMessage: msg}))})
}

func (c *client) handle(req request) {
	if !c.srv.now().Before(c.claims.SessionExpiry) {
		c.fail(req.RequestID, codeUnauthorized, "the chat session has expired")
		return
	}
	switch req.Action {
	case actionSendMessage:
		c.sendMessage(req)
	case actionDeleteMessage:
		if !c.claims.Can(ivschat.CapDeleteMessage) {
			c.fail(req.RequestID, codeForbidden, "the token lacks the DELETE_MESSAGE capability")
			return
		}
		c.toHome(req, homeCall{Op: opDelete, ID: req.ID, Reason: req.Reason, RequestID: req.RequestID})
	case actionDisconnectUser:
		if !c.claims.Can(ivschat.CapDisconnectUser) {
			c.fail(req.RequestID, codeForbidden, "the token lacks the DISCONNECT_USER capability")
			return
		}
		c.toHome(req, homeCall{Op: opDisconnect, UserID: req.UserID, Reason: req.Reason, RequestID: req.RequestID})
	}
}

func (c *client) sendMessage(req request) {
	if !c.claims.Can(ivschat.CapSendMessage) {
		c.fail(req.RequestID, codeForbidden, "the token lacks the SEND_MESSAGE capability")
		return
	}
	c.toHome(req, homeCall{Op: opSend, RequestID: req.RequestID, Content: *req.Content, Attributes: req.Attributes,
		Sender: &callSender{UserID: c.claims.UserID, Attributes: c.claims.Attributes, IP: hostOf(c.remote)}})
}

// toHome has the room's home node carry out a request of the client, and
// answers the client with an ERROR frame if it did not. The frame it sent
// comes to the client as to the room's other clients.
func (c *client) toHome(req request, call homeCall) {
	if r := c.srv.toHome(c.ctx, c.room.id, call); r.Code != 0 {
		c.fail(req.RequestID, r.Code, r.Message)
	}
}

func attrBytes(m map[string]string) int {
	n := 0
	for k, v := range m {
		n += len(k) + len(v)
	}
	return n
}

// errReview is a review handler that did not answer as it should.
var errReview = errors.New("chat: message review handler failed")

// reviewRequest and reviewResponse are the JSON of IVS's message review
// Lambda, which onair posts to the handler's URL.
type reviewRequest struct {
	Content    string            `json:"Content"`
	MessageID  string            `json:"MessageId"`
	RoomArn    string            `json:"RoomArn"`
	Attributes map[string]string `json:"Attributes"`
	Sender     struct {
		Attributes map[string]string `json:"Attributes"`
		UserID     string            `json:"UserId"`
		IP         string            `json:"Ip"`
	} `json:"Sender"`
}

type reviewResponse struct {
	ReviewResult string            `json:"ReviewResult"`
	Content      *string           `json:"Content"`
	Attributes   map[string]string `json:"Attributes"`
}

// review asks a room's review handler about a message: it may allow it
// (possibly rewritten) or deny it; when it fails or is late, the handler's
// fallback result applies.
func (s *Server) review(ctx context.Context, h ivschat.MessageReviewHandler, roomARN, id, content string, attributes map[string]string, from callSender) (string, map[string]string, bool) {
	in := reviewRequest{Content: content, MessageID: id, RoomArn: roomARN, Attributes: attrs(attributes)}
	in.Sender.UserID, in.Sender.Attributes, in.Sender.IP = from.UserID, attrs(from.Attributes), from.IP
	out, err := s.callReview(ctx, h.URI, in)
	if err != nil {
		s.log.Warn("message review handler failed: fallback result applies", "room", roomARN, "fallback", h.FallbackResult, "err", err)
		return content, attributes, h.FallbackResult != ivschat.ReviewDeny
	}
	if out.ReviewResult != ivschat.ReviewAllow {
		return "", nil, false
	}
	if out.Content != nil {
		content = *out.Content
	}
	if out.Attributes != nil {
		attributes = out.Attributes
	}
	return content, attributes, true
}

func (s *Server) callReview(ctx context.Context, uri string, in reviewRequest) (reviewResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, ReviewTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, bytes.NewReader(mustJSON(in)))
	if err != nil {
		return reviewResponse{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := s.cfg.Review.Do(req)
	if err != nil {
		return reviewResponse{}, err
	}
	defer res.Body.Close()
	var out reviewResponse
	if res.StatusCode != http.StatusOK {
		return out, errors.Join(errReview, errors.New(res.Status))
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, res.Body, 16<<10)).Decode(&out); err != nil {
		return out, errors.Join(errReview, err)
	}
	if out.ReviewResult != ivschat.ReviewAllow && out.ReviewResult != ivschat.ReviewDeny {
		return out, errors.Join(errReview, errors.New("ReviewResult is neither ALLOW nor DENY"))
	}
	return out, nil
}
