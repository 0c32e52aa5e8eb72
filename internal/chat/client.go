package chat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/onair-video/onair/internal/ivs"
)

// room is a room with connected clients. Its clients set is guarded by
// Server.mu.
type room struct {
	id, arn string
	clients map[*client]struct{}
	// limiter is the room's message rate (maximumMessageRatePerSecond,
	// for all its clients together).
	limitMu sync.Mutex
	limiter *rate.Limiter
}

func newRoom(_ *Server, id, arn string) *room {
	return &room{id: id, arn: arn, clients: make(map[*client]struct{})}
}

// allow spends one of the room's messages per second.
func (r *room) allow(perSecond int32) bool {
	r.limitMu.Lock()
	defer r.limitMu.Unlock()
	if r.limiter == nil {
		r.limiter = rate.NewLimiter(rate.Limit(perSecond), int(perSecond))
	} else if r.limiter.Limit() != rate.Limit(perSecond) {
		r.limiter.SetLimit(rate.Limit(perSecond))
		r.limiter.SetBurst(int(perSecond))
	}
	return r.limiter.Allow()
}

// outgoing is a frame for a client, or (close set) the end of its session
// after the frames before it.
type outgoing struct {
	frame []byte
	close string
}

// client is one WebSocket connection to a room.
type client struct {
	srv    *Server
	room   *room
	claims ivs.ChatClaims
	conn   *websocket.Conn
	remote string
	send   chan outgoing
	ctx    context.Context
	cancel context.CancelFunc
	expiry *time.Timer
	once   sync.Once
	// ready is closed by start: conn is set (nil if the handshake
	// failed).
	ready chan struct{}
}

// start gives a joined client its connection (nil: the handshake failed,
// and the client leaves) and starts its writer and session timer.
func (c *client) start(conn *websocket.Conn) {
	c.conn = conn
	close(c.ready)
	if conn == nil {
		c.srv.leave(c)
		c.cancel()
		c.srv.wg.Done() // the writer that will not run
		c.srv.conns.Done()
		return
	}
	go c.writeLoop()
	// The session ends at the token's session expiry.
	c.expiry = time.AfterFunc(time.Until(c.claims.SessionExpiry), func() { c.closeAfterQueued("the chat session expired") })
}

// enqueue queues a frame; a client a full queue behind is disconnected.
func (c *client) enqueue(o outgoing) {
	select {
	case c.send <- o:
	default:
		c.srv.log.Info("chat client too slow: disconnected", "room", c.room.arn, "user", c.claims.UserID)
		c.drop(websocket.StatusPolicyViolation, "too slow: messages waited beyond the client's queue")
	}
}

// closeAfterQueued ends the session cleanly once the frames queued before
// are sent.
func (c *client) closeAfterQueued(reason string) {
	select {
	case c.send <- outgoing{close: reason}:
	default:
		c.drop(websocket.StatusNormalClosure, reason)
	}
}

// drop closes the connection now.
func (c *client) drop(code websocket.StatusCode, reason string) {
	c.once.Do(func() {
		go func() {
			<-c.ready
			if c.conn != nil {
				_ = c.conn.Close(code, reason) // waits for the peer's close, bounded by the library
			}
			c.cancel()
		}()
	})
}

