package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/onair-video/onair/test/e2e/harness"
)

// stageMsg is a message of the stage events WebSocket
// (docs/stage-events.md).
type stageMsg struct {
	Type    string `json:"type"`
	Payload struct {
		// STAGE_STATE
		SequenceNumber int64  `json:"sequenceNumber"`
		StageID        string `json:"stageId"`
		Participants   []struct {
			ID           string            `json:"id"`
			UserID       string            `json:"userId"`
			Attributes   map[string]string `json:"attributes"`
			IsPublishing bool              `json:"isPublishing"`
		} `json:"participants"`
		Disconnected []struct{ ID, Status string } `json:"disconnected"`
		// aws:ivs:DISCONNECT, aws:ivs:JOIN_ERROR
		Code    string `json:"code"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"payload"`
}

// roster is a STAGE_STATE's participant ids, in its order.
func (m stageMsg) roster() []string {
	ids := []string{}
	for _, p := range m.Payload.Participants {
		ids = append(ids, p.ID)
	}
	return ids
}

// stageClient is a participant's events WebSocket, opened as the web SDK
// opens it.
type stageClient struct {
	t   *testing.T
	ws  *websocket.Conn
	seq int64
}

// dialStage opens eventsURL with token as the subprotocol over HTTPS
// trusting the data dir's certificate.
func dialStage(ctx context.Context, hc *http.Client, eventsURL, stageID, token string) (*websocket.Conn, error) {
	u := eventsURL + "?error_over_ws=1&topic=" + url.QueryEscape(stageID+"/publishers") + "&traceid=e2e"
	ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: hc, Subprotocols: []string{token}})
	return ws, err
}

// read returns the next message.
func (c *stageClient) read(ctx context.Context) (stageMsg, error) {
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		return stageMsg{}, err
	}
	var m stageMsg
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%w: %s", err, b)
	}
	if m.Type == "STAGE_STATE" {
		if m.Payload.SequenceNumber <= c.seq {
			return m, fmt.Errorf("STAGE_STATE sequenceNumber %d after %d", m.Payload.SequenceNumber, c.seq)
		}
		c.seq = m.Payload.SequenceNumber
	}
	return m, nil
}

// waitState reads until a STAGE_STATE whose roster is want.
func (c *stageClient) waitState(ctx context.Context, want ...string) stageMsg {
	c.t.Helper()
	for {
		m, err := c.read(ctx)
		if err != nil {
			c.t.Fatalf("waiting for a STAGE_STATE with %v: %v", want, err)
		}
		if m.Type == "STAGE_STATE" && slices.Equal(m.roster(), want) {
			return m
		}
	}
}

// waitType reads until a message of type typ, then expects the socket
// to close when closes.
func (c *stageClient) waitType(ctx context.Context, typ string) stageMsg {
	c.t.Helper()
	for {
		m, err := c.read(ctx)
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", typ, err)
		}
		if m.Type == typ {
			return m
		}
	}
}

// waitClosed reads until the server closes the socket.
func (c *stageClient) waitClosed(ctx context.Context) websocket.StatusCode {
	c.t.Helper()
	for {
		if _, err := c.read(ctx); err != nil {
			if code := websocket.CloseStatus(err); code != -1 {
				return code
			}
			c.t.Fatalf("waiting for the close: %v", err)
		}
	}
}

