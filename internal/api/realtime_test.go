package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	sdk "github.com/aws/aws-sdk-go-v2/service/ivs"
)

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// post signs a Stages request as the SDKs do (service ivs) and returns the
// status, the error type and the body.
func (e *env) post(op string, in any) (int, string, map[string]any) {
	e.t.Helper()
	body, err := json.Marshal(in)
	if err != nil {
		e.t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/"+op, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256Hex(body)
	creds := aws.Credentials{AccessKeyID: e.account.AccessKeyID, SecretAccessKey: e.account.SecretAccessKey.Reveal()}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, sum, "ivs", testRegion, time.Now()); err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), out
}

// Stages operations are served beside IVS's, signed for ivs; every
// success is 200 with IVS Real-Time's shapes; the tag operations reach a
// stage through IVS's own SDK (the ARN's type decides), and the next
// issue's operations answer ValidationException.
func TestRealtimeOperations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	status, code, out := e.post("CreateStage", map[string]any{"name": "s", "participantTokenConfigurations": []any{map[string]any{}}})
	if status != 200 || code != "" {
		t.Fatalf("CreateStage: %d %s %v", status, code, out)
	}
	stage := out["stage"].(map[string]any)
	arn := stage["arn"].(string)
	eps := stage["endpoints"].(map[string]any)
	if eps["events"] != "wss://media.example:8443/stage/events" || eps["whip"] != "https://media.example:8443/stage/whip" || eps["rtmp"] != "" {
		t.Fatalf("endpoints %v", eps)
	}
	toks := out["participantTokens"].([]any)
	tok := toks[0].(map[string]any)
	if _, err := e.rtSvc.VerifyParticipantToken(ctx, tok["token"].(string)); err != nil {
		t.Fatalf("the token CreateStage gave: %v", err)
	}
	if _, err := time.Parse(time.RFC3339, tok["expirationTime"].(string)); err != nil {
		t.Fatalf("expirationTime: %v", err)
	}
	for _, op := range []string{"DeleteStage"} {
		if status, code, body := e.post(op, map[string]string{"arn": arn}); status != 200 || code != "" || len(body) != 0 {
			t.Fatalf("%s: %d %s %v (want 200 and {})", op, status, code, body)
		}
	}

	// Tags through IVS's Go SDK.
	_, _, out = e.post("CreateStage", map[string]any{"tags": map[string]string{"a": "1"}})
	arn = out["stage"].(map[string]any)["arn"].(string)
	if _, err := e.client.TagResource(ctx, &sdk.TagResourceInput{ResourceArn: aws.String(arn), Tags: map[string]string{"b": "2"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := e.client.ListTagsForResource(ctx, &sdk.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	if err != nil || tags.Tags["a"] != "1" || tags.Tags["b"] != "2" {
		t.Fatalf("tags of a stage: %v, %v", tags, err)
	}
	st, err := e.rtSvc.GetStage(ctx, arn)
	if err != nil || st.Tags["b"] != "2" {
		t.Fatalf("the stage's tags were not stored: %+v, %v", st, err)
	}
	_, err = e.client.ListTagsForResource(ctx, &sdk.ListTagsForResourceInput{ResourceArn: aws.String(strings.Replace(arn, st.ID, "abcdABCDefgh", 1))})
	if code := sdkCode(t, err); code != "ResourceNotFoundException" {
		t.Fatalf("tags of a missing stage: %s", code)
	}

	for _, tc := range []struct {
		op     string
		in     any
		status int
		code   string
		msg    string
	}{
		{"GetStage", map[string]string{"arn": "x"}, 400, "ValidationException", "arn"},
		{"CreateParticipantToken", map[string]any{"stageArn": arn, "duration": "long"}, 400, "ValidationException", "duration"},
		{"StartComposition", map[string]any{}, 400, "ValidationException", "docs/api-compat.md"},
		{"CreateIngestConfiguration", map[string]any{}, 400, "ValidationException", "ingestProtocol"},
	} {
		status, code, out := e.post(tc.op, tc.in)
		if status != tc.status || code != tc.code || !strings.Contains(out["message"].(string), tc.msg) {
			t.Errorf("%s: %d %s %v; want %d %s naming %q", tc.op, status, code, out, tc.status, tc.code, tc.msg)
		}
	}
}

// Without the Stages service the operations are refused, not crashed.
func TestRealtimeDisabled(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, func(c *Config) { c.RealtimeService = nil })
	if status, code, _ := e.post("ListStages", map[string]any{}); status != 400 || code != "ValidationException" {
		t.Fatalf("ListStages: %d %s", status, code)
	}
}
