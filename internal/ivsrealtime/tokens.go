package ivsrealtime

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/onair-video/onair/internal/ivs"
)

// Participant token limits and defaults, as IVS's.
const (
	defaultTokenMinutes = 720
	maxTokenMinutes     = 20160
	maxUserIDLen        = 128
	maxAttributeBytes   = 1024
	// tokenVersion is the claim the web SDK reads for its flags: "1.0" is
	// none (its subscribers offer recvonly).
	tokenVersion = "1.0"
)

// Capabilities a participant token may grant.
const (
	CapPublish   = "PUBLISH"
	CapSubscribe = "SUBSCRIBE"
)

// ParticipantTokenConfiguration is what one token grants: CreateStage's
// participantTokenConfigurations and CreateParticipantToken's input.
type ParticipantTokenConfiguration struct {
	Duration     *int32            `json:"duration"`
	UserID       string            `json:"userId"`
	Attributes   map[string]string `json:"attributes"`
	Capabilities []string          `json:"capabilities"`
}

// CreateParticipantTokenInput is the input of CreateParticipantToken.
type CreateParticipantTokenInput struct {
	StageARN string `json:"stageArn"`
	ParticipantTokenConfiguration
}

// ParticipantToken is an issued token, as the API answers it.
type ParticipantToken struct {
	ParticipantID  string            `json:"participantId"`
	Token          string            `json:"token"`
	UserID         string            `json:"userId,omitempty"`
	Attributes     map[string]string `json:"attributes"`
	Duration       int32             `json:"duration"`
	Capabilities   []string          `json:"capabilities"`
	ExpirationTime time.Time         `json:"expirationTime"`
}

// validate checks c and fills its defaults; field prefixes the names in
// errors.
func (c *ParticipantTokenConfiguration) validate(field string) error {
	pre := func(m string) string {
		if field == "" {
			return m
		}
		return field + "." + m
	}
	if c.Duration == nil {
		d := int32(defaultTokenMinutes)
		c.Duration = &d
	}
	if *c.Duration < 1 || *c.Duration > maxTokenMinutes {
		return ivs.Validation(pre("duration"), "%s must be 1 to %d minutes, got %d", pre("duration"), maxTokenMinutes, *c.Duration)
	}
	if len(c.UserID) > maxUserIDLen {
		return ivs.Validation(pre("userId"), "%s must be at most %d characters", pre("userId"), maxUserIDLen)
	}
	n := 0
	for k, v := range c.Attributes {
		n += len(k) + len(v)
	}
	if n > maxAttributeBytes {
		return ivs.Validation(pre("attributes"), "%s may hold at most 1 KB of keys and values, got %d bytes", pre("attributes"), n)
	}
	if c.Capabilities == nil {
		c.Capabilities = []string{CapPublish, CapSubscribe}
	}
	if len(c.Capabilities) > 2 {
		return ivs.Validation(pre("capabilities"), "%s may hold at most 2 capabilities", pre("capabilities"))
	}
	var caps []string
	for _, cp := range c.Capabilities {
		if err := ivs.ValidateEnum(pre("capabilities"), cp, CapPublish, CapSubscribe); err != nil {
			return err
		}
		if !slices.Contains(caps, cp) {
			caps = append(caps, cp)
		}
	}
	c.Capabilities = caps
	if c.Attributes == nil {
		c.Attributes = map[string]string{}
	}
	return nil
}

// CreateParticipantToken issues a token to join the stage; ep goes into it.
func (s *Service) CreateParticipantToken(ctx context.Context, in CreateParticipantTokenInput, ep Endpoints) (ParticipantToken, error) {
	st, err := s.stage(ctx, "stageArn", in.StageARN)
	if err != nil {
		return ParticipantToken{}, err
	}
	if err := in.validate(""); err != nil {
		return ParticipantToken{}, err
	}
	return s.issue(ctx, st, in.ParticipantTokenConfiguration, ep)
}

