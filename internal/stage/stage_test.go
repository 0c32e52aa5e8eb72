package stage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Two participants see each other join, in STAGE_STATEs whose numbers
// increase; the second joins by the aiortc sample's URL (…/events/<topic>).
func TestJoinStageState(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Limits{})
	ta := e.auth.add("partA", map[string]string{"name": "a"})
	tb := e.auth.add("partB", nil)
	a, first := e.join(ta)
	if got := ids(first); !slices.Equal(got, []string{"partA"}) || first.SequenceNumber <= 0 || first.StageID != testTopic {
		t.Fatalf("first state %+v", first)
	}
	pa, _ := find(first, "partA")
	if pa.UserID != "user-partA" || pa.Attributes["name"] != "a" || pa.IsPublishing || pa.AudioMuted || pa.VideoStopped {
		t.Fatalf("own entry %+v", pa)
	}
	b := e.dial(e.url+"/"+testTopic, tb)
	sb := b.state(func(st stageState) bool { return len(st.Participants) == 2 })
	sa := a.state(func(st stageState) bool { return len(st.Participants) == 2 })
	if sa.SequenceNumber <= first.SequenceNumber || sa.SequenceNumber != sb.SequenceNumber {
		t.Fatalf("sequence numbers: first %d, A %d, B %d", first.SequenceNumber, sa.SequenceNumber, sb.SequenceNumber)
	}
	if pb, _ := find(sa, "partB"); pb.Attributes == nil {
		t.Fatal("attributes must be an object, never null")
	}
	// B leaves: A sees it gone.
	_ = b.ws.Close(websocket.StatusNormalClosure, "")
	a.state(func(st stageState) bool { return slices.Equal(ids(st), []string{"partA"}) })
	_ = a.ws.Close(websocket.StatusNormalClosure, "")
	eventually(t, 10*time.Second, "left last", func() bool { return e.life.has("left partA closed last=true") })
	want := []string{"joined partA first=true", "joined partB first=false", "left partB closed last=false", "left partA closed last=true"}
	if got := e.life.snapshot(); !slices.Equal(got, want) {
		t.Fatalf("lifecycle %q, want %q", got, want)
	}
}

func TestPingPong(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Limits{})
	c, _ := e.join(e.auth.add("p", nil))
	c.send(map[string]any{"type": "PING"})
	if m := c.next(typePong); len(m.Payload) != 0 {
		t.Fatalf("V1 PONG has a payload: %s", m.Payload)
	}
	c.send(map[string]any{"type": "PING", "payload": map[string]string{"requestId": "r1", "traceId": "t1"}})
	var r reply
	if err := json.Unmarshal(c.next(typePong).Payload, &r); err != nil || r.RequestID != "r1" || r.TraceID != "t1" {
		t.Fatalf("V2 PONG %+v %v", r, err)
	}
}

// SET_STATE (V1) and aws:ivs:SET_STATE (V2, acknowledged) reach the other
// participant's STAGE_STATE.
func TestSetState(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Limits{})
	a, _ := e.join(e.auth.add("a", nil))
	b, _ := e.join(e.auth.add("b", nil))
	a.state(func(st stageState) bool { return len(st.Participants) == 2 })

	b.send(map[string]any{"audioMuted": true, "type": "SET_STATE", "version": "0", "videoStopped": false})
	a.state(func(st stageState) bool { p, _ := find(st, "b"); return p.AudioMuted && !p.VideoStopped })

	b.send(map[string]any{"type": "aws:ivs:SET_STATE", "payload": map[string]any{"audioMuted": false, "videoStopped": true, "requestId": "req-7", "traceId": "tr"}})
	var r reply
	if err := json.Unmarshal(b.next(typeSetStateV2).Payload, &r); err != nil || r.RequestID != "req-7" || r.Error != nil {
		t.Fatalf("ack %+v %v", r, err)
	}
	a.state(func(st stageState) bool { p, _ := find(st, "b"); return !p.AudioMuted && p.VideoStopped })
}

