package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/ivsrealtime"
	"github.com/onair-video/onair/test/e2e/harness"
)

// TestStagesConsoleInBrowser drives the console's Stages pages in Chromium
// (web/e2e/stages.mjs): a stage created through the form (its ARN and
// endpoints as GetStage answers them), the API's errors shown, a participant
// token created through the form and checked here (its claims are the
// stage's and the form's), nobody on the stage, then a participant who joins with that token over the
// stage's events WebSocket: the page shows it connected and publishing,
// Disconnect takes it off (the participant is told the reason typed into
// the prompt), the ended session's page lists its events. Then a public key
// imported and deleted, an encoder and a storage configuration created
// (after a refused one each) and deleted, phone width, the stage deleted
// through the page, which the aws CLI and the join check (STAGE_DELETED)
// see.
//
// The participant on the page publishes over stage WHIP (pion) with the
// token the page showed.
func TestStagesConsoleInBrowser(t *testing.T) {
	t.Parallel()
	root, node := browserTest(t) // before starting anything: it may skip
	harness.RequireProgram(t, "aws")
	s := harness.Start(t)
	cli := newCLI(t, s)
	ctx := harness.Context(t, 3*time.Minute)
	out := filepath.Join(t.TempDir(), "stage.json")
	shots := screenshots(root)
	removeShots(t, shots, "9")
	p := harness.StartProcessIn(t, filepath.Join(root, "web"), []string{"SHOTS=" + shots, "ONAIR_URL=" + s.Endpoint(),
		"ONAIR_AKID=" + s.AccessKeyID, "ONAIR_SECRET=" + s.SecretAccessKey, "STAGE_OUT=" + out}, node, "e2e/stages.mjs")
	failed := func(format string, args ...any) {
		t.Helper()
		p.Kill()
		t.Fatalf(format+"\nbrowser test:\n%s\nserver log:\n%s", append(args, p.Output(), s.Logs())...)
	}

	// The token the page showed, once the script wrote it.
	var b []byte
	for {
		var err error
		if b, err = os.ReadFile(out); err == nil {
			break
		}
		select {
		case <-p.Done():
			failed("the script ended before it showed a token: %v", p.Err())
		case <-ctx.Done():
			failed("no token from the page")
		case <-time.After(100 * time.Millisecond):
		}
	}
	var shown struct {
		StageArn, Token, ParticipantID, Events, Whip string
		IssuedAfter                                  int64
	}
	if err := json.Unmarshal(b, &shown); err != nil {
		failed("%v", err)
	}
	parts := strings.Split(shown.Token, ".")
	if len(parts) != 3 {
		failed("the page's token has %d parts", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		failed("%v", err)
	}
	var claims struct {
		Resource, Topic, Jti string
		UserID               string `json:"user_id"`
		EventsURL            string `json:"events_url"`
		WhipURL              string `json:"whip_url"`
		Attributes           map[string]string
		Capabilities         struct {
			Publish   bool `json:"allow_publish"`
			Subscribe bool `json:"allow_subscribe"`
		}
		Exp, Iat int64
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		failed("%v", err)
	}
	// The form asked for user alice, two attributes, PUBLISH only, 90 minutes.
	stageID := shown.StageArn[strings.LastIndex(shown.StageArn, "/")+1:]
	if claims.Resource != shown.StageArn || claims.Topic != stageID || claims.Jti != shown.ParticipantID || claims.UserID != "alice" ||
		claims.Attributes["displayName"] != "Alice" || claims.Attributes["role"] != "host" || len(claims.Attributes) != 2 ||
		!claims.Capabilities.Publish || claims.Capabilities.Subscribe || claims.Exp-claims.Iat != 90*60 || claims.Iat < shown.IssuedAfter-1 ||
		claims.EventsURL != shown.Events || claims.WhipURL != shown.Whip {
		failed("claims %s, page %+v", payload, shown)
	}

	// Join with it over the stage's events WebSocket, as the web SDK does.
	hc := s.HTTPSClient(t)
	ws, err := dialStage(ctx, hc, shown.Events, stageID, shown.Token)
	if err != nil {
		failed("join with the page's token: %v", err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	alice := &stageClient{t: t, ws: ws}
	// Reads end when the script does: a failed script is reported as such.
	readCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-p.Done():
			cancel()
		case <-readCtx.Done():
		}
	}()
	until := func(what string, done func(stageMsg) bool) stageMsg {
		t.Helper()
		for {
			m, err := alice.read(readCtx)
			if err != nil {
				failed("waiting for %s on the participant's socket: %v", what, err)
			}
			if done(m) {
				return m
			}
		}
	}
	until("a STAGE_STATE with the participant", func(m stageMsg) bool {
		return m.Type == "STAGE_STATE" && slices.Equal(m.roster(), []string{shown.ParticipantID})
	})
	// It publishes over stage WHIP with the page's token, as the web SDK
	// does once joined: the page shows it PUBLISHING.
	clip := harness.MakeClip(t, "320x240", 30, 2*time.Second)
	pub, err := harness.PublishWHIP(ctx, s.Endpoint()+"/stage/whip/publish/"+shown.ParticipantID, shown.Token, clip)
	if err != nil || pub.Status != http.StatusCreated {
		failed("publish with the page's token: %+v %v", pub, err)
	}
	t.Cleanup(pub.Close)
	// The page's Disconnect, with the reason typed into its prompt.
	m := until("aws:ivs:DISCONNECT", func(m stageMsg) bool { return m.Type == "aws:ivs:DISCONNECT" })
	if m.Payload.Code != "PARTICIPANT_DISCONNECTED" || m.Payload.Reason != "test over" {
		failed("DISCONNECT %+v", m.Payload)
	}

	if err := p.Wait(2 * time.Minute); err != nil {
		failed("browser test: %v", err)
	}
	t.Logf("browser test:\n%s", p.Output())

	// The page's Disconnect revoked the token, then its Delete removed the
	// stage: the join check stops at the stage (signature and expiry passed).
	store := openServerStore(ctx, t, s)
	svc := ivsrealtime.New(ivsrealtime.Config{Region: "us-east-1", AccountID: strings.Split(shown.StageArn, ":")[4], Docs: store, Sessions: store})
	if _, err := svc.VerifyParticipantToken(ctx, shown.Token); !errors.Is(err, ivsrealtime.ErrStageDeleted) {
		t.Fatalf("the page's token after the page deleted its stage: %v, want ErrStageDeleted", err)
	}
	cli.fail("ResourceNotFoundException", "", "ivs-realtime", "get-stage", "--arn", shown.StageArn)
	var list struct{ Stages []json.RawMessage }
	if err := json.Unmarshal(cli.run("ivs-realtime", "list-stages"), &list); err != nil || len(list.Stages) != 0 {
		t.Fatalf("list-stages after the page deleted the stage: %v %s", err, list.Stages)
	}
}
