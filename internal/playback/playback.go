// Package playback decides who may watch a channel. A public channel is
// open to all. A private one (authorized: true) takes the playback tokens
// IVS defines: ES384 JWTs signed with a key pair imported through
// ImportPlaybackKeyPair, naming the channel in aws:channel-arn. A token is
// checked in full when playback starts (the multivariant playlist, a WHEP
// offer); the player then carries a session credential this package signs,
// put into every playlist URI, that is checked on every playlist, part and
// segment request in a microsecond instead of an ECDSA verification, and
// that keeps working after the token's exp, as IVS's sessions do.
package playback

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/onair-video/onair/internal/ivs"
)

// Service is what authorization needs of the IVS service; *ivs.Service
// implements it.
type Service interface {
	PlaybackChannel(ctx context.Context, id string) (ivs.PlaybackChannel, error)
	PlaybackKeys(ctx context.Context) ([]ivs.PlaybackKey, error)
	ViewerRevoked(ctx context.Context, channelID, viewerID string, version int64) (bool, error)
	PlaybackSessionSecret(ctx context.Context) ([]byte, error)
	PlaybackPolicy(ctx context.Context, arn string) (ivs.PlaybackRestrictionPolicy, error)
}

// Countries places an address in a country; *geoip.DB implements it.
type Countries interface {
	Country(addr netip.Addr) (string, bool)
}

// Claims of IVS playback tokens.
const (
	claimChannelARN     = "aws:channel-arn"
	claimAllowOrigin    = "aws:access-control-allow-origin"
	claimStrictOrigin   = "aws:strict-origin-enforcement"
	claimSingleUse      = "aws:single-use-uuid"
	claimViewerID       = "aws:viewer-id"
	claimViewerVersion  = "aws:viewer-session-version"
	claimMaxResolution  = "aws:maximum-resolution"
	maxViewerIDLen      = 40
	maxTokenLen         = 8192
	shortLivedMax       = 10 * time.Minute
	clockLeeway         = 30 * time.Second
	sessionPrefix       = "s1."
	sessionLifetime     = 48 * time.Hour // IVS's longest stream
	maxSingleUseEntries = 1 << 20
)

// Request is one playback request to authorize.
type Request struct {
	ChannelID string
	// Token is the request's ?token=: a playback JWT or a session credential.
	Token string
	// Origin is the request's Origin header.
	Origin string
	// Start is true for the requests that begin playback: the multivariant
	// playlist and a WHEP offer. Only they spend a single-use token.
	Start bool
	// Remote is the client's address (host:port), for allowedCountries.
	Remote string
}

// Grant is what a request may do.
type Grant struct {
	// Private is true for a channel that needs tokens; Session is then the
	// credential to carry in URIs.
	Private bool
	Session string
	// AllowOrigin is the Access-Control-Allow-Origin to answer with.
	AllowOrigin string
	ViewerID    string
	Version     int64
	// MaxHeight is the tallest rendition the viewer may have; 0 is any.
	MaxHeight int
}

// Denied is a refusal; Status is the HTTP status to answer with.
type Denied struct {
	Status int
	Reason string
}

func (d *Denied) Error() string { return "playback: " + d.Reason }

func deny(format string, args ...any) *Denied {
	return &Denied{Status: http.StatusForbidden, Reason: fmt.Sprintf(format, args...)}
}

// Authorizer checks playback requests.
type Authorizer struct {
	svc Service
	geo Countries // nil: no GeoIP database
	now func() time.Time

	mu        sync.Mutex
	singleUse map[string]time.Time // spent aws:single-use-uuid → its token's exp
}

// New returns an Authorizer. geo places viewers in countries for
// restriction policies; nil refuses playback of a channel whose policy
// lists allowedCountries, which cannot be enforced without it.
func New(svc Service, geo Countries) *Authorizer {
	return &Authorizer{svc: svc, geo: geo, now: time.Now, singleUse: make(map[string]time.Time)}
}