// Capabilities is the capabilities claim: an object, which the web SDK
// dereferences unchecked.
type Capabilities struct {
	AllowPublish   bool `json:"allow_publish"`
	AllowSubscribe bool `json:"allow_subscribe"`
}

// tokenClaims are a participant token's claims (the set IVS's tokens and
// the web SDK use). onair's tokens carry every one, empty or not: the web
// SDK dereferences some (attributes, capabilities) without a check.
type tokenClaims struct {
	jwt.RegisteredClaims
	Resource     string            `json:"resource"`
	Topic        string            `json:"topic"`
	EventsURL    string            `json:"events_url"`
	WHIPURL      string            `json:"whip_url"`
	UserID       string            `json:"user_id"`
	Attributes   map[string]string `json:"attributes"`
	Capabilities *Capabilities     `json:"capabilities"`
	Version      string            `json:"version"`
}

// issue signs a token for st with c (validated).
func (s *Service) issue(ctx context.Context, st Stage, c ParticipantTokenConfiguration, ep Endpoints) (ParticipantToken, error) {
	k, err := s.signingKey(ctx)
	if err != nil {
		return ParticipantToken{}, err
	}
	now := s.now().UTC().Truncate(time.Second)
	exp := now.Add(time.Duration(*c.Duration) * time.Minute)
	id := ivs.NewResourceID()
	claims := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(exp), IssuedAt: jwt.NewNumericDate(now), ID: id},
		Resource:         st.ARN, Topic: st.ID, EventsURL: ep.Events, WHIPURL: ep.WHIP, UserID: c.UserID,
		Attributes:   c.Attributes,
		Capabilities: &Capabilities{AllowPublish: slices.Contains(c.Capabilities, CapPublish), AllowSubscribe: slices.Contains(c.Capabilities, CapSubscribe)},
		Version:      tokenVersion,
	}
	if claims.Attributes == nil {
		claims.Attributes = map[string]string{}
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES384, claims)
	tok.Header["kid"] = k.id
	raw, err := tok.SignedString(k.priv)
	if err != nil {
		return ParticipantToken{}, fmt.Errorf("ivsrealtime: sign participant token: %w", err)
	}
	return ParticipantToken{ParticipantID: id, Token: raw, UserID: c.UserID, Attributes: claims.Attributes, Duration: *c.Duration,
		Capabilities: c.Capabilities, ExpirationTime: exp}, nil
}

// signingKey is onair's own token-signing key.
type signingKey struct {
	id   string // the kid of onair's tokens
	priv *ecdsa.PrivateKey
}

// storedKey is the signing key as a document.
type storedKey struct {
	Name  string `json:"name"`
	PKCS8 []byte `json:"pkcs8"`
}

const tokenKeyName = "participant-token"

func (s *Service) tokenKeys() ivs.Docs[storedKey] {
	return ivs.Docs[storedKey]{Store: s.docs, Kind: resourceTokenKey, Noun: "participant token key", ID: func(k *storedKey) string { return k.Name }}
}

// signingKey returns onair's ES384 key, made on first use and kept in the
// store (beside the other server secrets, such as the chat-token key), so
// that tokens outlive a restart.
func (s *Service) signingKey(ctx context.Context) (*signingKey, error) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	if s.key != nil {
		return s.key, nil
	}
	d, err := s.tokenKeys().Get(ctx, tokenKeyName, tokenKeyName)
	if e, ok := ivs.AsError(err); ok && e.Code == ivs.CodeResourceNotFound {
		priv, gerr := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if gerr != nil {
			return nil, fmt.Errorf("ivsrealtime: generate token key: %w", gerr)
		}
		der, merr := x509.MarshalPKCS8PrivateKey(priv)
		if merr != nil {
			return nil, fmt.Errorf("ivsrealtime: encode token key: %w", merr)
		}
		d = storedKey{Name: tokenKeyName, PKCS8: der}
		err = s.tokenKeys().Create(ctx, &d, s.now())
		if errors.Is(err, ivs.ErrConflict) {
			d, err = s.tokenKeys().Get(ctx, tokenKeyName, tokenKeyName) // another process made it first
		}
	}
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKCS8PrivateKey(d.PKCS8)
	if err != nil {
		return nil, fmt.Errorf("ivsrealtime: decode token key: %w", err)
	}
	priv, ok := key.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P384() {
		return nil, errors.New("ivsrealtime: the stored token key is not an ECDSA P-384 key")
	}
	pub, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("ivsrealtime: encode token key: %w", err)
	}
	sum := sha256.Sum256(pub)
	s.key = &signingKey{id: "onair-" + base64.RawURLEncoding.EncodeToString(sum[:9]), priv: priv}
	return s.key, nil
}

