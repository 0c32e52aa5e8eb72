package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ivschat"
	chattypes "github.com/aws/aws-sdk-go-v2/service/ivschat/types"
	"github.com/coder/websocket"

	"github.com/onair-video/onair/internal/chat/chattest"
	"github.com/onair-video/onair/test/e2e/harness"
)

// The aws CLI drives IVS Chat's control plane against the real binary with
// the data dir's credentials: a logging configuration, a room that uses
// it, list, tags, update, the in-use conflict, delete.
func TestChatWithAWSCLI(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	cli := newCLI(t, s)
	var lc struct{ Arn, State string }
	if err := json.Unmarshal(cli.run("ivschat", "create-logging-configuration", "--name", "log",
		"--destination-configuration", `{"s3":{"bucketName":"chat-logs"}}`), &lc); err != nil || lc.State != "ACTIVE" {
		t.Fatalf("create-logging-configuration: %+v, %v", lc, err)
	}
	var room struct {
		Arn                             string
		MaximumMessageLength            int
		LoggingConfigurationIdentifiers []string
	}
	if err := json.Unmarshal(cli.run("ivschat", "create-room", "--name", "lobby", "--maximum-message-length", "200",
		"--logging-configuration-identifiers", lc.Arn, "--tags", "team=a"), &room); err != nil ||
		room.MaximumMessageLength != 200 || len(room.LoggingConfigurationIdentifiers) != 1 {
		t.Fatalf("create-room: %+v, %v", room, err)
	}
	if out := cli.run("ivschat", "list-rooms", "--name", "lobby"); !strings.Contains(string(out), room.Arn) {
		t.Errorf("list-rooms:\n%s", out)
	}
	if out := cli.run("ivschat", "list-tags-for-resource", "--resource-arn", room.Arn); !strings.Contains(string(out), `"team": "a"`) {
		t.Errorf("list-tags-for-resource:\n%s", out)
	}
	if out := cli.run("ivschat", "update-room", "--identifier", room.Arn, "--maximum-message-rate-per-second", "3"); !strings.Contains(string(out), `"maximumMessageRatePerSecond": 3`) {
		t.Errorf("update-room:\n%s", out)
	}
	cli.fail("ConflictException", "is used by room", "ivschat", "delete-logging-configuration", "--identifier", lc.Arn)
	cli.fail("ValidationException", "maximumMessageLength", "ivschat", "create-room", "--maximum-message-length", "501")
	cli.run("ivschat", "delete-room", "--identifier", room.Arn)
	cli.fail("ResourceNotFoundException", "not found", "ivschat", "get-room", "--identifier", room.Arn)
	cli.run("ivschat", "delete-logging-configuration", "--identifier", lc.Arn)
}

func joinChat(t *testing.T, s *harness.Server, token string) *chattest.Peer {
	t.Helper()
	return chattest.Join(t, "ws"+strings.TrimPrefix(s.Endpoint(), "http")+"/chat", token)
}

// The messaging WebSocket of the real binary with tokens from the SDK: a
// message reaches both users; the control plane's SendEvent, DeleteMessage
// and DisconnectUser reach the room; DeleteRoom closes it.
func TestChatMessaging(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	c := chatClient(s)
	ctx := harness.Context(t, 60*time.Second)
	room, err := c.CreateRoom(ctx, &ivschat.CreateRoomInput{Name: aws.String("live")})
	if err != nil {
		t.Fatal(err)
	}
	token := func(user string, caps ...chattypes.ChatTokenCapability) string {
		tok, err := c.CreateChatToken(ctx, &ivschat.CreateChatTokenInput{RoomIdentifier: room.Arn, UserId: aws.String(user), Capabilities: caps})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(tok.Token)
	}
	ana := joinChat(t, s, token("ana", chattypes.ChatTokenCapabilitySendMessage))
	bob := joinChat(t, s, token("bob"))
	body, _ := json.Marshal(map[string]string{"Action": "SEND_MESSAGE", "RequestId": "r1", "Content": "hello"})
	if err := ana.Conn.Write(ctx, websocket.MessageText, body); err != nil {
		t.Fatal(err)
	}
	var msgID string
	for _, p := range []*chattest.Peer{ana, bob} {
		m := p.Next()
		if m["Type"] != "MESSAGE" || m["Content"] != "hello" {
			t.Fatalf("MESSAGE %v", m)
		}
		msgID, _ = m["Id"].(string)
	}
	ev, err := c.SendEvent(ctx, &ivschat.SendEventInput{RoomIdentifier: room.Arn, EventName: aws.String("poll"), Attributes: map[string]string{"q": "A?"}})
	if err != nil {
		t.Fatal(err)
	}
	if m := bob.Next(); m["EventName"] != "poll" || m["Id"] != aws.ToString(ev.Id) {
		t.Fatalf("EVENT %v, SendEvent id %s", m, aws.ToString(ev.Id))
	}
	ana.Next()
	if _, err := c.DeleteMessage(ctx, &ivschat.DeleteMessageInput{RoomIdentifier: room.Arn, Id: aws.String(msgID), Reason: aws.String("oops")}); err != nil {
		t.Fatal(err)
	}
	if m := bob.Next(); m["EventName"] != "aws:DELETE_MESSAGE" {
		t.Fatalf("delete EVENT %v", m)
	}
	ana.Next()
	if _, err := c.DisconnectUser(ctx, &ivschat.DisconnectUserInput{RoomIdentifier: room.Arn, UserId: aws.String("bob"), Reason: aws.String("bye")}); err != nil {
		t.Fatal(err)
	}
	if m := bob.Next(); m["EventName"] != "aws:DISCONNECT_USER" {
		t.Fatalf("disconnect EVENT %v", m)
	}
	if code := bob.Closed(); code != websocket.StatusNormalClosure {
		t.Fatalf("bob closed with %v", code)
	}
	ana.Next()
	if _, err := c.DeleteRoom(ctx, &ivschat.DeleteRoomInput{Identifier: room.Arn}); err != nil {
		t.Fatal(err)
	}
	if code := ana.Closed(); code != websocket.StatusNormalClosure {
		t.Fatalf("ana closed with %v after DeleteRoom", code)
	}
}