// Authorize decides a request. A refusal is a *Denied; other errors are
// the server's (a store failure).
func (a *Authorizer) Authorize(ctx context.Context, r Request) (Grant, error) {
	ch, err := a.svc.PlaybackChannel(ctx, r.ChannelID)
	if err != nil {
		if e, ok := ivs.AsError(err); ok && e.Code == ivs.CodeResourceNotFound {
			return Grant{}, &Denied{Status: http.StatusNotFound, Reason: "no such channel"}
		}
		return Grant{}, fmt.Errorf("playback: channel: %w", err)
	}
	allowOrigin := "*"
	if ch.PolicyARN != "" {
		if allowOrigin, err = a.checkPolicy(ctx, ch.PolicyARN, r); err != nil {
			return Grant{}, err
		}
	}
	if !ch.Authorized {
		return Grant{AllowOrigin: allowOrigin}, nil
	}
	if r.Token == "" {
		return Grant{}, deny("this channel is private: a playback token is required (?token=)")
	}
	var s session
	if strings.HasPrefix(r.Token, sessionPrefix) {
		s, err = a.openSession(ctx, r.Token)
		if err != nil {
			return Grant{}, err
		}
		if s.channelID != ch.ID {
			return Grant{}, deny("the playback session is for another channel")
		}
		// A session's origin rule is checked on every request only when
		// strict; its start was checked in full.
		if s.strict {
			if err := checkOrigin(s.origins, r.Origin, true); err != nil {
				return Grant{}, err
			}
		}
	} else {
		s, err = a.verifyToken(ctx, ch, r)
		if err != nil {
			return Grant{}, err
		}
	}
	if revoked, err := a.svc.ViewerRevoked(ctx, ch.ID, s.viewerID, s.version); err != nil {
		return Grant{}, fmt.Errorf("playback: revocations: %w", err)
	} else if revoked {
		return Grant{}, deny("the viewer's playback session was revoked")
	}
	g := Grant{Private: true, ViewerID: s.viewerID, Version: s.version, MaxHeight: s.maxHeight, AllowOrigin: allowOrigin}
	if s.origins != "" && s.origins != "*" && r.Origin != "" {
		g.AllowOrigin = r.Origin // checked above or at the start
	}
	if strings.HasPrefix(r.Token, sessionPrefix) {
		g.Session = r.Token
		return g, nil
	}
	if g.Session, err = a.sealSession(ctx, s); err != nil {
		return Grant{}, err
	}
	return g, nil
}

// checkPolicy applies a channel's playback restriction policy to r and
// returns the Access-Control-Allow-Origin to answer with. A browser's Origin
// must be in allowedOrigins; with strict enforcement every request must
// carry one. The client's address must be in allowedCountries; private and
// loopback addresses, which no country holds, pass.
func (a *Authorizer) checkPolicy(ctx context.Context, arn string, r Request) (string, error) {
	p, err := a.svc.PlaybackPolicy(ctx, arn)
	if err != nil {
		return "", fmt.Errorf("playback: restriction policy: %w", err)
	}
	allow := "*"
	if len(p.AllowedOrigins) > 0 {
		switch {
		case r.Origin == "" && p.EnableStrictOriginEnforcement:
			return "", deny("the channel's playback restriction policy needs an Origin header (strict origin enforcement)")
		case r.Origin == "":
		case !slices.ContainsFunc(p.AllowedOrigins, func(o string) bool { return originMatches(o, r.Origin) }):
			return "", deny("origin %q is not allowed by the channel's playback restriction policy", r.Origin)
		default:
			allow = r.Origin
		}
	}
	if len(p.AllowedCountries) > 0 {
		addr, err := netip.ParseAddrPort(r.Remote)
		ip := addr.Addr().Unmap()
		if err != nil {
			return "", deny("the client's address %q is not an IP address", r.Remote)
		}
		if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() {
			return allow, nil
		}
		if a.geo == nil {
			return "", deny("the channel's playback restriction policy lists allowedCountries, which needs a GeoIP database (onair --geoip-db)")
		}
		country, _ := a.geo.Country(ip)
		if !p.AllowsCountry(country) {
			if country == "" {
				country = "an unknown country"
			}
			return "", deny("playback from %s is not allowed by the channel's playback restriction policy", country)
		}
	}
	return allow, nil
}