// Why a token is refused: the events WebSocket maps these to the web SDK's
// JOIN_ERROR codes.
var (
	// ErrTokenMalformed is a token that is not a JWT of the claims a
	// participant token has, or that uses an algorithm other than ES384:
	// TOKEN_INVALID.
	ErrTokenMalformed = errors.New("participant token is malformed")
	// ErrTokenSignature is a token whose signature no accepted key
	// verifies (onair's, or an imported public key's): TOKEN_INVALID_SIGNATURE.
	ErrTokenSignature = errors.New("participant token signature is not valid")
	// ErrTokenExpired is a token past its exp: TOKEN_EXPIRED.
	ErrTokenExpired = errors.New("participant token has expired")
	// ErrStageDeleted is a token for a stage that does not exist (any
	// more): STAGE_DELETED.
	ErrStageDeleted = errors.New("the participant token's stage does not exist")
	// ErrParticipantDisconnected is a token whose participant was
	// disconnected with DisconnectParticipant, which revokes it for good.
	ErrParticipantDisconnected = errors.New("the participant was disconnected and may not join again")
)

// ParticipantClaims are what a verified token grants.
type ParticipantClaims struct {
	StageID       string
	StageARN      string
	ParticipantID string // the jti
	UserID        string
	Attributes    map[string]string
	Publish       bool
	Subscribe     bool
	ExpiresAt     time.Time
	// PublicKeyARN is the imported key that signed a self-signed token
	// with a kid; "" for onair's own and for one without kid.
	PublicKeyARN string
}

// participantIDRe is ParticipantTokenId's rule (underscore allowed: the
// jti of a self-signed token).
var participantIDRe = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// maxTokenBytes bounds what the parser reads: a token is well under 2 KB.
const maxTokenBytes = 8192