// The stage events WebSocket of the real binary, at the endpoints.events
// GetStage gives (wss:// on the HTTPS listener), with tokens from the aws
// CLI: participants see each other in STAGE_STATE, the API shows the
// session, the participants and their events; disconnect-participant
// reaches the client as aws:ivs:DISCONNECT and revokes its token;
// expired, forged and malformed tokens get JOIN_ERROR; a self-signed
// token joins and is exchanged (TOKEN_EXCHANGED); the last leave ends
// the session; delete-stage sends STAGE_DELETED.
func TestStageEventsWebSocket(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	cli := newCLI(t, s)
	rt := cli.realtime
	ctx := harness.Context(t, 3*time.Minute)
	hc := s.HTTPSClient(t)

	var created struct{ Stage struct{ Arn string } }
	rt(&created, "create-stage", "--name", "events")
	arn := created.Stage.Arn
	var got struct {
		Stage struct {
			ActiveSessionID string `json:"activeSessionId"`
			Endpoints       map[string]string
		}
	}
	rt(&got, "get-stage", "--arn", arn)
	stageID, events := arn[strings.LastIndex(arn, "/")+1:], got.Stage.Endpoints["events"]
	if events != "wss://"+s.Addrs["https"]+"/stage/events" {
		t.Fatalf("endpoints.events = %q", events)
	}
	type token struct{ ParticipantID, Token, UserID string }
	newToken := func(user string, attrs string) token {
		var pt struct{ ParticipantToken token }
		rt(&pt, "create-participant-token", "--stage-arn", arn, "--user-id", user, "--attributes", attrs)
		return pt.ParticipantToken
	}
	alice, bob := newToken("alice", "role=host"), newToken("bob", "role=guest")
	join := func(tok token) *stageClient {
		t.Helper()
		ws, err := dialStage(ctx, hc, events, stageID, tok.Token)
		if err != nil {
			t.Fatalf("join %s: %v", tok.UserID, err)
		}
		ws.SetReadLimit(1 << 20)
		t.Cleanup(func() { _ = ws.CloseNow() })
		return &stageClient{t: t, ws: ws}
	}

	// Both join and see each other, with their user ids and attributes.
	a := join(alice)
	a.waitState(ctx, alice.ParticipantID)
	b := join(bob)
	for _, c := range []*stageClient{a, b} {
		m := c.waitState(ctx, alice.ParticipantID, bob.ParticipantID)
		p := m.Payload.Participants
		if m.Payload.StageID != stageID || p[0].UserID != "alice" || p[0].Attributes["role"] != "host" ||
			p[1].UserID != "bob" || p[1].Attributes["role"] != "guest" {
			t.Fatalf("STAGE_STATE %+v", m.Payload)
		}
	}

	// The API shows the session, both CONNECTED, each with a JOINED event
	// (recorded off the socket's goroutine: waited for).
	type participant struct{ ParticipantID, UserID, State string }
	var session1 string
	participants := func(sessionID string) map[string]participant {
		var ps struct{ Participants []participant }
		rt(&ps, "list-participants", "--stage-arn", arn, "--session-id", sessionID)
		m := map[string]participant{}
		for _, p := range ps.Participants {
			m[p.ParticipantID] = p
		}
		return m
	}
	eventNames := func(sessionID, id string) []string {
		var es struct{ Events []struct{ Name string } }
		rt(&es, "list-participant-events", "--stage-arn", arn, "--session-id", sessionID, "--participant-id", id)
		names := []string{}
		for _, e := range es.Events {
			names = append(names, e.Name)
		}
		return names
	}
	harness.Eventually(t, 30*time.Second, func() error {
		rt(&got, "get-stage", "--arn", arn)
		if session1 = got.Stage.ActiveSessionID; session1 == "" {
			return errors.New("no active session")
		}
		ps := participants(session1)
		for _, tok := range []token{alice, bob} {
			if p := ps[tok.ParticipantID]; p.State != "CONNECTED" || p.UserID != tok.UserID {
				return fmt.Errorf("participant %s: %+v", tok.UserID, p)
			}
			if ev := eventNames(session1, tok.ParticipantID); !slices.Equal(ev, []string{"JOINED"}) {
				return fmt.Errorf("%s's events: %v", tok.UserID, ev)
			}
		}
		return nil
	})
	var ss struct {
		StageSession struct {
			SessionID string
			EndTime   *string
		}
	}
	rt(&ss, "get-stage-session", "--stage-arn", arn, "--session-id", session1)
	if ss.StageSession.SessionID != session1 || ss.StageSession.EndTime != nil {
		t.Fatalf("get-stage-session: %+v", ss.StageSession)
	}

	// disconnect-participant: alice is told why and closed, bob sees her
	// leave (KICKED); she is DISCONNECTED with a LEFT event.
	rt(nil, "disconnect-participant", "--stage-arn", arn, "--participant-id", alice.ParticipantID, "--reason", "bye now")
	m := a.waitType(ctx, "aws:ivs:DISCONNECT")
	if m.Payload.Code != "PARTICIPANT_DISCONNECTED" || m.Payload.Reason != "bye now" {
		t.Fatalf("DISCONNECT %+v", m.Payload)
	}
	if code := a.waitClosed(ctx); code != websocket.StatusNormalClosure {
		t.Errorf("close code %d", code)
	}
	m = b.waitState(ctx, bob.ParticipantID)
	if len(m.Payload.Disconnected) != 1 || m.Payload.Disconnected[0].ID != alice.ParticipantID || m.Payload.Disconnected[0].Status != "KICKED" {
		t.Errorf("disconnected[] = %+v", m.Payload.Disconnected)
	}
	if p := participants(session1)[alice.ParticipantID]; p.State != "DISCONNECTED" {
		t.Errorf("alice after disconnect-participant: %+v", p)
	}
	if ev := eventNames(session1, alice.ParticipantID); !slices.Equal(ev, []string{"JOINED", "LEFT"}) {
		t.Errorf("alice's events: %v", ev)
	}

	// Refused joins: alice's revoked token, an expired self-signed token,
	// a forged one, garbage.
	priv, kid := importStageKey(t, cli)
	sign := func(key *ecdsa.PrivateKey, jti string, exp time.Time) string {
		return signStageToken(t, jwt.SigningMethodES384, key, kid, arn, jti, exp)
	}
	forger, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	refused := func(name, tok, want string) {
		t.Helper()
		ws, err := dialStage(ctx, hc, events, stageID, tok)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer func() { _ = ws.CloseNow() }()
		c := &stageClient{t: t, ws: ws}
		if m := c.waitType(ctx, "aws:ivs:JOIN_ERROR"); m.Payload.Code != want {
			t.Errorf("%s: JOIN_ERROR %+v, want %s", name, m.Payload, want)
		}
		if code := c.waitClosed(ctx); code != websocket.StatusPolicyViolation {
			t.Errorf("%s: close code %d", name, code)
		}
	}
	refused("revoked", alice.Token, "PARTICIPANT_DISCONNECTED")
	refused("expired", sign(priv, "old", time.Now().Add(-time.Second)), "TOKEN_EXPIRED")
	refused("forged", sign(forger, "forged", time.Now().Add(time.Hour)), "TOKEN_INVALID_SIGNATURE")
	refused("garbage", "not-a-token", "TOKEN_INVALID")
	// A valid self-signed token joins.
	carolToken := sign(priv, "carol_1", time.Now().Add(time.Hour))
	carol := join(token{ParticipantID: "carol_1", Token: carolToken})
	carol.waitState(ctx, bob.ParticipantID, "carol_1")
	b.waitState(ctx, bob.ParticipantID, "carol_1")
	// Carol exchanges her token for one with other attributes: the
	// exchange is answered without error, everyone's roster has the new
	// attributes, and the API records TOKEN_EXCHANGED.
	exchanged := signStageToken(t, jwt.SigningMethodES384, priv, kid, arn, "carol_1", time.Now().Add(time.Hour),
		jwt.MapClaims{"attributes": map[string]string{"seat": "2"}})

	req, _ := json.Marshal(map[string]any{"type": "aws:ivs:EXCHANGE_TOKEN", "payload": map[string]string{
		"oldToken": carolToken, "newToken": exchanged, "requestId": "r1", "traceId": "t1"}})
	if err := carol.ws.Write(ctx, websocket.MessageText, req); err != nil {
		t.Fatal(err)
	}
	var reply struct {
		Payload struct {
			RequestID string          `json:"requestId"`
			Error     json.RawMessage `json:"error"`
		}
	}
	for {
		_, raw, err := carol.ws.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for the EXCHANGE_TOKEN reply: %v", err)
		}
		if strings.Contains(string(raw), `"aws:ivs:EXCHANGE_TOKEN"`) {
			if err := json.Unmarshal(raw, &reply); err != nil || reply.Payload.RequestID != "r1" || len(reply.Payload.Error) != 0 {
				t.Fatalf("EXCHANGE_TOKEN reply %s", raw)
			}
			break
		}
	}
	for {
		m := b.waitState(ctx, bob.ParticipantID, "carol_1")
		if m.Payload.Participants[1].Attributes["seat"] == "2" {
			break
		}
	}
	harness.Eventually(t, 30*time.Second, func() error {
		if ev := eventNames(session1, "carol_1"); !slices.Equal(ev, []string{"JOINED", "TOKEN_EXCHANGED"}) {
			return fmt.Errorf("carol's events: %v", ev)
		}
		return nil
	})

	// The last leaves (closing their sockets): the session ends.
	carol.ws.Close(websocket.StatusNormalClosure, "")
	b.waitState(ctx, bob.ParticipantID)
	b.ws.Close(websocket.StatusNormalClosure, "")
	harness.Eventually(t, 30*time.Second, func() error {
		rt(&ss, "get-stage-session", "--stage-arn", arn, "--session-id", session1)
		if ss.StageSession.EndTime == nil {
			return errors.New("session not ended")
		}
		if p := participants(session1)[bob.ParticipantID]; p.State != "DISCONNECTED" {
			return fmt.Errorf("bob: %+v", p)
		}
		return nil
	})
	if ev := eventNames(session1, bob.ParticipantID); !slices.Equal(ev, []string{"JOINED", "LEFT"}) {
		t.Errorf("bob's events: %v", ev)
	}

	// A new session; delete-stage tells everyone STAGE_DELETED.
	b = join(bob)
	b.waitState(ctx, bob.ParticipantID)
	dave := newToken("dave", "a=b")
	d := join(dave)
	d.waitState(ctx, bob.ParticipantID, dave.ParticipantID)
	harness.Eventually(t, 30*time.Second, func() error {
		rt(&got, "get-stage", "--arn", arn)
		if got.Stage.ActiveSessionID == "" || got.Stage.ActiveSessionID == session1 {
			return fmt.Errorf("active session %q", got.Stage.ActiveSessionID)
		}
		if p := participants(got.Stage.ActiveSessionID)[dave.ParticipantID]; p.State != "CONNECTED" {
			return fmt.Errorf("dave: %+v", p)
		}
		return nil
	})
	rt(nil, "delete-stage", "--arn", arn)
	for _, c := range []*stageClient{b, d} {
		if m := c.waitType(ctx, "aws:ivs:DISCONNECT"); m.Payload.Code != "STAGE_DELETED" {
			t.Errorf("DISCONNECT %+v, want STAGE_DELETED", m.Payload)
		}
		c.waitClosed(ctx)
	}
	cli.fail("ResourceNotFoundException", "", "ivs-realtime", "get-stage", "--arn", arn)
	refused("deleted stage", bob.Token, "STAGE_DELETED")
	if strings.Contains(s.Logs(), "level=ERROR") {
		t.Errorf("the server logged errors:\n%s", s.Logs())
	}
}

