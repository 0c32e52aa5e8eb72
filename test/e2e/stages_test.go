package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	onairivs "github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/ivsrealtime"
	"github.com/onair-video/onair/internal/store/postgres"
	"github.com/onair-video/onair/internal/store/sqlite"
	"github.com/onair-video/onair/test/e2e/harness"
)

// publicKeyPEM returns a new key's public half as PEM: P-384, or RSA when
// rsaKey (which Stages refuse).
func publicKeyPEM(t *testing.T, rsaKey bool) string {
	t.Helper()
	var pub any
	if rsaKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		pub = &k.PublicKey
	} else {
		k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub = &k.PublicKey
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// jwtClaims decodes a JWT's header and claims, unverified.
func jwtClaims(t *testing.T, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWT", tok)
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}

// The aws CLI (`aws ivs-realtime`) drives every served Stages operation
// against the real binary, with success and each error class: stages with
// tokens and onair's endpoints, participant tokens, the session reads of a
// stage nobody joined, public keys, encoder and storage configurations,
// tags and the next issue's refusals. (The node:test script, which is
// faster per call, covers each validation rule and the stage quota.)
func TestStagesWithAWSCLI(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	cli := newCLI(t, s)
	rt := func(args ...string) []byte { return cli.run(append([]string{"ivs-realtime"}, args...)...) }
	fail := func(code, msg string, args ...string) {
		cli.fail(code, msg, append([]string{"ivs-realtime"}, args...)...)
	}

	type token struct {
		ParticipantID, Token, UserID string
		Attributes                   map[string]string
		Duration                     int
		Capabilities                 []string
		ExpirationTime               string
	}
	var created struct {
		Stage struct {
			Arn, Name, ActiveSessionID            string
			Tags                                  map[string]string
			Endpoints                             map[string]string
			AutoParticipantRecordingConfiguration struct {
				StorageConfigurationArn string
				MediaTypes              []string
			}
		}
		ParticipantTokens []token
	}
	out := rt("create-stage", "--name", "studio", "--tags", "team=a",
		"--participant-token-configurations", `[{"userId":"host","duration":60,"attributes":{"role":"host"}},{"capabilities":["SUBSCRIBE"]}]`)
	if err := json.Unmarshal(out, &created); err != nil {
		t.Fatalf("create-stage: %v\n%s", err, out)
	}
	st := created.Stage
	https := strings.TrimPrefix(s.HTTPSEndpoint(), "https://")
	if st.Name != "studio" || st.Tags["team"] != "a" || st.Endpoints["events"] != "wss://"+https+"/stage/events" ||
		st.Endpoints["whip"] != "https://"+https+"/stage/whip" || st.Endpoints["rtmp"] != "rtmp://"+s.Addrs["rtmp"]+"/app/" ||
		st.Endpoints["rtmps"] != "rtmps://"+s.Addrs["rtmps"]+"/app/" ||
		len(st.AutoParticipantRecordingConfiguration.MediaTypes) != 1 || st.ActiveSessionID != "" {
		t.Fatalf("create-stage: %s", out)
	}
	if len(created.ParticipantTokens) != 2 {
		t.Fatalf("participantTokens: %s", out)
	}
	host, viewer := created.ParticipantTokens[0], created.ParticipantTokens[1]
	if host.UserID != "host" || host.Duration != 60 || len(host.Capabilities) != 2 || host.Attributes["role"] != "host" ||
		viewer.Duration != 720 || len(viewer.Capabilities) != 1 || viewer.Capabilities[0] != "SUBSCRIBE" || len(host.ParticipantID) != 12 {
		t.Fatalf("participantTokens: %+v", created.ParticipantTokens)
	}
	h, c := jwtClaims(t, host.Token)
	caps, _ := c["capabilities"].(map[string]any)
	if h["alg"] != "ES384" || h["kid"] == "" || c["jti"] != host.ParticipantID || c["resource"] != st.Arn ||
		c["topic"] != st.Arn[strings.LastIndex(st.Arn, "/")+1:] || c["events_url"] != st.Endpoints["events"] ||
		c["whip_url"] != st.Endpoints["whip"] || c["user_id"] != "host" || c["version"] != "1.0" ||
		caps["allow_publish"] != true || caps["allow_subscribe"] != true {
		t.Fatalf("token header %v, claims %v", h, c)
	}
	if exp, _ := c["exp"].(float64); time.Until(time.Unix(int64(exp), 0)) > time.Hour || time.Until(time.Unix(int64(exp), 0)) < 50*time.Minute {
		t.Errorf("exp %v: want an hour from now", c["exp"])
	}

	if out := rt("get-stage", "--arn", st.Arn); !strings.Contains(string(out), `"recordingMode": "DISABLED"`) ||
		!strings.Contains(string(out), st.Endpoints["whip"]) {
		t.Errorf("get-stage:\n%s", out)
	}
	if out := rt("update-stage", "--arn", st.Arn, "--name", "renamed"); !strings.Contains(string(out), `"name": "renamed"`) {
		t.Errorf("update-stage:\n%s", out)
	}
	rt("create-stage", "--name", "second")
	var page struct {
		Stages    []struct{ Arn, Name string }
		NextToken string
	}
	if err := json.Unmarshal(rt("list-stages", "--max-results", "1"), &page); err != nil || len(page.Stages) != 1 || page.NextToken == "" {
		t.Fatalf("list-stages page 1: %+v, %v", page, err)
	}
	first, next := page.Stages[0].Arn, page.NextToken
	page.NextToken = ""
	if err := json.Unmarshal(rt("list-stages", "--max-results", "1", "--next-token", next), &page); err != nil ||
		len(page.Stages) != 1 || page.Stages[0].Arn == first || page.NextToken != "" {
		t.Fatalf("list-stages page 2: %+v, %v", page, err)
	}

	var pt struct{ ParticipantToken token }
	if err := json.Unmarshal(rt("create-participant-token", "--stage-arn", st.Arn, "--user-id", "guest", "--capabilities", "PUBLISH",
		"--duration", "20160", "--attributes", "color=red"), &pt); err != nil || pt.ParticipantToken.UserID != "guest" ||
		pt.ParticipantToken.Duration != 20160 || pt.ParticipantToken.Attributes["color"] != "red" {
		t.Fatalf("create-participant-token: %+v, %v", pt, err)
	}

	// Nobody joined: no session, no participant.
	if out := rt("list-stage-sessions", "--stage-arn", st.Arn); !strings.Contains(string(out), `"stageSessions": []`) {
		t.Errorf("list-stage-sessions:\n%s", out)
	}
	fail("ResourceNotFoundException", "st-AAAAAAAAAAAAA", "get-stage-session", "--stage-arn", st.Arn, "--session-id", "st-AAAAAAAAAAAAA")
	fail("ResourceNotFoundException", "not found", "get-participant", "--stage-arn", st.Arn, "--session-id", "st-AAAAAAAAAAAAA",
		"--participant-id", host.ParticipantID)
	// The List operations have no ResourceNotFoundException in IVS's model.
	if out := rt("list-participant-events", "--stage-arn", st.Arn, "--session-id", "st-AAAAAAAAAAAAA",
		"--participant-id", host.ParticipantID); !strings.Contains(string(out), `"events": []`) {
		t.Errorf("list-participant-events:\n%s", out)
	}
	if out := rt("list-participants", "--stage-arn", st.Arn, "--session-id", "st-AAAAAAAAAAAAA"); !strings.Contains(string(out), `"participants": []`) {
		t.Errorf("list-participants:\n%s", out)
	}
	fail("ValidationException", "sessionId", "get-stage-session", "--stage-arn", st.Arn, "--session-id", "xx-AAAAAAAAAAAAA")
	fail("ResourceNotFoundException", "is not connected", "disconnect-participant", "--stage-arn", st.Arn,
		"--participant-id", host.ParticipantID, "--reason", "bye")
	fail("ValidationException", "participantId", "disconnect-participant", "--stage-arn", st.Arn, "--participant-id", "bad id!")

	// Stage validation, quota of tokens, the next issue's fields.
	fail("ValidationException", "name", "create-stage", "--name", "bad name!")
	fail("ValidationException", "participantTokenConfigurations.duration", "create-stage",
		"--participant-token-configurations", `[{"duration":20161}]`)
	fail("ValidationException", "capabilities", "create-participant-token", "--stage-arn", st.Arn, "--capabilities", "PUBLISH", "SUBSCRIBE", "PUBLISH")
	// Participant recording needs a storage configuration of the account.
	fail("ValidationException", "storageConfigurationArn: storage configuration", "update-stage", "--arn", st.Arn,
		"--auto-participant-recording-configuration", `storageConfigurationArn=arn:aws:ivs:us-east-1:123456789012:storage-configuration/abcdABCDefgh`)
	fail("ValidationException", "stageArn", "create-participant-token", "--stage-arn", "arn:aws:ivs:us-east-1:1:channel/abc")
	fail("ResourceNotFoundException", "not found", "get-stage", "--arn", strings.Replace(st.Arn, st.Arn[len(st.Arn)-12:], "abcdABCDefgh", 1))

	// Tags go by the ARN's resource type.
	rt("tag-resource", "--resource-arn", st.Arn, "--tags", "env=prod")
	rt("untag-resource", "--resource-arn", st.Arn, "--tag-keys", "team")
	if out := rt("list-tags-for-resource", "--resource-arn", st.Arn); !strings.Contains(string(out), `"env": "prod"`) ||
		strings.Contains(string(out), "team") {
		t.Errorf("list-tags-for-resource:\n%s", out)
	}

	// Public keys.
	material := publicKeyPEM(t, false)
	var pk struct {
		PublicKey struct{ Arn, Name, Fingerprint, PublicKeyMaterial string }
	}
	if err := json.Unmarshal(rt("import-public-key", "--name", "signer", "--public-key-material", material, "--tags", "k=v"), &pk); err != nil ||
		pk.PublicKey.Name != "signer" || len(pk.PublicKey.Fingerprint) != 47 || !strings.Contains(pk.PublicKey.Arn, ":public-key/") {
		t.Fatalf("import-public-key: %+v, %v", pk, err)
	}
	if out := rt("get-public-key", "--arn", pk.PublicKey.Arn); !strings.Contains(string(out), "BEGIN PUBLIC KEY") {
		t.Errorf("get-public-key:\n%s", out)
	}
	if out := rt("list-public-keys"); !strings.Contains(string(out), pk.PublicKey.Arn) {
		t.Errorf("list-public-keys:\n%s", out)
	}
	if out := rt("list-tags-for-resource", "--resource-arn", pk.PublicKey.Arn); !strings.Contains(string(out), `"k": "v"`) {
		t.Errorf("list-tags-for-resource of a public key:\n%s", out)
	}
	fail("ConflictException", "already imported", "import-public-key", "--public-key-material", material)
	fail("ValidationException", "publicKeyMaterial", "import-public-key", "--public-key-material", publicKeyPEM(t, true))
	rt("delete-public-key", "--arn", pk.PublicKey.Arn)
	fail("ResourceNotFoundException", "not found", "get-public-key", "--arn", pk.PublicKey.Arn)

	// Encoder configurations.
	var ec struct {
		EncoderConfiguration struct {
			Arn   string
			Video struct {
				Width, Height, Bitrate int
				Framerate              float64
			}
		}
	}
	if err := json.Unmarshal(rt("create-encoder-configuration", "--name", "hd", "--video", "width=1920,height=1080,framerate=60,bitrate=6000000"), &ec); err != nil ||
		ec.EncoderConfiguration.Video.Width != 1920 || ec.EncoderConfiguration.Video.Framerate != 60 {
		t.Fatalf("create-encoder-configuration: %+v, %v", ec, err)
	}
	if out := rt("create-encoder-configuration"); !strings.Contains(string(out), `"width": 1280`) || !strings.Contains(string(out), `"bitrate": 2500000`) {
		t.Errorf("create-encoder-configuration defaults:\n%s", out)
	}
	if out := rt("get-encoder-configuration", "--arn", ec.EncoderConfiguration.Arn); !strings.Contains(string(out), `"height": 1080`) {
		t.Errorf("get-encoder-configuration:\n%s", out)
	}
	if out := rt("list-encoder-configurations"); strings.Count(string(out), ":encoder-configuration/") != 2 {
		t.Errorf("list-encoder-configurations:\n%s", out)
	}
	fail("ValidationException", "video.width", "create-encoder-configuration", "--video", "width=1281")
	rt("delete-encoder-configuration", "--arn", ec.EncoderConfiguration.Arn)
	fail("ResourceNotFoundException", "not found", "get-encoder-configuration", "--arn", ec.EncoderConfiguration.Arn)

	// Storage configurations: the bucket must take a write (a directory
	// under the data dir without --s3-endpoint).
	var sc struct{ StorageConfiguration struct{ Arn string } }
	if err := json.Unmarshal(rt("create-storage-configuration", "--name", "rec", "--s3", "bucketName=stage-recordings"), &sc); err != nil ||
		!strings.Contains(sc.StorageConfiguration.Arn, ":storage-configuration/") {
		t.Fatalf("create-storage-configuration: %+v, %v", sc, err)
	}
	if _, err := os.Stat(filepath.Join(s.DataDir, "recordings", "stage-recordings")); err != nil {
		t.Errorf("the bucket was not checked: %v", err)
	}
	if out := rt("get-storage-configuration", "--arn", sc.StorageConfiguration.Arn); !strings.Contains(string(out), `"bucketName": "stage-recordings"`) {
		t.Errorf("get-storage-configuration:\n%s", out)
	}
	if out := rt("list-storage-configurations"); !strings.Contains(string(out), sc.StorageConfiguration.Arn) {
		t.Errorf("list-storage-configurations:\n%s", out)
	}
	fail("ValidationException", "s3.bucketName", "create-storage-configuration", "--s3", "bucketName=UPPER")
	rt("delete-storage-configuration", "--arn", sc.StorageConfiguration.Arn)
	fail("ResourceNotFoundException", "not found", "delete-storage-configuration", "--arn", sc.StorageConfiguration.Arn)

	// Compositions are served (TestCompositionGridOntoChannel runs one):
	// this server has none.
	if out := rt("list-compositions"); !strings.Contains(string(out), `"compositions": []`) {
		t.Errorf("list-compositions:\n%s", out)
	}

	rt("delete-stage", "--arn", st.Arn)
	fail("ResourceNotFoundException", "not found", "get-stage", "--arn", st.Arn)
	fail("ResourceNotFoundException", "not found", "delete-stage", "--arn", st.Arn)
	fail("ResourceNotFoundException", "not found", "create-participant-token", "--stage-arn", st.Arn)
}

// TestStagesWithJSSDK runs web/e2e/ivsrealtime.mjs: every served Stages
// operation through @aws-sdk/client-ivs-realtime (the SDK decodes each
// error's name and status), the validation rules, the quotas.
func TestStagesWithJSSDK(t *testing.T) {
	t.Parallel()
	root := harness.Root(t)
	node := harness.RequireProgram(t, "node")
	if _, err := os.Stat(filepath.Join(root, "web", "node_modules", "@aws-sdk", "client-ivs-realtime")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("web/node_modules is missing under CI: make test installs it (%v)", err)
		}
		t.Skipf("web/node_modules missing: run make test (or npm ci in web/) first")
	}
	// The quota test makes 100 stages at once: no request budget.
	s := harness.Start(t, harness.Options{Args: []string{"--api-rate-limit", "0"}})
	p := harness.StartProcessIn(t, filepath.Join(root, "web"), []string{"ONAIR_URL=" + s.Endpoint(), "ONAIR_HTTPS=" + s.HTTPSEndpoint(),
		"ONAIR_AKID=" + s.AccessKeyID, "ONAIR_SECRET=" + s.SecretAccessKey}, node, "--test", "e2e/ivsrealtime.mjs")
	if err := p.Wait(2 * time.Minute); err != nil {
		t.Fatalf("node --test e2e/ivsrealtime.mjs: %v\n%s\nserver log:\n%s", err, p.Output(), s.Logs())
	}
	if out := p.Output(); !strings.Contains(out, "# pass 10") || !strings.Contains(out, "# fail 0") {
		t.Fatalf("node:test did not pass all 10 tests:\n%s", out)
	}
}

