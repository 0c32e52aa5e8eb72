package e2e

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onair-video/onair/internal/ivsrealtime"
	"github.com/onair-video/onair/internal/store/sqlite"
	"github.com/onair-video/onair/test/e2e/harness"
)

// TestStagesConsoleInBrowser drives the console's Stages pages in Chromium
// (web/e2e/stages.mjs): a stage created through the form (its ARN and
// endpoints as GetStage answers them), the API's errors shown, a participant
// token created through the form, nobody on the stage, a public key
// imported and deleted, phone width, the stage deleted through the page.
// Then the token the page showed is checked here: its claims are the stage's
// and the form's, onair's own key signed it (the join check gets as far as
// the deleted stage), and the aws CLI no longer finds the stage.
//
// Nobody joins: the events WebSocket is the media side's, not served yet on
// this branch, so Disconnect and the session page have no participant to
// show.
func TestStagesConsoleInBrowser(t *testing.T) {
	t.Parallel()
	browserTest(t) // before starting anything: it may skip
	harness.RequireProgram(t, "aws")
	s := harness.Start(t)
	cli := newCLI(t, s)
	out := filepath.Join(t.TempDir(), "stage.json")
	browserScript(t, s, "e2e/stages.mjs", 2*time.Minute, []string{"90", "91", "92", "93", "94", "95", "96"},
		"ONAIR_URL="+s.Endpoint(), "ONAIR_AKID="+s.AccessKeyID, "ONAIR_SECRET="+s.SecretAccessKey, "STAGE_OUT="+out)

	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var shown struct {
		StageArn, Token, ParticipantID, Events, Whip string
		IssuedAfter                                  int64
	}
	if err := json.Unmarshal(b, &shown); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(shown.Token, ".")
	if len(parts) != 3 {
		t.Fatalf("the page's token has %d parts", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
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
		t.Fatal(err)
	}
	// The form asked for user alice, two attributes, PUBLISH only, 90 minutes.
	stageID := shown.StageArn[strings.LastIndex(shown.StageArn, "/")+1:]
	if claims.Resource != shown.StageArn || claims.Topic != stageID || claims.Jti != shown.ParticipantID || claims.UserID != "alice" ||
		claims.Attributes["displayName"] != "Alice" || claims.Attributes["role"] != "host" || len(claims.Attributes) != 2 ||
		!claims.Capabilities.Publish || claims.Capabilities.Subscribe || claims.Exp-claims.Iat != 90*60 || claims.Iat < shown.IssuedAfter-1 ||
		claims.EventsURL != shown.Events || claims.WhipURL != shown.Whip {
		t.Fatalf("claims %s, page %+v", payload, shown)
	}

	// The token is onair's: its signature verifies, and the join check
	// stops at the stage the page deleted.
	ctx := harness.Context(t, time.Minute)
	store, err := sqlite.Open(ctx, s.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
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
