package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/coder/websocket"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/ivsrealtime"
	"github.com/onair-video/onair/internal/stage"
	"github.com/onair-video/onair/internal/stagefeed"
	"github.com/onair-video/onair/internal/store/sqlite"
	"github.com/onair-video/onair/internal/stream/streamtest"
)

// TestStopEndsStageSessions: a participant connected to the events
// WebSocket (over HTTPS) when the node stops is told the server is going
// away (1001), its leave is recorded before the store closes (the stage's
// session has ended in the store, with nothing left for the next start's
// EndInterruptedSessions), and nothing of the node is left running.
func TestStopEndsStageSessions(t *testing.T) {
	before, fds := runtime.NumGoroutine(), openFDs(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, testConfig(t, dir), quiet()) }()

	var addrs map[string]string
	streamtest.Eventually(t, 30*time.Second, "listeners.json", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "listeners.json"))
		return err == nil && json.Unmarshal(b, &addrs) == nil
	})
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // onair's self-signed certificate
	defer client.CloseIdleConnections()
	var out struct {
		Stage             struct{ Arn string }
		ParticipantTokens []struct{ ParticipantID, Token string }
	}
	streamtest.Eventually(t, 30*time.Second, "CreateStage", func() bool {
		err := call(t, dir, "http://"+addrs["http"]+"/CreateStage", `{"participantTokenConfigurations":[{"userId":"u"}]}`, &out)
		return err == nil
	})
	tok := out.ParticipantTokens[0]
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	ws, _, err := websocket.Dial(wctx, "wss://"+addrs["https"]+ivsrealtime.EventsPath+"?error_over_ws=1",
		&websocket.DialOptions{HTTPClient: client, Subprotocols: []string{tok.Token}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ws.CloseNow() }()
	if _, b, err := ws.Read(wctx); err != nil || !strings.Contains(string(b), `"STAGE_STATE"`) {
		t.Fatalf("first message %s, %v", b, err)
	}
	// The join is recorded off the socket's goroutine.
	arn := out.Stage.Arn
	stageID := arn[strings.LastIndex(arn, "/")+1:]
	streamtest.Eventually(t, 30*time.Second, "the session to start", func() bool {
		var st struct {
			Stage struct{ ActiveSessionID string }
		}
		return call(t, dir, "http://"+addrs["http"]+"/GetStage", `{"arn":"`+arn+`"}`, &st) == nil && st.Stage.ActiveSessionID != ""
	})

	cancel()
	if _, _, err := ws.Read(wctx); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Errorf("at stop the client read %v, want a close with 1001", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(2 * shutdownGrace):
		t.Fatal("Run did not return after its context ended")
	}
	_ = ws.CloseNow()
	client.CloseIdleConnections()

	store, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	sessions, err := store.ListStageSessions(context.Background(), stageID)
	store.Close()
	if err != nil || len(sessions) != 1 || sessions[0].EndTime == nil {
		t.Fatalf("the stage's sessions after stop: %+v, %v (want one, ended)", sessions, err)
	}
	released(t, before, fds)
}

