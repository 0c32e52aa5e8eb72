package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// The messaging protocol of IVS Chat (docs/chat.md): clients send
// requests, the server sends MESSAGE, EVENT and ERROR frames, all JSON
// objects in text frames with PascalCase members. Every frame the server
// sends has an Id of its own: the client library drops a frame whose Id it
// has seen.

// request is what a client sends.
type request struct {
	Action     string            `json:"Action"`
	RequestID  string            `json:"RequestId"`
	Content    *string           `json:"Content"`
	Attributes map[string]string `json:"Attributes"`
	ID         string            `json:"Id"`
	Reason     string            `json:"Reason"`
	UserID     string            `json:"UserId"`
}

// Actions.
const (
	actionSendMessage    = "SEND_MESSAGE"
	actionDeleteMessage  = "DELETE_MESSAGE"
	actionDisconnectUser = "DISCONNECT_USER"
)

// System events.
const (
	eventDeleteMessage  = "aws:DELETE_MESSAGE"
	eventDisconnectUser = "aws:DISCONNECT_USER"
)

type sender struct {
	UserID     string            `json:"UserId"`
	Attributes map[string]string `json:"Attributes"`
}

type messageFrame struct {
	Type       string            `json:"Type"`
	ID         string            `json:"Id"`
	RequestID  string            `json:"RequestId,omitempty"`
	Content    string            `json:"Content"`
	Attributes map[string]string `json:"Attributes"`
	SendTime   string            `json:"SendTime"`
	Sender     sender            `json:"Sender"`
}

type eventFrame struct {
	Type       string            `json:"Type"`
	ID         string            `json:"Id"`
	RequestID  string            `json:"RequestId,omitempty"`
	EventName  string            `json:"EventName"`
	Attributes map[string]string `json:"Attributes"`
	SendTime   string            `json:"SendTime"`
}

type errorFrame struct {
	Type         string `json:"Type"`
	ID           string `json:"Id"`
	RequestID    string `json:"RequestId,omitempty"`
	ErrorCode    int    `json:"ErrorCode"`
	ErrorMessage string `json:"ErrorMessage"`
}

// Error codes of ERROR frames, as IVS Chat's.
const (
	codeBadRequest      = 400
	codeUnauthorized    = 401
	codeForbidden       = 403
	codeNotFound        = 404
	codeRejected        = 406
	codeTooLarge        = 413
	codeTooManyRequests = 429
	codeInternal        = 500
)

// sendTime formats t as the client library parses it (ISO 8601 UTC with
// milliseconds, as JavaScript's toISOString).
func sendTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("chat: marshal frame: " + err.Error()) // frames are plain structs of strings
	}
	return b
}

func attrs(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// parseRequest decodes a client's frame (text says it was a text frame)
// and checks what it must hold whatever the room: a JSON object with a
// known Action and that Action's members. The request is returned even on
// error, for its RequestId.
func parseRequest(text bool, b []byte) (request, error) {
	var req request
	if !text {
		return req, errors.New("requests are JSON text frames")
	}
	if err := json.Unmarshal(b, &req); err != nil {
		return req, fmt.Errorf("the request is not a JSON object of strings: %w", err)
	}
	if len(req.Reason) > maxReasonLen || !utf8.ValidString(req.Reason) {
		return req, fmt.Errorf("Reason must be UTF-8 of at most %d bytes", maxReasonLen)
	}
	switch req.Action {
	case actionSendMessage:
		if req.Content == nil || *req.Content == "" || !utf8.ValidString(*req.Content) {
			return req, errors.New("Content is required: non-empty UTF-8")
		}
	case actionDeleteMessage:
		if req.ID == "" || len(req.ID) > maxIDLen {
			return req, fmt.Errorf("Id is required (at most %d characters)", maxIDLen)
		}
	case actionDisconnectUser:
		if req.UserID == "" || len(req.UserID) > maxIDLen {
			return req, fmt.Errorf("UserId is required (at most %d characters)", maxIDLen)
		}
	default:
		return req, errors.New("unknown Action: want SEND_MESSAGE, DELETE_MESSAGE or DISCONNECT_USER")
	}
	return req, nil
}

// Limits of request members.
const (
	maxReasonLen = 256
	maxIDLen     = 128
)