// IVS's own Stage client (amazon-ivs-web-broadcast 1.41.0, unmodified) in
// Chromium (web/e2e/stage.mjs), media and all: two pages with tokens from
// CreateStage and CreateParticipantToken, following the token's
// events_url and whip_url to onair's HTTPS listener, publish their fake
// camera and microphone and each decodes the other's video (framesDecoded
// grows, the <video> has real pixels); a third, SUBSCRIBE only, decodes
// both and sends nothing; a mute reaches the others; the API shows who
// published; DisconnectParticipant makes one leave with
// participant-disconnected and the others see it leave; DeleteStage makes
// the rest leave with stage-deleted.
func TestStageSDKInBrowser(t *testing.T) {
	t.Parallel()
	root, _ := browserTest(t)
	if _, err := os.Stat(filepath.Join(root, "web/node_modules/amazon-ivs-web-broadcast/dist/amazon-ivs-web-broadcast.js")); err != nil {
		t.Skipf("amazon-ivs-web-broadcast not installed (npm ci in web/): %v", err)
	}
	s := harness.Start(t)
	browserScript(t, s, "e2e/stage.mjs", 5*time.Minute, []string{"80", "81", "82", "83", "84", "85"},
		"ONAIR_URL="+s.Endpoint(), "ONAIR_AKID="+s.AccessKeyID, "ONAIR_SECRET="+s.SecretAccessKey, "TLS_SPKI="+s.TLSPublicKeyHash(t))
}

