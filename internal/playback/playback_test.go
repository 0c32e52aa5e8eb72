package playback

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/onair-video/onair/internal/ivs"
)

const (
	privateID  = "privAAAAAAAA"
	publicID   = "publAAAAAAAA"
	otherID    = "othrAAAAAAAA"
	arnPrefix  = "arn:aws:ivs:us-east-1:123456789012:channel/"
	privateARN = arnPrefix + privateID
	policyID   = "poliAAAAAAAA" // a public channel with a restriction policy
	policyARN  = "arn:aws:ivs:us-east-1:123456789012:playback-restriction-policy/p1"
)

type fakeService struct {
	keys    []ivs.PlaybackKey
	revoked map[string]int64
	policy  ivs.PlaybackRestrictionPolicy
}

func (f *fakeService) PlaybackChannel(_ context.Context, id string) (ivs.PlaybackChannel, error) {
	switch id {
	case privateID, otherID:
		return ivs.PlaybackChannel{ID: id, ARN: arnPrefix + id, Authorized: true}, nil
	case publicID:
		return ivs.PlaybackChannel{ID: id, ARN: arnPrefix + id}, nil
	case policyID:
		return ivs.PlaybackChannel{ID: id, ARN: arnPrefix + id, PolicyARN: policyARN}, nil
	}
	return ivs.PlaybackChannel{}, &ivs.Error{Code: ivs.CodeResourceNotFound, Message: "no"}
}

func (f *fakeService) PlaybackKeys(context.Context) ([]ivs.PlaybackKey, error) { return f.keys, nil }

func (f *fakeService) ViewerRevoked(_ context.Context, ch, viewer string, v int64) (bool, error) {
	upTo, ok := f.revoked[ch+"/"+viewer]
	return ok && v <= upTo, nil
}

func (f *fakeService) PlaybackPolicy(_ context.Context, arn string) (ivs.PlaybackRestrictionPolicy, error) {
	if arn != policyARN {
		return ivs.PlaybackRestrictionPolicy{}, errors.New("no such policy")
	}
	return f.policy, nil
}