func (c *client) writeLoop() {
	defer c.srv.wg.Done()
	for {
		select {
		case o := <-c.send:
			if o.close != "" {
				c.drop(websocket.StatusNormalClosure, o.close)
				return
			}
			// No deadline per frame (a timer each would cost a tenth of
			// the fan-out): a client that stops reading fills its queue
			// and is dropped, and closing the connection ends the Write.
			if err := c.conn.Write(c.ctx, websocket.MessageText, o.frame); err != nil {
				c.drop(websocket.StatusPolicyViolation, "write failed")
				return
			}
		case <-c.ctx.Done():
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
		c.cancel()
		_ = c.conn.CloseNow()
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
	c.enqueue(outgoing{frame: mustJSON(errorFrame{Type: "ERROR", ID: ivs.NewResourceID(), RequestID: requestID, ErrorCode: code, ErrorMessage: msg})})
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
		if !c.claims.Can(ivs.CapDeleteMessage) {
			c.fail(req.RequestID, codeForbidden, "the token lacks the DELETE_MESSAGE capability")
			return
		}
		c.srv.DeleteMessage(c.ctx, c.room.id, req.ID, req.Reason, req.RequestID)
	case actionDisconnectUser:
		if !c.claims.Can(ivs.CapDisconnectUser) {
			c.fail(req.RequestID, codeForbidden, "the token lacks the DISCONNECT_USER capability")
			return
		}
		c.srv.DisconnectUser(c.ctx, c.room.id, req.UserID, req.Reason, req.RequestID)
	}
}

func (c *client) sendMessage(req request) {
	if !c.claims.Can(ivs.CapSendMessage) {
		c.fail(req.RequestID, codeForbidden, "the token lacks the SEND_MESSAGE capability")
		return
	}
	rm, err := c.srv.cfg.Rooms.RoomByID(c.ctx, c.room.id)
	if err != nil {
		if e, ok := ivs.AsError(err); ok && e.Code == ivs.CodeResourceNotFound {
			c.fail(req.RequestID, codeNotFound, "the room no longer exists")
			return
		}
		c.srv.log.Error("chat room", "err", err)
		c.fail(req.RequestID, codeInternal, "internal error")
		return
	}
	content := *req.Content
	if n := utf8.RuneCountInString(content); n > int(rm.MaximumMessageLength) {
		c.fail(req.RequestID, codeTooLarge, "Content is longer than the room's maximumMessageLength")
		return
	}
	if attrBytes(req.Attributes) > maxAttrBytes {
		c.fail(req.RequestID, codeTooLarge, "Attributes exceed 1 KB")
		return
	}
	if !c.room.allow(rm.MaximumMessageRatePerSecond) {
		c.fail(req.RequestID, codeTooManyRequests, "the room's maximumMessageRatePerSecond is exceeded")
		return
	}
	id := ivs.NewResourceID()
	attributes := req.Attributes
	if h := rm.MessageReviewHandler; h != nil {
		var ok bool
		if content, attributes, ok = c.srv.review(c.ctx, *h, rm.ARN, id, content, attributes, c); !ok {
			c.fail(req.RequestID, codeRejected, "the room's message review handler denied the message")
			return
		}
	}
	c.srv.broadcast(c.ctx, c.room.id, "MESSAGE", mustJSON(messageFrame{Type: "MESSAGE", ID: id, RequestID: req.RequestID, Content: content,
		Attributes: attrs(attributes), SendTime: sendTime(time.Now()),
		Sender: sender{UserID: c.claims.UserID, Attributes: attrs(c.claims.Attributes)}}))
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
func (s *Server) review(ctx context.Context, h ivs.MessageReviewHandler, roomARN, id, content string, attributes map[string]string, c *client) (string, map[string]string, bool) {
	in := reviewRequest{Content: content, MessageID: id, RoomArn: roomARN, Attributes: attrs(attributes)}
	in.Sender.UserID, in.Sender.Attributes, in.Sender.IP = c.claims.UserID, attrs(c.claims.Attributes), hostOf(c.remote)
	out, err := s.callReview(ctx, h.URI, in)
	if err != nil {
		s.log.Warn("message review handler failed: fallback result applies", "room", roomARN, "fallback", h.FallbackResult, "err", err)
		return content, attributes, h.FallbackResult != ivs.ReviewDeny
	}
	if out.ReviewResult != ivs.ReviewAllow {
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
	if out.ReviewResult != ivs.ReviewAllow && out.ReviewResult != ivs.ReviewDeny {
		return out, errors.Join(errReview, errors.New("ReviewResult is neither ALLOW nor DENY"))
	}
	return out, nil
}
