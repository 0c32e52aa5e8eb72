package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/ivs"
	chatsdk "github.com/aws/aws-sdk-go-v2/service/ivschat"

	messaging "github.com/onair-video/onair/internal/chat"
	"github.com/onair-video/onair/internal/chat/chattest"
	"github.com/onair-video/onair/internal/playback"
)

// viewerChat posts to a channel's chat-token endpoint and decodes the
// answer: the token, or the AWS error type and message.
func (e *env) viewerChat(channelID, query, body string) (viewerChatOutput, int, string) {
	e.t.Helper()
	res, err := http.Post(e.srv.URL+"/v1/channels/"+channelID+"/chat-token"+query, "application/json", strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var out viewerChatOutput
	if res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &out); err != nil {
			e.t.Fatalf("%s: %v", b, err)
		}
		return out, res.StatusCode, ""
	}
	return out, res.StatusCode, res.Header.Get("x-amzn-ErrorType") + ": " + string(b)
}

// The player page's chat tokens: a channel without a linked room has
// none; a linked room's reader token cannot send, a named viewer's can and
// shows the name; the userId follows the page's key; bad input, private
// channels, a deleted room and a flood are refused in AWS's error shape.
func TestViewerChatToken(t *testing.T) {
	t.Parallel()
	var (
		msg  *messaging.Server
		auth *playback.Authorizer
	)
	e := newEnvWith(t, func(c *Config) {
		auth = playback.New(c.Service, nil)
		c.Playback = auth
		msg = messaging.New(messaging.Config{Rooms: c.ChatService})
		c.Chat = msg
	})
	chatSrv := httptest.NewServer(msg)
	t.Cleanup(chatSrv.Close)
	t.Cleanup(msg.Close)
	wsURL := "ws" + strings.TrimPrefix(chatSrv.URL, "http")
	ctx := t.Context()
	ch, _ := e.createChannel("show")
	id := aws.ToString(ch.Arn)[strings.LastIndexByte(aws.ToString(ch.Arn), '/')+1:]

	if _, st, msg := e.viewerChat(id, "", ""); st != 404 || !strings.Contains(msg, "ResourceNotFoundException") || !strings.Contains(msg, TagChatRoom) {
		t.Fatalf("no room linked: %d %s", st, msg)
	}
	if _, st, msg := e.viewerChat("nochannel123", "", ""); st != 404 || !strings.Contains(msg, "no such channel") {
		t.Fatalf("no such channel: %d %s", st, msg)
	}
	room, err := e.chat().CreateRoom(ctx, &chatsdk.CreateRoomInput{Name: aws.String("show-chat")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.TagResource(ctx, &sdk.TagResourceInput{ResourceArn: ch.Arn, Tags: map[string]string{TagChatRoom: aws.ToString(room.Arn)}}); err != nil {
		t.Fatal(err)
	}

	reader, st, m := e.viewerChat(id, "", "")
	if st != 200 || reader.Token == "" || reader.RoomARN != aws.ToString(room.Arn) || !strings.HasPrefix(reader.UserID, "viewer-") ||
		reader.SessionExpirationTime.IsZero() {
		t.Fatalf("reader token: %d %+v %s", st, reader, m)
	}
	r := chattest.Join(t, wsURL, reader.Token)
	r.Send(map[string]any{"Action": "SEND_MESSAGE", "RequestId": "r1", "Content": "hi"})
	if f := r.Next(); f["Type"] != "ERROR" || f["ErrorCode"] != float64(403) {
		t.Fatalf("a reader sent: %v", f)
	}

	const key = "0123456789abcdef-page-key"
	ana, st, m := e.viewerChat(id, "", `{"displayName":" Ana ","viewerKey":"`+key+`"}`)
	if st != 200 {
		t.Fatalf("named token: %d %s", st, m)
	}
	again, _, _ := e.viewerChat(id, "", `{"displayName":"Ana B","viewerKey":"`+key+`"}`)
	other, _, _ := e.viewerChat(id, "", `{"displayName":"Ana","viewerKey":"another-key-of-16+"}`)
	if again.UserID != ana.UserID || other.UserID == ana.UserID || ana.UserID == reader.UserID {
		t.Fatalf("userIds: %s, same key %s, other key %s", ana.UserID, again.UserID, other.UserID)
	}
	a := chattest.Join(t, wsURL, ana.Token)
	a.Send(map[string]any{"Action": "SEND_MESSAGE", "RequestId": "a1", "Content": "hello"})
	for _, p := range []*chattest.Peer{a, r} {
		f := p.Next()
		if f["Type"] != "MESSAGE" || f["Content"] != "hello" || chattest.Str(f, "Sender", "UserId") != ana.UserID ||
			chattest.Str(f, "Sender", "Attributes", "displayName") != "Ana" || chattest.Str(f, "Sender", "Attributes", "role") != "viewer" {
			t.Fatalf("the named viewer's message: %v", f)
		}
	}

	for name, body := range map[string]string{
		"long name":   `{"displayName":"` + strings.Repeat("n", maxDisplayName+1) + `"}`,
		"control":     `{"displayName":"a\u0007b"}`,
		"short key":   `{"viewerKey":"short"}`,
		"not JSON":    `displayName=ana`,
		"over 1 KB":   `{"displayName":"` + strings.Repeat(" ", 2000) + `a"}`,
		"wrong types": `{"displayName":5}`,
	} {
		if _, st, msg := e.viewerChat(id, "", body); st != 400 || !strings.Contains(msg, "ValidationException") {
			t.Errorf("%s: %d %s", name, st, msg)
		}
	}

	// A private channel's chat needs what its video does. (A second
	// channel: the SDK cannot set authorized back to false.)
	priv, err := e.client.CreateChannel(ctx, &sdk.CreateChannelInput{Name: aws.String("private"), Authorized: true,
		Tags: map[string]string{TagChatRoom: aws.ToString(room.Arn)}})
	if err != nil {
		t.Fatal(err)
	}
	privID := aws.ToString(priv.Channel.Arn)[strings.LastIndexByte(aws.ToString(priv.Channel.Arn), '/')+1:]
	if _, st, msg := e.viewerChat(privID, "", ""); st != 403 || !strings.Contains(msg, "AccessDeniedException") || !strings.Contains(msg, "playback token") {
		t.Fatalf("private channel without a token: %d %s", st, msg)
	}
	if _, st, msg := e.viewerChat(privID, "?token=forged.jwt.x", ""); st != 403 {
		t.Fatalf("private channel with a forged token: %d %s", st, msg)
	}
	cred, err := auth.Seal(ctx, privID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, st, msg := e.viewerChat(privID, "?token="+cred, ""); st != 200 {
		t.Fatalf("private channel with a playback session: %d %s", st, msg)
	}

	if _, err := e.chat().DeleteRoom(ctx, &chatsdk.DeleteRoomInput{Identifier: room.Arn}); err != nil {
		t.Fatal(err)
	}
	if _, st, msg := e.viewerChat(id, "", ""); st != 404 || !strings.Contains(msg, "no longer exists") {
		t.Fatalf("deleted room: %d %s", st, msg)
	}

	// The budget (20, one more every 3 s) runs out for this address.
	throttled := false
	for range 25 {
		if _, st, msg := e.viewerChat(id, "", ""); st == 429 && strings.Contains(msg, "ThrottlingException") {
			throttled = true
			break
		}
	}
	if !throttled {
		t.Fatal("25 more tokens from one address were not throttled")
	}

	// A browser on another origin may ask.
	req, _ := http.NewRequest(http.MethodOptions, e.srv.URL+"/v1/channels/"+id+"/chat-token", nil)
	req.Header.Set("Origin", "https://fan.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 204 || res.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "Content-Type") {
		t.Fatalf("preflight: %d %v", res.StatusCode, res.Header)
	}
}
