package ivsrealtime_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/ivsrealtime"
	"github.com/onair-video/onair/internal/store/sqlite"
)

const account = "123456789012"

var ep = ivsrealtime.Endpoints{Events: "wss://h:8443/stage/events", WHIP: "https://h:8443/stage/whip"}

// hooks records the calls of the service's hooks.
type hooks struct {
	mu           sync.Mutex
	disconnected []string
	deleted      []string
	emitted      []ivs.Event
	emitErr      error
}

func openStore(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newService(t testing.TB) (*ivsrealtime.Service, *hooks) {
	t.Helper()
	return newServiceOn(t, openStore(t), nil)
}

// newServiceOn is a service on st with the clock now (nil: time.Now).
func newServiceOn(t testing.TB, st *sqlite.Store, now func() time.Time) (*ivsrealtime.Service, *hooks) {
	t.Helper()
	h := &hooks{}
	s := ivsrealtime.New(ivsrealtime.Config{Region: "us-east-1", AccountID: account, Docs: st, Sessions: st, Now: now,
		Emit: func(_ context.Context, e ivs.Event) (ivs.Event, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.emitErr != nil {
				return ivs.Event{}, h.emitErr
			}
			h.emitted = append(h.emitted, e)
			return e, nil
		},
		Hooks: ivsrealtime.Hooks{
			ParticipantDisconnected: func(stageID, pid, reason string) {
				h.mu.Lock()
				defer h.mu.Unlock()
				h.disconnected = append(h.disconnected, stageID+"/"+pid+"/"+reason)
			},
			StageDeleted: func(stageID string) {
				h.mu.Lock()
				defer h.mu.Unlock()
				h.deleted = append(h.deleted, stageID)
			},
		}})
	return s, h
}

func newStage(t testing.TB, s *ivsrealtime.Service) ivsrealtime.Stage {
	t.Helper()
	st, _, err := s.CreateStage(context.Background(), ivsrealtime.CreateStageInput{}, ep)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func token(t testing.TB, s *ivsrealtime.Service, st ivsrealtime.Stage, c ivsrealtime.ParticipantTokenConfiguration) ivsrealtime.ParticipantToken {
	t.Helper()
	tok, err := s.CreateParticipantToken(context.Background(), ivsrealtime.CreateParticipantTokenInput{StageARN: st.ARN, ParticipantTokenConfiguration: c}, ep)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// keyPair is a customer's P-384 key pair: its public half as PEM.
func keyPair(t testing.TB) (*ecdsa.PrivateKey, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return k, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// selfSigned is a token as AWS's sample code signs it.
func selfSigned(t testing.TB, method jwt.SigningMethod, key any, kid string, st ivsrealtime.Stage, jti string, exp time.Time, edit func(jwt.MapClaims)) string {
	t.Helper()
	c := jwt.MapClaims{"exp": exp.Unix(), "iat": time.Now().Unix(), "jti": jti, "resource": st.ARN, "topic": st.ID,
		"events_url": ep.Events, "whip_url": ep.WHIP, "capabilities": map[string]bool{"allow_publish": true, "allow_subscribe": true},
		"version": "1.0", "user_id": "self", "attributes": map[string]string{"a": "b"}}
	if edit != nil {
		edit(c)
	}
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	raw, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// Tokens onair issues verify; self-signed ES384 tokens verify with an
// imported key (named by kid or found among all) until it is deleted;
// expired, forged, alg-none, HMAC, tampered and malformed tokens, and
// tokens of a deleted stage, fail with their own error.
func TestVerifyParticipantToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newService(t)
	st := newStage(t, s)
	own := token(t, s, st, ivsrealtime.ParticipantTokenConfiguration{UserID: "u1", Attributes: map[string]string{"k": "v"},
		Capabilities: []string{ivsrealtime.CapSubscribe}})
	c, err := s.VerifyParticipantToken(ctx, own.Token)
	if err != nil {
		t.Fatal(err)
	}
	if c.StageID != st.ID || c.StageARN != st.ARN || c.ParticipantID != own.ParticipantID || c.UserID != "u1" || c.Attributes["k"] != "v" ||
		c.Publish || !c.Subscribe || !c.ExpiresAt.Equal(own.ExpirationTime) || c.PublicKeyARN != "" {
		t.Fatalf("claims %+v of token %+v", c, own)
	}

	priv, material := keyPair(t)
	pk, err := s.ImportPublicKey(ctx, ivsrealtime.ImportPublicKeyInput{PublicKeyMaterial: material})
	if err != nil {
		t.Fatal(err)
	}
	other, otherMaterial := keyPair(t)
	if _, err := s.ImportPublicKey(ctx, ivsrealtime.ImportPublicKeyInput{PublicKeyMaterial: otherMaterial}); err != nil {
		t.Fatal(err)
	}
	soon := time.Now().Add(time.Hour)
	withKid := selfSigned(t, jwt.SigningMethodES384, priv, pk.ARN, st, "self_signed-1", soon, nil)
	noKid := selfSigned(t, jwt.SigningMethodES384, priv, "", st, "self-2", soon, nil)
	for _, raw := range []string{withKid, noKid} {
		c, err := s.VerifyParticipantToken(ctx, raw)
		if err != nil {
			t.Fatalf("self-signed: %v", err)
		}
		if c.UserID != "self" || !c.Publish || c.Attributes["a"] != "b" {
			t.Fatalf("self-signed claims %+v", c)
		}
	}
	if c, _ := s.VerifyParticipantToken(ctx, withKid); c.PublicKeyARN != pk.ARN || c.ParticipantID != "self_signed-1" {
		t.Fatalf("claims %+v: want the key's ARN and the jti", c)
	}

	hsKey, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	parts := strings.Split(own.Token, ".")
	tamperedClaims := selfSigned(t, jwt.SigningMethodES384, other, "", st, own.ParticipantID, soon, nil)
	tampered := parts[0] + "." + strings.Split(tamperedClaims, ".")[1] + "." + parts[2]
	// Before the key and stage go.
	for _, tc := range []struct {
		name string
		raw  string
		want error
	}{
		{"expired", selfSigned(t, jwt.SigningMethodES384, priv, pk.ARN, st, "old", time.Now().Add(-time.Minute), nil), ivsrealtime.ErrTokenExpired},
		{"expired and forged", selfSigned(t, jwt.SigningMethodES384, other, pk.ARN, st, "old", time.Now().Add(-time.Minute), nil),
			ivsrealtime.ErrTokenSignature},
		{"wrong signature", selfSigned(t, jwt.SigningMethodES384, other, pk.ARN, st, "p", soon, nil), ivsrealtime.ErrTokenSignature},
		{"unknown kid", selfSigned(t, jwt.SigningMethodES384, priv, strings.Replace(pk.ARN, pk.ID, "abcdABCDefgh", 1), st, "p", soon, nil),
			ivsrealtime.ErrTokenSignature},
		{"key of no import", selfSigned(t, jwt.SigningMethodES384, func() *ecdsa.PrivateKey { k, _ := keyPair(t); return k }(), "", st, "p", soon, nil),
			ivsrealtime.ErrTokenSignature},
		{"tampered claims", tampered, ivsrealtime.ErrTokenSignature},
		{"alg none", selfSigned(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", st, "p", soon, nil), ivsrealtime.ErrTokenMalformed},
		{"HS384 with the public key as secret", selfSigned(t, jwt.SigningMethodHS384, hsKey, pk.ARN, st, "p", soon, nil), ivsrealtime.ErrTokenMalformed},
		{"ES256", selfSigned(t, jwt.SigningMethodES256, func() *ecdsa.PrivateKey {
			k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			return k
		}(), "", st, "p", soon, nil), ivsrealtime.ErrTokenMalformed},
		{"no exp", selfSigned(t, jwt.SigningMethodES384, priv, pk.ARN, st, "p", soon, func(c jwt.MapClaims) { delete(c, "exp") }), ivsrealtime.ErrTokenMalformed},
		{"no capabilities", selfSigned(t, jwt.SigningMethodES384, priv, pk.ARN, st, "p", soon, func(c jwt.MapClaims) { delete(c, "capabilities") }),
			ivsrealtime.ErrTokenMalformed},
		{"bad jti", selfSigned(t, jwt.SigningMethodES384, priv, pk.ARN, st, "a b", soon, nil), ivsrealtime.ErrTokenMalformed},
		{"no jti", selfSigned(t, jwt.SigningMethodES384, priv, pk.ARN, st, "", soon, nil), ivsrealtime.ErrTokenMalformed},
		{"channel resource", selfSigned(t, jwt.SigningMethodES384, priv, pk.ARN, st, "p", soon, func(c jwt.MapClaims) {
			c["resource"] = strings.Replace(st.ARN, ":stage/", ":channel/", 1)
		}), ivsrealtime.ErrTokenMalformed},
		{"topic of another stage", selfSigned(t, jwt.SigningMethodES384, priv, pk.ARN, st, "p", soon, func(c jwt.MapClaims) { c["topic"] = "other" }),
			ivsrealtime.ErrTokenMalformed},
		{"stage never made", selfSigned(t, jwt.SigningMethodES384, priv, pk.ARN, st, "p", soon, func(c jwt.MapClaims) {
			c["resource"] = strings.Replace(st.ARN, st.ID, "abcdABCDefgh", 1)
			c["topic"] = "abcdABCDefgh"
		}), ivsrealtime.ErrStageDeleted},
		{"another account's stage", selfSigned(t, jwt.SigningMethodES384, priv, pk.ARN, st, "p", soon, func(c jwt.MapClaims) {
			c["resource"] = strings.Replace(st.ARN, account, "210987654321", 1)
		}), ivsrealtime.ErrStageDeleted},
		{"not a JWT", "abc", ivsrealtime.ErrTokenMalformed},
		{"empty", "", ivsrealtime.ErrTokenMalformed},
		{"huge", strings.Repeat("a", 10000), ivsrealtime.ErrTokenMalformed},
		{"IVS's KMS alg", "eyJhbGciOiJLTVMiLCJ0eXAiOiJKV1QifQ.eyJleHAiOjE2NjE1NDE0MjB9.c2ln", ivsrealtime.ErrTokenMalformed},
	} {
		if _, err := s.VerifyParticipantToken(ctx, tc.raw); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}

	// DeletePublicKey invalidates the tokens its key signed.
	if err := s.DeletePublicKey(ctx, pk.ARN); err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{withKid, noKid} {
		if _, err := s.VerifyParticipantToken(ctx, raw); !errors.Is(err, ivsrealtime.ErrTokenSignature) {
			t.Fatalf("after DeletePublicKey: %v, want ErrTokenSignature", err)
		}
	}
	// A deleted stage's tokens are refused as such.
	if err := s.DeleteStage(ctx, st.ARN); err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyParticipantToken(ctx, own.Token); !errors.Is(err, ivsrealtime.ErrStageDeleted) {
		t.Fatalf("after DeleteStage: %v, want ErrStageDeleted", err)
	}
}

// onair's tokens carry every claim the web SDK reads, empty or not.
func TestTokenClaims(t *testing.T) {
	t.Parallel()
	s, _ := newService(t)
	st := newStage(t, s)
	tok := token(t, s, st, ivsrealtime.ParticipantTokenConfiguration{})
	claims := jwt.MapClaims{}
	parsed, _, err := jwt.NewParser().ParseUnverified(tok.Token, claims)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Header["alg"] != "ES384" || parsed.Header["kid"] == nil {
		t.Fatalf("header %v", parsed.Header)
	}
	for _, k := range []string{"exp", "iat", "jti", "resource", "topic", "events_url", "whip_url", "user_id", "attributes", "capabilities", "version"} {
		if _, ok := claims[k]; !ok {
			t.Errorf("claim %s missing from %v", k, claims)
		}
	}
	if claims["events_url"] != ep.Events || claims["whip_url"] != ep.WHIP || claims["topic"] != st.ID || claims["jti"] != tok.ParticipantID {
		t.Fatalf("claims %v", claims)
	}
}

// onair's own token expires after its duration; the key outlives a
// restart (a second service on the same store verifies).
func TestOwnTokenExpiresAndOutlivesRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := openStore(t)
	s, _ := newServiceOn(t, store, nil)
	st := newStage(t, s)
	d := int32(1)
	tok := token(t, s, st, ivsrealtime.ParticipantTokenConfiguration{Duration: &d})
	again, _ := newServiceOn(t, store, nil)
	if _, err := again.VerifyParticipantToken(ctx, tok.Token); err != nil {
		t.Fatalf("after a restart: %v", err)
	}
	later, _ := newServiceOn(t, store, func() time.Time { return time.Now().Add(2 * time.Minute) })
	if _, err := later.VerifyParticipantToken(ctx, tok.Token); !errors.Is(err, ivsrealtime.ErrTokenExpired) {
		t.Fatalf("two minutes on: %v, want ErrTokenExpired", err)
	}
}

// FuzzVerifyParticipantToken feeds the parser untrusted tokens: it never
// panics, and accepts nothing but the tokens that were signed.
func FuzzVerifyParticipantToken(f *testing.F) {
	s, _ := newService(f)
	st := newStage(f, s)
	ctx := context.Background()
	priv, material := keyPair(f)
	pk, err := s.ImportPublicKey(ctx, ivsrealtime.ImportPublicKeyInput{PublicKeyMaterial: material})
	if err != nil {
		f.Fatal(err)
	}
	valid := map[string]bool{
		token(f, s, st, ivsrealtime.ParticipantTokenConfiguration{}).Token:                            true,
		selfSigned(f, jwt.SigningMethodES384, priv, pk.ARN, st, "fz", time.Now().Add(time.Hour), nil): true,
		selfSigned(f, jwt.SigningMethodES384, priv, "", st, "fz2", time.Now().Add(time.Hour), nil):    true,
	}
	for raw := range valid {
		f.Add(raw)
	}
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.eyJleHAiOjk5OTk5OTk5OTl9.")
	f.Fuzz(func(t *testing.T, raw string) {
		_, err := s.VerifyParticipantToken(ctx, raw)
		if err == nil && !valid[raw] {
			t.Fatalf("accepted a token nobody signed: %q", raw)
		}
		if err != nil && !errors.Is(err, ivsrealtime.ErrTokenMalformed) && !errors.Is(err, ivsrealtime.ErrTokenSignature) &&
			!errors.Is(err, ivsrealtime.ErrTokenExpired) && !errors.Is(err, ivsrealtime.ErrStageDeleted) {
			t.Fatalf("an error of no kind: %v", err)
		}
	})
}

// wantCode checks that err is an IVS error of code that names field ("":
// any field).
func wantCode(t *testing.T, err error, code ivs.Code, field string) {
	t.Helper()
	e, ok := ivs.AsError(err)
	if !ok || e.Code != code || (field != "" && (e.Field != field || !strings.Contains(e.Message, field))) {
		t.Fatalf("err = %v, want %s naming %q", err, code, field)
	}
}