// session is what a session credential carries.
type session struct {
	channelID string
	viewerID  string
	version   int64
	origins   string // the token's allow-origin list, "" for any
	strict    bool
	maxHeight int
	expires   time.Time
}

// verifyToken checks a playback JWT in full and returns the session it
// starts.
func (a *Authorizer) verifyToken(ctx context.Context, ch ivs.PlaybackChannel, r Request) (session, error) {
	if len(r.Token) > maxTokenLen {
		return session{}, deny("the playback token is too long")
	}
	keys, err := a.svc.PlaybackKeys(ctx)
	if err != nil {
		return session{}, fmt.Errorf("playback: keys: %w", err)
	}
	if len(keys) == 0 {
		return session{}, deny("no playback key pair is imported: the token cannot be verified")
	}
	set := jwt.VerificationKeySet{Keys: make([]jwt.VerificationKey, len(keys))}
	for i, k := range keys {
		set.Keys[i] = k.Key
	}
	now := a.now()
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(r.Token, claims, func(*jwt.Token) (any, error) { return set, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodES384.Alg()}), jwt.WithExpirationRequired(),
		jwt.WithLeeway(clockLeeway), jwt.WithTimeFunc(func() time.Time { return now }))
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return session{}, deny("the playback token has expired")
	case err != nil:
		return session{}, deny("the playback token is not valid: %v", err)
	}
	arn, _ := claims[claimChannelARN].(string)
	if arn != ch.ARN {
		return session{}, deny("the playback token is for another channel")
	}
	s := session{channelID: ch.ID, expires: now.Add(sessionLifetime)}
	if v, ok := claims[claimViewerID]; ok {
		id, isStr := v.(string)
		if !isStr || id == "" || len(id) > maxViewerIDLen {
			return session{}, deny("%s must be a string of 1 to %d characters", claimViewerID, maxViewerIDLen)
		}
		s.viewerID = id
	}
	if v, ok := claims[claimViewerVersion]; ok {
		n, isNum := v.(float64)
		if !isNum || n < 0 || n != float64(int64(n)) {
			return session{}, deny("%s must be a whole number at least 0", claimViewerVersion)
		}
		s.version = int64(n)
	}
	if v, ok := claims[claimAllowOrigin]; ok {
		list, isStr := v.(string)
		if !isStr || strings.ContainsAny(list, "|\n") {
			return session{}, deny("%s must be a comma-separated list of origins", claimAllowOrigin)
		}
		s.origins = strings.TrimSpace(list)
	}
	if v, ok := claims[claimStrictOrigin]; ok {
		b, isBool := v.(bool)
		if !isBool {
			return session{}, deny("%s must be true or false", claimStrictOrigin)
		}
		s.strict = b
	}
	if v, ok := claims[claimMaxResolution]; ok {
		name, _ := v.(string)
		h, known := resolutionHeights[name]
		if !known {
			return session{}, deny("%s must be SD, HD or FULL_HD", claimMaxResolution)
		}
		s.maxHeight = h
	}
	if err := checkOrigin(s.origins, r.Origin, s.strict); err != nil {
		return session{}, err
	}
	exp, _ := claims.GetExpirationTime()
	uuid, single := claims[claimSingleUse].(string)
	if (single || s.viewerID != "") && exp.Sub(now) > shortLivedMax+clockLeeway {
		return session{}, deny("exp must be at most 10 minutes ahead with %s or %s", claimSingleUse, claimViewerID)
	}
	if single {
		if !r.Start {
			return session{}, deny("a single-use token can only start playback (the multivariant playlist)")
		}
		if !a.spend(uuid, exp.Time, now) {
			return session{}, deny("the single-use playback token was already used")
		}
	}
	return s, nil
}

// resolutionHeights are aws:maximum-resolution's values.
var resolutionHeights = map[string]int{"SD": 480, "HD": 720, "FULL_HD": 1080}

