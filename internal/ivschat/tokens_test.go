package ivschat_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/ivschat"
)

// A chat token opens to the claims it was made with, is an HTTP token (it
// travels as a WebSocket subprotocol), differs every time, and refuses any
// change to a byte.
func TestChatTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newService(t)
	room, err := s.CreateRoom(ctx, ivschat.CreateRoomInput{})
	if err != nil {
		t.Fatal(err)
	}
	in := ivschat.CreateChatTokenInput{RoomIdentifier: room.ARN, UserID: "ana", Capabilities: []string{ivschat.CapSendMessage, ivschat.CapSendMessage},
		SessionDurationInMinutes: new(int32(30)), Attributes: map[string]string{"color": "blue"}}
	tok, err := s.CreateChatToken(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9._-]+$`).MatchString(tok.Token) {
		t.Fatalf("token %q is not an HTTP token", tok.Token)
	}
	if d := time.Until(tok.SessionExpirationTime); d < 29*time.Minute || d > 30*time.Minute || !tok.TokenExpirationTime.Equal(tok.SessionExpirationTime) {
		t.Fatalf("expiry %v / %v", tok.TokenExpirationTime, tok.SessionExpirationTime)
	}
	c, err := s.OpenChatToken(ctx, tok.Token)
	if err != nil || c.RoomID != room.ID || c.UserID != "ana" || c.Attributes["color"] != "blue" || !c.Can(ivschat.CapSendMessage) ||
		c.Can(ivschat.CapDeleteMessage) || len(c.Capabilities) != 1 || c.Nonce == "" {
		t.Fatalf("OpenChatToken: %+v, %v", c, err)
	}
	again, _ := s.CreateChatToken(ctx, in)
	if again.Token == tok.Token {
		t.Errorf("two tokens alike")
	}
	for i := range len(tok.Token) {
		b := []byte(tok.Token)
		b[i] ^= 1
		if _, err := s.OpenChatToken(ctx, string(b)); !errors.Is(err, ivschat.ErrBadChatToken) {
			t.Fatalf("byte %d changed: %v", i, err)
		}
	}
	for _, bad := range []string{"", "ct1.", "ct1.x.y", strings.Repeat("a", 300)} {
		if _, err := s.OpenChatToken(ctx, bad); !errors.Is(err, ivschat.ErrBadChatToken) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestCreateChatTokenValidation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newService(t)
	room, err := s.CreateRoom(ctx, ivschat.CreateRoomInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		in    ivschat.CreateChatTokenInput
		code  ivs.Code
		field string
	}{
		{"no user", ivschat.CreateChatTokenInput{RoomIdentifier: room.ARN}, ivs.CodeValidation, "userId"},
		{"long user", ivschat.CreateChatTokenInput{RoomIdentifier: room.ARN, UserID: strings.Repeat("u", 129)}, ivs.CodeValidation, "userId"},
		{"capability", ivschat.CreateChatTokenInput{RoomIdentifier: room.ARN, UserID: "u", Capabilities: []string{"BAN"}}, ivs.CodeValidation, "capabilities"},
		{"session 0", ivschat.CreateChatTokenInput{RoomIdentifier: room.ARN, UserID: "u", SessionDurationInMinutes: new(int32(0))}, ivs.CodeValidation, "sessionDurationInMinutes"},
		{"session 181", ivschat.CreateChatTokenInput{RoomIdentifier: room.ARN, UserID: "u", SessionDurationInMinutes: new(int32(181))}, ivs.CodeValidation, "sessionDurationInMinutes"},
		{"attributes", ivschat.CreateChatTokenInput{RoomIdentifier: room.ARN, UserID: "u", Attributes: map[string]string{"k": strings.Repeat("v", 1024)}}, ivs.CodeValidation, "attributes"},
		{"room ARN", ivschat.CreateChatTokenInput{RoomIdentifier: "nope", UserID: "u"}, ivs.CodeValidation, "roomIdentifier"},
		{"no room", ivschat.CreateChatTokenInput{RoomIdentifier: strings.Replace(room.ARN, room.ID, "abcdABCDefgh", 1), UserID: "u"}, ivs.CodeResourceNotFound, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := s.CreateChatToken(ctx, tc.in)
			wantCode(t, err, tc.code, tc.field)
		})
	}
}

// Chat tokens come from anyone who opens the messaging WebSocket.
func FuzzOpenChatToken(f *testing.F) {
	ctx := context.Background()
	s := newService(f)
	room, err := s.CreateRoom(ctx, ivschat.CreateRoomInput{})
	if err != nil {
		f.Fatal(err)
	}
	tok, err := s.CreateChatToken(ctx, ivschat.CreateChatTokenInput{RoomIdentifier: room.ARN, UserID: "u"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok.Token)
	f.Add("ct1.e30.")
	f.Add("ct1..AAAA")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := s.OpenChatToken(ctx, token)
		if err == nil && (token != tok.Token || c.RoomID != room.ID) {
			t.Fatalf("%q opened to %+v", token, c)
		}
	})
}
