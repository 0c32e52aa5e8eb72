package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/onair-video/onair/test/e2e/harness"
)

// A stage's participants reach webhooks and the SSE stream as IVS Stage
// Update events: a publisher (pion over stage WHIP) and a subscriber join,
// publish, subscribe and leave; the webhook gets every event, signed, in
// order, and GET /v1/events?stageArn= replays the same.
func TestStageEventsToWebhooksAndSSE(t *testing.T) {
	t.Parallel()
	hookAddr := reservedAddr(t)
	const secret = "e2e-stage-webhook-secret"
	rc := serveWebhook(t, hookAddr, secret)
	s := harness.Start(t, harness.Options{
		Args: []string{"--webhook-url", "http://" + hookAddr + "/hook"},
		Env:  []string{"ONAIR_WEBHOOK_SECRET=" + secret},
	})
	rt := newCLI(t, s).realtime
	ctx := harness.Context(t, 2*time.Minute)

	var created struct{ Stage struct{ Arn string } }
	rt(&created, "create-stage", "--name", "hooks")
	arn := created.Stage.Arn
	stageID := arn[strings.LastIndex(arn, "/")+1:]
	var get struct {
		Stage struct{ Endpoints map[string]string }
	}
	rt(&get, "get-stage", "--arn", arn)
	type token struct{ ParticipantID, Token string }
	newToken := func(user string) token {
		var pt struct{ ParticipantToken token }
		rt(&pt, "create-participant-token", "--stage-arn", arn, "--user-id", user)
		return pt.ParticipantToken
	}
	alice, bob := newToken("alice"), newToken("bob")
	join := func(tok token) *stageClient {
		t.Helper()
		ws, err := dialStage(ctx, s.HTTPSClient(t), get.Stage.Endpoints["events"], stageID, tok.Token)
		if err != nil {
			t.Fatal(err)
		}
		ws.SetReadLimit(1 << 20)
		return &stageClient{t: t, ws: ws}
	}
	a := join(alice)
	b := join(bob)
	b.waitState(ctx, alice.ParticipantID, bob.ParticipantID)

	whip := s.Endpoint() + "/stage/whip"
	pub, err := harness.PublishWHIP(ctx, whip+"/publish/"+alice.ParticipantID, alice.Token, harness.MakeClip(t, "320x240", 30, 2*time.Second))
	if err != nil || pub.Status != http.StatusCreated {
		t.Fatalf("publish: %v %+v", err, pub)
	}
	for publishing := false; !publishing; {
		publishing = b.waitState(ctx, alice.ParticipantID, bob.ParticipantID).Payload.Participants[0].IsPublishing
	}
	view, err := harness.WatchWHEPWith(ctx, whip+"/subscribe/"+alice.ParticipantID, harness.WatchOptions{Bearer: bob.Token})
	if err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 30*time.Second, func() error {
		if n := len(view.Frames()); n < 10 {
			return fmt.Errorf("%d frames", n)
		}
		return nil
	})
	view.Close()
	pub.Close()
	_ = b.ws.Close(websocket.StatusNormalClosure, "")
	_ = a.ws.Close(websocket.StatusNormalClosure, "")

	// Who did what, in the order the webhook got it.
	who := map[string]string{alice.ParticipantID: "alice", bob.ParticipantID: "bob"}
	line := func(e webhookEvent) string {
		d := e.Detail
		l := d.EventName
		if d.ParticipantID != "" {
			l += " " + who[d.ParticipantID]
		}
		if d.RemoteParticipantID != "" {
			l += ">" + who[d.RemoteParticipantID]
		}
		return l
	}
	want := []string{"Session Created", "Participant Joined alice", "Participant Joined bob", "Participant Published alice",
		"Participant Subscribed bob>alice", "Participant Unsubscribed bob>alice", "Participant Unpublished alice",
		"Participant Left bob", "Participant Left alice", "Session Ended"}
	// The closes race: alice may stop publishing (or leave) before bob's
	// subscription and socket are gone. Compare as multisets, then check
	// the orders that must hold.
	var got []string
	var session string
	harness.Eventually(t, 30*time.Second, func() error {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		got = got[:0]
		for _, e := range rc.events {
			if e.DetailType != "IVS Stage Update" || len(e.Resources) != 1 || e.Resources[0] != arn || e.Source != "aws.ivs" {
				return fmt.Errorf("envelope %+v", e)
			}
			if session == "" {
				session = e.Detail.SessionID
			}
			if e.Detail.SessionID != session || !strings.HasPrefix(session, "st-") {
				return fmt.Errorf("session_id %q after %q", e.Detail.SessionID, session)
			}
			if u := who[e.Detail.ParticipantID]; u != "" && e.Detail.UserID != u {
				return fmt.Errorf("%s: user_id %q", line(e), e.Detail.UserID)
			}
			got = append(got, line(e))
		}
		if !slices.Equal(sorted(got), sorted(want)) {
			return fmt.Errorf("webhook got %q", got)
		}
		return nil
	})
	for _, order := range [][2]string{{"Session Created", "Participant Joined alice"}, {"Participant Joined alice", "Participant Published alice"},
		{"Participant Published alice", "Participant Subscribed bob>alice"}, {"Participant Unpublished alice", "Participant Left alice"},
		{"Participant Left alice", "Session Ended"}, {"Participant Left bob", "Session Ended"}} {
		if slices.Index(got, order[0]) > slices.Index(got, order[1]) {
			t.Errorf("%q came after %q: %q", order[0], order[1], got)
		}
	}
	rc.mu.Lock()
	if len(rc.bad) > 0 {
		t.Errorf("webhook: %q", rc.bad)
	}
	rc.mu.Unlock()

	// SSE: the stage's events replayed from the start, the same order.
	sse := stageEventsReplay(ctx, t, s, arn)
	var replay []string
	sc := bufio.NewScanner(sse)
	for len(replay) < len(want) && sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var e webhookEvent
			if err := json.Unmarshal([]byte(data), &e); err != nil {
				t.Fatalf("SSE event %q: %v", data, err)
			}
			if strings.Contains(data, "channel_name") {
				t.Errorf("a stage event has a channel_name: %s", data)
			}
			replay = append(replay, line(e))
		}
	}
	if !slices.Equal(replay, got) {
		t.Errorf("SSE replay %q, webhook %q", replay, got)
	}
	// Both filters at once is a clear 400.
	req, _ := s.SignedRequest(ctx, "/v1/events?stageArn="+arn+"&channelArn="+arn, nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("both filters: %v %+v", err, resp)
	} else {
		resp.Body.Close()
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