// spend marks a single-use token used; false if it already was.
func (a *Authorizer) spend(uuid string, exp, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, used := a.singleUse[uuid]; used {
		return false
	}
	if len(a.singleUse) >= maxSingleUseEntries {
		for k, e := range a.singleUse {
			if now.After(e.Add(clockLeeway)) {
				delete(a.singleUse, k)
			}
		}
		if len(a.singleUse) >= maxSingleUseEntries {
			return false // refuse rather than forget an unexpired one
		}
	}
	a.singleUse[uuid] = exp
	return true
}

// checkOrigin matches a request's Origin against a token's list ("" or
// "*": any). Without an Origin (not a browser), only strict enforcement
// refuses.
func checkOrigin(list, origin string, strict bool) error {
	if list == "" || list == "*" {
		return nil
	}
	if origin == "" {
		if strict {
			return deny("this playback session needs an Origin header (strict origin enforcement)")
		}
		return nil
	}
	for allowed := range strings.SplitSeq(list, ",") {
		if originMatches(strings.TrimSpace(allowed), origin) {
			return nil
		}
	}
	return deny("origin %q is not allowed by the playback token", origin)
}

// originMatches matches one pattern: exact, "*", or "https://*.example.com"
// for any subdomain of example.com.
func originMatches(pattern, origin string) bool {
	if pattern == "*" || strings.EqualFold(pattern, origin) {
		return true
	}
	scheme, host, ok := strings.Cut(pattern, "://*.")
	if !ok {
		return false
	}
	oScheme, oHost, ok := strings.Cut(origin, "://")
	return ok && strings.EqualFold(scheme, oScheme) && len(oHost) > len(host)+1 &&
		strings.HasSuffix(strings.ToLower(oHost), "."+strings.ToLower(host))
}

// sealSession encodes s as "s1." + base64url(fields) + "." + base64url(MAC).
func (a *Authorizer) sealSession(ctx context.Context, s session) (string, error) {
	key, err := a.svc.PlaybackSessionSecret(ctx)
	if err != nil {
		return "", fmt.Errorf("playback: session secret: %w", err)
	}
	strict := "0"
	if s.strict {
		strict = "1"
	}
	fields := strings.Join([]string{s.channelID, s.viewerID, strconv.FormatInt(s.version, 10),
		strconv.FormatInt(s.expires.Unix(), 10), strict, strconv.Itoa(s.maxHeight), s.origins}, "|")
	body := base64.RawURLEncoding.EncodeToString([]byte(fields))
	return sessionPrefix + body + "." + base64.RawURLEncoding.EncodeToString(mac(key, body)), nil
}

func mac(key []byte, body string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(body))
	return m.Sum(nil)[:16]
}

// openSession checks a session credential's MAC and expiry.
func (a *Authorizer) openSession(ctx context.Context, cred string) (session, error) {
	bad := deny("the playback session credential is not valid")
	if len(cred) > maxTokenLen {
		return session{}, bad
	}
	body, sig, ok := strings.Cut(strings.TrimPrefix(cred, sessionPrefix), ".")
	if !ok {
		return session{}, bad
	}
	key, err := a.svc.PlaybackSessionSecret(ctx)
	if err != nil {
		return session{}, fmt.Errorf("playback: session secret: %w", err)
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, mac(key, body)) {
		return session{}, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return session{}, bad
	}
	f := strings.SplitN(string(raw), "|", 7)
	if len(f) != 7 {
		return session{}, bad
	}
	version, err1 := strconv.ParseInt(f[2], 10, 64)
	exp, err2 := strconv.ParseInt(f[3], 10, 64)
	height, err3 := strconv.Atoi(f[5])
	if err1 != nil || err2 != nil || err3 != nil {
		return session{}, bad
	}
	s := session{channelID: f[0], viewerID: f[1], version: version, expires: time.Unix(exp, 0),
		strict: f[4] == "1", maxHeight: height, origins: f[6]}
	if a.now().After(s.expires) {
		return session{}, deny("the playback session has expired; start playback again with a new token")
	}
	return s, nil
}

// Seal returns a session credential for a private channel without a token,
// for the console's preview (its caller is the signed-in admin).
func (a *Authorizer) Seal(ctx context.Context, channelID string, lifetime time.Duration) (string, error) {
	return a.sealSession(ctx, session{channelID: channelID, expires: a.now().Add(lifetime)})
}