func chatClient(s *harness.Server) *ivschat.Client {
	return ivschat.New(ivschat.Options{Region: s.Region, BaseEndpoint: aws.String(s.Endpoint()),
		Credentials: credentials.NewStaticCredentialsProvider(s.AccessKeyID, s.SecretAccessKey, "")})
}

// IVS's own client library for browsers and Node (amazon-ivs-chat-messaging,
// web/e2e/chat.mjs under node:test) against the real binary, with a token
// endpoint that mints tokens through the SDK as an app's backend does. It is
// a devDependency: what proves onair compatible with IVS's client, never
// part of what onair ships.
func TestChatWithIVSClientLibrary(t *testing.T) {
	t.Parallel()
	chatScript(t, "e2e/chat.mjs", "amazon-ivs-chat-messaging", 2)
}

// onair's own chat client (web/src/chatclient.ts, which the console and the
// player page ship; web/e2e/chatclient.mjs under node:test) against the real
// binary: the exchange of TestChatWithIVSClientLibrary, IVS's error codes,
// timeouts, lost and refused connections, and the refresh with a fresh
// token before the session ends.
func TestChatWithOnairClient(t *testing.T) {
	t.Parallel()
	chatScript(t, "e2e/chatclient.mjs", "typescript", 6)
}

// chatScript runs a node:test script of web/ (which needs the package
// named needs in web/node_modules) against the real binary, with two rooms
// ("main": 50 code points, 100 messages a second; "slow": 1 a second), a
// token endpoint and a WebSocket server that never answers, and checks
// that its tests all pass.
func chatScript(t *testing.T, script, needs string, tests int) {
	t.Helper()
	root := harness.Root(t)
	node := harness.RequireProgram(t, "node")
	if _, err := os.Stat(filepath.Join(root, "web", "node_modules", needs)); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("web/node_modules is missing under CI: make test installs it (%v)", err)
		}
		t.Skipf("web/node_modules missing: run make test (or npm ci in web/) first")
	}
	s := harness.Start(t)
	c := chatClient(s)
	ctx := harness.Context(t, 90*time.Second)
	rooms := map[string]*string{}
	for name, in := range map[string]*ivschat.CreateRoomInput{
		"main": {MaximumMessageLength: aws.Int32(50), MaximumMessageRatePerSecond: aws.Int32(100)},
		"slow": {MaximumMessageRatePerSecond: aws.Int32(1)},
	} {
		r, err := c.CreateRoom(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		rooms[name] = r.Arn
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var caps []chattypes.ChatTokenCapability
		for _, cp := range strings.Split(q.Get("caps"), ",") {
			if cp != "" {
				caps = append(caps, chattypes.ChatTokenCapability(cp))
			}
		}
		user := q.Get("user")
		tok, err := c.CreateChatToken(r.Context(), &ivschat.CreateChatTokenInput{RoomIdentifier: rooms[q.Get("room")], UserId: aws.String(user),
			Capabilities: caps, Attributes: map[string]string{"display": strings.ToUpper(user)}})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"token": aws.ToString(tok.Token),
			"sessionExpirationTime": tok.SessionExpirationTime.Format(time.RFC3339),
			"tokenExpirationTime":   tok.TokenExpirationTime.Format(time.RFC3339)})
	})
	// A chat server that accepts any token and never answers (a client's
	// timeout), or closes at once with the code ?close= gives.
	mux.HandleFunc("/silent", func(w http.ResponseWriter, r *http.Request) {
		var protos []string
		for _, p := range strings.Split(r.Header.Get("Sec-WebSocket-Protocol"), ",") {
			protos = append(protos, strings.TrimSpace(p))
		}
		conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: protos})
		if err != nil {
			return
		}
		if code, err := strconv.Atoi(r.URL.Query().Get("close")); err == nil {
			_ = conn.Close(websocket.StatusCode(code), "closed by the test")
			return
		}
		for {
			if _, _, err := conn.Read(r.Context()); err != nil {
				return
			}
		}
	})
	servers := httptest.NewServer(mux)
	t.Cleanup(servers.Close)
	var args []string
	if nodeMajor(t, node) < 22 {
		args = append(args, "--experimental-websocket") // Node 22 has WebSocket by default
	}
	args = append(args, "--test", script)
	p := harness.StartProcessIn(t, filepath.Join(root, "web"), []string{
		"CHAT_URL=ws" + strings.TrimPrefix(s.Endpoint(), "http") + "/chat", "TOKEN_URL=" + servers.URL + "/token",
		"SILENT_URL=ws" + strings.TrimPrefix(servers.URL, "http") + "/silent"}, node, args...)
	if err := p.Wait(60 * time.Second); err != nil {
		t.Fatalf("node --test %s: %v\n%s", script, err, p.Output())
	}
	if out := p.Output(); !strings.Contains(out, fmt.Sprintf("# pass %d", tests)) || !strings.Contains(out, "# fail 0") {
		t.Fatalf("node:test did not pass all %d tests:\n%s", tests, out)
	}
}

// nodeMajor is node's major version.
func nodeMajor(t *testing.T, node string) int {
	t.Helper()
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	major, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(string(out)), "v"), ".")
	n, err := strconv.Atoi(major)
	if err != nil {
		t.Fatalf("node --version: %q", out)
	}
	return n
}