// Each refused join reaches the client as its JOIN_ERROR code, or as an
// HTTP status without error_over_ws.
func TestJoinErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Limits{})
	e.auth.errs["expired"] = ErrTokenExpired
	e.auth.errs["forged"] = ErrTokenSignature
	e.auth.errs["garbage"] = ErrTokenMalformed
	e.auth.errs["deleted"] = ErrStageDeleted
	e.auth.errs["revoked"] = ErrParticipantDisconnected
	e.auth.errs["broken"] = errTest
	e.auth.tokens["otherstage"] = Participant{StageARN: "arn:aws:ivs:us-east-1:123456789012:stage/other", Topic: "other", ID: "x"}
	for _, tc := range []struct {
		token, code string
		status      int
	}{
		{"", joinTokenMissing, http.StatusUnauthorized},
		{"expired", joinTokenExpired, http.StatusUnauthorized},
		{"forged", joinTokenInvalidSignature, http.StatusUnauthorized},
		{"garbage", joinTokenInvalid, http.StatusUnauthorized},
		{"deleted", joinStageDeleted, http.StatusNotFound},
		{"revoked", joinParticipantDisconnectd, http.StatusForbidden},
		{"broken", joinInternal, http.StatusInternalServerError},
		{"otherstage", joinBadRequest, http.StatusBadRequest},
	} {
		t.Run(tc.code, func(t *testing.T) {
			t.Parallel()
			c := e.dial(e.sdkURL(), tc.token)
			var p joinErrorPayload
			if err := json.Unmarshal(c.next(typeJoinError).Payload, &p); err != nil || p.Code != tc.code || p.Message == "" {
				t.Fatalf("JOIN_ERROR %+v %v, want %s", p, err, tc.code)
			}
			if tc.code == joinInternal && strings.Contains(p.Message, "store down") {
				t.Fatal("an internal error's text reached the client")
			}
			if code := c.closed(); code != websocket.StatusPolicyViolation {
				t.Fatalf("close %v", code)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var protos []string
			if tc.token != "" {
				protos = []string{tc.token}
			}
			_, res, err := websocket.Dial(ctx, e.url+"?topic="+testTopic+"/publishers", &websocket.DialOptions{Subprotocols: protos})
			if err == nil || res == nil || res.StatusCode != tc.status {
				t.Fatalf("without error_over_ws: %v %v, want status %d", res, err, tc.status)
			}
		})
	}
}

// Disconnect reaches the participant as DISCONNECT PARTICIPANT_DISCONNECTED,
// the others as a KICKED entry, and its token cannot join again.
func TestDisconnect(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Limits{})
	a, _ := e.join(e.auth.add("a", nil))
	tb := e.auth.add("b", nil)
	b, _ := e.join(tb)
	a.state(func(st stageState) bool { return len(st.Participants) == 2 })
	if err := e.s.Disconnect(testARN, "b", "bye", time.Time{}); err != nil {
		t.Fatal(err)
	}
	var d disconnectPayload
	if err := json.Unmarshal(b.next(typeDisconnect).Payload, &d); err != nil || d.Code != DisconnectParticipant || d.Reason != "bye" {
		t.Fatalf("DISCONNECT %+v %v", d, err)
	}
	if code := b.closed(); code != websocket.StatusNormalClosure {
		t.Fatalf("close %v", code)
	}
	st := a.state(func(st stageState) bool { return len(st.Participants) == 1 })
	if !slices.Equal(st.Disconnected, []stateDisconnected{{ID: "b", Status: "KICKED"}}) {
		t.Fatalf("disconnected %+v", st.Disconnected)
	}
	eventually(t, 10*time.Second, "left b", func() bool { return e.life.has("left b disconnected last=false") })
	again := e.dial(e.sdkURL(), tb)
	var p joinErrorPayload
	if err := json.Unmarshal(again.next(typeJoinError).Payload, &p); err != nil || p.Code != joinParticipantDisconnectd {
		t.Fatalf("rejoin: %+v %v", p, err)
	}
	if err := e.s.Disconnect(testARN, "nobody", "", time.Now().Add(time.Hour)); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Disconnect of nobody: %v", err)
	}
}

func TestCloseStage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Limits{})
	a, _ := e.join(e.auth.add("a", nil))
	b, _ := e.join(e.auth.add("b", nil))
	e.s.CloseStage(testARN)
	for _, c := range []*client{a, b} {
		var d disconnectPayload
		if err := json.Unmarshal(c.next(typeDisconnect).Payload, &d); err != nil || d.Code != DisconnectStageDeleted {
			t.Fatalf("DISCONNECT %+v %v", d, err)
		}
		if code := c.closed(); code != websocket.StatusNormalClosure {
			t.Fatalf("close %v", code)
		}
	}
	eventually(t, 10*time.Second, "last left", func() bool {
		calls := e.life.snapshot()
		return len(calls) == 4 && strings.HasSuffix(calls[3], "stage deleted last=true")
	})
	if got := e.s.Participants(testARN); got != nil {
		t.Fatalf("participants after CloseStage: %v", got)
	}
}