func (f *fakeService) PlaybackSessionSecret(context.Context) ([]byte, error) {
	return []byte("0123456789abcdef0123456789abcdef"), nil
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sign(t testing.TB, k *ecdsa.PrivateKey, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodES384, claims).SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAuthorize(t *testing.T) {
	t.Parallel()
	key, stranger := newKey(t), newKey(t)
	now := time.Unix(1_800_000_000, 0)
	exp := now.Add(5 * time.Minute).Unix()
	claims := func(extra jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{"aws:channel-arn": privateARN, "exp": exp}
		for k, v := range extra {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	svc := &fakeService{keys: []ivs.PlaybackKey{{ARN: "k", Key: &key.PublicKey}}, revoked: map[string]int64{privateID + "/bob": 3}}
	hs256, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil)).SignedString([]byte("secret"))
	for _, tc := range []struct {
		name    string
		req     Request
		want    int // 0: granted, else the refusal's status
		why     string
		private bool
		origin  string
	}{
		{name: "public", req: Request{ChannelID: publicID}, origin: "*"},
		{name: "no such channel", req: Request{ChannelID: "nopeAAAAAAAA"}, want: http.StatusNotFound},
		{name: "private without token", req: Request{ChannelID: privateID, Start: true}, want: 403, why: "token is required"},
		{name: "valid", req: Request{ChannelID: privateID, Start: true, Token: sign(t, key, claims(nil))}, private: true, origin: "*"},
		{name: "expired", req: Request{ChannelID: privateID, Start: true, Token: sign(t, key, claims(jwt.MapClaims{"exp": now.Add(-time.Hour).Unix()}))}, want: 403, why: "expired"},
		{name: "no exp", req: Request{ChannelID: privateID, Start: true, Token: sign(t, key, claims(jwt.MapClaims{"exp": nil}))}, want: 403, why: "not valid"},
		{name: "other channel", req: Request{ChannelID: privateID, Start: true, Token: sign(t, key, claims(jwt.MapClaims{"aws:channel-arn": arnPrefix + otherID}))}, want: 403, why: "another channel"},
		{name: "forged", req: Request{ChannelID: privateID, Start: true, Token: sign(t, stranger, claims(nil))}, want: 403, why: "not valid"},
		{name: "tampered", req: Request{ChannelID: privateID, Start: true, Token: tamper(sign(t, key, claims(nil)))}, want: 403, why: "not valid"},
		{name: "HS256 refused", req: Request{ChannelID: privateID, Start: true, Token: hs256}, want: 403, why: "not valid"},
		{name: "none alg", req: Request{ChannelID: privateID, Start: true, Token: noneToken(claims(nil))}, want: 403, why: "not valid"},
		{name: "garbage", req: Request{ChannelID: privateID, Start: true, Token: "a.b.c"}, want: 403, why: "not valid"},
		{name: "origin allowed", req: Request{ChannelID: privateID, Start: true, Origin: "https://www.example.com",
			Token: sign(t, key, claims(jwt.MapClaims{"aws:access-control-allow-origin": "https://*.example.com,https://b.test"}))},
			private: true, origin: "https://www.example.com"},
		{name: "origin refused", req: Request{ChannelID: privateID, Start: true, Origin: "https://evil.test",
			Token: sign(t, key, claims(jwt.MapClaims{"aws:access-control-allow-origin": "https://*.example.com"}))}, want: 403, why: "not allowed"},
		{name: "bare domain is not a subdomain", req: Request{ChannelID: privateID, Start: true, Origin: "https://example.com",
			Token: sign(t, key, claims(jwt.MapClaims{"aws:access-control-allow-origin": "https://*.example.com"}))}, want: 403, why: "not allowed"},
		{name: "strict needs origin", req: Request{ChannelID: privateID, Start: true,
			Token: sign(t, key, claims(jwt.MapClaims{"aws:access-control-allow-origin": "https://a.test", "aws:strict-origin-enforcement": true}))}, want: 403, why: "Origin header"},
		{name: "revoked viewer", req: Request{ChannelID: privateID, Start: true,
			Token: sign(t, key, claims(jwt.MapClaims{"aws:viewer-id": "bob", "aws:viewer-session-version": 3}))}, want: 403, why: "revoked"},
		{name: "newer session of a revoked viewer", req: Request{ChannelID: privateID, Start: true,
			Token: sign(t, key, claims(jwt.MapClaims{"aws:viewer-id": "bob", "aws:viewer-session-version": 4}))}, private: true, origin: "*"},
		{name: "viewer-id needs short exp", req: Request{ChannelID: privateID, Start: true,
			Token: sign(t, key, claims(jwt.MapClaims{"aws:viewer-id": "amy", "exp": now.Add(time.Hour).Unix()}))}, want: 403, why: "10 minutes"},
		{name: "viewer-id too long", req: Request{ChannelID: privateID, Start: true,
			Token: sign(t, key, claims(jwt.MapClaims{"aws:viewer-id": strings.Repeat("x", 41)}))}, want: 403, why: "aws:viewer-id"},
		{name: "bad max resolution", req: Request{ChannelID: privateID, Start: true,
			Token: sign(t, key, claims(jwt.MapClaims{"aws:maximum-resolution": "8K"}))}, want: 403, why: "maximum-resolution"},
		{name: "session credential", req: Request{ChannelID: privateID, Token: "s1.garbage.x"}, want: 403, why: "credential is not valid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := New(svc, nil)
			a.now = func() time.Time { return now }
			g, err := a.Authorize(context.Background(), tc.req)
			if tc.want != 0 {
				var d *Denied
				if !errors.As(err, &d) || d.Status != tc.want || !strings.Contains(d.Reason, tc.why) {
					t.Fatalf("got %v, want %d %q", err, tc.want, tc.why)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g.Private != tc.private || g.AllowOrigin != tc.origin || g.Private != (g.Session != "") {
				t.Fatalf("grant %+v", g)
			}
		})
	}
}

// A session credential works for the channel's later requests, past the
// token's exp, and for nothing else.
func TestSessions(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	now := time.Unix(1_800_000_000, 0)
	svc := &fakeService{keys: []ivs.PlaybackKey{{Key: &key.PublicKey}}, revoked: map[string]int64{}}
	a := New(svc, nil)
	a.now = func() time.Time { return now }
	ctx := context.Background()
	tok := sign(t, key, jwt.MapClaims{"aws:channel-arn": privateARN, "exp": now.Add(time.Minute).Unix(),
		"aws:single-use-uuid": "u-1", "aws:viewer-id": "amy", "aws:maximum-resolution": "SD",
		"aws:access-control-allow-origin": "https://a.test", "aws:strict-origin-enforcement": true})
	// A single-use token cannot be spent on a sub-request.
	if _, err := a.Authorize(ctx, Request{ChannelID: privateID, Token: tok, Origin: "https://a.test"}); err == nil {
		t.Fatal("single-use token accepted on a media request")
	}
	g, err := a.Authorize(ctx, Request{ChannelID: privateID, Token: tok, Start: true, Origin: "https://a.test"})
	if err != nil {
		t.Fatal(err)
	}
	if g.MaxHeight != 480 || g.ViewerID != "amy" || !strings.HasPrefix(g.Session, sessionPrefix) {
		t.Fatalf("grant %+v", g)
	}
	if _, err := a.Authorize(ctx, Request{ChannelID: privateID, Token: tok, Start: true, Origin: "https://a.test"}); err == nil {
		t.Fatal("single-use token used twice")
	}
	now = now.Add(time.Hour) // the token has expired; the session has not
	sub := Request{ChannelID: privateID, Token: g.Session, Origin: "https://a.test"}
	if g2, err := a.Authorize(ctx, sub); err != nil || g2.Session != g.Session || g2.MaxHeight != 480 {
		t.Fatalf("session: %+v %v", g2, err)
	}
	for name, r := range map[string]Request{
		"other channel":      {ChannelID: otherID, Token: g.Session, Origin: "https://a.test"},
		"strict origin":      {ChannelID: privateID, Token: g.Session, Origin: "https://b.test"},
		"no origin (strict)": {ChannelID: privateID, Token: g.Session},
		"tampered":           {ChannelID: privateID, Token: tamper(g.Session), Origin: "https://a.test"},
	} {
		if _, err := a.Authorize(ctx, r); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	svc.revoked[privateID+"/amy"] = 0
	if _, err := a.Authorize(ctx, sub); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("after revocation: %v", err)
	}
	now = now.Add(sessionLifetime)
	delete(svc.revoked, privateID+"/amy")
	if _, err := a.Authorize(ctx, sub); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("after the session's lifetime: %v", err)
	}
}

func TestTokenOf(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"":                       "",
		"token=abc":              "abc",
		"vsid=1&token=a.b-c_d":   "a.b-c_d",
		"tokens=x&token=y":       "y",
		"token=a%2Eb":            "a.b",
		"_HLS_msn=3&_HLS_part=1": "",
	} {
		if got := tokenOf(raw); got != want {
			t.Errorf("tokenOf(%q) = %q, want %q", raw, got, want)
		}
	}
}