// Tokens the real binary issues (CreateParticipantToken through the aws
// CLI) verify with ivsrealtime's join check on its data dir, as the media
// side will run it; self-signed ES384 tokens verify with a key imported
// through the CLI until delete-public-key; expired, forged and alg-none
// tokens fail, and a deleted stage's tokens fail as such.
func TestStageTokensVerify(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	cli := newCLI(t, s)
	ctx := harness.Context(t, time.Minute)
	var created struct{ Stage struct{ Arn string } }
	if err := json.Unmarshal(cli.run("ivs-realtime", "create-stage"), &created); err != nil {
		t.Fatal(err)
	}
	stageARN := created.Stage.Arn
	var pt struct {
		ParticipantToken struct{ ParticipantID, Token string }
	}
	if err := json.Unmarshal(cli.run("ivs-realtime", "create-participant-token", "--stage-arn", stageARN, "--user-id", "u",
		"--capabilities", "SUBSCRIBE"), &pt); err != nil {
		t.Fatal(err)
	}
	priv, kid := importStageKey(t, cli)

	// The join check, on the server's own store.
	store := openServerStore(ctx, t, s)
	account := strings.Split(stageARN, ":")[4]
	svc := ivsrealtime.New(ivsrealtime.Config{Region: "us-east-1", AccountID: account, Docs: store, Sessions: store})

	c, err := svc.VerifyParticipantToken(ctx, pt.ParticipantToken.Token)
	if err != nil {
		t.Fatalf("onair's token: %v", err)
	}
	if c.ParticipantID != pt.ParticipantToken.ParticipantID || c.StageARN != stageARN || c.UserID != "u" || c.Publish || !c.Subscribe {
		t.Fatalf("claims %+v", c)
	}
	sign := func(method jwt.SigningMethod, key any, kid, jti string, exp time.Time) string {
		return signStageToken(t, method, key, kid, stageARN, jti, exp)
	}
	withKid := sign(jwt.SigningMethodES384, priv, kid, "self-1", time.Now().Add(time.Hour))
	noKid := sign(jwt.SigningMethodES384, priv, "", "self_2", time.Now().Add(time.Hour))
	for _, raw := range []string{withKid, noKid} {
		if c, err := svc.VerifyParticipantToken(ctx, raw); err != nil || !c.Publish {
			t.Fatalf("self-signed: %+v, %v", c, err)
		}
	}
	forger, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, raw string
		want      error
	}{
		{"expired", sign(jwt.SigningMethodES384, priv, kid, "old", time.Now().Add(-time.Second)), ivsrealtime.ErrTokenExpired},
		{"wrong signature", sign(jwt.SigningMethodES384, forger, kid, "f", time.Now().Add(time.Hour)), ivsrealtime.ErrTokenSignature},
		{"alg none", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", "n", time.Now().Add(time.Hour)), ivsrealtime.ErrTokenMalformed},
	} {
		if _, err := svc.VerifyParticipantToken(ctx, tc.raw); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	cli.run("ivs-realtime", "delete-public-key", "--arn", kid)
	for _, raw := range []string{withKid, noKid} {
		if _, err := svc.VerifyParticipantToken(ctx, raw); !errors.Is(err, ivsrealtime.ErrTokenSignature) {
			t.Fatalf("after delete-public-key: %v, want ErrTokenSignature", err)
		}
	}
	cli.run("ivs-realtime", "delete-stage", "--arn", stageARN)
	if _, err := svc.VerifyParticipantToken(ctx, pt.ParticipantToken.Token); !errors.Is(err, ivsrealtime.ErrStageDeleted) {
		t.Fatalf("after delete-stage: %v, want ErrStageDeleted", err)
	}
}

// serverStore is what a test reads of a server's store directly.
type serverStore interface {
	ivsrealtime.SessionStore
	onairivs.DocStore
	Close() error
}

// openServerStore opens the store of a running server: its SQLite file, or
// its PostgreSQL database under ONAIR_TEST_STORE=postgres.
func openServerStore(ctx context.Context, t *testing.T, s *harness.Server) serverStore {
	t.Helper()
	var st serverStore
	var err error
	if s.PostgresURL != "" {
		st, err = postgres.Open(ctx, s.PostgresURL)
	} else {
		st, err = sqlite.Open(ctx, s.DataDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}
