package chat

import (
	"encoding/json"
	"time"
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
