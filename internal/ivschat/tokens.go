package ivschat

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/onair-video/onair/internal/ivs"
)

// Chat capabilities a token may grant.
const (
	CapSendMessage    = "SEND_MESSAGE"
	CapDeleteMessage  = "DELETE_MESSAGE"
	CapDisconnectUser = "DISCONNECT_USER"
)

// Chat token limits, as IVS Chat's.
const (
	defaultChatSession = 60 // minutes
	maxChatSession     = 180
	maxUserIDLen       = 128
	maxChatAttrBytes   = 1024
	chatTokenPrefix    = "ct1."
)

// CreateChatTokenInput is the input of CreateChatToken.
type CreateChatTokenInput struct {
	RoomIdentifier           string            `json:"roomIdentifier"`
	UserID                   string            `json:"userId"`
	Capabilities             []string          `json:"capabilities"`
	SessionDurationInMinutes *int32            `json:"sessionDurationInMinutes"`
	Attributes               map[string]string `json:"attributes"`
}

// ChatToken is what CreateChatToken answers.
type ChatToken struct {
	Token                 string    `json:"token"`
	TokenExpirationTime   time.Time `json:"tokenExpirationTime"`
	SessionExpirationTime time.Time `json:"sessionExpirationTime"`
}

// ChatClaims are what a chat token grants: who joins which room, with which
// capabilities, until when. Nonce makes every token unique, so that a
// messaging server can accept each one once.
type ChatClaims struct {
	RoomID       string            `json:"r"`
	UserID       string            `json:"u"`
	Attributes   map[string]string `json:"a,omitempty"`
	Capabilities []string          `json:"c,omitempty"`
	// SessionExpiry is when a connection made with the token ends; the
	// token must be used before it too (as IVS's tokens, whose
	// tokenExpirationTime is their sessionExpirationTime).
	SessionExpiry time.Time `json:"e"`
	Nonce         string    `json:"n"`
}

// Can reports whether the claims grant a capability.
func (c ChatClaims) Can(capability string) bool { return slices.Contains(c.Capabilities, capability) }

// ErrBadChatToken is returned by OpenChatToken for a token that is not one
// this server made, or that was tampered with.
var ErrBadChatToken = errors.New("chat token not valid")

// ErrChatTokenExpired is returned by OpenChatToken for a token past its
// expiry.
var ErrChatTokenExpired = errors.New("chat token expired")

func (s *Service) chatTokenKey(ctx context.Context) ([]byte, error) {
	return s.secrets.Get(ctx, "chat-token")
}

// validateChatAttributes checks a map of chat attributes: at most 1 KB of
// keys and values together, valid UTF-8.
func validateChatAttributes(field string, attrs map[string]string) error {
	n := 0
	for k, v := range attrs {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return ivs.Validation(field, "%s must be valid UTF-8", field)
		}
		n += len(k) + len(v)
	}
	if n > maxChatAttrBytes {
		return ivs.Validation(field, "%s may hold at most %d bytes of keys and values, got %d", field, maxChatAttrBytes, n)
	}
	return nil
}

// CreateChatToken issues a token with which a user joins a room over the
// messaging WebSocket. The token is self-contained (signed with a key in
// the store), so it outlives a restart.
func (s *Service) CreateChatToken(ctx context.Context, in CreateChatTokenInput) (ChatToken, error) {
	room, err := s.room(ctx, "roomIdentifier", in.RoomIdentifier)
	if err != nil {
		return ChatToken{}, err
	}
	if in.UserID == "" || len(in.UserID) > maxUserIDLen || !utf8.ValidString(in.UserID) {
		return ChatToken{}, ivs.Validation("userId", "userId must be 1 to %d characters", maxUserIDLen)
	}
	caps := []string{}
	for _, c := range in.Capabilities {
		if err := ivs.ValidateEnum("capabilities", c, CapSendMessage, CapDeleteMessage, CapDisconnectUser); err != nil {
			return ChatToken{}, err
		}
		if !slices.Contains(caps, c) {
			caps = append(caps, c)
		}
	}
	minutes := int32(defaultChatSession)
	if d := in.SessionDurationInMinutes; d != nil {
		if *d < 1 || *d > maxChatSession {
			return ChatToken{}, ivs.Validation("sessionDurationInMinutes", "sessionDurationInMinutes must be between 1 and %d", maxChatSession)
		}
		minutes = *d
	}
	if err := validateChatAttributes("attributes", in.Attributes); err != nil {
		return ChatToken{}, err
	}
	var nonce [12]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return ChatToken{}, fmt.Errorf("ivschat: chat token nonce: %w", err)
	}
	expiry := s.now().UTC().Add(time.Duration(minutes) * time.Minute).Truncate(time.Second)
	claims := ChatClaims{RoomID: room.ID, UserID: in.UserID, Attributes: in.Attributes, Capabilities: caps,
		SessionExpiry: expiry, Nonce: base64.RawURLEncoding.EncodeToString(nonce[:])}
	key, err := s.chatTokenKey(ctx)
	if err != nil {
		return ChatToken{}, err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return ChatToken{}, fmt.Errorf("ivschat: chat token: %w", err)
	}
	// Base64url and dots only: the token travels as a WebSocket
	// subprotocol, which must be an HTTP token (no "/", "+" or "=").
	body := chatTokenPrefix + base64.RawURLEncoding.EncodeToString(payload)
	token := body + "." + base64.RawURLEncoding.EncodeToString(chatMAC(key, body))
	return ChatToken{Token: token, TokenExpirationTime: expiry, SessionExpirationTime: expiry}, nil
}

func chatMAC(key []byte, body string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(body))
	return m.Sum(nil)
}

// OpenChatToken checks a chat token's signature and expiry and returns its
// claims. It does not check that the room still exists, nor that the token
// is used once: the messaging server does.
func (s *Service) OpenChatToken(ctx context.Context, token string) (ChatClaims, error) {
	// The prefix itself holds a dot: the MAC follows the last one.
	i := strings.LastIndexByte(token, '.')
	if !strings.HasPrefix(token, chatTokenPrefix) || i < len(chatTokenPrefix) {
		return ChatClaims{}, ErrBadChatToken
	}
	body, sig := token[:i], token[i+1:]
	// Strict: a token differs from the one signed in every byte that
	// decodes to anything.
	mac, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil {
		return ChatClaims{}, ErrBadChatToken
	}
	key, err := s.chatTokenKey(ctx)
	if err != nil {
		return ChatClaims{}, err
	}
	if !hmac.Equal(mac, chatMAC(key, body)) {
		return ChatClaims{}, ErrBadChatToken
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(strings.TrimPrefix(body, chatTokenPrefix))
	if err != nil {
		return ChatClaims{}, ErrBadChatToken
	}
	var c ChatClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return ChatClaims{}, ErrBadChatToken
	}
	if !s.now().Before(c.SessionExpiry) {
		return ChatClaims{}, ErrChatTokenExpired
	}
	return c, nil
}