// call posts a SigV4-signed API request with the data dir's credentials
// and decodes a 200 answer into out.
func call(t *testing.T, dir, url, body string, out any) error {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "credentials"))
	if err != nil {
		return err
	}
	var creds aws.Credentials
	for _, l := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(l, " = ")
		switch k {
		case "aws_access_key_id":
			creds.AccessKeyID = v
		case "aws_secret_access_key":
			creds.SecretAccessKey = v
		}
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader([]byte(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ivs", "us-east-1", time.Now()); err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// stageControl over a real Stages domain: each token refusal is the
// roster's sentinel (the client's JOIN_ERROR code), a join and a leave are
// recorded, and the leaves DisconnectParticipant and DeleteStage recorded
// already are not logged as failures.
func TestStageControl(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	now := time.Now()
	svc := ivsrealtime.New(ivsrealtime.Config{Region: "us-east-1", AccountID: "123456789012", Docs: store, Sessions: store,
		Now: func() time.Time { return now }})
	var logged bytes.Buffer
	c := stageControl{svc: svc, log: slog.New(slog.NewTextHandler(&logged, nil))}
	newStage := func(users ...string) (ivsrealtime.Stage, []ivsrealtime.ParticipantToken) {
		var cfgs []ivsrealtime.ParticipantTokenConfiguration
		for _, u := range users {
			cfgs = append(cfgs, ivsrealtime.ParticipantTokenConfiguration{UserID: u})
		}
		st, toks, err := svc.CreateStage(ctx, ivsrealtime.CreateStageInput{ParticipantTokenConfigurations: cfgs}, ivsrealtime.Endpoints{})
		if err != nil {
			t.Fatal(err)
		}
		return st, toks
	}
	st, toks := newStage("a", "b")
	p, err := c.Authenticate(ctx, toks[0].Token)
	if err != nil || p.ID != toks[0].ParticipantID || p.StageARN != st.ARN || p.Topic != st.ID || p.UserID != "a" || !p.Publish {
		t.Fatalf("Authenticate: %+v, %v", p, err)
	}
	pb, err := c.Authenticate(ctx, toks[1].Token)
	if err != nil {
		t.Fatal(err)
	}
	c.Joined(p, true)
	c.Joined(pb, false)
	if err := svc.DisconnectParticipant(ctx, ivsrealtime.DisconnectParticipantInput{StageARN: st.ARN, ParticipantID: p.ID}); err != nil {
		t.Fatal(err)
	}
	c.Left(p, stage.LeftDisconnected, false) // recorded already
	c.Published(p, false)
	c.Left(pb, stage.LeftClosed, true)
	got, err := svc.GetStageSession(ctx, st.ARN, mustActiveOrLast(t, svc, st.ARN))
	if err != nil || got.EndTime == nil {
		t.Fatalf("the session after both left: %+v, %v", got, err)
	}
	deleted, dtoks := newStage("c")
	if err := svc.DeleteStage(ctx, deleted.ARN); err != nil {
		t.Fatal(err)
	}
	pc := stage.Participant{StageARN: deleted.ARN, Topic: deleted.ID, ID: dtoks[0].ParticipantID}
	c.Left(pc, stage.LeftStageDeleted, true) // recorded already
	if logged.Len() != 0 {
		t.Errorf("logged: %s", logged.String())
	}
	// A leave nobody recorded is a failure, logged once.
	c.Left(pc, stage.LeftClosed, true)
	if n := strings.Count(logged.String(), "level=ERROR"); n != 1 {
		t.Errorf("want one error logged, got: %s", logged.String())
	}

	_, later := newStage("d")
	tampered := toks[1].Token[:len(toks[1].Token)-4] + "AAAA"
	for _, tc := range []struct {
		name, token string
		at          time.Time
		want        error
	}{
		{"garbage", "not-a-token", now, stage.ErrTokenMalformed},
		{"tampered", tampered, now, stage.ErrTokenSignature},
		{"expired", later[0].Token, now.Add(13 * time.Hour), stage.ErrTokenExpired},
		{"stage deleted", dtoks[0].Token, now, stage.ErrStageDeleted},
		{"disconnected", toks[0].Token, now, stage.ErrParticipantDisconnected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			saved := now
			now = tc.at
			defer func() { now = saved }()
			if _, err := c.Authenticate(ctx, tc.token); !errors.Is(err, tc.want) {
				t.Errorf("Authenticate: %v, want %v", err, tc.want)
			}
		})
	}
}

// mustActiveOrLast returns a stage's newest session id.
func mustActiveOrLast(t *testing.T, svc *ivsrealtime.Service, arn string) string {
	t.Helper()
	ss, _, err := svc.ListStageSessions(context.Background(), ivsrealtime.ListStageSessionsInput{StageARN: arn})
	if err != nil || len(ss) == 0 {
		t.Fatalf("ListStageSessions: %v, %v", ss, err)
	}
	return ss[0].SessionID
}

// gatedJoins is a Lifecycle that holds Joined calls until release is
// closed: the window in which the roster has a participant connected (it
// has its STAGE_STATE) and the domain has not recorded the join yet.
type gatedJoins struct {
	stageControl
	release chan struct{}
}

func (g gatedJoins) Joined(p stage.Participant, first bool) {
	<-g.release
	g.stageControl.Joined(p, first)
}

// DisconnectParticipant right after a join, before the join is recorded,
// disconnects the participant all the same, as IVS would (it is
// connected): it is told PARTICIPANT_DISCONNECTED, its token is refused,
// and once the join is recorded, so is its leave.
func TestDisconnectBeforeJoinRecorded(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var roster *stage.Stages
	var svc *ivsrealtime.Service
	const account = "123456789012"
	svc = ivsrealtime.New(ivsrealtime.Config{Region: "us-east-1", AccountID: account, Docs: store, Sessions: store,
		Hooks: stageHooks(ivs.Scope{Region: "us-east-1", Account: account}, func() *stage.Stages { return roster },
			func() *ivsrealtime.Service { return svc }, func() *stagefeed.Feeds { return nil }, slog.New(slog.DiscardHandler))})
	var logged bytes.Buffer
	c := stageControl{svc: svc, log: slog.New(slog.NewTextHandler(&logged, nil))}
	gate := gatedJoins{stageControl: c, release: make(chan struct{})}
	roster = stage.New(stage.Config{Auth: c, Lifecycle: gate})
	released := false
	defer func() {
		if !released {
			close(gate.release)
		}
		roster.Close()
	}()
	mux := http.NewServeMux()
	mux.Handle("GET /events", roster)
	hs := httptest.NewServer(mux)
	defer hs.Close()

	st, toks, err := svc.CreateStage(ctx, ivsrealtime.CreateStageInput{
		ParticipantTokenConfigurations: []ivsrealtime.ParticipantTokenConfiguration{{UserID: "a"}}}, ivsrealtime.Endpoints{})
	if err != nil {
		t.Fatal(err)
	}
	tok := toks[0]
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/events?error_over_ws=1&topic=" + st.ID + "/publishers"
	ws, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{Subprotocols: []string{tok.Token}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ws.CloseNow() }()
	read := func() (string, string) {
		_, b, err := ws.Read(dctx)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var m struct {
			Type    string
			Payload struct{ Code string }
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m.Type, m.Payload.Code
	}
	if typ, _ := read(); typ != "STAGE_STATE" {
		t.Fatalf("first message %s", typ)
	}
	// Joined, not recorded: the domain has no session yet.
	if g, _ := svc.GetStage(ctx, st.ARN); g.ActiveSessionID != "" {
		t.Fatalf("the join was recorded before the gate opened")
	}
	if err := svc.DisconnectParticipant(ctx, ivsrealtime.DisconnectParticipantInput{StageARN: st.ARN, ParticipantID: tok.ParticipantID,
		Reason: "too early"}); err != nil {
		t.Fatalf("DisconnectParticipant before the join is recorded: %v", err)
	}
	for {
		typ, code := read()
		if typ == "aws:ivs:DISCONNECT" {
			if code != "PARTICIPANT_DISCONNECTED" {
				t.Fatalf("DISCONNECT %s", code)
			}
			break
		}
	}
	if _, err := c.Authenticate(ctx, tok.Token); !errors.Is(err, stage.ErrParticipantDisconnected) {
		t.Fatalf("the token after the disconnection: %v", err)
	}
	close(gate.release)
	released = true
	// The join, then the leave, are recorded.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var sid string
		if ss, _, _ := svc.ListStageSessions(ctx, ivsrealtime.ListStageSessionsInput{StageARN: st.ARN}); len(ss) > 0 {
			sid = ss[0].SessionID
		}
		p, err := svc.GetParticipant(ctx, ivsrealtime.GetParticipantInput{StageARN: st.ARN, SessionID: sid, ParticipantID: tok.ParticipantID})
		evs, _, _ := svc.ListParticipantEvents(ctx, ivsrealtime.ListParticipantEventsInput{StageARN: st.ARN, SessionID: sid,
			ParticipantID: tok.ParticipantID})
		var names []string
		for _, e := range evs {
			names = append(names, e.Name)
		}
		if err == nil && p.State == ivsrealtime.StateDisconnected && strings.Join(names, ",") == "JOINED,LEFT" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("participant %+v %v, events %v", p, err, names)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A participant the roster does not have either is not found.
	err = svc.DisconnectParticipant(ctx, ivsrealtime.DisconnectParticipantInput{StageARN: st.ARN, ParticipantID: "nobody"})
	if e, ok := ivs.AsError(err); !ok || e.Code != ivs.CodeResourceNotFound {
		t.Fatalf("DisconnectParticipant of nobody: %v", err)
	}
	if logged.Len() != 0 {
		t.Errorf("logged: %s", logged.String())
	}
}