// TestStagePageInBrowser drives onair's own stage page (/stages/join,
// web/src/stage.ts) in Chromium (web/e2e/stagepage.mjs): two publishing
// participants decode each other's video, a SUBSCRIBE-only one both, a mute
// reaches the others' roster, a participant on IVS's own SDK and the page
// see each other, DisconnectParticipant and DeleteStage end the pages with
// their reason.
func TestStagePageInBrowser(t *testing.T) {
	t.Parallel()
	root, _ := browserTest(t)
	if _, err := os.Stat(filepath.Join(root, "web/node_modules/amazon-ivs-web-broadcast/dist/amazon-ivs-web-broadcast.js")); err != nil {
		t.Skipf("amazon-ivs-web-broadcast not installed (npm ci in web/): %v", err)
	}
	s := harness.Start(t)
	browserScript(t, s, "e2e/stagepage.mjs", 5*time.Minute, []string{"86", "87", "88", "89"},
		"ONAIR_URL="+s.Endpoint(), "ONAIR_AKID="+s.AccessKeyID, "ONAIR_SECRET="+s.SecretAccessKey, "TLS_SPKI="+s.TLSPublicKeyHash(t))
}

// TestStageSDKFeaturesInBrowser runs IVS's own Stage client in Chromium
// (web/e2e/stagesdk.mjs) for what a stage app uses beyond joining:
// simulcast from the SDK (three layers with their sizes through the SDK's
// layer API, the lowest and highest initial layer, switching), the
// playback controls Link (AUDIO_ONLY pauses the video, AUDIO_VIDEO resumes
// it) and the session-delete beacon of an unloading page. Then the aws CLI
// reads the participants' client fields (browser, OS, SDK, protocol).
func TestStageSDKFeaturesInBrowser(t *testing.T) {
	t.Parallel()
	root, _ := browserTest(t)
	if _, err := os.Stat(filepath.Join(root, "web/node_modules/amazon-ivs-web-broadcast/dist/amazon-ivs-web-broadcast.js")); err != nil {
		t.Skipf("amazon-ivs-web-broadcast not installed (npm ci in web/): %v", err)
	}
	s := harness.Start(t)
	out := filepath.Join(t.TempDir(), "stage.json")
	browserScript(t, s, "e2e/stagesdk.mjs", 6*time.Minute, []string{"60", "61"},
		"ONAIR_URL="+s.Endpoint(), "ONAIR_AKID="+s.AccessKeyID, "ONAIR_SECRET="+s.SecretAccessKey, "TLS_SPKI="+s.TLSPublicKeyHash(t),
		"STAGE_OUT="+out)

	// What the SDK's Chromium told of itself: its User-Agent (events
	// WebSocket and WHIP), its X-Stages-SDK (WHIP), the protocol.
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var ids struct{ StageArn, SessionID, Alice, Bob, Carol string }
	if err := json.Unmarshal(b, &ids); err != nil {
		t.Fatal(err)
	}
	cli := newCLI(t, s)
	version := regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$`)
	for _, id := range []string{ids.Alice, ids.Bob, ids.Carol} {
		var got struct{ Participant map[string]any }
		cli.realtime(&got, "get-participant", "--stage-arn", ids.StageArn, "--session-id", ids.SessionID, "--participant-id", id)
		p := got.Participant
		bv, _ := p["browserVersion"].(string)
		if p["browserName"] != "Chrome Headless" || !version.MatchString(bv) || p["osName"] != "Linux" || p["sdkVersion"] != "1.41.0" ||
			p["protocol"] != "WHIP" || p["osVersion"] != nil || p["ispName"] != nil {
			t.Errorf("get-participant %s: %v", id, p)
		}
	}
	var list struct{ Participants []map[string]any }
	cli.realtime(&list, "list-participants", "--stage-arn", ids.StageArn, "--session-id", ids.SessionID)
	if len(list.Participants) != 4 { // and dave, a plain WHIP subscriber
		t.Errorf("list-participants: %v", list.Participants)
	}
	t.Logf("participants: %v", list.Participants)
}