// VerifyParticipantToken checks a token given at a join: onair's own, or
// one self-signed with an imported public key (named by kid, else tried
// against every imported key). Only ES384 is accepted; exp is required.
// Errors wrap ErrTokenMalformed, ErrTokenSignature, ErrTokenExpired,
// ErrStageDeleted or ErrParticipantDisconnected, or are the store's.
func (s *Service) VerifyParticipantToken(ctx context.Context, raw string) (ParticipantClaims, error) {
	if len(raw) > maxTokenBytes {
		return ParticipantClaims{}, fmt.Errorf("%w: longer than %d bytes", ErrTokenMalformed, maxTokenBytes)
	}
	var keyARN string
	var storeErr error
	keyfunc := func(t *jwt.Token) (any, error) {
		if t.Method.Alg() != jwt.SigningMethodES384.Alg() {
			return nil, fmt.Errorf("%w: alg %s is not accepted, only ES384", ErrTokenMalformed, t.Method.Alg())
		}
		own, err := s.signingKey(ctx)
		if err != nil {
			storeErr = err
			return nil, err
		}
		kid, _ := t.Header["kid"].(string)
		if kid == own.id {
			return &own.priv.PublicKey, nil
		}
		keys, err := s.importedKeys(ctx, kid)
		if err != nil {
			storeErr = err
			return nil, err
		}
		if len(keys) == 0 {
			return nil, fmt.Errorf("%w: no accepted key has kid %q", ErrTokenSignature, kid)
		}
		if kid != "" {
			keyARN = kid
			return keys[0], nil
		}
		set := jwt.VerificationKeySet{}
		for _, k := range keys {
			set.Keys = append(set.Keys, k)
		}
		return set, nil
	}
	var c tokenClaims
	// The keyfunc refuses every alg but ES384, before any key is chosen.
	_, err := jwt.NewParser(jwt.WithExpirationRequired(), jwt.WithStrictDecoding(), jwt.WithTimeFunc(s.now)).ParseWithClaims(raw, &c, keyfunc)
	switch {
	case storeErr != nil:
		return ParticipantClaims{}, storeErr
	case err == nil:
	case errors.Is(err, ErrTokenMalformed), errors.Is(err, ErrTokenSignature):
		return ParticipantClaims{}, unwrapJWT(err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return ParticipantClaims{}, fmt.Errorf("%w: %w", ErrTokenSignature, err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return ParticipantClaims{}, fmt.Errorf("%w: %w", ErrTokenExpired, err)
	default:
		return ParticipantClaims{}, fmt.Errorf("%w: %w", ErrTokenMalformed, err)
	}
	return s.checkClaims(ctx, c, keyARN)
}

// unwrapJWT keeps our sentinel as the reason, with jwt's text.
func unwrapJWT(err error) error {
	for _, sentinel := range []error{ErrTokenMalformed, ErrTokenSignature} {
		if errors.Is(err, sentinel) {
			return fmt.Errorf("%w (%s)", sentinel, err.Error())
		}
	}
	return err
}

// checkClaims checks what a verified token says: a participant id, a stage
// of this account that exists, capabilities, and no disconnection.
func (s *Service) checkClaims(ctx context.Context, c tokenClaims, keyARN string) (ParticipantClaims, error) {
	if !participantIDRe.MatchString(c.ID) {
		return ParticipantClaims{}, fmt.Errorf("%w: jti must be 1 to 64 of [a-zA-Z0-9-_]", ErrTokenMalformed)
	}
	if c.Capabilities == nil {
		return ParticipantClaims{}, fmt.Errorf("%w: the capabilities claim is missing", ErrTokenMalformed)
	}
	a, err := ivs.ParseARN("resource", c.Resource)
	if err != nil || a.Resource != ResourceStage {
		return ParticipantClaims{}, fmt.Errorf("%w: resource is not a stage ARN", ErrTokenMalformed)
	}
	if c.Topic != "" && c.Topic != a.ID {
		return ParticipantClaims{}, fmt.Errorf("%w: topic %q is not the stage of resource", ErrTokenMalformed, c.Topic)
	}
	if a.Region != s.scope.Region || a.Account != s.scope.Account {
		return ParticipantClaims{}, fmt.Errorf("%w: %s", ErrStageDeleted, c.Resource)
	}
	if _, err := s.StageByID(ctx, a.ID); err != nil {
		if e, ok := ivs.AsError(err); ok && e.Code == ivs.CodeResourceNotFound {
			return ParticipantClaims{}, fmt.Errorf("%w: %s", ErrStageDeleted, c.Resource)
		}
		return ParticipantClaims{}, err
	}
	if gone, err := s.disconnected(ctx, a.ID, c.ID); err != nil {
		return ParticipantClaims{}, err
	} else if gone {
		return ParticipantClaims{}, fmt.Errorf("%w: participant %s of stage %s", ErrParticipantDisconnected, c.ID, c.Resource)
	}
	out := ParticipantClaims{StageID: a.ID, StageARN: c.Resource, ParticipantID: c.ID, UserID: c.UserID,
		Attributes: ivs.CloneTags(c.Attributes), Publish: c.Capabilities.AllowPublish, Subscribe: c.Capabilities.AllowSubscribe,
		ExpiresAt: c.ExpiresAt.Time, PublicKeyARN: keyARN}
	return out, nil
}