// A second connection with the same token takes the participant over; the
// first is told TOKEN_REUSED. The participant neither leaves nor joins.
func TestTokenReused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Limits{})
	tok := e.auth.add("a", nil)
	old, _ := e.join(tok)
	cur, st := e.join(tok)
	if !slices.Equal(ids(st), []string{"a"}) {
		t.Fatalf("state %+v", st)
	}
	var d disconnectPayload
	if err := json.Unmarshal(old.next(typeDisconnect).Payload, &d); err != nil || d.Code != DisconnectTokenReused {
		t.Fatalf("DISCONNECT %+v %v", d, err)
	}
	old.closed()
	cur.send(map[string]any{"type": "PING"})
	cur.next(typePong)
	if got := e.life.snapshot(); !slices.Equal(got, []string{"joined a first=true"}) {
		t.Fatalf("lifecycle %q", got)
	}
}

func TestExchangeToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Limits{})
	a, _ := e.join(e.auth.add("a", map[string]string{"v": "1"}))
	newTok := e.auth.add("a", map[string]string{"v": "2"})
	other := e.auth.add("z", nil)
	for _, tc := range []struct {
		name, token string
		ok          bool
	}{
		{"same participant", newTok, true},
		{"other participant", other, false},
		{"forged", "forged-token", false},
	} {
		a.send(map[string]any{"type": "aws:ivs:EXCHANGE_TOKEN", "payload": map[string]string{"oldToken": "x", "newToken": tc.token, "requestId": tc.name, "traceId": "tr"}})
		var r reply
		if err := json.Unmarshal(a.next(typeExchangeToken).Payload, &r); err != nil || r.RequestID != tc.name || r.TraceID != "tr" {
			t.Fatalf("%s: reply %+v %v", tc.name, r, err)
		}
		if (r.Error == nil) != tc.ok || (r.Error != nil && r.Error.Message == "") {
			t.Fatalf("%s: error %+v", tc.name, r.Error)
		}
	}
	// The state the exchange caused may have come before its reply: a
	// later one shows the new attributes too.
	a.send(map[string]any{"audioMuted": true, "type": "SET_STATE", "version": "0", "videoStopped": false})
	a.state(func(st stageState) bool { p, _ := find(st, "a"); return p.Attributes["v"] == "2" && p.AudioMuted })
	eventually(t, 10*time.Second, "exchanged", func() bool { return e.life.has("exchanged a map[v:1]→map[v:2]") })
}

// The roster's publish accounting, without sockets: the 12-publisher
// limit, capabilities, subscriber counts.
func TestPublishers(t *testing.T) {
	t.Parallel()
	life := &recorder{}
	s := New(Config{Auth: &fakeAuth{}, Lifecycle: life})
	defer s.Close()
	add := func(id string, publish bool) {
		c := newConn(s, nil, Participant{StageARN: testARN, Topic: testTopic, ID: id, Publish: publish, Subscribe: true})
		if err := s.join(c); err != nil {
			t.Fatal(err)
		}
	}
	for i := range MaxPublishers + 1 {
		add(string(rune('a'+i)), true)
	}
	add("viewer", false)
	for _, tc := range []struct {
		call string
		do   func() error
		want error
	}{
		{"reserve a", func() error { return s.ReservePublish(testARN, "a") }, nil},
		{"reserve a again", func() error { return s.ReservePublish(testARN, "a") }, nil},
		{"publish b..l", func() error {
			for i := 1; i < MaxPublishers; i++ {
				if err := s.SetPublishing(testARN, string(rune('a'+i)), true); err != nil {
					return err
				}
			}
			return nil
		}, nil},
		{"13th", func() error { return s.ReservePublish(testARN, "m") }, ErrTooManyPublishers},
		{"13th publishes", func() error { return s.SetPublishing(testARN, "m", true) }, ErrTooManyPublishers},
		{"no capability", func() error { return s.ReservePublish(testARN, "viewer") }, ErrPublishNotAllowed},
		{"not connected", func() error { return s.ReservePublish(testARN, "ghost") }, ErrNotConnected},
		{"other stage", func() error { return s.SetPublishing("arn:other", "a", true) }, ErrNotConnected},
		{"b stops", func() error { return s.SetPublishing(testARN, "b", false) }, nil},
		{"13th now", func() error { return s.ReservePublish(testARN, "m") }, nil},
		{"viewer subscribes", func() error { return s.SetSubscribing(testARN, "viewer", "c", true) }, nil},
		{"viewer subscribes again", func() error { return s.SetSubscribing(testARN, "viewer", "c", true) }, nil},
	} {
		if err := tc.do(); !errors.Is(err, tc.want) {
			t.Fatalf("%s: %v, want %v", tc.call, err, tc.want)
		}
	}
	s.mu.Lock()
	st := s.stages[testARN]
	var pub []string
	for id, m := range st.members {
		if m.publishing {
			pub = append(pub, id)
		}
	}
	count := string(st.members["c"].conn.count)
	s.mu.Unlock()
	if len(pub) != MaxPublishers-2 { // b..l, but b stopped
		t.Fatalf("publishing %v", pub)
	}
	if !strings.Contains(count, `"count":1`) || !strings.Contains(count, typeSubscriberCount) {
		t.Fatalf("subscriber count message %s", count)
	}
	eventually(t, 5*time.Second, "published c", func() bool {
		return life.has("published c true") && life.has("subscribed viewer to c true") && life.has("published b false")
	})
}