// tamper flips a character of the payload of a dotted token.
func tamper(tok string) string {
	i := strings.IndexByte(tok, '.') + 3
	b := []byte(tok)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func noneToken(c jwt.MapClaims) string {
	s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
	return s
}

func BenchmarkAuthorizeSession(b *testing.B) {
	key := newKey(b)
	svc := &fakeService{keys: []ivs.PlaybackKey{{Key: &key.PublicKey}}, revoked: map[string]int64{}}
	a := New(svc, nil)
	ctx := context.Background()
	g, err := a.Authorize(ctx, Request{ChannelID: privateID, Start: true,
		Token: sign(b, key, jwt.MapClaims{"aws:channel-arn": privateARN, "exp": time.Now().Add(time.Minute).Unix(), "aws:viewer-id": "v"})})
	if err != nil {
		b.Fatal(err)
	}
	r := Request{ChannelID: privateID, Token: g.Session}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Authorize(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAuthorizeToken(b *testing.B) {
	key := newKey(b)
	svc := &fakeService{keys: []ivs.PlaybackKey{{Key: &key.PublicKey}}, revoked: map[string]int64{}}
	a := New(svc, nil)
	ctx := context.Background()
	r := Request{ChannelID: privateID, Start: true,
		Token: sign(b, key, jwt.MapClaims{"aws:channel-arn": privateARN, "exp": time.Now().Add(time.Minute).Unix()})}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Authorize(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzOpenSession(f *testing.F) {
	svc := &fakeService{}
	a := New(svc, nil)
	good, _ := a.Seal(context.Background(), privateID, time.Hour)
	f.Add(good)
	f.Add("s1.")
	f.Add("s1.a.b")
	f.Fuzz(func(t *testing.T, cred string) {
		s, err := a.openSession(context.Background(), cred)
		if err == nil && cred != good && s.channelID != privateID {
			t.Fatalf("forged session accepted: %q", cred)
		}
	})
}

func FuzzVerifyToken(f *testing.F) {
	key := newKey(f)
	svc := &fakeService{keys: []ivs.PlaybackKey{{Key: &key.PublicKey}}}
	f.Add(sign(f, key, jwt.MapClaims{"aws:channel-arn": privateARN, "exp": time.Now().Add(time.Minute).Unix()}))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, tok string) {
		a := New(svc, nil)
		_, _ = a.Authorize(context.Background(), Request{ChannelID: privateID, Token: tok, Start: true})
	})
}

type fakeGeo map[string]string

func (g fakeGeo) Country(a netip.Addr) (string, bool) {
	c, ok := g[a.String()]
	return c, ok
}

func TestRestrictionPolicy(t *testing.T) {
	t.Parallel()
	geo := fakeGeo{"81.2.69.160": "GB", "2a02:6b8::1": "SE"}
	for _, tc := range []struct {
		name   string
		policy ivs.PlaybackRestrictionPolicy
		geo    Countries
		req    Request
		want   string // "" granted, else part of the refusal
		origin string
	}{
		{name: "no limits", req: Request{Remote: "81.2.69.160:1"}, origin: "*"},
		{name: "origin allowed", policy: ivs.PlaybackRestrictionPolicy{AllowedOrigins: []string{"https://a.test"}},
			req: Request{Origin: "https://a.test", Remote: "81.2.69.160:1"}, origin: "https://a.test"},
		{name: "origin refused", policy: ivs.PlaybackRestrictionPolicy{AllowedOrigins: []string{"https://a.test"}},
			req: Request{Origin: "https://b.test"}, want: "not allowed"},
		{name: "no origin, lenient", policy: ivs.PlaybackRestrictionPolicy{AllowedOrigins: []string{"https://a.test"}},
			req: Request{Remote: "81.2.69.160:1"}, origin: "*"},
		{name: "no origin, strict", policy: ivs.PlaybackRestrictionPolicy{AllowedOrigins: []string{"https://a.test"}, EnableStrictOriginEnforcement: true},
			req: Request{}, want: "Origin header"},
		{name: "country allowed", policy: ivs.PlaybackRestrictionPolicy{AllowedCountries: []string{"GB"}}, geo: geo,
			req: Request{Remote: "81.2.69.160:5000"}, origin: "*"},
		{name: "country refused", policy: ivs.PlaybackRestrictionPolicy{AllowedCountries: []string{"GB"}}, geo: geo,
			req: Request{Remote: "[2a02:6b8::1]:5000"}, want: "from SE"},
		{name: "unknown country refused", policy: ivs.PlaybackRestrictionPolicy{AllowedCountries: []string{"GB"}}, geo: geo,
			req: Request{Remote: "8.8.8.8:53"}, want: "unknown country"},
		{name: "private address passes", policy: ivs.PlaybackRestrictionPolicy{AllowedCountries: []string{"GB"}}, geo: geo,
			req: Request{Remote: "10.1.2.3:5000"}, origin: "*"},
		{name: "no GeoIP database", policy: ivs.PlaybackRestrictionPolicy{AllowedCountries: []string{"GB"}},
			req: Request{Remote: "81.2.69.160:5000"}, want: "--geoip-db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := New(&fakeService{policy: tc.policy}, tc.geo)
			tc.req.ChannelID = policyID
			g, err := a.Authorize(context.Background(), tc.req)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want a refusal with %q", err, tc.want)
				}
				return
			}
			if err != nil || g.AllowOrigin != tc.origin {
				t.Fatalf("got %+v %v", g, err)
			}
		})
	}
}

func FuzzTokenOf(f *testing.F) {
	for _, s := range []string{"token=abc", "a=1&token=s1.x.y", "token=%zz", "token", "&&&token=&token=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if tok := tokenOf(raw); len(tok) > len(raw) {
			t.Fatalf("token %q longer than the query %q", tok, raw)
		}
	})
}