func TestIsPublishingReachesClients(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Limits{})
	a, _ := e.join(e.auth.add("a", nil))
	if err := e.s.SetPublishing(testARN, "a", true); err != nil {
		t.Fatal(err)
	}
	a.state(func(st stageState) bool { p, _ := find(st, "a"); return p.IsPublishing })
	if err := e.s.SetSubscribing(testARN, "a", "a", true); err != nil {
		t.Fatal(err)
	}
	var sc subscriberCountPayload
	if err := json.Unmarshal(a.next(typeSubscriberCount).Payload, &sc); err != nil || sc.Count != 1 || sc.SequenceNumber <= 0 {
		t.Fatalf("SUBSCRIBER_COUNT %+v %v", sc, err)
	}
	_ = a.ws.Close(websocket.StatusNormalClosure, "")
	eventually(t, 10*time.Second, "leave", func() bool {
		return e.life.has("published a false") && e.life.has("subscribed a to a false") && e.life.has("left a closed last=true")
	})
}

// An SDP offer over the socket of a server without stage media is
// answered at once with an error, and serverFeatures lacks xdp.
func TestSDPOfferRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Limits{})
	c, st := e.join(e.auth.add("a", nil))
	if len(st.ServerFeatures) != 0 {
		t.Errorf("serverFeatures %v without media", st.ServerFeatures)
	}
	c.send(map[string]any{"type": "aws:ivs:SDP_OFFER", "payload": map[string]string{"requestId": "r9", "traceId": "t", "content": "v=0"}})
	var a sdpAnswerPayload
	if err := json.Unmarshal(c.next(typeSDPAnswer).Payload, &a); err != nil || a.RequestID != "r9" || a.HTTPStatusCode/100 == 2 || a.ErrorMessage == "" {
		t.Fatalf("SDP_ANSWER %+v %v", a, err)
	}
}

// Lifecycle calls keep the roster's order under concurrent joins and
// leaves: replayed, each first join finds the stage empty and each last
// leave leaves it empty, so stage sessions start and end where they
// should.
func TestLifecycleOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Limits{})
	for round := range 3 {
		var wg sync.WaitGroup
		for i := range 8 {
			tok := e.auth.add(fmt.Sprintf("p%d-%d", round, i), nil)
			wg.Go(func() {
				c, _ := e.join(tok)
				_ = c.ws.Close(websocket.StatusNormalClosure, "")
			})
		}
		wg.Wait()
	}
	eventually(t, 10*time.Second, "all left", func() bool {
		n := 0
		for _, c := range e.life.snapshot() {
			if strings.HasPrefix(c, "left ") {
				n++
			}
		}
		return n == 24
	})
	connected, sessions := 0, 0
	for _, c := range e.life.snapshot() {
		switch {
		case strings.HasPrefix(c, "joined "):
			if strings.HasSuffix(c, "first=true") != (connected == 0) {
				t.Fatalf("%q with %d connected", c, connected)
			}
			if connected == 0 {
				sessions++
			}
			connected++
		case strings.HasPrefix(c, "left "):
			connected--
			if strings.HasSuffix(c, "last=true") != (connected == 0) {
				t.Fatalf("%q leaves %d connected", c, connected)
			}
		}
	}
	t.Logf("%d stage sessions over 3 rounds of 8 participants", sessions)
}
